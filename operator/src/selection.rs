//! Which nodes a RelayNode selects, and which RelayNode wins a node two of them select. Pure.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use kube::ResourceExt;
use oxidize_crds::RelayNode;

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        };
        effect_ok && key_ok && value_ok
    })
}

/// True when `node` carries every label of the RelayNode's node selector and the relay pods
/// tolerate its scheduling taints (as the DaemonSet controller decides).
pub fn selects(rn: &RelayNode, node: &Node) -> bool {
    let labels = node.labels();
    let labels_ok = rn
        .spec
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let taints_ok = taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| tolerates(&rn.spec.tolerations, t));
    labels_ok && taints_ok
}

/// The names of the nodes `rn` selects, sorted.
pub fn selected_nodes(rn: &RelayNode, nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|n| selects(rn, n))
        .map(|n| n.name_any())
        .collect()
}

/// Sort key for age: older first; ties by namespace/name so the outcome is deterministic.
fn age_key(rn: &RelayNode) -> (Option<jiff::Timestamp>, String, String) {
    (
        rn.metadata.creation_timestamp.as_ref().map(|t| t.0),
        rn.namespace().unwrap_or_default(),
        rn.name_any(),
    )
}

/// A node that another, older RelayNode already selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// `namespace/name` of the older RelayNode.
    pub other: String,
    /// The nodes both select, sorted.
    pub nodes: Vec<String>,
}

/// The first older RelayNode among `all` that selects a node `rn` also selects, if any. The
/// younger one yields: it gets `Degraded` and touches no node, so nothing is tuned twice.
pub fn conflict(rn: &RelayNode, all: &[RelayNode], nodes: &[Node]) -> Option<Conflict> {
    let mine = selected_nodes(rn, nodes);
    if mine.is_empty() {
        return None;
    }
    let mut others: Vec<&RelayNode> = all
        .iter()
        .filter(|o| !(o.namespace() == rn.namespace() && o.name_any() == rn.name_any()))
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter(|o| age_key(o) < age_key(rn))
        .collect();
    others.sort_by_key(|o| age_key(o));
    others.into_iter().find_map(|o| {
        let shared: Vec<String> = selected_nodes(o, nodes)
            .intersection(&mine)
            .cloned()
            .collect();
        (!shared.is_empty()).then(|| Conflict {
            other: format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
            nodes: shared,
        })
    })
}

#[cfg(test)]
mod tests;
