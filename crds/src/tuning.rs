//! The node-tuning documents: the [`TuningPlan`] the operator hands to the tuner (the
//! `oxidize-dataplane tune` init container) and the [`TuningReport`] the tuner writes back (stdout
//! and the pod's termination message), which the operator parses into per-node status.
//!
//! Both are versioned (`apiVersion: relay.oxidize.dev/v1alpha1`, `kind: TuningPlan` /
//! `kind: TuningReport`). Also here, because both sides need it: the kernel core-list syntax
//! (`"2-5,8"`) parser [`parse_core_list`] and its inverse [`format_core_list`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[path = "tuning/core_list.rs"]
mod core_list;
pub use core_list::{format_core_list, parse_core_list, CoreListError};

/// `kind` of a tuning plan document.
pub const TUNING_PLAN_KIND: &str = "TuningPlan";

/// `kind` of a tuning report document.
pub const TUNING_REPORT_KIND: &str = "TuningReport";

/// Kubernetes' limit on a container termination message, in bytes.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

fn default_api_version() -> String {
    crate::api_version()
}

fn default_plan_kind() -> String {
    TUNING_PLAN_KIND.to_owned()
}

fn default_report_kind() -> String {
    TUNING_REPORT_KIND.to_owned()
}

fn default_true() -> bool {
    true
}

/// What the tuner should make true on one node. Every field is optional: the tuner changes only
/// what the plan names. Unknown fields are rejected, so a typo never silently skips a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TuningPlan {
    /// Always `relay.oxidize.dev/v1alpha1` for this version of the document.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `TuningPlan`.
    #[serde(default = "default_plan_kind")]
    pub kind: String,
    /// The NIC the relay uses (e.g. `ens5f0`). The tuner's `--interface` flag overrides it; one
    /// of the two must be given when the plan has NIC settings or IRQ pinning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// How many NIC queues the relay uses (one AF_XDP worker per queue, queue `i` on the `i`-th
    /// worker core). Must not exceed the NIC's queue count or the number of worker cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<u32>,
    /// The cores the relay workers run on, in kernel core-list syntax (`"2-5"`). The IRQs of the
    /// first `queues` NIC queues are pinned one to one onto them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_cores: Option<String>,
    /// Cores that should be isolated from the scheduler (`isolcpus=`/`nohz_full=` on the kernel
    /// command line). Boot-time: the tuner only verifies them and warns with the missing kernel
    /// arguments; it never sets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_cores: Option<String>,
    /// Hugepages to reserve on each NUMA node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugepages: Option<HugepagesPlan>,
    /// Sysctls to set, keyed by dotted name (`net.core.busy_poll`), value as `sysctl -w` takes it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// NIC settings (channels, rings, coalescing, offloads) applied through ethtool netlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic: Option<NicPlan>,
    /// Pin the NIC queues' IRQs onto the worker cores (default true; needs `workerCores`).
    #[serde(default = "default_true")]
    pub pin_irqs: bool,
}

impl Default for TuningPlan {
    fn default() -> Self {
        TuningPlan {
            api_version: default_api_version(),
            kind: default_plan_kind(),
            interface: None,
            queues: None,
            worker_cores: None,
            isolated_cores: None,
            hugepages: None,
            sysctls: BTreeMap::new(),
            nic: None,
            pin_irqs: true,
        }
    }
}

/// A hugepage page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HugepageSize {
    /// 2 MiB pages (`hugepages-2048kB`).
    #[serde(rename = "2Mi")]
    TwoMi,
    /// 1 GiB pages (`hugepages-1048576kB`); often cannot be allocated at run time.
    #[serde(rename = "1Gi")]
    OneGi,
}

impl HugepageSize {
    /// The size in KiB, as the kernel names the sysfs directory (`hugepages-<kib>kB`).
    pub fn kib(self) -> u64 {
        match self {
            HugepageSize::TwoMi => 2048,
            HugepageSize::OneGi => 1_048_576,
        }
    }

    /// The Kubernetes resource-name suffix (`2Mi`, `1Gi`), as in `hugepages-2Mi`.
    pub fn as_str(self) -> &'static str {
        match self {
            HugepageSize::TwoMi => "2Mi",
            HugepageSize::OneGi => "1Gi",
        }
    }
}

impl fmt::Display for HugepageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hugepages to reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HugepagesPlan {
    /// Page size.
    pub size: HugepageSize,
    /// Pages to reserve on each selected NUMA node (the pool size, not an increment).
    pub count_per_node: u64,
    /// NUMA node ids to reserve on; empty means every NUMA node that has memory. The NIC's node
    /// is always done first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<u32>,
}

/// NIC settings. Each `None` leaves that setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NicPlan {
    /// Channel (queue) counts, as `ethtool -L`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<ChannelsPlan>,
    /// Ring sizes, as `ethtool -G`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rings: Option<RingsPlan>,
    /// Interrupt coalescing, as `ethtool -C`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalescing: Option<CoalescingPlan>,
    /// Generic receive offload wanted on (`true`) or off (`false`); XDP wants it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gro: Option<bool>,
    /// Large receive offload wanted on (`true`) or off (`false`); XDP needs it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lro: Option<bool>,
}

/// Channel counts (`ethtool -L`). Drivers have either combined channels or separate rx/tx ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelsPlan {
    /// Combined (rx+tx) channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combined: Option<u32>,
    /// RX-only channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx: Option<u32>,
    /// TX-only channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<u32>,
}

/// Ring sizes in descriptors (`ethtool -G`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RingsPlan {
    /// RX ring size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx: Option<u32>,
    /// TX ring size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<u32>,
}

/// Interrupt coalescing (`ethtool -C`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CoalescingPlan {
    /// Microseconds to delay an RX interrupt (`rx-usecs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_usecs: Option<u32>,
    /// Microseconds to delay a TX interrupt (`tx-usecs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_usecs: Option<u32>,
    /// Frames to gather before an RX interrupt (`rx-frames`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_frames: Option<u32>,
    /// Frames to gather before a TX interrupt (`tx-frames`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_frames: Option<u32>,
    /// Adaptive RX coalescing (`adaptive-rx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_rx: Option<bool>,
    /// Adaptive TX coalescing (`adaptive-tx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_tx: Option<bool>,
}

/// Whether a report comes from applying a plan or from restoring the originals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TuneMode {
    /// `tune`: a plan was applied.
    #[default]
    Apply,
    /// `tune --restore`: recorded originals were put back.
    Restore,
}

/// What the tuner did on one node. Written as JSON to stdout and to the termination message
/// (see [`TuningReport::summarise`]); the operator parses it into the RelayNode's per-node status.
/// Unknown fields are ignored so that an older operator reads a newer tuner's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TuningReport {
    /// Always `relay.oxidize.dev/v1alpha1` for this version of the document.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `TuningReport`.
    #[serde(default = "default_report_kind")]
    pub kind: String,
    /// Apply or restore.
    #[serde(default)]
    pub mode: TuneMode,
    /// The node's host name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// True when every step succeeded (warnings allowed). False means the run's changes were
    /// rolled back (apply) or some originals could not be restored (restore).
    pub success: bool,
    /// Every value this run changed. Empty on a successful run means the node was already tuned.
    /// When `rolledBack` is true, these changes were undone again (see `errors` for any that
    /// could not be).
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Things that work but are not as the plan wants (isolated cores missing, an IRQ the kernel
    /// manages, irqbalance that would undo the pinning, fewer hugepages than planned).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// What failed, each naming the item and what to do.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The kubelet must restart before it advertises the hugepages now reserved.
    #[serde(default)]
    pub kubelet_restart_needed: bool,
    /// A reboot with other kernel arguments is needed (e.g. for isolated cores).
    #[serde(default)]
    pub reboot_needed: bool,
    /// Hugepages per NUMA node: planned and obtained.
    #[serde(default)]
    pub hugepages: Vec<HugepagesOutcome>,
    /// True when this run undid its own changes after a failure.
    #[serde(default)]
    pub rolled_back: bool,
    /// One line for people: what the run amounted to ("no changes: the node is already tuned").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Set by [`TuningReport::summarise`] when entries were left out to fit the size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<Omitted>,
}

impl Default for TuningReport {
    fn default() -> Self {
        TuningReport {
            api_version: default_api_version(),
            kind: default_report_kind(),
            mode: TuneMode::Apply,
            node: None,
            success: true,
            changes: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            kubelet_restart_needed: false,
            reboot_needed: false,
            hugepages: Vec::new(),
            rolled_back: false,
            message: None,
            omitted: None,
        }
    }
}

/// One value changed: `item` went from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// What was changed, e.g. `sysctl net.core.busy_poll`, `irq 45 smp_affinity_list`,
    /// `nic eth0 channels combined`, `hugepages 2Mi node0`.
    pub item: String,
    /// The value before.
    pub from: String,
    /// The value after (read back from the kernel).
    pub to: String,
}

/// Hugepages on one NUMA node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HugepagesOutcome {
    /// NUMA node id.
    pub node: u32,
    /// Page size.
    pub size: HugepageSize,
    /// Pages the plan asked for.
    pub planned: u64,
    /// Pages the kernel actually reserved (read back).
    pub obtained: u64,
}

impl HugepagesOutcome {
    /// Whether the node got at least what was planned.
    pub fn meets_plan(&self) -> bool {
        self.obtained >= self.planned
    }
}

/// How many entries [`TuningReport::summarise`] left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Omitted {
    /// Changes left out.
    #[serde(default)]
    pub changes: usize,
    /// Warnings left out.
    #[serde(default)]
    pub warnings: usize,
    /// Errors left out.
    #[serde(default)]
    pub errors: usize,
}

/// Longest message kept whole by [`TuningReport::summarise`] before it starts dropping entries.
const SUMMARY_STRING_MAX: usize = 160;

impl TuningReport {
    /// A fresh report for `mode` with `success` true and nothing recorded.
    pub fn new(mode: TuneMode) -> Self {
        TuningReport {
            mode,
            ..TuningReport::default()
        }
    }

    /// True when the run changed nothing (the node was already as planned).
    pub fn no_changes(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when every hugepage node got what the plan asked for.
    pub fn hugepages_met(&self) -> bool {
        self.hugepages.iter().all(HugepagesOutcome::meets_plan)
    }

    /// The report as compact JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs (string keys, no maps with non-string keys) cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as compact JSON of at most `max_bytes` bytes (use
    /// [`TERMINATION_MESSAGE_LIMIT`]). When the whole report is longer, long messages are cut
    /// first, then changes, then warnings, then errors are dropped from the end, and
    /// [`TuningReport::omitted`] counts what was left out. The flags (success, restart/reboot
    /// needed) and hugepage outcomes are always kept; if even those do not fit, the result is a
    /// minimal report with only the flags.
    pub fn summarise(&self, max_bytes: usize) -> String {
        let full = self.to_json();
        if full.len() <= max_bytes {
            return full;
        }
        let mut short = self.clone();
        for text in short
            .changes
            .iter_mut()
            .flat_map(|c| [&mut c.item, &mut c.from, &mut c.to])
            .chain(short.warnings.iter_mut())
            .chain(short.errors.iter_mut())
        {
            truncate_chars(text, SUMMARY_STRING_MAX);
        }
        let mut omitted = Omitted::default();
        loop {
            short.omitted = Some(omitted.clone());
            let json = short.to_json();
            if json.len() <= max_bytes {
                return json;
            }
            if short.changes.pop().is_some() {
                omitted.changes += 1;
            } else if short.warnings.pop().is_some() {
                omitted.warnings += 1;
            } else if short.errors.len() > 1 {
                short.errors.pop();
                omitted.errors += 1;
            } else {
                break;
            }
        }
        let minimal = TuningReport {
            node: None,
            changes: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            hugepages: Vec::new(),
            omitted: Some(Omitted {
                changes: self.changes.len(),
                warnings: self.warnings.len(),
                errors: self.errors.len(),
            }),
            ..self.clone()
        };
        minimal.to_json()
    }
}

fn truncate_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push('…');
    }
}

#[cfg(test)]
#[path = "tuning/tests.rs"]
mod tests;
