//! Pure rendering: a RelayNode (plus what the operator observed about the nodes) in, the owned
//! Kubernetes objects out. No client, no clock: every function here is a plain value transform,
//! tested field by field.

mod configmap;
mod daemonset;
mod restore_job;
mod service;

pub use configmap::{config_hash, configmap};
pub use daemonset::{daemonset, tune_args, HUGEPAGE_BYTES_PER_QUEUE, RELAY_CAPABILITIES};
pub use restore_job::{restore_job, restore_job_name, RESTORE_NODE_LABEL};
pub use service::{service, service_monitor, service_monitor_resource};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use oxidize_crds::RelayNode;

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "oxidize-operator";
/// Label naming the RelayNode an object belongs to.
pub const RELAYNODE_LABEL: &str = "relay.oxidize.dev/relaynode";
/// Pod-template annotation with the hash of the config documents, so a config change rolls pods.
pub const CONFIG_HASH_ANNOTATION: &str = "relay.oxidize.dev/config-hash";
/// Host directory where the tuner keeps the original values it changed.
pub const STATE_DIR: &str = "/var/lib/oxidize";
/// The tuner's state file inside [`STATE_DIR`].
pub const STATE_FILE: &str = "/var/lib/oxidize/tune-state.json";
/// The init container's name (its termination message is the tuning report).
pub const TUNE_CONTAINER: &str = "tune";
/// The relay container's name.
pub const RELAY_CONTAINER: &str = "relay";

/// What the operator observed that changes the rendering (beyond the spec).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Every selected node's allocatable resources show the requested hugepage size, so the
    /// relay can request them. When false the pod requests none and status says the kubelet
    /// must be restarted.
    pub hugepages_allocatable: bool,
}

/// Names of the objects owned by one RelayNode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// ConfigMap with the two documents.
    pub configmap: String,
    /// The relay DaemonSet.
    pub daemonset: String,
    /// The metrics Service (and ServiceMonitor).
    pub service: String,
}

impl Names {
    /// The names for a RelayNode called `name`.
    pub fn for_relaynode(name: &str) -> Self {
        Names {
            configmap: format!("{name}-config"),
            daemonset: format!("{name}-relay"),
            service: format!("{name}-metrics"),
        }
    }
}

/// The `app.kubernetes.io/*` labels plus the RelayNode label, on every owned object.
pub fn labels(rn: &RelayNode) -> BTreeMap<String, String> {
    let mut l = selector_labels(rn);
    l.insert("app.kubernetes.io/component".into(), "relay".into());
    l.insert("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into());
    l.insert("app.kubernetes.io/part-of".into(), "oxidize".into());
    l
}

/// The labels selecting one RelayNode's relay pods (immutable in a DaemonSet selector).
pub fn selector_labels(rn: &RelayNode) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "oxidize-relay".into()),
        ("app.kubernetes.io/instance".into(), rn.name_any()),
        (RELAYNODE_LABEL.into(), rn.name_any()),
    ])
}

/// The controller owner reference pointing at the RelayNode (garbage collection on delete).
pub fn owner_ref(rn: &RelayNode) -> Option<OwnerReference> {
    rn.controller_owner_ref(&())
}

/// Metadata for an owned object called `name`.
pub fn owned_meta(rn: &RelayNode, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: rn.namespace(),
        labels: Some(labels(rn)),
        owner_references: owner_ref(rn).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use kube::api::ObjectMeta;
    use oxidize_crds::{sample, RelayNode};

    /// The sample RelayNode `edge` in `relays`, with a uid so owner references render.
    pub(crate) fn relaynode() -> RelayNode {
        let mut rn = RelayNode::new("edge", sample::spec());
        rn.metadata = ObjectMeta {
            name: Some("edge".into()),
            namespace: Some("relays".into()),
            uid: Some("1f0e-uid".into()),
            generation: Some(3),
            ..ObjectMeta::default()
        };
        rn
    }
}
