//! The relay DaemonSet: a privileged `tune` init container, then the relay with named
//! capabilities only, on the host network of every selected node.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, HostPathVolumeSource, ObjectFieldSelector, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use oxidize_crds::config::{
    CONFIG_DIR, DATAPLANE_CONFIG_KEY, TLS_DIR, TOKENS_DIR, TUNING_PLAN_KEY,
};
use oxidize_crds::RelayNode;

use super::{
    labels, owned_meta, selector_labels, Names, NodeFacts, CONFIG_HASH_ANNOTATION, RELAY_CONTAINER,
    STATE_DIR, STATE_FILE, TUNE_CONTAINER,
};

/// The capabilities the relay needs, and nothing else: defined in the contract the dataplane's
/// capability test checks (`oxidize_crds::contract::RELAY_CAPABILITIES`).
pub use oxidize_crds::contract::RELAY_CAPABILITIES;

/// Bytes of hugepage memory the relay requests per queue (UMEM of 4096 frames of 4 KiB).
pub const HUGEPAGE_BYTES_PER_QUEUE: u64 = 16 * 1024 * 1024;

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn host_path(name: &str, path: &str, kind: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: Some(kind.into()),
        }),
        ..Volume::default()
    }
}

fn secret(name: &str, secret_name: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name.into()),
            default_mode: Some(0o400),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn node_name_env() -> EnvVar {
    EnvVar {
        name: "NODE_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "spec.nodeName".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The tune init container's arguments (after the binary name).
pub fn tune_args() -> Vec<String> {
    oxidize_crds::contract::tune_apply_args(&format!("{CONFIG_DIR}/{TUNING_PLAN_KEY}"), STATE_FILE)
}

/// Memory the relay asks for as hugepages, e.g. `64Mi` for 4 queues.
fn hugepage_quantity(queues: i32) -> Quantity {
    let bytes = HUGEPAGE_BYTES_PER_QUEUE * u64::try_from(queues.max(1)).unwrap_or(1);
    Quantity(format!("{}Mi", bytes / (1024 * 1024)))
}

fn relay_resources(rn: &RelayNode, facts: NodeFacts) -> ResourceRequirements {
    let dp = &rn.spec.dataplane;
    let cpus = Quantity(dp.queues.to_string());
    let memory = Quantity("512Mi".into());
    let mut requests = BTreeMap::from([
        ("cpu".to_owned(), cpus.clone()),
        ("memory".to_owned(), memory.clone()),
    ]);
    // Limits equal to requests: Guaranteed QoS, so a static CPU manager grants whole cores.
    let mut limits = BTreeMap::from([("cpu".to_owned(), cpus), ("memory".to_owned(), memory)]);
    if let (Some(hp), true) = (&rn.spec.tuning.hugepages, facts.hugepages_allocatable) {
        let q = hugepage_quantity(dp.queues);
        // Hugepage requests must equal limits.
        requests.insert(hp.size.resource_name().to_owned(), q.clone());
        limits.insert(hp.size.resource_name().to_owned(), q);
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..ResourceRequirements::default()
    }
}

/// The tune init container's resources: small, with limits equal to requests so that the pod
/// stays in the Guaranteed QoS class (every container, init containers included, counts).
fn tune_resources() -> ResourceRequirements {
    let both = BTreeMap::from([
        ("cpu".to_owned(), Quantity("100m".into())),
        ("memory".to_owned(), Quantity("64Mi".into())),
    ]);
    ResourceRequirements {
        requests: Some(both.clone()),
        limits: Some(both),
        ..ResourceRequirements::default()
    }
}

/// The relay DaemonSet for `rn`. `config_hash` is [`super::config_hash`] of its ConfigMap.
pub fn daemonset(rn: &RelayNode, facts: NodeFacts, config_hash: &str) -> DaemonSet {
    let name = rn.name_any();
    let names = Names::for_relaynode(&name);
    let dp = &rn.spec.dataplane;
    let pull = dp.image_pull_policy.map(|p| p.as_str().to_owned());

    let tune = Container {
        name: TUNE_CONTAINER.into(),
        image: Some(dp.image.clone()),
        image_pull_policy: pull.clone(),
        command: Some(vec![oxidize_crds::contract::DATAPLANE_BINARY.into()]),
        args: Some(tune_args()),
        env: Some(vec![node_name_env()]),
        // Tuning writes sysfs, procfs and NIC settings of the host: it must be privileged, and
        // root (the image's default user is 65532; capabilities are not effective for it).
        security_context: Some(SecurityContext {
            privileged: Some(true),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            ..SecurityContext::default()
        }),
        resources: Some(tune_resources()),
        termination_message_path: Some(oxidize_crds::contract::TERMINATION_LOG.into()),
        termination_message_policy: Some("File".into()),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount("state", STATE_DIR, false),
        ]),
        ..Container::default()
    };

    let relay = Container {
        name: RELAY_CONTAINER.into(),
        image: Some(dp.image.clone()),
        image_pull_policy: pull,
        command: Some(vec![oxidize_crds::contract::DATAPLANE_BINARY.into()]),
        args: Some(oxidize_crds::contract::relay_args(&format!(
            "{CONFIG_DIR}/{DATAPLANE_CONFIG_KEY}"
        ))),
        env: Some(vec![node_name_env()]),
        ports: Some(vec![
            ContainerPort {
                name: Some("quic".into()),
                container_port: dp.port,
                protocol: Some("UDP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: dp.metrics_port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".into()),
                port: IntOrString::String("metrics".into()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(5),
            failure_threshold: Some(3),
            ..Probe::default()
        }),
        liveness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::String("metrics".into()),
                ..HTTPGetAction::default()
            }),
            initial_delay_seconds: Some(10),
            period_seconds: Some(10),
            failure_threshold: Some(6),
            ..Probe::default()
        }),
        resources: Some(relay_resources(rn, facts)),
        // Root with exactly RELAY_CAPABILITIES: a non-root user would get the added
        // capabilities only in its bounding set, not its effective set.
        security_context: Some(SecurityContext {
            privileged: Some(false),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: Some(RELAY_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount("tls", TLS_DIR, true),
            mount("tokens", TOKENS_DIR, true),
            mount("dev-net-tun", "/dev/net/tun", false),
        ]),
        ..Container::default()
    };

    let volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.configmap.clone(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        secret("tls", &dp.tls_secret_name),
        secret("tokens", &dp.token_secret_name),
        host_path("dev-net-tun", "/dev/net/tun", "CharDevice"),
        host_path("state", STATE_DIR, "DirectoryOrCreate"),
    ];

    let node_selector = (!rn.spec.node_selector.is_empty()).then(|| rn.spec.node_selector.clone());
    let tolerations = (!rn.spec.tolerations.is_empty()).then(|| rn.spec.tolerations.clone());

    DaemonSet {
        metadata: owned_meta(rn, &names.daemonset),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(rn)),
                ..LabelSelector::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(rn.spec.rollout.max_unavailable)),
                    max_surge: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(rn)),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    host_network: Some(true),
                    dns_policy: Some("ClusterFirstWithHostNet".into()),
                    automount_service_account_token: Some(false),
                    node_selector,
                    tolerations,
                    termination_grace_period_seconds: Some(30),
                    init_containers: Some(vec![tune]),
                    containers: vec![relay],
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

#[cfg(test)]
mod tests;
