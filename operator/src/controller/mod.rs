//! The RelayNode controller (kube-rs/controller-rs shape): `reconcile` runs the finalizer
//! helper, which dispatches to [`apply`] (owned objects and status) or [`cleanup`] (restore the
//! tuned nodes); `error_policy` counts the failure and picks a per-object, per-kind backoff.

mod apply;
mod cleanup;
mod departed;
mod run;

pub use apply::{apply, SERVICE_MONITOR_CRD};
pub use cleanup::{cleanup, job_outcome, JobOutcome};
pub use departed::REPORTED_LABEL;
pub use run::{run, State};

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Error as FinalizerError, Event as FinalizerEvent};
use kube::{Api, Client, Resource, ResourceExt};
use oxidize_crds::RelayNode;
use tracing::{field, instrument, warn, Span};

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::{Error, Result};

/// The finalizer that makes deletion wait for the tuned nodes to be restored.
pub const FINALIZER: &str = "relay.oxidize.dev/restore-nodes";

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long deletion waits for restore Jobs before letting go (and reporting the nodes).
    pub restore_timeout: Duration,
    /// Requeue interval when everything is ready (a resync, to notice drift).
    pub resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            restore_timeout: Duration::from_secs(180),
            resync: Duration::from_secs(300),
        }
    }
}

/// What every reconcile gets.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// Publishes Events on RelayNodes.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Per-object error backoff.
    pub backoff: Backoff,
    /// Controller settings.
    pub config: Config,
}

impl Context {
    /// A context with a recorder reporting as `oxidize-operator` from `instance`.
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        config: Config,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: crate::render::FIELD_MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            backoff: Backoff::default(),
            config,
        }
    }

    /// Publishes an Event on `rn`; failures are logged, never fatal (events are best effort).
    pub(crate) async fn event(&self, rn: &RelayNode, warning: bool, reason: &str, note: String) {
        let ev = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.chars().take(128).collect(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &rn.object_ref(&())).await {
            warn!(error = %e, reason, "could not publish an event");
        }
    }
}

fn key(rn: &RelayNode) -> String {
    format!("{}/{}", rn.namespace().unwrap_or_default(), rn.name_any())
}

/// Reconciles one RelayNode: adds the finalizer, then applies (or, when deleting, cleans up).
#[instrument(skip(rn, ctx), fields(relaynode = field::Empty, namespace = field::Empty))]
pub async fn reconcile(rn: Arc<RelayNode>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let ns = rn.namespace().ok_or(Error::MissingField("namespace"))?;
    Span::current().record("relaynode", rn.name_any());
    Span::current().record("namespace", ns.as_str());
    let api: Api<RelayNode> = Api::namespaced(ctx.client.clone(), &ns);
    let k = key(&rn);
    let result = finalizer(&api, FINALIZER, rn, |event| async {
        match event {
            FinalizerEvent::Apply(rn) => apply(&rn, &ctx).await,
            FinalizerEvent::Cleanup(rn) => cleanup(&rn, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        FinalizerError::AddFinalizer(e) | FinalizerError::RemoveFinalizer(e) => Error::Kube(e),
        other => Error::Finalizer(other.to_string()),
    });
    if result.is_ok() {
        ctx.backoff.success(&k);
    }
    result
}

/// Counts the failure under its fixed label and requeues after the object's backoff delay.
pub fn error_policy(rn: Arc<RelayNode>, error: &Error, ctx: Arc<Context>) -> Action {
    let kind = error.kind();
    ctx.metrics.reconcile_failed(kind);
    let delay = ctx.backoff.failure(&key(&rn), kind.base_delay());
    if matches!(error, Error::RestorePending(_)) {
        tracing::info!(relaynode = %key(&rn), %error, retry_in = ?delay, "deletion waiting");
    } else {
        warn!(relaynode = %key(&rn), %error, kind = kind.label(), retry_in = ?delay, "reconcile failed");
    }
    Action::requeue(delay)
}

#[cfg(test)]
mod tests;
