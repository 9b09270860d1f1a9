//! Test fixtures: builders for RelayNodes, Nodes and Pods, and a fake apiserver behind a real
//! `kube::Client` (the tower-test pattern of kube-rs/controller-rs): each request is checked
//! against the routes a test declares and answered as the apiserver would; every request is
//! recorded so tests can assert on method, path and body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{
    Affinity, ContainerState, ContainerStateTerminated, ContainerStatus, Node, NodeAffinity,
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeStatus, Pod, PodCondition,
    PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::client::Body;
use kube::Client;
use oxidize_crds::{sample, RelayNode};
use serde_json::{json, Value};

/// A RelayNode `relays/<name>` created `created_secs` after the epoch, generation 1.
pub(crate) fn relaynode_named(name: &str, created_secs: i64) -> RelayNode {
    let mut rn = RelayNode::new(name, sample::spec());
    rn.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("relays".into()),
        uid: Some(format!("uid-{name}")),
        generation: Some(1),
        resource_version: Some("100".into()),
        creation_timestamp: Some(time(created_secs)),
        ..ObjectMeta::default()
    };
    rn
}

/// A timestamp `secs` after the epoch.
pub(crate) fn time(secs: i64) -> Time {
    Time(jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

/// A Node with labels (no taints, no hugepages).
pub(crate) fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

/// A relay Node (`oxidize.dev/relay=true`) whose allocatable resources show `hugepages_2mi`.
pub(crate) fn relay_node(name: &str, hugepages_2mi: &str) -> Node {
    let mut n = node(name, &[("oxidize.dev/relay", "true")]);
    n.status = Some(NodeStatus {
        allocatable: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("16".into())),
            ("hugepages-2Mi".to_owned(), Quantity(hugepages_2mi.into())),
        ])),
        ..NodeStatus::default()
    });
    n
}

/// A relay pod of RelayNode `rn` on `node`; `report` is the tune container's termination
/// message (None: the init container has not finished).
pub(crate) fn relay_pod(rn: &str, node: &str, ready: bool, report: Option<&str>) -> Pod {
    let init = report.map(|msg| ContainerStatus {
        name: "tune".into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 0,
                message: Some(msg.into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    });
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{rn}-relay-{node}")),
            namespace: Some("relays".into()),
            labels: Some(BTreeMap::from([(
                "relay.oxidize.dev/relaynode".to_owned(),
                rn.to_owned(),
            )])),
            creation_timestamp: Some(time(1000)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            init_container_statuses: init.map(|c| vec![c]),
            ..PodStatus::default()
        }),
    }
}

/// A relay pod of RelayNode `rn` that the scheduler cannot place on `node`: Pending, no
/// `nodeName`, the DaemonSet controller's node affinity, `PodScheduled=False` with the
/// scheduler's `message`.
pub(crate) fn unschedulable_relay_pod(rn: &str, node: &str, message: &str) -> Pod {
    let mut pod = relay_pod(rn, node, false, None);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    spec.node_name = None;
    spec.affinity = Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".into(),
                        operator: "In".into(),
                        values: Some(vec![node.into()]),
                    }]),
                    ..NodeSelectorTerm::default()
                }],
            }),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    });
    pod.status = Some(PodStatus {
        phase: Some("Pending".into()),
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            message: Some(message.into()),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    });
    pod
}

/// A successful tuning report as the tuner writes it.
pub(crate) fn report_ok() -> String {
    json!({"apiVersion": "relay.oxidize.dev/v1alpha1", "kind": "TuningReport", "success": true,
           "changes": [{"item": "sysctl net.core.busy_poll", "from": "0", "to": "50"}],
           "hugepages": [{"node": 0, "size": "2Mi", "planned": 512, "obtained": 512}],
           "message": "1 setting changed"})
    .to_string()
}

/// A successful report of the sample spec's tuning: `obtained` 2 MiB pages on NUMA node 0
/// (`changed`: this run reserved them, so it asks for a kubelet restart), and `reboot_needed`
/// with the tuner's isolation warning.
pub(crate) fn report_hugepages(obtained: u64, changed: bool, reboot_needed: bool) -> String {
    let warnings: Vec<&str> = if reboot_needed {
        vec!["isolated cores 2-5 are not fully isolated (kernel isolated: none, nohz_full: none); add the kernel arguments isolcpus=2-5 nohz_full=2-5 rcu_nocbs=2-5 and reboot"]
    } else {
        Vec::new()
    };
    json!({"apiVersion": "relay.oxidize.dev/v1alpha1", "kind": "TuningReport", "success": true,
           "changes": if changed {
               json!([{"item": "hugepages 2Mi node0", "from": "0", "to": obtained.to_string()}])
           } else {
               json!([])
           },
           "warnings": warnings,
           "kubeletRestartNeeded": changed, "rebootNeeded": reboot_needed,
           "hugepages": [{"node": 0, "size": "2Mi", "planned": 512, "obtained": obtained}]})
    .to_string()
}

/// A failed tuning report.
pub(crate) fn report_failed() -> String {
    json!({"apiVersion": "relay.oxidize.dev/v1alpha1", "kind": "TuningReport", "success": false,
           "errors": ["nic eth1: channels 4: the driver refused (EINVAL)"], "rolledBack": true})
    .to_string()
}

/// One request the fake apiserver saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// HTTP method.
    pub(crate) method: String,
    /// Path and query.
    pub(crate) uri: String,
    /// JSON body (Null when empty or not JSON).
    pub(crate) body: Value,
}

/// A route: method, a path prefix (query excluded), and the answer.
pub(crate) struct Route {
    method: &'static str,
    path: String,
    /// Only requests whose URI contains this (e.g. `watch=true`).
    query: Option<&'static str>,
    answer: Answer,
}

/// How a route answers.
#[derive(Clone)]
pub(crate) enum Answer {
    /// 200 with this JSON.
    Json(Value),
    /// Echo the request body back (server-side apply, status patches).
    Echo,
    /// An apiserver error status with this code and reason.
    Status(u16, &'static str),
    /// Fail `n` times with this code, then answer with the inner answer.
    FailThen(u16, usize, Box<Answer>),
    /// Never answer (an open watch with no events).
    Hang,
}

impl Route {
    /// A route for `method` on paths starting with `path`.
    pub(crate) fn new(method: &'static str, path: impl Into<String>, answer: Answer) -> Self {
        Route {
            method,
            path: path.into(),
            query: None,
            answer,
        }
    }

    /// Watch requests on paths starting with `path`: held open, no events.
    pub(crate) fn watch(path: impl Into<String>) -> Self {
        Route {
            method: "GET",
            path: path.into(),
            query: Some("watch=true"),
            answer: Answer::Hang,
        }
    }
}

/// The fake apiserver: a `Client` whose requests are served by routes and recorded.
pub(crate) struct FakeApi {
    /// Every request seen, in order.
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

fn status_body(code: u16, reason: &str, msg: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": msg, "reason": reason, "code": code})
}

impl FakeApi {
    /// Starts the fake with `routes` (first match wins; unmatched requests get a 404 and are
    /// recorded, so a test sees calls it did not expect).
    pub(crate) fn start(routes: Vec<Route>) -> (Client, FakeApi) {
        let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let mut routes = routes;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some((req, send)) = handle.next_request().await {
                let method = req.method().to_string();
                let uri = req.uri().to_string();
                let path = req.uri().path().to_owned();
                let bytes = req
                    .into_body()
                    .collect_bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if let Ok(mut s) = seen2.lock() {
                    s.push(Seen {
                        method: method.clone(),
                        uri: uri.clone(),
                        body: body.clone(),
                    });
                }
                let route = routes.iter_mut().find(|r| {
                    r.method == method
                        && path.starts_with(&r.path)
                        && r.query.is_none_or(|q| uri.contains(q))
                });
                if route
                    .as_ref()
                    .is_some_and(|r| matches!(r.answer, Answer::Hang))
                {
                    held.push(send);
                    continue;
                }
                let (code, out) = match route {
                    None => (
                        404,
                        status_body(404, "NotFound", &format!("no route for {method} {uri}")),
                    ),
                    Some(r) => {
                        let answer = match &mut r.answer {
                            Answer::FailThen(code, n, _) if *n > 0 => {
                                *n -= 1;
                                Answer::Status(*code, "ServiceUnavailable")
                            }
                            Answer::FailThen(_, _, inner) => (**inner).clone(),
                            other => other.clone(),
                        };
                        match answer {
                            Answer::Json(v) => (200, v),
                            Answer::Echo => (200, body),
                            Answer::Status(code, reason) => {
                                (code, status_body(code, reason, reason))
                            }
                            Answer::FailThen(..) | Answer::Hang => {
                                (500, status_body(500, "InternalError", "nested"))
                            }
                        }
                    }
                };
                let resp = Response::builder()
                    .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&out).unwrap_or_default()))
                    .unwrap_or_else(|_| Response::new(Body::empty()));
                send.send_response(resp);
            }
        });
        (Client::new(mock, "default"), FakeApi { seen })
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Requests with this method whose URI contains `needle`.
    pub(crate) fn calls(&self, method: &str, needle: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.uri.contains(needle))
            .collect()
    }
}

/// A list response of `items` with the given kind.
pub(crate) fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"kind": format!("{kind}List"), "apiVersion": api_version,
           "metadata": {"resourceVersion": "1"}, "items": items})
}

/// `v` as JSON with apiVersion and kind set.
pub(crate) fn typed<T: serde::Serialize>(v: &T, api_version: &str, kind: &str) -> Value {
    let mut j = serde_json::to_value(v).unwrap_or(Value::Null);
    j["apiVersion"] = json!(api_version);
    j["kind"] = json!(kind);
    j
}
