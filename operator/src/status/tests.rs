use super::*;
use crate::fixtures::{
    relay_node, relay_pod, relaynode_named, report_failed, report_hugepages, report_ok, time,
    unschedulable_relay_pod,
};
use crate::selection::Conflict;
use k8s_openapi::api::apps::v1::DaemonSetStatus;
use oxidize_crds::relaynode::NodeAction;

fn cond<'a>(s: &'a RelayNodeStatus, t: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("condition {t}"))
}

fn ds(desired: i32, updated: i32, generation: i64, observed: i64) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            generation: Some(generation),
            ..ObjectMeta::default()
        },
        status: Some(DaemonSetStatus {
            desired_number_scheduled: desired,
            updated_number_scheduled: Some(updated),
            observed_generation: Some(observed),
            ..DaemonSetStatus::default()
        }),
        ..DaemonSet::default()
    }
}
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

#[test]
fn all_ready_and_tuned() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi"), relay_node("b", "1Gi")];
    let ok = report_ok();
    let pods = [
        relay_pod("edge", "a", true, Some(&ok)),
        relay_pod("edge", "b", true, Some(&ok)),
    ];
    let d = ds(2, 2, 1, 1);
    let (st, transitions) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: Some(&d),
        problems: &[],
        now: &time(5000),
    });
    assert_eq!(
        (st.desired_nodes, st.ready_nodes, st.tuned_nodes),
        (2, 2, 2)
    );
    assert_eq!(st.readiness.as_deref(), Some("2/2"));
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(cond(&st, "Ready").status, "True");
    assert_eq!(cond(&st, "Tuned").reason, "AllNodesTuned");
    assert_eq!(cond(&st, "Progressing").status, "False");
    assert_eq!(cond(&st, "Degraded").status, "False");
    for c in &st.conditions {
        assert_eq!(c.observed_generation, Some(1), "{}", c.type_);
    }
    assert_eq!(transitions.len(), 4, "first status: every condition is new");
    let a = &st.nodes[0];
    assert_eq!(
        (a.name.as_str(), a.pod_ready, a.hugepages_allocatable),
        ("a", true, true)
    );
    let t = a.tuning.as_ref().expect("tuning summary");
    assert_eq!((t.succeeded, t.changed, t.failed), (true, 1, 0));
    assert_eq!(a.action_required, NodeAction::None);
    assert_eq!(a.message, None);
}

#[test]
fn unchanged_conditions_keep_their_transition_time_and_make_no_event() {
    let mut rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi")];
    let ok = report_ok();
    let pods = [relay_pod("edge", "a", true, Some(&ok))];
    let d = ds(1, 1, 1, 1);
    let obs = |rn: &'_ RelayNode, now| {
        let (st, tr) = compute(Observed {
            rn,
            nodes: &nodes,
            pods: &pods,
            daemonset: Some(&d),
            problems: &[],
            now,
        });
        (st, tr)
    };
    let t1 = time(5000);
    let (st1, _) = obs(&rn, &t1);
    rn.status = Some(st1.clone());
    let t2 = time(9000);
    let (st2, transitions) = obs(&rn, &t2);
    assert!(transitions.is_empty(), "{transitions:?}");
    assert_eq!(cond(&st2, "Ready").last_transition_time, time(5000));
}

#[test]
fn hugepages_missing_from_allocatable_asks_for_a_kubelet_restart() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "0")];
    let ok = report_ok();
    let pods = [relay_pod("edge", "a", true, Some(&ok))];
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    let a = &st.nodes[0];
    assert!(!a.hugepages_allocatable);
    assert_eq!(a.action_required, NodeAction::RestartKubelet);
    assert!(
        a.message
            .as_deref()
            .unwrap_or("")
            .contains("restart the kubelet"),
        "{:?}",
        a.message
    );
}

#[test]
fn failed_tuning_degrades_and_names_the_node() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi"), relay_node("b", "1Gi")];
    let (ok, bad) = (report_ok(), report_failed());
    let pods = [
        relay_pod("edge", "a", true, Some(&ok)),
        relay_pod("edge", "b", false, Some(&bad)),
    ];
    let (st, transitions) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    let d = cond(&st, "Degraded");
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("True", "TuningFailed")
    );
    assert!(d.message.contains("b"), "{}", d.message);
    assert_eq!(cond(&st, "Tuned").reason, "TuningFailed");
    assert_eq!(
        cond(&st, "Ready").message,
        "1/2 relays ready; waiting for b"
    );
    let b = &st.nodes[1].tuning.as_ref().expect("summary");
    assert_eq!(
        b.message.as_deref(),
        Some("nic eth1: channels 4: the driver refused (EINVAL)")
    );
    assert!(transitions
        .iter()
        .any(|t| t.type_ == "Degraded" && t.is_warning()));
}

#[test]
fn unreadable_report_is_a_failure_with_a_message() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi")];
    let pods = [relay_pod("edge", "a", false, Some("segfault"))];
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    let t = st.nodes[0].tuning.as_ref().expect("summary");
    assert!(!t.succeeded);
    assert!(
        t.message.as_deref().unwrap_or("").contains("not readable"),
        "{t:?}"
    );
}

#[test]
fn pending_pods_and_rollouts() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi"), relay_node("b", "1Gi")];
    let pods = [relay_pod("edge", "a", false, None)];
    let d = ds(2, 1, 2, 2);
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: Some(&d),
        problems: &[],
        now: &time(1),
    });
    assert_eq!(cond(&st, "Progressing").reason, "RollingOut");
    assert_eq!(cond(&st, "Tuned").reason, "TuningPending");
    assert_eq!(
        st.nodes[0].message.as_deref(),
        Some("waiting for the tuner")
    );
    assert_eq!(
        st.nodes[1].message.as_deref(),
        Some("no relay pod on this node yet")
    );
    let stale = ds(2, 2, 3, 2);
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: Some(&stale),
        problems: &[],
        now: &time(1),
    });
    assert_eq!(
        cond(&st, "Progressing").reason,
        "RollingOut",
        "DaemonSet controller has not seen the new spec"
    );
}

#[test]
fn problems_block_and_explain() {
    let rn = relaynode_named("young", 2);
    let nodes = [relay_node("a", "1Gi")];
    let problems = [Problem::Conflict(Conflict {
        other: "relays/old".into(),
        nodes: vec!["a".into()],
    })];
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &[],
        daemonset: None,
        problems: &problems,
        now: &time(1),
    });
    let d = cond(&st, "Degraded");
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("True", "NodeConflict")
    );
    assert!(d.message.contains("RelayNode relays/old"), "{}", d.message);
    assert_eq!(cond(&st, "Ready").reason, "Blocked");

    let problems = [Problem::MissingSecret {
        field: "dataplane.tlsSecretName",
        name: "relay-tls".into(),
    }];
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &[],
        daemonset: None,
        problems: &problems,
        now: &time(1),
    });
    let d = cond(&st, "Degraded");
    assert_eq!(d.reason, "SecretMissing");
    assert_eq!(
        d.message,
        "Secret \"relay-tls\" (spec.dataplane.tlsSecretName) does not exist in this namespace; create it, the operator retries"
    );
}

#[test]
fn no_nodes_selected() {
    let rn = relaynode_named("edge", 1);
    let (st, transitions) = compute(Observed {
        rn: &rn,
        nodes: &[],
        pods: &[],
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    assert_eq!(st.readiness.as_deref(), Some("0/0"));
    assert_eq!(cond(&st, "Ready").reason, "NoNodesSelected");
    assert!(!transitions
        .iter()
        .any(|t| t.type_ == "Ready" && t.is_warning()));
}

/// Issue 16 item 6: a relay pod the scheduler cannot place (2-CPU node, one CPU per worker plus
/// the operator) shows in the node's entry and in Degraded, with the scheduler's message.
#[test]
fn an_unschedulable_relay_pod_degrades_with_the_scheduler_message() {
    let rn = relaynode_named("edge", 1);
    let nodes = [relay_node("a", "1Gi"), relay_node("b", "1Gi")];
    let ok = report_ok();
    let why = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod.";
    let pods = [
        relay_pod("edge", "a", true, Some(&ok)),
        unschedulable_relay_pod("edge", "b", why),
    ];
    let d = ds(2, 2, 1, 1);
    let (st, transitions) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: Some(&d),
        problems: &[],
        now: &time(1),
    });
    let b = &st.nodes[1];
    assert_eq!(b.name, "b");
    assert_eq!(
        b.pod.as_deref(),
        Some("edge-relay-b"),
        "matched by its node affinity"
    );
    assert!(!b.pod_ready);
    let msg = b.message.as_deref().unwrap_or("");
    assert!(
        msg.contains("cannot be scheduled") && msg.contains("Insufficient cpu"),
        "{msg}"
    );
    assert!(!msg.contains("waiting for the tuner"), "{msg}");
    assert_eq!(st.nodes[0].message, None);

    let c = cond(&st, "Degraded");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "RelayUnschedulable")
    );
    assert!(
        c.message.contains("on b:") && c.message.contains("Insufficient cpu"),
        "{}",
        c.message
    );
    assert!(transitions
        .iter()
        .any(|t| t.type_ == "Degraded" && t.is_warning()));
    assert_eq!(cond(&st, "Ready").status, "False");

    // Once scheduled (room was made), the node and the condition clear.
    let pods = [
        relay_pod("edge", "a", true, Some(&ok)),
        relay_pod("edge", "b", true, Some(&ok)),
    ];
    let (st, _) = compute(Observed {
        rn: &rn,
        nodes: &nodes,
        pods: &pods,
        daemonset: Some(&d),
        problems: &[],
        now: &time(2),
    });
    assert_eq!(st.nodes[1].message, None);
    assert_eq!(cond(&st, "Degraded").status, "False");
}

#[test]
fn a_pod_scheduled_but_not_yet_running_is_not_unschedulable() {
    let mut pod = relay_pod("edge", "a", false, None);
    assert_eq!(unschedulable(&pod), None);
    // Unschedulable only with reason Unschedulable (e.g. not SchedulingGated).
    let mut gated = unschedulable_relay_pod("edge", "a", "waiting");
    if let Some(c) = gated
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .and_then(|c| c.first_mut())
    {
        c.reason = Some("SchedulingGated".into());
    }
    assert_eq!(unschedulable(&gated), None);
    // A pod that runs is not unschedulable whatever an old condition says.
    pod = unschedulable_relay_pod("edge", "a", "old");
    if let Some(s) = pod.status.as_mut() {
        s.phase = Some("Running".into());
    }
    assert_eq!(unschedulable(&pod), None);
}

/// The node's status after one reconcile of `rn` (with its current status as the previous one).
fn node_after(rn: &RelayNode, node: &Node, pods: &[Pod]) -> RelayNodeNodeStatus {
    let (st, _) = compute(Observed {
        rn,
        nodes: std::slice::from_ref(node),
        pods,
        daemonset: None,
        problems: &[],
        now: &time(1),
    });
    st.nodes.into_iter().next().expect("one node")
}

fn with_status(mut rn: RelayNode, node: RelayNodeNodeStatus) -> RelayNode {
    rn.status = Some(RelayNodeStatus {
        nodes: vec![node],
        ..RelayNodeStatus::default()
    });
    rn
}

/// Issue 16 item 5, step by step as on the cluster: the tuner reserves hugepages, status asks
/// for a kubelet restart; after the restart allocatable shows them, the old report still says
/// `kubeletRestartNeeded` but nothing is asked any more; the DaemonSet is re-rendered with the
/// hugepage request; the new pod's tuner finds the node tuned; nothing is asked, no reboot.
#[test]
fn kubelet_restart_is_asked_until_allocatable_shows_the_hugepages_then_cleared() {
    let rn = relaynode_named("edge", 1);
    let first = report_hugepages(512, true, false);
    let before = relay_node("a", "0");
    let old_pod = [relay_pod("edge", "a", true, Some(&first))];
    let a = node_after(&rn, &before, &old_pod);
    assert_eq!(a.action_required, NodeAction::RestartKubelet);
    assert!(!a.hugepages_allocatable);
    assert!(a
        .message
        .as_deref()
        .unwrap_or("")
        .contains("restart the kubelet"));
    assert!(!render_facts(&rn, std::slice::from_ref(&before)).hugepages_allocatable);

    // The kubelet restarted: allocatable shows 1 GiB of 2 MiB pages; the old pod is unchanged.
    let rn = with_status(rn, a);
    let after = relay_node("a", "1Gi");
    let a = node_after(&rn, &after, &old_pod);
    assert_eq!(a.action_required, NodeAction::None);
    assert!(a.hugepages_allocatable);
    assert_eq!(a.message, None);

    // The DaemonSet is re-rendered with the hugepage request, and keeps it.
    let facts = render_facts(&rn, std::slice::from_ref(&after));
    assert!(facts.hugepages_allocatable);
    let ds = crate::render::daemonset(&rn, facts, "hash");
    let relay = ds
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name == crate::render::RELAY_CONTAINER)
        .expect("relay container");
    let requests = relay.resources.and_then(|r| r.requests).unwrap_or_default();
    assert!(requests.contains_key("hugepages-2Mi"), "{requests:?}");

    // The new pod, its tuner still running: nothing asked meanwhile.
    let rn = with_status(rn, a);
    let new_pod = [relay_pod("edge", "a", false, None)];
    let a = node_after(&rn, &after, &new_pod);
    assert_eq!(a.action_required, NodeAction::None);

    // Its tuner found the node already tuned.
    let rn = with_status(rn, a);
    let second = report_hugepages(512, false, false);
    let new_pod = [relay_pod("edge", "a", true, Some(&second))];
    let a = node_after(&rn, &after, &new_pod);
    assert_eq!(a.action_required, NodeAction::None);
    assert_eq!(a.message, None);
    assert!(a.tuning.as_ref().is_some_and(|t| t.succeeded));
}

#[test]
fn a_restart_still_needed_stays_while_the_new_tuner_runs() {
    let rn = relaynode_named("edge", 1);
    let first = report_hugepages(512, true, false);
    let node = relay_node("a", "0");
    let a = node_after(&rn, &node, &[relay_pod("edge", "a", true, Some(&first))]);
    assert_eq!(a.action_required, NodeAction::RestartKubelet);
    let rn = with_status(rn, a);
    let waiting = [relay_pod("edge", "a", false, None)];
    let a = node_after(&rn, &node, &waiting);
    assert_eq!(a.action_required, NodeAction::RestartKubelet);
    // ... and clears once allocatable shows the pages, report or not.
    let rn = with_status(rn, a);
    let a = node_after(&rn, &relay_node("a", "1Gi"), &waiting);
    assert_eq!(a.action_required, NodeAction::None);
}

#[test]
fn reboot_only_while_the_latest_report_says_a_boot_setting_is_missing() {
    let rn = relaynode_named("edge", 1);
    let node = relay_node("a", "1Gi");
    let missing = report_hugepages(512, false, true);
    let a = node_after(&rn, &node, &[relay_pod("edge", "a", true, Some(&missing))]);
    assert_eq!(a.action_required, NodeAction::Reboot);
    let msg = a.message.clone().unwrap_or_default();
    assert!(
        msg.contains("isolcpus=2-5") && msg.contains("reboot"),
        "{msg}"
    );

    // Rebooted with the arguments: the next report has no reboot_needed, the action clears.
    let rn = with_status(rn, a);
    let fine = report_hugepages(512, false, false);
    let a = node_after(&rn, &node, &[relay_pod("edge", "a", true, Some(&fine))]);
    assert_eq!(a.action_required, NodeAction::None);

    // Reboot wins over a kubelet restart (a reboot restarts the kubelet).
    let both = report_hugepages(512, true, true);
    let a = node_after(
        &rn,
        &relay_node("a", "0"),
        &[relay_pod("edge", "a", true, Some(&both))],
    );
    assert_eq!(a.action_required, NodeAction::Reboot);
}

#[test]
fn no_restart_when_the_tuner_got_no_pages_or_failed_or_none_are_asked_for() {
    let rn = relaynode_named("edge", 1);
    let node = relay_node("a", "0");
    let none = report_hugepages(0, false, false);
    let a = node_after(&rn, &node, &[relay_pod("edge", "a", true, Some(&none))]);
    assert_eq!(a.action_required, NodeAction::None);
    assert!(
        a.message.as_deref().unwrap_or("").contains("hugepages="),
        "{:?}",
        a.message
    );

    let failed = report_failed();
    let a = node_after(&rn, &node, &[relay_pod("edge", "a", false, Some(&failed))]);
    assert_eq!(a.action_required, NodeAction::None);

    let mut plain = relaynode_named("edge", 1);
    plain.spec.tuning.hugepages = None;
    let reserved = report_hugepages(512, true, false);
    let a = node_after(
        &plain,
        &node,
        &[relay_pod("edge", "a", true, Some(&reserved))],
    );
    assert_eq!(a.action_required, NodeAction::None);
    assert!(a.hugepages_allocatable);
}
