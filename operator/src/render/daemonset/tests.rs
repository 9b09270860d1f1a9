//! The DaemonSet for a given spec and node state, field by field.

use super::*;
use crate::render::testutil::relaynode;
use k8s_openapi::api::core::v1::Toleration;

fn render(facts: NodeFacts) -> (DaemonSet, PodSpec) {
    let ds = daemonset(&relaynode(), facts, "abc123");
    let pod = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .expect("pod spec");
    (ds, pod)
}

fn container<'a>(pod: &'a PodSpec, name: &str) -> &'a Container {
    pod.containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("container {name}"))
}

#[test]
fn metadata_selector_and_owner() {
    let (ds, _) = render(NodeFacts::default());
    assert_eq!(ds.metadata.name.as_deref(), Some("edge-relay"));
    assert_eq!(ds.metadata.namespace.as_deref(), Some("relays"));
    let owner = &ds.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        ("1f0e-uid", Some(true))
    );
    let labels = ds.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels["app.kubernetes.io/name"], "oxidize-relay");
    assert_eq!(labels["app.kubernetes.io/instance"], "edge");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "oxidize-operator");
    let spec = ds.spec.as_ref().expect("spec");
    let selector = spec.selector.match_labels.as_ref().expect("selector");
    assert_eq!(selector.len(), 3);
    let tmpl_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .expect("labels");
    for (k, v) in selector {
        assert_eq!(
            tmpl_labels.get(k),
            Some(v),
            "template carries selector label {k}"
        );
    }
    let ann = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .expect("annotations");
    assert_eq!(ann[CONFIG_HASH_ANNOTATION], "abc123");
}

#[test]
fn rolling_update_uses_max_unavailable() {
    let mut rn = relaynode();
    rn.spec.rollout.max_unavailable = 3;
    let ds = daemonset(&rn, NodeFacts::default(), "h");
    let strategy = ds.spec.and_then(|s| s.update_strategy).expect("strategy");
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let ru = strategy.rolling_update.expect("rolling update");
    assert_eq!(ru.max_unavailable, Some(IntOrString::Int(3)));
    assert_eq!(
        ru.max_surge,
        Some(IntOrString::Int(0)),
        "two relays cannot share a node's NIC"
    );
}

#[test]
fn pod_runs_on_the_host_network_of_the_selected_nodes() {
    let mut rn = relaynode();
    rn.spec.tolerations = vec![Toleration {
        key: Some("oxidize.dev/dedicated".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Toleration::default()
    }];
    let ds = daemonset(&rn, NodeFacts::default(), "h");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(
        pod.node_selector.expect("selector")["oxidize.dev/relay"],
        "true"
    );
    let tol = pod.tolerations.expect("tolerations");
    assert_eq!(tol[0].key.as_deref(), Some("oxidize.dev/dedicated"));
}

#[test]
fn empty_selector_and_tolerations_are_omitted() {
    let mut rn = relaynode();
    rn.spec.node_selector.clear();
    let ds = daemonset(&rn, NodeFacts::default(), "h");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    assert_eq!(pod.node_selector, None);
    assert_eq!(pod.tolerations, None);
}

#[test]
fn init_container_is_privileged_and_reports_via_termination_message() {
    let (_, pod) = render(NodeFacts::default());
    assert_eq!(pod.init_containers.as_ref().map(Vec::len), Some(1));
    let tune = container(&pod, TUNE_CONTAINER);
    assert_eq!(
        tune.image.as_deref(),
        Some("ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0")
    );
    assert_eq!(
        tune.command.as_deref(),
        Some(&["oxidize-dataplane".to_owned()][..])
    );
    let args = tune.args.clone().expect("args");
    assert_eq!(
        args,
        [
            "tune",
            "--plan",
            "/etc/oxidize/config/tuning-plan.yaml",
            "--state-file",
            "/var/lib/oxidize/tune-state.json",
            "--termination-log",
            "/dev/termination-log"
        ]
    );
    let sc = tune.security_context.as_ref().expect("security context");
    assert_eq!(sc.privileged, Some(true));
    assert_eq!(
        tune.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(tune.termination_message_policy.as_deref(), Some("File"));
    let mounts: Vec<_> = tune
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str(), m.read_only))
        .collect();
    assert_eq!(
        mounts,
        [
            ("config", "/etc/oxidize/config", Some(true)),
            ("state", "/var/lib/oxidize", Some(false))
        ]
    );
}

#[test]
fn relay_has_only_the_named_capabilities_and_is_not_privileged() {
    let (_, pod) = render(NodeFacts::default());
    let relay = container(&pod, RELAY_CONTAINER);
    let sc = relay.security_context.as_ref().expect("security context");
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    assert_eq!(
        caps.add.clone().expect("add"),
        ["NET_ADMIN", "NET_RAW", "BPF", "PERFMON", "IPC_LOCK"]
    );
    assert_eq!(
        relay.args.clone().expect("args"),
        ["relay", "--config", "/etc/oxidize/config/dataplane.yaml"]
    );
}

#[test]
fn relay_mounts_config_secrets_and_the_tun_device() {
    let (_, pod) = render(NodeFacts::default());
    let relay = container(&pod, RELAY_CONTAINER);
    let mounts: Vec<_> = relay
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str(), m.read_only))
        .collect();
    assert_eq!(
        mounts,
        [
            ("config", "/etc/oxidize/config", Some(true)),
            ("tls", "/etc/oxidize/tls", Some(true)),
            ("tokens", "/etc/oxidize/tokens", Some(true)),
            ("dev-net-tun", "/dev/net/tun", Some(false)),
        ]
    );
    let vols = pod.volumes.as_ref().expect("volumes");
    let by_name = |n: &str| {
        vols.iter()
            .find(|v| v.name == n)
            .unwrap_or_else(|| panic!("volume {n}"))
    };
    assert_eq!(
        by_name("config")
            .config_map
            .as_ref()
            .map(|c| c.name.as_str()),
        Some("edge-config")
    );
    assert_eq!(
        by_name("tls")
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref()),
        Some("relay-tls")
    );
    assert_eq!(
        by_name("tokens")
            .secret
            .as_ref()
            .and_then(|s| s.secret_name.as_deref()),
        Some("relay-tokens")
    );
    let tun = by_name("dev-net-tun").host_path.as_ref().expect("hostPath");
    assert_eq!(
        (tun.path.as_str(), tun.type_.as_deref()),
        ("/dev/net/tun", Some("CharDevice"))
    );
    let state = by_name("state").host_path.as_ref().expect("hostPath");
    assert_eq!(state.type_.as_deref(), Some("DirectoryOrCreate"));
}

#[test]
fn relay_ports_and_probes() {
    let mut rn = relaynode();
    rn.spec.dataplane.port = 8443;
    rn.spec.dataplane.metrics_port = 9999;
    let ds = daemonset(&rn, NodeFacts::default(), "h");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    let relay = container(&pod, RELAY_CONTAINER);
    let ports: Vec<_> = relay
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.as_deref(), p.container_port, p.protocol.as_deref()))
        .collect();
    assert_eq!(
        ports,
        [
            (Some("quic"), 8443, Some("UDP")),
            (Some("metrics"), 9999, Some("TCP"))
        ]
    );
    let ready = relay
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness");
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    assert_eq!(ready.port, IntOrString::String("metrics".into()));
    let live = relay
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("liveness");
    assert_eq!(live.path.as_deref(), Some("/healthz"));
}

#[test]
fn hugepages_are_requested_only_when_the_node_shows_them() {
    let (_, pod) = render(NodeFacts {
        hugepages_allocatable: false,
    });
    let res = container(&pod, RELAY_CONTAINER)
        .resources
        .clone()
        .expect("resources");
    let requests = res.requests.expect("requests");
    assert!(!requests.contains_key("hugepages-2Mi"), "{requests:?}");
    assert_eq!(requests["cpu"], Quantity("4".into()), "one core per queue");

    let (_, pod) = render(NodeFacts {
        hugepages_allocatable: true,
    });
    let res = container(&pod, RELAY_CONTAINER)
        .resources
        .clone()
        .expect("resources");
    assert_eq!(
        res.requests.expect("requests")["hugepages-2Mi"],
        Quantity("64Mi".into())
    );
    assert_eq!(
        res.limits.expect("limits")["hugepages-2Mi"],
        Quantity("64Mi".into())
    );

    let mut rn = relaynode();
    rn.spec.tuning.hugepages = None;
    let ds = daemonset(
        &rn,
        NodeFacts {
            hugepages_allocatable: true,
        },
        "h",
    );
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    let res = container(&pod, RELAY_CONTAINER)
        .resources
        .clone()
        .expect("resources");
    assert!(res
        .requests
        .expect("requests")
        .keys()
        .all(|k| !k.starts_with("hugepages-")));
}

#[test]
fn image_pull_policy_is_passed_through() {
    let mut rn = relaynode();
    rn.spec.dataplane.image_pull_policy = Some(oxidize_crds::relaynode::ImagePullPolicy::Always);
    let ds = daemonset(&rn, NodeFacts::default(), "h");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    for name in [TUNE_CONTAINER, RELAY_CONTAINER] {
        assert_eq!(
            container(&pod, name).image_pull_policy.as_deref(),
            Some("Always")
        );
    }
}

/// Kubernetes' QoS rule: Guaranteed when every container, init containers included, has CPU and
/// memory limits equal to its requests.
fn guaranteed(pod: &PodSpec) -> bool {
    pod.init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .all(|c| {
            let res = c.resources.clone().unwrap_or_default();
            let (req, lim) = (
                res.requests.unwrap_or_default(),
                res.limits.unwrap_or_default(),
            );
            ["cpu", "memory"]
                .iter()
                .all(|k| lim.contains_key(*k) && req.get(*k).is_none_or(|r| Some(r) == lim.get(*k)))
        })
}

#[test]
fn the_relay_pod_is_guaranteed_qos_with_or_without_hugepages() {
    for hugepages_allocatable in [false, true] {
        let (_, pod) = render(NodeFacts {
            hugepages_allocatable,
        });
        assert!(guaranteed(&pod), "{:?}", pod.containers[0].resources);
    }
}

#[test]
fn the_image_user_is_overridden_to_root_only_in_the_dataplane_containers() {
    let (_, pod) = render(NodeFacts {
        hugepages_allocatable: false,
    });
    for name in [TUNE_CONTAINER, RELAY_CONTAINER] {
        let c = container(&pod, name);
        let sc = c.security_context.clone().expect("security context");
        assert_eq!(sc.run_as_user, Some(0), "{name}: capabilities need uid 0");
    }
    let relay = container(&pod, RELAY_CONTAINER);
    let sc = relay.security_context.clone().expect("security context");
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
}
