//! The CRD's CEL rules (`x-kubernetes-validations`) evaluated offline with kube-cel, the way the
//! apiserver evaluates them at admission: a table of valid and invalid RelayNodes and the message
//! each invalid one gets.

use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "apiVersion": "relay.oxidize.dev/v1alpha1",
        "kind": "RelayNode",
        "metadata": {"name": "edge", "namespace": "oxidize"},
        "spec": {
            "nodeSelector": {"oxidize.dev/relay": "true"},
            "tuning": {
                "hugepages": {"size": "2Mi", "countPerNumaNode": 512},
                "sysctls": {"net.core.rmem_max": "33554432", "net.core.busy_poll": "50"},
                "nic": {"rxRing": 4096, "channels": 4},
                "isolatedCores": "2-5"
            },
            "dataplane": {
                "image": "ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0",
                "interface": "eth1",
                "queues": 4,
                "tlsSecretName": "relay-tls",
                "tokenSecretName": "relay-tokens",
                "clientPool": {"ipv4": "10.64.0.0/16", "ipv6": "fd00:64::/64"}
            }
        }
    })
}

/// Sets `value` at a dotted path under `spec` (creating objects on the way).
fn with(path: &str, value: Value) -> Value {
    let mut obj = valid();
    let mut cur = &mut obj["spec"];
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = &mut cur[*p];
    }
    let last = parts[parts.len() - 1];
    if value.is_null() {
        if let Some(map) = cur.as_object_mut() {
            map.remove(last);
        }
    } else {
        cur[last] = value;
    }
    obj
}

fn messages(obj: &Value) -> Vec<String> {
    let schema = oxidize_crds::crd::openapi_schema();
    assert!(schema.is_object(), "the CRD has an OpenAPI schema");
    match kube_cel::Validator::new().validate(&schema, obj, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_valid_relaynode_passes_every_rule() {
    assert_eq!(messages(&valid()), Vec::<String>::new());
}

#[test]
fn valid_variants_pass() {
    let cases = [
        (
            "explicit worker cores",
            with("dataplane.workerCores", json!("8,9,10-11")),
        ),
        (
            "more isolated cores than queues",
            with("tuning.isolatedCores", json!("2-9")),
        ),
        ("single core list", with("dataplane.queues", json!(1))),
        (
            "no ipv6 pool",
            with("dataplane.clientPool.ipv6", Value::Null),
        ),
        (
            "1Gi hugepages",
            with(
                "tuning.hugepages",
                json!({"size": "1Gi", "countPerNumaNode": 1}),
            ),
        ),
        ("no hugepages", with("tuning.hugepages", Value::Null)),
        ("port 1", with("dataplane.port", json!(1))),
        ("port 65535", with("dataplane.port", json!(65535))),
        (
            "sysctl with dashes",
            with(
                "tuning.sysctls",
                json!({"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.ip_local_port_range": "1024 65000"}),
            ),
        ),
    ];
    for (name, obj) in cases {
        assert_eq!(
            messages(&obj),
            Vec::<String>::new(),
            "case {name:?} should be valid"
        );
    }
}

#[test]
fn invalid_relaynodes_get_actionable_messages() {
    // (case, object, a fragment of the one message it must get)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "isolated cores not a list",
            with("tuning.isolatedCores", json!("two-five")),
            "tuning.isolatedCores must be a core list",
        ),
        (
            "isolated cores trailing comma",
            with("tuning.isolatedCores", json!("2-5,")),
            "tuning.isolatedCores must be a core list",
        ),
        (
            "isolated range reversed",
            with("tuning.isolatedCores", json!("5-2")),
            "tuning.isolatedCores has a range whose start is above its end",
        ),
        (
            "worker cores not a list",
            with("dataplane.workerCores", json!("2..5")),
            "dataplane.workerCores must be a core list",
        ),
        (
            "worker range reversed",
            with("dataplane.workerCores", json!("9-6")),
            "dataplane.workerCores has a range whose start is above its end",
        ),
        (
            "too few worker cores",
            with("dataplane.workerCores", json!("2-4")),
            "dataplane.workerCores must list exactly one core per queue",
        ),
        (
            "too many worker cores",
            with("dataplane.workerCores", json!("2-5,7")),
            "dataplane.workerCores must list exactly one core per queue",
        ),
        (
            "too few isolated cores",
            with("tuning.isolatedCores", json!("2,3")),
            "tuning.isolatedCores has fewer cores than dataplane.queues",
        ),
        (
            "ipv4 pool not a CIDR",
            with("dataplane.clientPool.ipv4", json!("10.64.0.0")),
            "dataplane.clientPool.ipv4 must be an IPv4 CIDR",
        ),
        (
            "ipv4 pool is IPv6",
            with("dataplane.clientPool.ipv4", json!("fd00::/64")),
            "dataplane.clientPool.ipv4 must be an IPv4 CIDR",
        ),
        (
            "ipv4 pool too small",
            with("dataplane.clientPool.ipv4", json!("10.64.0.0/32")),
            "dataplane.clientPool.ipv4 must be an IPv4 CIDR",
        ),
        (
            "ipv6 pool is IPv4",
            with("dataplane.clientPool.ipv6", json!("10.0.0.0/8")),
            "dataplane.clientPool.ipv6 must be an IPv6 CIDR",
        ),
        (
            "ipv6 pool garbage",
            with("dataplane.clientPool.ipv6", json!("fd00:zz::/64")),
            "dataplane.clientPool.ipv6 must be an IPv6 CIDR",
        ),
        (
            "port 0",
            with("dataplane.port", json!(0)),
            "dataplane.port must be a UDP port between 1 and 65535",
        ),
        (
            "port 70000",
            with("dataplane.port", json!(70000)),
            "dataplane.port must be a UDP port between 1 and 65535",
        ),
        (
            "metrics port 0",
            with("dataplane.metricsPort", json!(0)),
            "dataplane.metricsPort must be a TCP port",
        ),
        (
            "hugepage count 0",
            with("tuning.hugepages.countPerNumaNode", json!(0)),
            "tuning.hugepages.countPerNumaNode must be greater than 0",
        ),
        (
            "sysctl path with slashes",
            with("tuning.sysctls", json!({"net/core/rmem_max": "1"})),
            "tuning.sysctls keys must be dotted sysctl names",
        ),
        (
            "sysctl without dot",
            with("tuning.sysctls", json!({"swappiness": "1"})),
            "tuning.sysctls keys must be dotted sysctl names",
        ),
        (
            "interface too long",
            with("dataplane.interface", json!("a-very-long-ifname0")),
            "dataplane.interface must be a Linux interface name",
        ),
        (
            "interface with slash",
            with("dataplane.interface", json!("eth/1")),
            "dataplane.interface must be a Linux interface name",
        ),
        (
            "secret name uppercase",
            with("dataplane.tlsSecretName", json!("Relay_TLS")),
            "dataplane.tlsSecretName must be a Secret name",
        ),
        (
            "token secret with space",
            with("dataplane.tokenSecretName", json!("relay tokens")),
            "dataplane.tokenSecretName must be a Secret name",
        ),
        (
            "image with space",
            with("dataplane.image", json!("oxidize dataplane")),
            "dataplane.image must be an image reference without spaces",
        ),
        (
            "maxUnavailable 0",
            with("rollout", json!({"maxUnavailable": 0})),
            "rollout.maxUnavailable must be at least 1",
        ),
    ];
    let mut failures = Vec::new();
    for (name, obj, want) in &cases {
        let got = messages(obj);
        let ok = got.len() == 1 && got[0].contains(want);
        println!("{name:32} -> {got:?}");
        if !ok {
            failures.push(format!(
                "{name}: want one message containing {want:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn deploy_examples_pass_the_rules_and_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/examples exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable example");
        let obj: Value = serde_yaml_ng::from_str(&text).expect("example is YAML");
        assert_eq!(messages(&obj), Vec::<String>::new(), "{}", path.display());
        let rn: oxidize_crds::RelayNode =
            serde_json::from_value(obj).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        oxidize_crds::convert::documents(&rn.spec)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 3, "expected the example RelayNodes, found {seen}");
}

#[test]
fn checked_in_crd_yaml_is_fresh() {
    let want = oxidize_crds::crd::crd_yaml().expect("crd yaml");
    for rel in oxidize_crds::crd::CRD_PATHS {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(rel);
        let got = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "{rel} is stale: run `cargo run -p oxidize-operator --bin crdgen -- --write`"
        );
    }
}
