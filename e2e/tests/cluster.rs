//! The cluster suite: against the cluster KUBECONFIG points at, installs the chart, applies a
//! RelayNode, waits for its DaemonSet and status, checks that the apiserver refuses an invalid
//! spec with the CEL message, changes the spec, deletes it and checks that everything it owned
//! is gone. Without KUBECONFIG it prints why and passes without doing anything.
//!
//! Needs `kubectl` and `helm` on PATH and the operator image in the cluster
//! (`OXIDIZE_OPERATOR_IMAGE`, e.g. loaded with `kind load docker-image`). See docs/operator.md.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const RELEASE: &str = "oxidize-e2e";
const OP_NS: &str = "oxidize-e2e-system";
const RN_NS: &str = "oxidize-e2e-relays";
const NODE_LABEL: &str = "oxidize.dev/e2e-relay";

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn kubectl(args: &[&str]) -> Result<String, String> {
    run("kubectl", args)
}

fn must(r: Result<String, String>) -> String {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn kubectl_apply_stdin(yaml: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(yaml.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn get_json(args: &[&str]) -> Option<Value> {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    kubectl(&a).ok().and_then(|s| serde_json::from_str(&s).ok())
}

/// Removes everything the suite created, also when it fails.
struct Cleanup {
    node: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = kubectl(&[
            "-n",
            RN_NS,
            "delete",
            "relaynode",
            "--all",
            "--wait=true",
            "--timeout=240s",
        ]);
        let _ = run("helm", &["uninstall", RELEASE, "-n", OP_NS, "--wait"]);
        let _ = kubectl(&["delete", "namespace", RN_NS, OP_NS, "--wait=false"]);
        let _ = kubectl(&["label", "node", &self.node, &format!("{NODE_LABEL}-")]);
    }
}

fn relaynode(port: u16, cores: &str) -> String {
    format!(
        r#"apiVersion: relay.oxidize.dev/v1alpha1
kind: RelayNode
metadata:
  name: e2e
  namespace: {RN_NS}
spec:
  nodeSelector:
    {NODE_LABEL}: "true"
  tolerations:
    - operator: Exists
  tuning:
    isolatedCores: "{cores}"
  dataplane:
    image: {image}
    interface: eth0
    queues: 1
    port: {port}
    tlsSecretName: relay-tls
    tokenSecretName: relay-tokens
    clientPool:
      ipv4: 10.99.0.0/24
"#,
        image = std::env::var("OXIDIZE_DATAPLANE_IMAGE")
            .unwrap_or_else(|_| "ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0".into()),
    )
}

#[test]
fn cluster_relaynode_lifecycle() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("cluster suite skipped: KUBECONFIG is not set (see docs/operator.md to run it against kind)");
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let image = std::env::var("OXIDIZE_OPERATOR_IMAGE")
        .unwrap_or_else(|_| "ghcr.io/oxidize-dev/oxidize-operator:0.1.0".into());
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image.as_str(), "latest"));

    let node = must(kubectl(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]));
    let _cleanup = Cleanup { node: node.clone() };
    must(kubectl(&[
        "label",
        "node",
        &node,
        &format!("{NODE_LABEL}=true"),
        "--overwrite",
    ]));

    // Install the chart (CRD, RBAC, two replicas with leader election).
    must(run(
        "helm",
        &[
            "upgrade",
            "--install",
            RELEASE,
            &format!("{root}/charts/oxidize"),
            "-n",
            OP_NS,
            "--create-namespace",
            "--wait",
            "--timeout",
            "180s",
            "--set",
            &format!("image.repository={repo}"),
            "--set",
            &format!("image.tag={tag}"),
            "--set",
            "image.pullPolicy=IfNotPresent",
            "--set",
            "restoreTimeoutSeconds=30",
        ],
    ));
    must(kubectl(&["get", "crd", "relaynodes.relay.oxidize.dev"]));

    // The relay namespace allows the privileged tune init container.
    let _ = kubectl(&["create", "namespace", RN_NS]);
    must(kubectl(&[
        "label",
        "namespace",
        RN_NS,
        "pod-security.kubernetes.io/enforce=privileged",
        "--overwrite",
    ]));
    for (name, ty, kv) in [
        (
            "relay-tls",
            "kubernetes.io/tls",
            vec!["--from-literal=tls.crt=e2e", "--from-literal=tls.key=e2e"],
        ),
        (
            "relay-tokens",
            "Opaque",
            vec!["--from-literal=alice=e2e-token"],
        ),
    ] {
        let mut a = vec![
            "-n", RN_NS, "create", "secret", "generic", name, "--type", ty,
        ];
        a.extend(kv);
        let _ = kubectl(&a);
    }

    // Admission refuses an invalid spec with the CEL message.
    let err = kubectl_apply_stdin(&relaynode(443, "5-2")).expect_err("reversed core range refused");
    assert!(
        err.contains("has a range whose start is above its end"),
        "{err}"
    );

    // Create: the DaemonSet appears and the status counts the labelled node.
    must(kubectl_apply_stdin(&relaynode(443, "1")));
    let ds = wait_for("the relay DaemonSet", Duration::from_secs(120), || {
        get_json(&["-n", RN_NS, "daemonset", "e2e-relay"])
    });
    assert_eq!(ds["spec"]["template"]["spec"]["hostNetwork"], true);
    assert_eq!(ds["metadata"]["ownerReferences"][0]["kind"], "RelayNode");
    let status = wait_for("RelayNode status", Duration::from_secs(120), || {
        get_json(&["-n", RN_NS, "relaynode", "e2e"])
            .map(|rn| rn["status"].clone())
            .filter(|s| s["desiredNodes"] == 1 && s["observedGeneration"] == 1)
    });
    assert_eq!(status["nodes"][0]["name"], node.as_str());
    assert!(
        status["conditions"]
            .as_array()
            .is_some_and(|c| c.len() == 4),
        "{status}"
    );
    assert!(get_json(&["-n", RN_NS, "configmap", "e2e-config"]).is_some());
    assert!(get_json(&["-n", RN_NS, "service", "e2e-metrics"]).is_some());

    // Update: the new port reaches the DaemonSet and the status generation follows.
    must(kubectl_apply_stdin(&relaynode(8443, "1")));
    wait_for(
        "the DaemonSet at the new spec",
        Duration::from_secs(120),
        || {
            get_json(&["-n", RN_NS, "daemonset", "e2e-relay"]).filter(|d| {
                d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8443
            })
        },
    );
    wait_for("status at generation 2", Duration::from_secs(120), || {
        get_json(&["-n", RN_NS, "relaynode", "e2e"])
            .filter(|rn| rn["status"]["observedGeneration"] == 2)
    });

    // Delete: the finalizer runs, then everything owned is garbage collected.
    must(kubectl(&[
        "-n",
        RN_NS,
        "delete",
        "relaynode",
        "e2e",
        "--wait=true",
        "--timeout=240s",
    ]));
    for kind_name in [
        "daemonset/e2e-relay",
        "configmap/e2e-config",
        "service/e2e-metrics",
    ] {
        wait_for(
            &format!("{kind_name} to be deleted"),
            Duration::from_secs(120),
            || {
                kubectl(&["-n", RN_NS, "get", kind_name])
                    .is_err()
                    .then_some(())
            },
        );
    }
}
