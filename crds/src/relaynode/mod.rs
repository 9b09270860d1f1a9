//! The `RelayNode` custom resource: spec (what the user asks for) and status (what the operator
//! observed). Every field's doc comment becomes its `kubectl explain` description; schema bounds
//! and CEL rules (`x-kubernetes-validations`) refuse invalid specs at admission.

mod dataplane;
mod status;
mod tuning;

pub use dataplane::{ClientPool, DataplaneSpec, EgressMode, ImagePullPolicy, ZeroCopyMode};
pub use status::{
    ConditionType, NodeAction, NodeTuningSummary, RelayNodeNodeStatus, RelayNodeStatus,
};
pub use tuning::{CoalescingSpec, HugepageSize, HugepagesSpec, NicSpec, TuningSpec};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// CEL that counts the cores in a core-list string held by `$X` (e.g. `2-5,8` is 5 cores).
/// Only used on strings for which `core_list_ok!` holds.
macro_rules! core_count {
    ($x:literal) => {
        concat!(
            $x,
            ".split(',').map(r, r.contains('-') ? int(r.split('-')[1]) - int(r.split('-')[0]) + 1 : 1).sum()"
        )
    };
}

/// CEL that is true when the core-list string `$X` is well formed (syntax and ascending ranges),
/// so that rules counting its cores stay silent and the field's own rule names the problem.
macro_rules! core_list_ok {
    ($x:literal) => {
        concat!(
            $x,
            ".matches('^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$') && ",
            $x,
            ".split(',').all(r, !r.contains('-') || int(r.split('-')[0]) <= int(r.split('-')[1]))"
        )
    };
}

/// The core-list syntax the schema accepts: comma-separated CPU numbers and `lo-hi` ranges.
pub const CORE_LIST_RE: &str = "^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$";

/// A pool of nodes (a node selector) turned into tuned, relay-running nodes.
///
/// The operator renders a ConfigMap (the tuning plan and the dataplane config), a DaemonSet (a
/// privileged init container that tunes the node, then the relay), and a metrics Service. Its
/// status lists every selected node with its tuning report and readiness.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    doc = "A RelayNode: a pool of nodes tuned for packet processing, each running an AF_XDP QUIC relay.",
    group = "relay.oxidize.dev",
    version = "v1alpha1",
    kind = "RelayNode",
    plural = "relaynodes",
    shortname = "rn",
    namespaced,
    status = "RelayNodeStatus",
    printcolumn = r#"{"name":"Ready","type":"string","description":"Every selected node runs a ready relay","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Nodes","type":"string","description":"Ready relays / selected nodes","jsonPath":".status.readiness"}"#,
    printcolumn = r#"{"name":"Tuned","type":"string","description":"Every selected node reported a successful tuning","jsonPath":".status.conditions[?(@.type==\"Tuned\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": concat!(
            "!has(self.dataplane.workerCores) || !(", core_list_ok!("self.dataplane.workerCores"), ") || ",
            core_count!("self.dataplane.workerCores"), " == self.dataplane.queues"
        ),
        "message": "dataplane.workerCores must list exactly one core per queue: give as many cores as dataplane.queues (e.g. queues: 4 with workerCores: \"2-5\")",
        "fieldPath": ".dataplane.workerCores",
        "reason": "FieldValueInvalid"
    },
    {
        "rule": concat!(
            "has(self.dataplane.workerCores) || !(", core_list_ok!("self.tuning.isolatedCores"), ") || ",
            core_count!("self.tuning.isolatedCores"), " >= self.dataplane.queues"
        ),
        "message": "tuning.isolatedCores has fewer cores than dataplane.queues: without dataplane.workerCores each queue gets one isolated core, so isolate more cores, lower dataplane.queues, or set dataplane.workerCores",
        "fieldPath": ".tuning.isolatedCores",
        "reason": "FieldValueInvalid"
    }
]))]
pub struct RelayNodeSpec {
    /// Labels a node must carry to join this pool (as in a Pod's nodeSelector). Empty selects
    /// every node the tolerations admit; two RelayNodes must not select the same node.
    #[serde(default)]
    #[schemars(extend("maxProperties" = 32))]
    pub node_selector: BTreeMap<String, String>,

    /// Tolerations for the relay pods, so that they can run on tainted, dedicated nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 32))]
    pub tolerations: Vec<Toleration>,

    /// How each node is prepared before the relay starts: hugepages, sysctls, NIC settings
    /// and the isolated cores the workers run on.
    pub tuning: TuningSpec,

    /// The relay that runs on each node: image, interface, queues, port, secrets, client pool.
    pub dataplane: DataplaneSpec,

    /// How spec changes roll across the pool.
    #[serde(default)]
    pub rollout: RolloutSpec,
}

/// How spec changes roll across the pool of nodes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// How many nodes may have their relay down at once during an update (at least 1).
    #[serde(default = "default_max_unavailable")]
    #[schemars(range(min = 1, max = 1000))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1", "message": "rollout.maxUnavailable must be at least 1, or an update could never make progress"}
    ]))]
    pub max_unavailable: i32,
}

fn default_max_unavailable() -> i32 {
    1
}

impl Default for RolloutSpec {
    fn default() -> Self {
        Self {
            max_unavailable: default_max_unavailable(),
        }
    }
}
