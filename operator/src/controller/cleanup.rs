//! `cleanup`: on deletion, stop the relays, run a restore Job on every tuned node, wait for them
//! a bounded time, report, and let the finalizer go.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use oxidize_crds::RelayNode;

use super::Context;
use crate::render::{self, Names, FIELD_MANAGER};
use crate::{Error, Result};

/// How a restore Job ended, if it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Still running (or not started).
    Running,
    /// Completed.
    Succeeded,
    /// Gave up (backoff limit or deadline).
    Failed,
}

/// Reads a Job's outcome from its status.
pub fn job_outcome(job: &Job) -> JobOutcome {
    let Some(s) = &job.status else {
        return JobOutcome::Running;
    };
    let has = |t: &str| {
        s.conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == t && c.status == "True")
    };
    if has("Complete") || s.succeeded.unwrap_or(0) > 0 {
        JobOutcome::Succeeded
    } else if has("Failed") {
        JobOutcome::Failed
    } else {
        JobOutcome::Running
    }
}

/// Cleans up a RelayNode being deleted. Returns [`Error::RestorePending`] while restore Jobs run
/// (the controller retries soon); gives up after the configured timeout, reporting the nodes.
pub async fn cleanup(rn: &RelayNode, ctx: &Context) -> Result<Action> {
    let ns = rn.namespace().ok_or(Error::MissingField("namespace"))?;
    let name = rn.name_any();
    let names = Names::for_relaynode(&name);

    // Stop the relays first: restoring under a running relay would pull its resources away.
    let ds_api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    if ds_api.get_metadata_opt(&names.daemonset).await?.is_some() {
        ds_api
            .delete(&names.daemonset, &DeleteParams::foreground())
            .await?;
    }

    let tuned: Vec<String> = rn
        .status
        .iter()
        .flat_map(|s| s.nodes.iter())
        .filter(|n| n.tuning.is_some())
        .map(|n| n.name.clone())
        .collect();
    if tuned.is_empty() {
        ctx.metrics.forget_relaynode(&ns, &name);
        return Ok(Action::await_change());
    }

    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let mut running = Vec::new();
    let mut failed = Vec::new();
    for node in &tuned {
        let job = render::restore_job(rn, node);
        let job_name = job.metadata.name.clone().unwrap_or_default();
        let live = jobs.patch(&job_name, &pp, &Patch::Apply(&job)).await?;
        match job_outcome(&live) {
            JobOutcome::Running => running.push(node.clone()),
            JobOutcome::Failed => failed.push(node.clone()),
            JobOutcome::Succeeded => {}
        }
    }

    if !running.is_empty() {
        let since = rn
            .metadata
            .deletion_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(jiff::Timestamp::now);
        let waited = jiff::Timestamp::now().duration_since(since);
        let limit = jiff::SignedDuration::try_from(ctx.config.restore_timeout)
            .unwrap_or(jiff::SignedDuration::from_secs(180));
        if waited < limit {
            return Err(Error::RestorePending(running.len()));
        }
        ctx.event(
            rn,
            true,
            "RestoreTimedOut",
            format!(
                "restore did not finish within {}s on {}; check those nodes by hand (tune --restore)",
                ctx.config.restore_timeout.as_secs(),
                running.join(", ")
            ),
        )
        .await;
    }
    if failed.is_empty() && running.is_empty() {
        ctx.event(
            rn,
            false,
            "NodesRestored",
            format!("tuning restored on {}", tuned.join(", ")),
        )
        .await;
    } else if !failed.is_empty() {
        ctx.event(
            rn,
            true,
            "RestoreFailed",
            format!(
                "restore failed on {}; see the restore Job logs, the originals stay recorded on the node",
                failed.join(", ")
            ),
        )
        .await;
    }
    // Failed Jobs stay (their TTL removes them) so that their logs can be read.
    for node in tuned.iter().filter(|n| !failed.contains(n)) {
        let job_name = render::restore_job_name(&name, node);
        if let Err(e) = jobs.delete(&job_name, &DeleteParams::background()).await {
            tracing::debug!(job = %job_name, error = %e, "restore job not deleted");
        }
    }
    ctx.metrics.forget_relaynode(&ns, &name);
    Ok(Action::await_change())
}
