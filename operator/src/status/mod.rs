//! Pure status computation: from what the operator observed (nodes, relay pods, the DaemonSet,
//! problems found while reconciling) to the RelayNode status, plus the condition transitions
//! that become Events.

mod action;
mod nodes;

pub use action::action_required;
pub use nodes::{hugepages_allocatable, node_status, render_facts, unschedulable};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use oxidize_crds::relaynode::{ConditionType, RelayNodeNodeStatus};
use oxidize_crds::{RelayNode, RelayNodeStatus};

use crate::selection::Conflict;

/// Something that keeps a RelayNode from working, found while reconciling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An older RelayNode selects some of the same nodes.
    Conflict(Conflict),
    /// A Secret the spec names does not exist.
    MissingSecret {
        /// The spec field naming it.
        field: &'static str,
        /// The Secret's name.
        name: String,
    },
    /// The spec cannot be turned into config documents.
    InvalidSpec(String),
}

impl Problem {
    /// The condition reason (CamelCase).
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::Conflict(_) => "NodeConflict",
            Problem::MissingSecret { .. } => "SecretMissing",
            Problem::InvalidSpec(_) => "InvalidSpec",
        }
    }

    /// A message saying what is wrong and what to do.
    pub fn message(&self) -> String {
        match self {
            Problem::Conflict(c) => format!(
                "nodes {} are already selected by RelayNode {}; this RelayNode leaves them alone until the node selectors no longer overlap",
                c.nodes.join(", "),
                c.other
            ),
            Problem::MissingSecret { field, name } => format!(
                "Secret {name:?} (spec.{field}) does not exist in this namespace; create it, the operator retries"
            ),
            Problem::InvalidSpec(msg) => format!("{msg}; fix the spec"),
        }
    }
}

/// Everything the status is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The RelayNode.
    pub rn: &'a RelayNode,
    /// The nodes it selects.
    pub nodes: &'a [Node],
    /// Its relay pods.
    pub pods: &'a [Pod],
    /// Its DaemonSet, if it exists.
    pub daemonset: Option<&'a DaemonSet>,
    /// Problems found while reconciling.
    pub problems: &'a [Problem],
    /// The time to stamp on conditions that change.
    pub now: &'a Time,
}

/// A condition whose status changed (or appeared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The condition type.
    pub type_: &'static str,
    /// The new status (`True`/`False`).
    pub status: String,
    /// The new reason.
    pub reason: String,
    /// The new message.
    pub message: String,
}

impl Transition {
    /// True when the event should be a Warning (Degraded turned True, Ready turned False).
    pub fn is_warning(&self) -> bool {
        (self.type_ == "Degraded" && self.status == "True")
            || (self.type_ == "Ready" && self.status == "False" && self.reason != "NoNodesSelected")
    }
}

fn cond(
    rn: &RelayNode,
    t: ConditionType,
    ok: bool,
    reason: &str,
    message: String,
    now: &Time,
) -> Condition {
    Condition {
        type_: t.as_str().to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: rn.metadata.generation,
        last_transition_time: now.clone(),
    }
}

/// The new status, and the conditions that changed compared with `rn.status`.
pub fn compute(o: Observed<'_>) -> (RelayNodeStatus, Vec<Transition>) {
    let rn = o.rn;
    let previous_nodes = rn
        .status
        .as_ref()
        .map(|s| s.nodes.as_slice())
        .unwrap_or_default();
    let mut nodes: Vec<RelayNodeNodeStatus> = o
        .nodes
        .iter()
        .map(|n| {
            let previous = previous_nodes.iter().find(|p| p.name == n.name_any());
            node_status(rn, n, o.pods, previous)
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let blocked = !o.problems.is_empty();
    let desired = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
    let ready = i32::try_from(nodes.iter().filter(|n| n.pod_ready).count()).unwrap_or(0);
    let tuned = i32::try_from(
        nodes
            .iter()
            .filter(|n| n.tuning.as_ref().is_some_and(|t| t.succeeded))
            .count(),
    )
    .unwrap_or(0);
    let failed: Vec<&str> = nodes
        .iter()
        .filter(|n| n.tuning.as_ref().is_some_and(|t| !t.succeeded))
        .map(|n| n.name.as_str())
        .collect();
    // Relay pods the scheduler cannot place (e.g. the node lacks the CPUs the workers ask for).
    let unplaced: Vec<(String, &str)> = o
        .nodes
        .iter()
        .filter_map(|n| {
            let name = n.name_any();
            let msg = nodes::relay_pod_on(&name, o.pods).and_then(unschedulable)?;
            Some((name, msg.trim()))
        })
        .collect();

    let degraded = if let Some(p) = o.problems.first() {
        cond(
            rn,
            ConditionType::Degraded,
            true,
            p.reason(),
            p.message(),
            o.now,
        )
    } else if !failed.is_empty() {
        cond(
            rn,
            ConditionType::Degraded,
            true,
            "TuningFailed",
            format!(
                "tuning failed on {}; see status.nodes[].tuning.message",
                failed.join(", ")
            ),
            o.now,
        )
    } else if let Some((_, msg)) = unplaced.first() {
        let names: Vec<&str> = unplaced.iter().map(|(n, _)| n.as_str()).collect();
        cond(
            rn,
            ConditionType::Degraded,
            true,
            "RelayUnschedulable",
            format!(
                "the relay pod cannot be scheduled on {}: {msg}; free the resources on the node or ask for fewer workers (see status.nodes[].message)",
                names.join(", ")
            ),
            o.now,
        )
    } else {
        cond(
            rn,
            ConditionType::Degraded,
            false,
            "AsExpected",
            String::new(),
            o.now,
        )
    };

    let tuned_c = if blocked {
        cond(
            rn,
            ConditionType::Tuned,
            false,
            "Blocked",
            "see the Degraded condition".into(),
            o.now,
        )
    } else if desired == 0 {
        cond(
            rn,
            ConditionType::Tuned,
            false,
            "NoNodesSelected",
            "no node matches the node selector and tolerations".into(),
            o.now,
        )
    } else if tuned == desired {
        cond(
            rn,
            ConditionType::Tuned,
            true,
            "AllNodesTuned",
            format!("{tuned}/{desired} nodes tuned"),
            o.now,
        )
    } else if !failed.is_empty() {
        cond(
            rn,
            ConditionType::Tuned,
            false,
            "TuningFailed",
            format!(
                "{tuned}/{desired} nodes tuned; failed on {}",
                failed.join(", ")
            ),
            o.now,
        )
    } else {
        cond(
            rn,
            ConditionType::Tuned,
            false,
            "TuningPending",
            format!("{tuned}/{desired} nodes tuned"),
            o.now,
        )
    };

    let ready_c = if blocked {
        cond(
            rn,
            ConditionType::Ready,
            false,
            "Blocked",
            "see the Degraded condition".into(),
            o.now,
        )
    } else if desired == 0 {
        cond(
            rn,
            ConditionType::Ready,
            false,
            "NoNodesSelected",
            "no node matches the node selector and tolerations".into(),
            o.now,
        )
    } else if ready == desired {
        cond(
            rn,
            ConditionType::Ready,
            true,
            "AllRelaysReady",
            format!("{ready}/{desired} relays ready"),
            o.now,
        )
    } else {
        let waiting: Vec<&str> = nodes
            .iter()
            .filter(|n| !n.pod_ready)
            .map(|n| n.name.as_str())
            .collect();
        cond(
            rn,
            ConditionType::Ready,
            false,
            "RelaysNotReady",
            format!(
                "{ready}/{desired} relays ready; waiting for {}",
                waiting.join(", ")
            ),
            o.now,
        )
    };

    let progressing = match (blocked, o.daemonset.and_then(|d| d.status.as_ref())) {
        (true, _) => cond(
            rn,
            ConditionType::Progressing,
            false,
            "Blocked",
            "see the Degraded condition".into(),
            o.now,
        ),
        (false, None) => cond(
            rn,
            ConditionType::Progressing,
            true,
            "Creating",
            "the relay DaemonSet is being created".into(),
            o.now,
        ),
        (false, Some(s)) => {
            let current = s.observed_generation >= o.daemonset.and_then(|d| d.metadata.generation);
            let updated = s.updated_number_scheduled.unwrap_or(0);
            if current
                && updated >= s.desired_number_scheduled
                && s.number_unavailable.unwrap_or(0) == 0
            {
                cond(
                    rn,
                    ConditionType::Progressing,
                    false,
                    "RolloutComplete",
                    format!(
                        "{updated}/{} relay pods at the current spec",
                        s.desired_number_scheduled
                    ),
                    o.now,
                )
            } else {
                cond(
                    rn,
                    ConditionType::Progressing,
                    true,
                    "RollingOut",
                    format!(
                        "{updated}/{} relay pods at the current spec",
                        s.desired_number_scheduled
                    ),
                    o.now,
                )
            }
        }
    };

    let previous = rn
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let mut transitions = Vec::new();
    let conditions: Vec<Condition> = [ready_c, tuned_c, progressing, degraded]
        .into_iter()
        .map(|mut c| {
            match previous.iter().find(|p| p.type_ == c.type_) {
                Some(p) if p.status == c.status => {
                    c.last_transition_time = p.last_transition_time.clone()
                }
                _ => transitions.push(Transition {
                    type_: ConditionType::ALL
                        .iter()
                        .map(|t| t.as_str())
                        .find(|t| *t == c.type_)
                        .unwrap_or("Unknown"),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                }),
            }
            c
        })
        .collect();

    let status = RelayNodeStatus {
        observed_generation: rn.metadata.generation,
        conditions,
        desired_nodes: desired,
        ready_nodes: ready,
        tuned_nodes: tuned,
        readiness: Some(format!("{ready}/{desired}")),
        nodes,
    };
    (status, transitions)
}

#[cfg(test)]
mod tests;
