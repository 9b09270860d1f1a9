//! Running the controller: the watches, the shared `State` the HTTP server reads, readiness
//! once the RelayNode watch has synced (seen on its own stream; see [`crate::readiness`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use kube::runtime::reflector::{self, reflector, ObjectRef};
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use oxidize_crds::RelayNode;
use tracing::{debug, info, warn};

use super::{error_policy, reconcile, Config, Context};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::render::{FIELD_MANAGER, RELAYNODE_LABEL};

/// What the controller and the HTTP server share.
#[derive(Clone, Default)]
pub struct State {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    serving: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
    synced: Arc<AtomicBool>,
}

impl State {
    /// What readiness is decided from, now.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            serving: self.serving.load(Ordering::Relaxed),
            leading: self.leading.load(Ordering::Relaxed),
            synced: self.synced.load(Ordering::Relaxed),
        }
    }

    /// True when this replica is Ready ([`Readiness::is_ready`]).
    pub fn ready(&self) -> bool {
        self.readiness().is_ready()
    }

    /// Records that the HTTP server is listening.
    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    /// Records whether this replica runs the controller (holds the Lease, or election is off).
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Relaxed);
        self.metrics.leader.set(i64::from(leading));
    }

    /// Records whether the controller's RelayNode watch has completed its initial list.
    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Relaxed);
    }

    /// The context for reconciles.
    pub fn to_context(
        &self,
        client: Client,
        config: Config,
        instance: Option<String>,
    ) -> Arc<Context> {
        Arc::new(Context::new(client, self.metrics.clone(), config, instance))
    }
}

fn owner_of(obj: &impl ResourceExt) -> Option<ObjectRef<RelayNode>> {
    let ns = obj.namespace()?;
    let name = obj.labels().get(RELAYNODE_LABEL)?.clone();
    Some(ObjectRef::new(&name).within(&ns))
}

/// Runs the controller until `shutdown` resolves. `namespace` limits it to one namespace.
pub async fn run(
    state: State,
    client: Client,
    namespace: Option<String>,
    config: Config,
    instance: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let relaynodes: Api<RelayNode> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Lists with the default (most recent, from etcd) semantic: with `any_semantic` the
    // watches resumed from resource versions older than a restarted apiserver's watch cache
    // and failed with 410 Expired again and again, so changes went unseen after a restart.
    let ours =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={FIELD_MANAGER}"));
    // The RelayNode watch as `Controller::new` builds it, plus a look at its events: readiness
    // follows `InitDone` here instead of a second `Store::wait_until_ready` waiter, which kube
    // 5.0.0 would starve (the controller's runner is already one).
    state.set_synced(false);
    let (store, writer) = reflector::store();
    let synced = state.clone();
    let trigger = reflector(writer, watcher(relaynodes, watcher::Config::default()))
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) && !synced.readiness().synced {
                synced.set_synced(true);
                info!("RelayNode watch synced; ready");
            }
        })
        .applied_objects();
    let controller = Controller::for_stream(trigger, store.clone());
    let node_store = store;
    let labelled = watcher::Config::default().labels(RELAYNODE_LABEL);
    let ctx = state.to_context(client.clone(), config, instance);
    controller
        .owns(Api::<DaemonSet>::all(client.clone()), ours.clone())
        .owns(Api::<ConfigMap>::all(client.clone()), ours.clone())
        .owns(Api::<Service>::all(client.clone()), ours)
        .watches(Api::<Pod>::all(client.clone()), labelled.clone(), |p| {
            owner_of(&p)
        })
        .watches(Api::<Job>::all(client.clone()), labelled, |j| owner_of(&j))
        .watches(
            Api::<Node>::all(client),
            watcher::Config::default(),
            move |_node| {
                // A node's labels, taints or allocatable changed: any pool may be affected.
                node_store
                    .state()
                    .iter()
                    .map(|rn| ObjectRef::from_obj(rn.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(relaynode = %obj, "reconciled"),
                Err(e) => warn!(error = %e, "controller"),
            }
        })
        .await;
    info!("controller stopped");
}
