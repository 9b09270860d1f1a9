//! The queue limit walked across every station: whatever admission (the CRD's schema bound and
//! CEL rule) accepts, the operator converts and the relay runs; one queue more is refused by all
//! three, admission with a message that says what to do.

use oxidize_crds::limits::MAX_QUEUES;
use oxidize_crds::RelayNode;
use oxidize_relay::config::{settings, Overrides, MAX_WORKERS};
use serde_json::{json, Value};

/// A RelayNode asking for `queues` queues, with one isolated core per queue.
fn relaynode(queues: u32) -> Value {
    json!({
        "apiVersion": "relay.oxidize.dev/v1alpha1",
        "kind": "RelayNode",
        "metadata": {"name": "edge", "namespace": "oxidize"},
        "spec": {
            "nodeSelector": {"oxidize.dev/relay": "true"},
            "tuning": {"isolatedCores": format!("2-{}", queues + 1)},
            "dataplane": {
                "image": "ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0",
                "interface": "eth1",
                "queues": queues,
                "tlsSecretName": "relay-tls",
                "tokenSecretName": "relay-tokens",
                "clientPool": {"ipv4": "10.64.0.0/16", "ipv6": "fd00:64::/64"}
            }
        }
    })
}

/// What admission says: the CEL messages (evaluated offline as the apiserver does) plus the
/// schema's `maximum` on `queues`, which the apiserver checks before CEL.
fn admission(obj: &Value) -> Vec<String> {
    let schema = oxidize_crds::crd::openapi_schema();
    let mut messages = match kube_cel::Validator::new().validate(&schema, obj, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    };
    let maximum = schema
        .pointer("/properties/spec/properties/dataplane/properties/queues/maximum")
        .and_then(Value::as_f64)
        .expect("the CRD bounds dataplane.queues");
    let queues = obj["spec"]["dataplane"]["queues"]
        .as_f64()
        .expect("queues is a number");
    if queues > maximum {
        messages.push(format!("schema: queues {queues} above maximum {maximum}"));
    }
    messages
}

/// What the relay says about the config the operator renders from this RelayNode's spec, and
/// about the same document with `queues` (and the cores) forced, as a hand-written config could.
fn relay(obj: &Value, queues: u32) -> Result<(), String> {
    let rn: RelayNode = serde_json::from_value(obj.clone()).expect("the object is a RelayNode");
    let mut doc = match oxidize_crds::convert::documents(&rn.spec) {
        Ok(docs) => docs.dataplane,
        Err(e) => return Err(format!("operator: {e}")),
    };
    doc.queues = queues;
    doc.worker_cores = (2..2 + queues).collect();
    settings(&doc, &Overrides::default())
        .map(|_| ())
        .map_err(|e| format!("relay: {e}"))
}

#[test]
fn the_relay_and_admission_share_one_queue_limit() {
    assert_eq!(MAX_WORKERS, MAX_QUEUES as usize);
}

#[test]
fn the_largest_queue_count_admission_accepts_runs_on_the_relay() {
    let obj = relaynode(MAX_QUEUES);
    assert_eq!(admission(&obj), Vec::<String>::new());
    let rn: RelayNode = serde_json::from_value(obj.clone()).expect("a RelayNode");
    let docs = oxidize_crds::convert::documents(&rn.spec).expect("the operator converts it");
    assert_eq!(docs.dataplane.queues, MAX_QUEUES);
    let s = settings(&docs.dataplane, &Overrides::default()).expect("the relay accepts it");
    assert_eq!(s.workers, MAX_QUEUES as usize);
}

#[test]
fn one_queue_more_is_refused_by_admission_and_by_the_relay() {
    let queues = MAX_QUEUES + 1;
    let obj = relaynode(queues);
    let messages = admission(&obj);
    let want = format!("dataplane.queues must be between 1 and {MAX_QUEUES}");
    assert!(
        messages.iter().any(|m| m.contains(&want)),
        "admission should say {want:?}; said {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.starts_with("schema:")),
        "the schema bound should refuse it too; said {messages:?}"
    );
    // The operator's conversion refuses it as well (defence in depth) ...
    let rn: RelayNode = serde_json::from_value(obj.clone()).expect("a RelayNode");
    assert!(oxidize_crds::convert::documents(&rn.spec).is_err());
    // ... and so does the relay, given a document that says it anyway.
    let max = relaynode(MAX_QUEUES);
    let err = relay(&max, queues).expect_err("the relay refuses one queue more");
    assert!(
        err.contains(&format!("between 1 and {MAX_QUEUES}")),
        "relay said {err:?}"
    );
    assert_eq!(relay(&max, MAX_QUEUES), Ok(()));
}

#[test]
fn zero_queues_is_refused_by_admission_and_by_the_relay() {
    let obj = relaynode(1);
    let mut zero = obj.clone();
    zero["spec"]["dataplane"]["queues"] = json!(0);
    assert!(admission(&zero)
        .iter()
        .any(|m| m.contains("dataplane.queues must be between 1 and")));
    assert!(relay(&obj, 0).is_err());
}
