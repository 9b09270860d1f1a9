//! The restore Job: runs the tuner's `--restore` on one node, pinned there, when the node leaves
//! the pool or the RelayNode is deleted. Not owned by the RelayNode (it must outlive it while
//! the finalizer waits); labelled so the operator finds and deletes it afterwards.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, PodSpec, PodTemplateSpec, SecurityContext, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use oxidize_crds::RelayNode;
use sha2::{Digest, Sha256};

use super::{FIELD_MANAGER, RELAYNODE_LABEL, STATE_DIR, STATE_FILE, TUNE_CONTAINER};

/// Label on restore Jobs naming the node they restore.
pub const RESTORE_NODE_LABEL: &str = "relay.oxidize.dev/restore-node";

/// The Job name for `node` (DNS-safe, at most 63 characters, stable).
pub fn restore_job_name(rn: &str, node: &str) -> String {
    let digest = Sha256::digest(format!("{rn}/{node}").as_bytes());
    let short: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let prefix: String = format!("{rn}-restore").chars().take(40).collect();
    format!("{}-{short}", prefix.trim_end_matches('-'))
}

/// A Job running `oxidize-dataplane tune --restore` on `node`, tolerating every taint (the node
/// may be cordoned or tainted for the relay), privileged like the tune init container.
pub fn restore_job(rn: &RelayNode, node: &str) -> Job {
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "oxidize-restore".to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), rn.name_any()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            FIELD_MANAGER.to_owned(),
        ),
        (RELAYNODE_LABEL.to_owned(), rn.name_any()),
        (
            RESTORE_NODE_LABEL.to_owned(),
            node.chars().take(63).collect(),
        ),
    ]);
    let dp = &rn.spec.dataplane;
    let container = Container {
        name: TUNE_CONTAINER.into(),
        image: Some(dp.image.clone()),
        image_pull_policy: dp.image_pull_policy.map(|p| p.as_str().to_owned()),
        command: Some(vec![oxidize_crds::contract::DATAPLANE_BINARY.into()]),
        args: Some(oxidize_crds::contract::tune_restore_args(STATE_FILE)),
        // Restoring writes host settings: privileged and root (the image's user is 65532).
        security_context: Some(SecurityContext {
            privileged: Some(true),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            ..SecurityContext::default()
        }),
        termination_message_policy: Some("File".into()),
        volume_mounts: Some(vec![VolumeMount {
            name: "state".into(),
            mount_path: STATE_DIR.into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(restore_job_name(&rn.name_any(), node)),
            namespace: rn.namespace(),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            active_deadline_seconds: Some(300),
            ttl_seconds_after_finished: Some(600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    node_name: Some(node.to_owned()),
                    host_network: Some(true),
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    tolerations: Some(vec![Toleration {
                        operator: Some("Exists".into()),
                        ..Toleration::default()
                    }]),
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "state".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: STATE_DIR.into(),
                            type_: Some("DirectoryOrCreate".into()),
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::relaynode;

    #[test]
    fn job_is_pinned_to_the_node_and_runs_restore() {
        let job = restore_job(&relaynode(), "worker-7");
        assert_eq!(job.metadata.namespace.as_deref(), Some("relays"));
        assert_eq!(
            job.metadata.owner_references, None,
            "outlives the RelayNode"
        );
        let labels = job.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels[RESTORE_NODE_LABEL], "worker-7");
        let spec = job.spec.expect("spec");
        assert_eq!(spec.active_deadline_seconds, Some(300));
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.node_name.as_deref(), Some("worker-7"));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            pod.tolerations.expect("tolerations")[0].operator.as_deref(),
            Some("Exists")
        );
        let c = &pod.containers[0];
        assert_eq!(
            c.args.clone().expect("args"),
            [
                "tune",
                "--restore",
                "--state-file",
                "/var/lib/oxidize/tune-state.json",
                "--termination-log",
                "/dev/termination-log"
            ]
        );
        assert_eq!(
            c.security_context.as_ref().and_then(|s| s.privileged),
            Some(true)
        );
    }

    #[test]
    fn job_names_are_stable_short_and_distinct() {
        let a = restore_job_name("edge", "worker-7");
        assert_eq!(a, restore_job_name("edge", "worker-7"));
        assert_ne!(a, restore_job_name("edge", "worker-8"));
        let long = restore_job_name(&"r".repeat(60), &"n".repeat(200));
        assert!(long.len() <= 63, "{long}");
        assert!(a.starts_with("edge-restore-"), "{a}");
    }
}
