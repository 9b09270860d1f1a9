//! `status`: what the operator observed, per RelayNode and per node.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator observed. Written only by the operator (status subresource).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelayNodeStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Tuned`, `Progressing` and `Degraded`, each with its own observedGeneration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Nodes the selector and tolerations pick (the DaemonSet's desired count).
    #[serde(default)]
    pub desired_nodes: i32,
    /// Nodes whose relay pod is ready.
    #[serde(default)]
    pub ready_nodes: i32,
    /// Nodes whose tuner reported success.
    #[serde(default)]
    pub tuned_nodes: i32,
    /// `ready/desired`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<String>,
    /// One entry per selected node, sorted by node name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<RelayNodeNodeStatus>,
}

/// The condition types this resource reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConditionType {
    /// Every selected node runs a ready relay.
    Ready,
    /// Every selected node reported a successful tuning.
    Tuned,
    /// A rollout is in progress (the DaemonSet is not yet at the current spec everywhere).
    Progressing,
    /// Something needs a person: conflict, missing Secret, failed tuning, invalid spec.
    Degraded,
}

impl ConditionType {
    /// All types, in the order they appear in status.
    pub const ALL: [ConditionType; 4] = [
        ConditionType::Ready,
        ConditionType::Tuned,
        ConditionType::Progressing,
        ConditionType::Degraded,
    ];

    /// The `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Tuned => "Tuned",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
        }
    }
}

/// One selected node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelayNodeNodeStatus {
    /// The node's name.
    pub name: String,
    /// The relay pod on this node, if one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The relay container passes its readiness probe.
    #[serde(default)]
    pub pod_ready: bool,
    /// The tuner's report, once the init container has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<NodeTuningSummary>,
    /// The node's allocatable resources show the requested hugepages (the kubelet reads hugepage
    /// capacity only when it starts).
    #[serde(default)]
    pub hugepages_allocatable: bool,
    /// What a person must do on this node for the tuning to take full effect.
    #[serde(default)]
    pub action_required: NodeAction,
    /// A short human-readable explanation of anything not ready on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The summary of one node's tuning report.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeTuningSummary {
    /// Every setting was applied and read back.
    pub succeeded: bool,
    /// Settings changed by this run.
    #[serde(default)]
    pub changed: i32,
    /// Settings that could not be applied.
    #[serde(default)]
    pub failed: i32,
    /// The first failure, or other notes from the tuner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a person must do on a node.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NodeAction {
    /// Nothing.
    #[default]
    None,
    /// Restart the kubelet so that it sees the new hugepages.
    RestartKubelet,
    /// Reboot (e.g. the isolated cores are boot-time kernel parameters).
    Reboot,
}
