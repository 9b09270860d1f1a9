//! `apply`: render and server-side apply the owned objects, observe, write status, emit Events.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use oxidize_crds::RelayNode;
use serde_json::json;
use tracing::info;

use super::Context;
use crate::render::{self, Names, FIELD_MANAGER, RELAYNODE_LABEL};
use crate::selection;
use crate::status::{self, Observed, Problem};
use crate::{Error, Result};

/// The CRD whose presence turns the ServiceMonitor on.
pub const SERVICE_MONITOR_CRD: &str = "servicemonitors.monitoring.coreos.com";

fn ssa() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

async fn missing_secrets(ctx: &Context, rn: &RelayNode, ns: &str) -> Result<Vec<Problem>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut problems = Vec::new();
    for (field, name) in [
        (
            "dataplane.tlsSecretName",
            &rn.spec.dataplane.tls_secret_name,
        ),
        (
            "dataplane.tokenSecretName",
            &rn.spec.dataplane.token_secret_name,
        ),
    ] {
        if secrets.get_metadata_opt(name).await?.is_none() {
            problems.push(Problem::MissingSecret {
                field,
                name: name.clone(),
            });
        }
    }
    Ok(problems)
}

/// Reconciles a live RelayNode: owned objects, restore Jobs for nodes that left, status, Events.
pub async fn apply(rn: &RelayNode, ctx: &Context) -> Result<Action> {
    let ns = rn.namespace().ok_or(Error::MissingField("namespace"))?;
    let name = rn.name_any();
    let names = Names::for_relaynode(&name);
    let client = ctx.client.clone();

    // What stands in the way.
    let mut problems = Vec::new();
    let docs = match oxidize_crds::convert::documents(&rn.spec) {
        Ok(d) => Some(d),
        Err(e) => {
            problems.push(Problem::InvalidSpec(e.to_string()));
            None
        }
    };
    problems.extend(missing_secrets(ctx, rn, &ns).await?);
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let all = Api::<RelayNode>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    ctx.metrics
        .relaynodes
        .set(i64::try_from(all.len()).unwrap_or(i64::MAX));
    if let Some(c) = selection::conflict(rn, &all, &nodes) {
        problems.insert(0, Problem::Conflict(c));
    }
    let selected: Vec<Node> = nodes
        .into_iter()
        .filter(|n| selection::selects(rn, n))
        .collect();

    // The owned objects.
    let ds_api: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    match (&docs, problems.is_empty()) {
        (Some(docs), true) => {
            let facts = status::render_facts(rn, &selected);
            let cm = render::configmap(rn, docs)?;
            Api::<ConfigMap>::namespaced(client.clone(), &ns)
                .patch(&names.configmap, &ssa(), &Patch::Apply(&cm))
                .await?;
            let ds = render::daemonset(rn, facts, &render::config_hash(&cm));
            ds_api
                .patch(&names.daemonset, &ssa(), &Patch::Apply(&ds))
                .await?;
            Api::<Service>::namespaced(client.clone(), &ns)
                .patch(&names.service, &ssa(), &Patch::Apply(&render::service(rn)))
                .await?;
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            if crds.get_metadata_opt(SERVICE_MONITOR_CRD).await?.is_some() {
                let sm_api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), &ns, &render::service_monitor_resource());
                sm_api
                    .patch(
                        &names.service,
                        &ssa(),
                        &Patch::Apply(&render::service_monitor(rn)),
                    )
                    .await?;
            }
        }
        // Yield the shared nodes: no relay of ours may run there.
        _ if problems.iter().any(|p| matches!(p, Problem::Conflict(_)))
            && ds_api.get_metadata_opt(&names.daemonset).await?.is_some() =>
        {
            ds_api
                .delete(&names.daemonset, &DeleteParams::background())
                .await?;
            info!(daemonset = %names.daemonset, "deleted: the nodes belong to an older RelayNode");
        }
        _ => {}
    }

    // Nodes that left the pool get their tuning restored.
    let selected_names: std::collections::BTreeSet<String> =
        selected.iter().map(|n| n.name_any()).collect();
    super::departed::restore_departed(rn, ctx, &ns, &selected_names).await?;

    // Observe and report.
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels(&format!("{RELAYNODE_LABEL}={name}")))
        .await?
        .items;
    let ds = ds_api.get_opt(&names.daemonset).await?;
    let now = Time(jiff::Timestamp::now());
    let (status, transitions) = status::compute(Observed {
        rn,
        nodes: &selected,
        pods: &pods,
        daemonset: ds.as_ref(),
        problems: &problems,
        now: &now,
    });
    let patch = json!({
        "apiVersion": oxidize_crds::api_version(),
        "kind": "RelayNode",
        "status": status,
    });
    Api::<RelayNode>::namespaced(client, &ns)
        .patch_status(&name, &ssa(), &Patch::Apply(&patch))
        .await?;
    ctx.metrics.set_relaynode(&ns, &name, &status);
    for t in &transitions {
        ctx.event(
            rn,
            t.is_warning(),
            &t.reason,
            format!("{} is {}: {}", t.type_, t.status, t.message),
        )
        .await;
    }

    let ready = status.ready_nodes == status.desired_nodes && status.desired_nodes > 0;
    Ok(if !problems.is_empty() {
        // A Secret may appear or the other RelayNode go away without an event on this one.
        Action::requeue(std::time::Duration::from_secs(30))
    } else if ready {
        Action::requeue(ctx.config.resync)
    } else {
        Action::requeue(std::time::Duration::from_secs(15))
    })
}
