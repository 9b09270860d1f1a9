//! Reconcile tests against the fake apiserver (see `fixtures`): create, update, status from pods
//! and nodes, conflicts, missing Secrets, deletion with the finalizer, API errors and retries.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use serde_json::{json, Value};

use super::*;
use crate::fixtures::{
    list, relay_node, relay_pod, relaynode_named, report_ok, time, typed, Answer, FakeApi, Route,
};
use crate::metrics::Metrics;

const RN: &str = "/apis/relay.oxidize.dev/v1alpha1/namespaces/relays/relaynodes/edge";

fn meta(name: &str) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": name}})
}

/// `edge` with the finalizer already present (so reconcile goes straight to apply).
fn edge() -> RelayNode {
    let mut rn = relaynode_named("edge", 100);
    rn.metadata.finalizers = Some(vec![FINALIZER.into()]);
    rn
}

struct World {
    secrets: bool,
    nodes: Vec<Value>,
    relaynodes: Vec<Value>,
    pods: Vec<Value>,
    daemonset: Option<Value>,
    ds_patch: Answer,
    jobs: Vec<Value>,
}

impl World {
    fn new(rn: &RelayNode) -> Self {
        World {
            secrets: true,
            nodes: vec![
                typed(&relay_node("a", "1Gi"), "v1", "Node"),
                typed(&relay_node("b", "1Gi"), "v1", "Node"),
            ],
            relaynodes: vec![typed(rn, "relay.oxidize.dev/v1alpha1", "RelayNode")],
            pods: Vec::new(),
            daemonset: None,
            ds_patch: Answer::Echo,
            jobs: Vec::new(),
        }
    }

    fn routes(self, rn: &RelayNode) -> Vec<Route> {
        let rn_json = typed(rn, "relay.oxidize.dev/v1alpha1", "RelayNode");
        let secret = |name: &str| {
            if self.secrets {
                Answer::Json(meta(name))
            } else {
                Answer::Status(404, "NotFound")
            }
        };
        vec![
            Route::new("GET", "/api/v1/namespaces/relays/secrets/relay-tls", secret("relay-tls")),
            Route::new("GET", "/api/v1/namespaces/relays/secrets/relay-tokens", secret("relay-tokens")),
            Route::new("GET", "/api/v1/nodes", Answer::Json(list("Node", "v1", self.nodes))),
            Route::new(
                "GET",
                "/apis/relay.oxidize.dev/v1alpha1/relaynodes",
                Answer::Json(list("RelayNode", "relay.oxidize.dev/v1alpha1", self.relaynodes)),
            ),
            Route::new("PATCH", "/api/v1/namespaces/relays/configmaps/edge-config", Answer::Echo),
            Route::new("PATCH", "/apis/apps/v1/namespaces/relays/daemonsets/edge-relay", self.ds_patch),
            Route::new("DELETE", "/apis/apps/v1/namespaces/relays/daemonsets/edge-relay", Answer::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))),
            Route::new(
                "GET",
                "/apis/apps/v1/namespaces/relays/daemonsets/edge-relay",
                match self.daemonset {
                    Some(ds) => Answer::Json(ds),
                    None => Answer::Status(404, "NotFound"),
                },
            ),
            Route::new("PATCH", "/api/v1/namespaces/relays/services/edge-metrics", Answer::Echo),
            Route::new(
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com",
                Answer::Status(404, "NotFound"),
            ),
            Route::new("GET", "/api/v1/namespaces/relays/pods", Answer::Json(list("Pod", "v1", self.pods))),
            Route::new("PATCH", format!("{RN}/status"), Answer::Json(rn_json.clone())),
            Route::new("PATCH", RN, Answer::Json(rn_json)),
            Route::new("POST", "/apis/events.k8s.io/v1/namespaces/relays/events", Answer::Echo),
            Route::new("GET", "/apis/batch/v1/namespaces/relays/jobs", Answer::Json(list("Job", "batch/v1", self.jobs))),
        ]
    }
}

fn context(client: kube::Client) -> Arc<Context> {
    Arc::new(Context::new(
        client,
        Arc::new(Metrics::default()),
        Config::default(),
        Some("test".into()),
    ))
}

async fn run_once(rn: RelayNode, world: World) -> (Result<Action>, FakeApi, Arc<Context>) {
    let routes = world.routes(&rn);
    let (client, api) = FakeApi::start(routes);
    let ctx = context(client);
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        reconcile(Arc::new(rn), ctx.clone()),
    )
    .await
    .expect("reconcile finished in time");
    (res, api, ctx)
}

fn status_body(api: &FakeApi) -> Value {
    let calls = api.calls("PATCH", "/relaynodes/edge/status");
    assert_eq!(calls.len(), 1, "one status patch: {:?}", api.seen());
    let c = &calls[0];
    assert!(c.uri.contains("fieldManager=oxidize-operator"), "{}", c.uri);
    assert!(c.uri.contains("force=true"), "{}", c.uri);
    c.body["status"].clone()
}

fn condition(status: &Value, t: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
        .unwrap_or_else(|| panic!("condition {t} in {status}"))
}

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_only() {
    let rn = relaynode_named("edge", 100);
    let (res, api, _) = run_once(rn.clone(), World::new(&rn)).await;
    res.expect("ok");
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert!(seen[0].uri.starts_with(RN), "{}", seen[0].uri);
    assert!(
        seen[0].body.to_string().contains(FINALIZER),
        "{}",
        seen[0].body
    );
}

#[tokio::test]
async fn create_applies_every_owned_object_and_reports_status() {
    let rn = edge();
    let (res, api, ctx) = run_once(rn.clone(), World::new(&rn)).await;
    let action = res.expect("reconciled");
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(15)),
        "not ready yet: check again soon"
    );

    for path in [
        "configmaps/edge-config",
        "daemonsets/edge-relay",
        "services/edge-metrics",
    ] {
        let calls = api.calls("PATCH", path);
        assert_eq!(calls.len(), 1, "{path}");
        assert!(
            calls[0].uri.contains("fieldManager=oxidize-operator"),
            "{}",
            calls[0].uri
        );
        assert_eq!(
            calls[0].body["metadata"]["ownerReferences"][0]["uid"],
            "uid-edge"
        );
    }
    let ds = &api.calls("PATCH", "daemonsets/edge-relay")[0].body;
    assert_eq!(ds["kind"], "DaemonSet");
    assert_eq!(ds["spec"]["template"]["spec"]["hostNetwork"], true);
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["hugepages-2Mi"],
        "64Mi",
        "both nodes show 2Mi hugepages"
    );
    assert!(
        api.calls("PATCH", "servicemonitors").is_empty(),
        "no ServiceMonitor CRD"
    );

    let status = status_body(&api);
    assert_eq!(status["desiredNodes"], 2);
    assert_eq!(status["readiness"], "0/2");
    assert_eq!(condition(&status, "Ready")["reason"], "RelaysNotReady");
    assert_eq!(condition(&status, "Progressing")["reason"], "Creating");
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    assert_eq!(condition(&status, "Ready")["observedGeneration"], 1);
    let events = api.calls("POST", "/events");
    assert_eq!(events.len(), 4, "one Event per new condition");
    assert!(events
        .iter()
        .any(|e| e.body["reason"] == "RelaysNotReady" && e.body["type"] == "Warning"));
    assert!(ctx
        .metrics
        .encode()
        .contains("oxidize_operator_reconciliations_total 1"));
}

#[tokio::test]
async fn service_monitor_is_applied_when_its_crd_exists() {
    let rn = edge();
    let mut routes = World::new(&rn).routes(&rn);
    routes.insert(
        0,
        Route::new(
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com",
            Answer::Json(meta("servicemonitors.monitoring.coreos.com")),
        ),
    );
    routes.insert(
        0,
        Route::new(
            "PATCH",
            "/apis/monitoring.coreos.com/v1/namespaces/relays/servicemonitors/edge-metrics",
            Answer::Echo,
        ),
    );
    let (client, api) = FakeApi::start(routes);
    reconcile(Arc::new(rn), context(client))
        .await
        .expect("reconciled");
    let sm = api.calls("PATCH", "servicemonitors/edge-metrics");
    assert_eq!(sm.len(), 1);
    assert_eq!(sm[0].body["kind"], "ServiceMonitor");
}

#[tokio::test]
async fn a_spec_change_rolls_the_daemonset() {
    let rn = edge();
    let (_, api1, _) = run_once(rn.clone(), World::new(&rn)).await;
    let mut changed = edge();
    changed.spec.dataplane.port = 8443;
    changed.metadata.generation = Some(2);
    let (_, api2, _) = run_once(changed.clone(), World::new(&changed)).await;
    let hash = |api: &FakeApi| {
        api.calls("PATCH", "daemonsets/edge-relay")[0].body["spec"]["template"]["metadata"]
            ["annotations"]["relay.oxidize.dev/config-hash"]
            .clone()
    };
    assert_ne!(hash(&api1), hash(&api2), "a new config hash rolls the pods");
    let ds2 = &api2.calls("PATCH", "daemonsets/edge-relay")[0].body;
    assert_eq!(
        ds2["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        8443
    );
    assert_eq!(
        condition(&status_body(&api2), "Ready")["observedGeneration"],
        2
    );
}

#[tokio::test]
async fn status_comes_from_pods_nodes_and_the_daemonset() {
    let rn = edge();
    let mut world = World::new(&rn);
    let ok = report_ok();
    world.pods = vec![
        typed(&relay_pod("edge", "a", true, Some(&ok)), "v1", "Pod"),
        typed(&relay_pod("edge", "b", true, Some(&ok)), "v1", "Pod"),
    ];
    let mut ds = crate::render::daemonset(&rn, crate::render::NodeFacts::default(), "h");
    ds.metadata.generation = Some(4);
    ds.status = Some(DaemonSetStatus {
        desired_number_scheduled: 2,
        updated_number_scheduled: Some(2),
        number_ready: 2,
        observed_generation: Some(4),
        ..DaemonSetStatus::default()
    });
    world.daemonset = Some(typed(&ds, "apps/v1", "DaemonSet"));
    let (res, api, ctx) = run_once(rn, world).await;
    assert_eq!(res.expect("ok"), Action::requeue(Config::default().resync));
    let status = status_body(&api);
    assert_eq!(status["readiness"], "2/2");
    assert_eq!(status["tunedNodes"], 2);
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "Tuned")["status"], "True");
    assert_eq!(
        condition(&status, "Progressing")["reason"],
        "RolloutComplete"
    );
    assert_eq!(status["nodes"][1]["name"], "b");
    assert_eq!(status["nodes"][1]["tuning"]["changed"], 1);
    assert_eq!(status["nodes"][1]["podReady"], true);
    assert!(ctx.metrics.encode().contains(
        "oxidize_operator_relaynode_nodes{namespace=\"relays\",relaynode=\"edge\",state=\"ready\"} 2"
    ));
}

#[tokio::test]
async fn the_younger_of_two_conflicting_relaynodes_is_degraded_and_yields() {
    let mut young = relaynode_named("edge", 500);
    young.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let old = relaynode_named("core", 100);
    let mut world = World::new(&young);
    world
        .relaynodes
        .push(typed(&old, "relay.oxidize.dev/v1alpha1", "RelayNode"));
    world.daemonset = Some(typed(
        &crate::render::daemonset(&young, Default::default(), "h"),
        "apps/v1",
        "DaemonSet",
    ));
    let (res, api, _) = run_once(young, world).await;
    assert_eq!(res.expect("ok"), Action::requeue(Duration::from_secs(30)));
    assert!(
        api.calls("PATCH", "daemonsets").is_empty(),
        "nothing applied on shared nodes"
    );
    assert!(api.calls("PATCH", "configmaps").is_empty());
    assert_eq!(
        api.calls("DELETE", "daemonsets/edge-relay").len(),
        1,
        "its relay leaves the nodes"
    );
    let d = condition(&status_body(&api), "Degraded");
    assert_eq!(d["status"], "True");
    assert_eq!(d["reason"], "NodeConflict");
    assert!(
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("RelayNode relays/core"),
        "{d}"
    );
    assert!(api
        .calls("POST", "/events")
        .iter()
        .any(|e| e.body["reason"] == "NodeConflict" && e.body["type"] == "Warning"));
}

#[tokio::test]
async fn the_older_relaynode_is_not_disturbed_by_a_younger_one() {
    let rn = edge();
    let mut world = World::new(&rn);
    world.relaynodes.push(typed(
        &relaynode_named("later", 900),
        "relay.oxidize.dev/v1alpha1",
        "RelayNode",
    ));
    let (res, api, _) = run_once(rn, world).await;
    res.expect("ok");
    assert_eq!(api.calls("PATCH", "daemonsets/edge-relay").len(), 1);
    assert_eq!(condition(&status_body(&api), "Degraded")["status"], "False");
}

#[tokio::test]
async fn a_missing_secret_degrades_and_applies_nothing() {
    let rn = edge();
    let mut world = World::new(&rn);
    world.secrets = false;
    let (res, api, _) = run_once(rn, world).await;
    assert_eq!(
        res.expect("ok"),
        Action::requeue(Duration::from_secs(30)),
        "retries for the Secret"
    );
    assert!(api.calls("PATCH", "daemonsets").is_empty());
    let d = condition(&status_body(&api), "Degraded");
    assert_eq!(d["reason"], "SecretMissing");
    assert!(
        d["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"relay-tls\""),
        "{d}"
    );
}

#[tokio::test]
async fn api_errors_back_off_per_object_and_kind_then_recover() {
    let rn = edge();
    let mut world = World::new(&rn);
    world.ds_patch = Answer::FailThen(500, 2, Box::new(Answer::Echo));
    let routes = world.routes(&rn);
    let (client, api) = FakeApi::start(routes);
    let ctx = context(client);
    let rn = Arc::new(rn);
    let mut delays = Vec::new();
    for _ in 0..2 {
        let err = reconcile(rn.clone(), ctx.clone())
            .await
            .expect_err("apiserver error");
        assert_eq!(err.kind().label(), "api_server", "{err}");
        delays.push(error_policy(rn.clone(), &err, ctx.clone()));
    }
    assert_eq!(
        delays,
        [
            Action::requeue(Duration::from_secs(2)),
            Action::requeue(Duration::from_secs(4))
        ],
        "exponential, from the api_server base delay"
    );
    reconcile(rn.clone(), ctx.clone())
        .await
        .expect("third attempt succeeds");
    assert_eq!(api.calls("PATCH", "daemonsets/edge-relay").len(), 3);
    assert!(ctx
        .metrics
        .encode()
        .contains("oxidize_operator_reconcile_errors_total{error=\"api_server\"} 2"));
    // Success reset the backoff: the next failure starts from the base again.
    let err = Error::Kube(kube::Error::Api(
        kube::core::Status::failure("conflict", "Conflict")
            .with_code(409)
            .boxed(),
    ));
    assert_eq!(
        error_policy(rn, &err, ctx),
        Action::requeue(Duration::from_millis(500))
    );
}

mod deletion;
mod run;
