//! Pure conversion of a RelayNode spec into the two documents the pods read: the tuning plan
//! (init container) and the dataplane config (relay). Checks what CEL cannot express cheaply
//! (worker cores inside the isolated cores).

use std::collections::BTreeMap;

use crate::config::{DataplaneConfig, TLS_DIR, TOKENS_DIR};
use crate::limits::MAX_QUEUES;
use crate::relaynode::{HugepageSize as SpecHugepageSize, RelayNodeSpec};
use crate::tuning::{
    format_core_list, parse_core_list, ChannelsPlan, CoalescingPlan, CoreListError, HugepageSize,
    HugepagesPlan, NicPlan, RingsPlan, TuningPlan,
};

/// A spec that passed admission but cannot be turned into documents. Each message names the
/// field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A core list does not parse.
    #[error("{field}: {source}")]
    CoreList {
        /// The spec field.
        field: &'static str,
        /// What is wrong with it.
        source: CoreListError,
    },
    /// Worker cores and queues differ in number.
    #[error("dataplane.workerCores has {cores} cores but dataplane.queues is {queues}; give one worker core per queue")]
    WorkerCount {
        /// Worker cores given (or available from the isolated cores).
        cores: usize,
        /// Queues asked for.
        queues: u32,
    },
    /// A worker core is not isolated.
    #[error("dataplane.workerCores includes core {core}, which is not in tuning.isolatedCores ({isolated}); workers must run on isolated cores")]
    WorkerNotIsolated {
        /// The offending core.
        core: u32,
        /// The isolated core list.
        isolated: String,
    },
    /// A sysctl the relay's egress needs is set to another value in `tuning.sysctls`.
    #[error("tuning.sysctls.{key} is {value:?}, but the nat egress forwards client traffic and needs \"1\"; leave it out (the operator sets it) or set it to \"1\"")]
    ForwardingOff {
        /// The sysctl.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// A number is out of the range the documents can carry.
    #[error("{field} is {value}, outside {min}..={max}")]
    OutOfRange {
        /// The spec field.
        field: &'static str,
        /// The value given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
}

/// A config document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not YAML of the expected shape.
    #[error("config document is not valid: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// Another version or kind.
    #[error("config document is {found}, this build reads {want}")]
    WrongVersion {
        /// What the document says it is.
        found: String,
        /// What this build reads.
        want: String,
    },
}

/// The two documents for one RelayNode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    /// For the tuner (init container).
    pub tuning_plan: TuningPlan,
    /// For the relay.
    pub dataplane: DataplaneConfig,
}

fn cores(field: &'static str, list: &str) -> Result<Vec<u32>, SpecError> {
    // Sorted and without duplicates (the tuner's parser guarantees it).
    parse_core_list(list).map_err(|source| SpecError::CoreList { field, source })
}

fn unsigned(field: &'static str, value: i32, min: i64, max: i64) -> Result<u32, SpecError> {
    let v = i64::from(value);
    if v < min || v > max {
        return Err(SpecError::OutOfRange {
            field,
            value: v,
            min,
            max,
        });
    }
    u32::try_from(value).map_err(|_| SpecError::OutOfRange {
        field,
        value: v,
        min,
        max,
    })
}

fn opt_unsigned(field: &'static str, value: Option<i32>) -> Result<Option<u32>, SpecError> {
    value
        .map(|v| unsigned(field, v, 0, i64::from(i32::MAX)))
        .transpose()
}

/// The worker cores a spec resolves to: `dataplane.workerCores`, or else the first `queues`
/// isolated cores.
pub fn worker_cores(spec: &RelayNodeSpec) -> Result<Vec<u32>, SpecError> {
    let queues = unsigned(
        "dataplane.queues",
        spec.dataplane.queues,
        1,
        i64::from(MAX_QUEUES),
    )?;
    let isolated = cores("tuning.isolatedCores", &spec.tuning.isolated_cores)?;
    let workers = match &spec.dataplane.worker_cores {
        Some(list) => cores("dataplane.workerCores", list)?,
        None => isolated.iter().copied().take(queues as usize).collect(),
    };
    if workers.len() != queues as usize {
        return Err(SpecError::WorkerCount {
            cores: workers.len(),
            queues,
        });
    }
    if let Some(&core) = workers.iter().find(|c| !isolated.contains(c)) {
        return Err(SpecError::WorkerNotIsolated {
            core,
            isolated: spec.tuning.isolated_cores.clone(),
        });
    }
    Ok(workers)
}

/// Builds both documents from a spec. Pure: same spec, same documents.
pub fn documents(spec: &RelayNodeSpec) -> Result<Documents, SpecError> {
    let workers = worker_cores(spec)?;
    let dp = &spec.dataplane;
    let t = &spec.tuning;
    let queues = unsigned("dataplane.queues", dp.queues, 1, i64::from(MAX_QUEUES))?;
    let port = unsigned("dataplane.port", dp.port, 1, 65535)?;
    let metrics_port = unsigned("dataplane.metricsPort", dp.metrics_port, 1, 65535)?;
    let hugepage_size = t.hugepages.as_ref().map(|h| match h.size {
        SpecHugepageSize::TwoMi => HugepageSize::TwoMi,
        SpecHugepageSize::OneGi => HugepageSize::OneGi,
    });
    let hugepages = match (&t.hugepages, hugepage_size) {
        (Some(h), Some(size)) => Some(HugepagesPlan {
            size,
            count_per_node: u64::from(unsigned(
                "tuning.hugepages.countPerNumaNode",
                h.count_per_numa_node,
                1,
                65536,
            )?),
            nodes: Vec::new(),
        }),
        _ => None,
    };
    let nic = match &t.nic {
        Some(n) => Some(NicPlan {
            channels: opt_unsigned("tuning.nic.channels", n.channels)?.map(|c| ChannelsPlan {
                combined: Some(c),
                ..ChannelsPlan::default()
            }),
            rings: match (
                opt_unsigned("tuning.nic.rxRing", n.rx_ring)?,
                opt_unsigned("tuning.nic.txRing", n.tx_ring)?,
            ) {
                (None, None) => None,
                (rx, tx) => Some(RingsPlan { rx, tx }),
            },
            coalescing: match &n.coalescing {
                Some(c) => Some(CoalescingPlan {
                    rx_usecs: opt_unsigned("tuning.nic.coalescing.rxUsecs", c.rx_usecs)?,
                    tx_usecs: opt_unsigned("tuning.nic.coalescing.txUsecs", c.tx_usecs)?,
                    adaptive_rx: c.adaptive_rx,
                    ..CoalescingPlan::default()
                }),
                None => None,
            },
            gro: n.disable_gro.then_some(false),
            lro: n.disable_lro.then_some(false),
        }),
        // XDP needs GRO and LRO off even when no other NIC setting is asked for.
        None => Some(NicPlan {
            gro: Some(false),
            lro: Some(false),
            ..NicPlan::default()
        }),
    };
    let tuning_plan = TuningPlan {
        interface: Some(dp.interface.clone()),
        queues: Some(queues),
        worker_cores: Some(format_core_list(&workers)),
        isolated_cores: Some(t.isolated_cores.clone()),
        hugepages,
        sysctls: with_forwarding(&t.sysctls, dp.client_pool.ipv6.is_some())?,
        nic,
        pin_irqs: t.pin_irqs,
        ..TuningPlan::default()
    };
    let dataplane = DataplaneConfig {
        api_version: crate::api_version(),
        kind: crate::config::DATAPLANE_CONFIG_KIND.to_owned(),
        interface: dp.interface.clone(),
        queues,
        worker_cores: workers,
        port: u16::try_from(port).unwrap_or(443),
        metrics_addr: format!("0.0.0.0:{metrics_port}"),
        tls_cert_file: format!("{TLS_DIR}/tls.crt"),
        tls_key_file: format!("{TLS_DIR}/tls.key"),
        tokens_dir: TOKENS_DIR.to_owned(),
        client_pool_ipv4: dp.client_pool.ipv4.clone(),
        client_pool_ipv6: dp.client_pool.ipv6.clone(),
        egress: dp.egress,
        zero_copy: dp.zero_copy,
        busy_poll: dp.busy_poll,
        umem_hugepages: hugepage_size,
        relay: crate::config::RelayOptions {
            egress_interface: dp.egress_interface.clone(),
            ..Default::default()
        },
    };
    Ok(Documents {
        tuning_plan,
        dataplane,
    })
}

/// The plan's sysctls plus the forwarding the `nat` egress needs. Forwarding is a node setting,
/// so the privileged tune step sets it (and restore puts it back); the relay runs with a
/// read-only /proc/sys and only checks it. A spec that sets it to anything but 1 is refused.
fn with_forwarding(
    sysctls: &BTreeMap<String, String>,
    ipv6: bool,
) -> Result<BTreeMap<String, String>, SpecError> {
    let mut all = sysctls.clone();
    let needed = [(FORWARDING_V4, true), (FORWARDING_V6, ipv6)];
    for (key, wanted) in needed {
        if !wanted {
            continue;
        }
        match all.get(key).map(|v| v.trim()) {
            None => {
                all.insert(key.to_owned(), "1".to_owned());
            }
            Some("1") => {}
            Some(other) => {
                return Err(SpecError::ForwardingOff {
                    key,
                    value: other.to_owned(),
                })
            }
        }
    }
    Ok(all)
}

/// IPv4 forwarding (per network namespace; the node's for a hostNetwork relay).
pub const FORWARDING_V4: &str = "net.ipv4.ip_forward";
/// IPv6 forwarding, needed when the pool has IPv6 addresses.
pub const FORWARDING_V6: &str = "net.ipv6.conf.all.forwarding";

#[cfg(test)]
mod tests;
