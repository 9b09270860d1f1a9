//! Per-node status: the relay pod's readiness (or why the scheduler cannot place it), the
//! tuner's report from the init container's termination message, and whether the kubelet shows
//! the hugepages.

use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod};
use kube::ResourceExt;
use oxidize_crds::relaynode::{NodeAction, NodeTuningSummary, RelayNodeNodeStatus};
use oxidize_crds::tuning::TuningReport;
use oxidize_crds::RelayNode;

use super::action::action_required;
use crate::render::{NodeFacts, TUNE_CONTAINER};

/// True when the node's allocatable resources show a non-zero amount of the hugepage size the
/// spec asks for (or the spec asks for none).
pub fn hugepages_allocatable(rn: &RelayNode, node: &Node) -> bool {
    let Some(hp) = &rn.spec.tuning.hugepages else {
        return true;
    };
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(hp.size.resource_name()))
        .is_some_and(|q| !matches!(q.0.trim(), "" | "0"))
}

/// What the DaemonSet is rendered from: the relay requests hugepages once every selected node's
/// allocatable shows them (and keeps requesting them while they do).
pub fn render_facts(rn: &RelayNode, selected: &[Node]) -> NodeFacts {
    NodeFacts {
        hugepages_allocatable: !selected.is_empty()
            && selected.iter().all(|n| hugepages_allocatable(rn, n)),
    }
}

/// The tuner's report from a terminated `tune` init container (current or last state).
fn tuning_report(pod: &Pod) -> Option<Result<TuningReport, String>> {
    let statuses: &[ContainerStatus] = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let tune = statuses.iter().find(|c| c.name == TUNE_CONTAINER)?;
    let terminated = tune
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| tune.last_state.as_ref().and_then(|s| s.terminated.as_ref()))?;
    let message = terminated.message.as_deref().unwrap_or("").trim();
    if message.is_empty() {
        return Some(Err(format!(
            "the tune container exited with code {} without a report",
            terminated.exit_code
        )));
    }
    Some(serde_json::from_str::<TuningReport>(message).map_err(|e| {
        format!(
            "the tune container's report is not readable ({e}); exit code {}",
            terminated.exit_code
        )
    }))
}

fn summary(report: &TuningReport) -> NodeTuningSummary {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let omitted = report.omitted.as_ref();
    NodeTuningSummary {
        succeeded: report.success,
        changed: count(report.changes.len() + omitted.map_or(0, |o| o.changes)),
        failed: count(report.errors.len() + omitted.map_or(0, |o| o.errors)),
        message: report
            .errors
            .first()
            .cloned()
            .or_else(|| report.message.clone()),
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node a relay pod runs on or is meant for: `spec.nodeName` once scheduled, before that
/// the DaemonSet controller's node affinity (`matchFields` `metadata.name` `In` one node).
fn pod_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref() {
        return Some(n);
    }
    let required = spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    required.node_selector_terms.iter().find_map(|term| {
        term.match_fields.as_deref()?.iter().find_map(|f| {
            match (f.key.as_str(), f.operator.as_str(), f.values.as_deref()) {
                ("metadata.name", "In", Some([node])) => Some(node.as_str()),
                _ => None,
            }
        })
    })
}

/// The newest live relay pod on (or meant for) `node`.
pub(crate) fn relay_pod_on<'a>(node: &str, pods: &'a [Pod]) -> Option<&'a Pod> {
    pods.iter()
        .filter(|p| pod_node(p) == Some(node))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The scheduler's message when it cannot place the pod (condition `PodScheduled=False` with
/// reason `Unschedulable`, e.g. "0/1 nodes are available: 1 Insufficient cpu.").
pub fn unschedulable(pod: &Pod) -> Option<&str> {
    if pod
        .status
        .as_ref()?
        .phase
        .as_deref()
        .is_some_and(|p| p != "Pending")
    {
        return None;
    }
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    (c.status == "False" && c.reason.as_deref() == Some("Unschedulable")).then(|| {
        c.message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or("the scheduler found no node with room for it")
    })
}

/// The status entry of one selected node; `previous` is its entry in the current status (the
/// action it asked for stays while a new relay pod's tuner has not reported yet).
pub fn node_status(
    rn: &RelayNode,
    node: &Node,
    pods: &[Pod],
    previous: Option<&RelayNodeNodeStatus>,
) -> RelayNodeNodeStatus {
    let name = node.name_any();
    let pod = relay_pod_on(&name, pods);
    let hugepages = hugepages_allocatable(rn, node);
    let mut st = RelayNodeNodeStatus {
        name,
        pod: pod.map(|p| p.name_any()),
        pod_ready: pod.is_some_and(pod_ready),
        hugepages_allocatable: hugepages,
        ..RelayNodeNodeStatus::default()
    };
    let mut notes: Vec<String> = Vec::new();
    let unplaced = pod.and_then(unschedulable);
    if let Some(msg) = unplaced {
        notes.push(format!("the relay pod cannot be scheduled: {}", msg.trim()));
    }
    let report = pod.and_then(tuning_report);
    match &report {
        Some(Ok(report)) => st.tuning = Some(summary(report)),
        Some(Err(msg)) => {
            st.tuning = Some(NodeTuningSummary {
                succeeded: false,
                failed: 1,
                message: Some(msg.clone()),
                ..NodeTuningSummary::default()
            });
        }
        None if pod.is_none() => notes.push("no relay pod on this node yet".into()),
        None if unplaced.is_some() => {}
        None => notes.push("waiting for the tuner".into()),
    }
    let latest = match &report {
        Some(Ok(r)) => Some(r),
        _ => None,
    };
    let previous_action = match &report {
        // An unreadable report is a report: it does not keep an older action alive.
        Some(Err(_)) => NodeAction::None,
        _ => previous.map_or(NodeAction::None, |p| p.action_required),
    };
    let (action, note) = action_required(rn, latest, hugepages, previous_action);
    st.action_required = action;
    notes.extend(note);
    if !notes.is_empty() {
        st.message = Some(notes.join("; "));
    }
    st
}
