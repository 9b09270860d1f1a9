//! `spec.tuning`: what the init container does to a node before the relay starts.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How each node is prepared before the relay starts. The tuner validates the whole plan before
/// writing anything, records the original values on the host and restores them when the node
/// leaves the pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TuningSpec {
    /// Hugepages to reserve on each NUMA node for the AF_XDP UMEM. Omit to use regular pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugepages: Option<HugepagesSpec>,

    /// Kernel parameters to set, by sysctl name (e.g. `net.core.rmem_max: "33554432"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "self.all(k, k.matches('^[a-z][a-z0-9_-]*(\\\\.[a-zA-Z0-9_-]+)+$') && k.size() <= 128)",
            "message": "tuning.sysctls keys must be dotted sysctl names such as net.core.rmem_max (lowercase, no slashes)"
        },
        {
            "rule": "self.all(k, self[k].size() <= 256)",
            "message": "tuning.sysctls values must be at most 256 characters"
        }
    ]))]
    pub sysctls: BTreeMap<String, String>,

    /// NIC settings for the relay interface: rings, channels, interrupt coalescing, GRO/LRO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic: Option<NicSpec>,

    /// The CPU cores isolated at boot (kernel `isolcpus`/`nohz_full`) for the relay workers, as a
    /// core list such as `2-5` or `2,3,8-11`. The tuner verifies they are isolated; it cannot
    /// isolate them itself (that needs a reboot).
    #[schemars(length(min = 1, max = 256))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "self.matches('^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$')",
            "message": "tuning.isolatedCores must be a core list: comma-separated CPU numbers and ranges, such as \"2-5\" or \"2,3,8-11\""
        },
        {
            "rule": "!self.matches('^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$') || self.split(',').all(r, !r.contains('-') || int(r.split('-')[0]) <= int(r.split('-')[1]))",
            "message": "tuning.isolatedCores has a range whose start is above its end: write ranges low-high, such as \"2-5\""
        }
    ]))]
    pub isolated_cores: String,

    /// Pin each NIC queue's interrupt to its worker core (one to one). Default true.
    #[serde(default = "default_true")]
    pub pin_irqs: bool,
}

pub(crate) fn default_true() -> bool {
    true
}

/// The hugepage size. `1Gi` pages are best reserved at boot; the tuner tries at run time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HugepageSize {
    /// 2 MiB pages.
    #[serde(rename = "2Mi")]
    TwoMi,
    /// 1 GiB pages.
    #[serde(rename = "1Gi")]
    OneGi,
}

impl HugepageSize {
    /// The size in KiB, as in `/sys/kernel/mm/hugepages/hugepages-<N>kB`.
    pub fn kib(self) -> u64 {
        match self {
            HugepageSize::TwoMi => 2048,
            HugepageSize::OneGi => 1024 * 1024,
        }
    }

    /// The Kubernetes resource name for this size (`hugepages-2Mi`, `hugepages-1Gi`).
    pub fn resource_name(self) -> &'static str {
        match self {
            HugepageSize::TwoMi => "hugepages-2Mi",
            HugepageSize::OneGi => "hugepages-1Gi",
        }
    }
}

/// Hugepages reserved per NUMA node (the NIC's node first).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HugepagesSpec {
    /// Page size: `2Mi` or `1Gi`.
    pub size: HugepageSize,
    /// How many pages to reserve on each NUMA node (at least 1; omit `hugepages` for none).
    #[schemars(range(min = 1, max = 65536))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self > 0", "message": "tuning.hugepages.countPerNumaNode must be greater than 0: omit tuning.hugepages to reserve none"}
    ]))]
    pub count_per_numa_node: i32,
}

/// NIC settings applied with the ethtool interfaces (all optional: unset means leave as is).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NicSpec {
    /// RX ring size (descriptors per queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 64, max = 65536))]
    pub rx_ring: Option<i32>,
    /// TX ring size (descriptors per queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 64, max = 65536))]
    pub tx_ring: Option<i32>,
    /// Combined channels (queues) to configure; usually equal to `dataplane.queues`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub channels: Option<i32>,
    /// Interrupt coalescing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalescing: Option<CoalescingSpec>,
    /// Turn generic receive offload off (XDP needs unmerged frames). Default true.
    #[serde(default = "default_true")]
    pub disable_gro: bool,
    /// Turn large receive offload off (XDP cannot run with LRO). Default true.
    #[serde(default = "default_true")]
    pub disable_lro: bool,
}

/// Interrupt coalescing (`ethtool -C`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoalescingSpec {
    /// Microseconds to delay an RX interrupt after a packet arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub rx_usecs: Option<i32>,
    /// Microseconds to delay a TX interrupt after a packet is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub tx_usecs: Option<i32>,
    /// Let the driver adapt RX coalescing to the load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_rx: Option<bool>,
}
