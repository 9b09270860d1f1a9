//! Nodes that leave a pool while the RelayNode lives: start a restore Job on each, then report
//! how each Job ended (once) and remove the ones that succeeded.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use oxidize_crds::RelayNode;
use serde_json::json;

use super::cleanup::{job_outcome, JobOutcome};
use super::Context;
use crate::render::{self, FIELD_MANAGER, RELAYNODE_LABEL, RESTORE_NODE_LABEL};
use crate::Result;

/// Label set on a failed restore Job once its failure has been reported.
pub const REPORTED_LABEL: &str = "relay.oxidize.dev/reported";

/// Starts restore Jobs for tuned nodes in `rn.status` that are no longer `selected`, and
/// reports the restore Jobs that have finished.
pub(crate) async fn restore_departed(
    rn: &RelayNode,
    ctx: &Context,
    ns: &str,
    selected: &BTreeSet<String>,
) -> Result<()> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    let left: Vec<String> = rn
        .status
        .iter()
        .flat_map(|s| s.nodes.iter())
        .filter(|n| n.tuning.is_some() && !selected.contains(&n.name))
        .map(|n| n.name.clone())
        .collect();
    if !left.is_empty() {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        for node in &left {
            let job = render::restore_job(rn, node);
            let job_name = job.metadata.name.clone().unwrap_or_default();
            jobs.patch(&job_name, &pp, &Patch::Apply(&job)).await?;
        }
        ctx.event(
            rn,
            false,
            "RestoringNodes",
            format!(
                "nodes {} left the pool; restoring their tuning with a Job on each",
                left.join(", ")
            ),
        )
        .await;
    }

    let selector = format!(
        "app.kubernetes.io/name=oxidize-restore,{RELAYNODE_LABEL}={},!{REPORTED_LABEL}",
        rn.name_any()
    );
    for job in jobs
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        let node = job
            .labels()
            .get(RESTORE_NODE_LABEL)
            .cloned()
            .unwrap_or_default();
        let name = job.name_any();
        match job_outcome(&job) {
            JobOutcome::Running => {}
            JobOutcome::Succeeded => {
                ctx.event(
                    rn,
                    false,
                    "NodeRestored",
                    format!("tuning restored on {node}"),
                )
                .await;
                jobs.delete(&name, &DeleteParams::background()).await?;
            }
            JobOutcome::Failed => {
                ctx.event(
                    rn,
                    true,
                    "RestoreFailed",
                    format!("restore failed on {node}; read the logs of Job {name}, the originals stay recorded on the node"),
                )
                .await;
                // Kept for its logs (its TTL removes it); labelled so it is reported once.
                let patch = json!({"metadata": {"labels": {REPORTED_LABEL: "true"}}});
                jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
        }
    }
    Ok(())
}
