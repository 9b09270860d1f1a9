//! Running the controller: the watches, the shared `State` the HTTP server reads, readiness
//! once the watches have synced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Service};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, ResourceExt};
use oxidize_crds::RelayNode;
use tracing::{debug, info, warn};

use super::{error_policy, reconcile, Config, Context};
use crate::metrics::Metrics;
use crate::render::{FIELD_MANAGER, RELAYNODE_LABEL};

/// What the controller and the HTTP server share.
#[derive(Clone, Default)]
pub struct State {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    standby: Arc<AtomicBool>,
}

impl State {
    /// True once the RelayNode watch has listed everything (or while waiting as a standby
    /// replica, which has nothing to sync).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) || self.standby.load(Ordering::Relaxed)
    }

    /// Marks this replica as a standby (not the leader) or not.
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
        self.metrics.leader.set(i64::from(!standby));
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
    let ours = watcher::Config::default()
        .labels(&format!("app.kubernetes.io/managed-by={FIELD_MANAGER}"))
        .any_semantic();
    let controller = Controller::new(relaynodes, watcher::Config::default().any_semantic());
    let store = controller.store();
    let ready = state.ready.clone();
    let ready_store = store.clone();
    tokio::spawn(async move {
        if ready_store.wait_until_ready().await.is_ok() {
            ready.store(true, Ordering::Relaxed);
            info!("RelayNode watch synced; ready");
        }
    });
    let node_store = store.clone();
    let labelled = watcher::Config::default()
        .labels(RELAYNODE_LABEL)
        .any_semantic();
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
            watcher::Config::default().any_semantic(),
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
