//! What a person must still do on one node for the tuning to take full effect, decided from the
//! latest tuning report and what the kubelet shows now (pure; unit tests in `tests.rs`).
//!
//! - `Reboot` only when the latest report says a boot-time setting is missing (isolated cores,
//!   kernel arguments): `reboot_needed`. A reboot restarts the kubelet too, so it wins.
//! - `RestartKubelet` only when the latest successful report obtained hugepages of the size the
//!   spec asks for and the node's allocatable does not show that size yet (the kubelet reads
//!   hugepage capacity only when it starts). The report's own `kubeletRestartNeeded` says only
//!   that this run changed the pools; once allocatable shows them the restart has happened.
//! - Nothing otherwise: the action clears as soon as what it asked for is done.
//!
//! While the relay pod is replaced and its tuner has not reported yet, the previous action stays
//! if it may still hold (a reboot, or a kubelet restart while allocatable still lacks the pages).

use oxidize_crds::relaynode::NodeAction;
use oxidize_crds::tuning::TuningReport;
use oxidize_crds::RelayNode;

/// The action, and a note saying why (for the node's `message`).
pub fn action_required(
    rn: &RelayNode,
    report: Option<&TuningReport>,
    hugepages_allocatable: bool,
    previous: NodeAction,
) -> (NodeAction, Option<String>) {
    let resource = rn
        .spec
        .tuning
        .hugepages
        .as_ref()
        .map(|hp| (hp.size.kib(), hp.size.resource_name()));
    let restart_note = |resource: &str| {
        format!(
            "the node's allocatable resources do not show the reserved {resource}; restart the kubelet so that it sees them (the relay runs without a hugepage request until then)"
        )
    };
    let Some(report) = report else {
        return match previous {
            NodeAction::Reboot => (
                NodeAction::Reboot,
                Some("reboot with the kernel arguments the tuner reported (until the tuner reports again)".into()),
            ),
            NodeAction::RestartKubelet if !hugepages_allocatable => (
                NodeAction::RestartKubelet,
                resource.map(|(_, r)| restart_note(r)),
            ),
            _ => (NodeAction::None, None),
        };
    };
    if report.reboot_needed {
        let why = report
            .warnings
            .iter()
            .find(|w| w.contains("reboot"))
            .map_or("reboot with the kernel arguments the tuner reported", |w| {
                w.as_str()
            });
        return (NodeAction::Reboot, Some(why.to_owned()));
    }
    let Some((kib, resource)) = resource else {
        return (NodeAction::None, None);
    };
    if hugepages_allocatable || !report.success {
        return (NodeAction::None, None);
    }
    let outcomes: Vec<u64> = report
        .hugepages
        .iter()
        .filter(|h| h.size.kib() == kib)
        .map(|h| h.obtained)
        .collect();
    // A report without hugepage outcomes for this size (an older tuner) says only whether its
    // run changed the pools.
    let obtained = if outcomes.is_empty() {
        report.kubelet_restart_needed
    } else {
        outcomes.iter().sum::<u64>() > 0
    };
    if obtained {
        (NodeAction::RestartKubelet, Some(restart_note(resource)))
    } else if outcomes.is_empty() {
        (NodeAction::None, None)
    } else {
        (
            NodeAction::None,
            Some(format!(
                "the tuner could reserve no {resource} at run time (see its warnings); reserve them at boot with hugepages= on the kernel command line"
            )),
        )
    }
}
