//! The local cluster's smoke test (issue "A real Kubernetes in the project"): `cluster.sh up`
//! on this machine, then what any workload needs from a real cluster, then `down`, and the host
//! exactly as before. Runs with `OXIDIZE_CLUSTER_TESTS=1` (scripts/test.sh's cluster stage).

use std::time::Duration;

use oxidize_testbed::cluster::{
    self, get_json, kubectl, kubectl_apply, kubectl_ok, wait_for, Cluster, HostSnapshot, NODE_IP,
    NODE_NS,
};

const NS: &str = "oxk-smoke";
const IMAGE: &str = "oxidize.local/testbed:smoke";

/// A CRD with a CEL rule, so the real apiserver's validation is exercised.
const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.oxidize.dev}
spec:
  group: smoke.oxidize.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 8}
            x-kubernetes-validations:
            - rule: "self.size % 2 == 0"
              message: "spec.size must be even"
"#;

fn workload(name: &str, host_network: bool, port: u16) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      hostNetwork: {host_network}
      terminationGracePeriodSeconds: 1
      containers:
      - name: serve
        image: {IMAGE}
        imagePullPolicy: Never
        args: [serve, --udp-port, "{port}", --tcp-port, "{port}"]
        securityContext: {{runAsNonRoot: true, allowPrivilegeEscalation: false}}
"#
    )
}

fn running_pod(name: &str) -> serde_json::Value {
    wait_for(
        &format!("a Running pod of {name}"),
        Duration::from_secs(120),
        || {
            let pods = get_json(&["-n", NS, "pods", "-l", &format!("app={name}")])
                .ok_or("kubectl get pods failed")?;
            let pod = pods["items"][0].clone();
            if pod["status"]["phase"] == "Running"
                && pod["status"]["containerStatuses"][0]["ready"] == true
            {
                Ok(pod)
            } else {
                Err(format!("{}", pod["status"]))
            }
        },
    )
}

#[test]
fn root_cluster_smoke_up_workloads_down() {
    let name = "root_cluster_smoke_up_workloads_down";
    if !cluster::enabled(name) || !oxidize_testbed::require_root(name) {
        return;
    }
    let before = HostSnapshot::take();
    let tmp = std::env::temp_dir().join(format!("oxk-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let image = cluster::pack_image(
        std::path::Path::new(env!("CARGO_BIN_EXE_oxidize-testbed")),
        IMAGE,
        &tmp,
    );
    {
        let cluster = Cluster::up(&[]);
        cluster.load(&[image]);
        let node = get_json(&["node", cluster::NODE_NAME]).expect("the node object");
        assert_eq!(node["status"]["addresses"][0]["address"], NODE_IP, "{node}");
        kubectl_ok(&["create", "namespace", NS]);

        // A CRD is established, a valid object admitted, an invalid one refused with the
        // CEL message and the schema's bound, by the real apiserver.
        kubectl_apply(CRD).unwrap_or_else(|e| panic!("{e}"));
        kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/widgets.smoke.oxidize.dev",
        ]);
        let widget = |size: i64| {
            format!(
                "apiVersion: smoke.oxidize.dev/v1\nkind: Widget\nmetadata: {{name: w{size}, namespace: {NS}}}\nspec: {{size: {size}}}\n"
            )
        };
        kubectl_apply(&widget(4)).unwrap_or_else(|e| panic!("valid widget refused: {e}"));
        let odd = kubectl_apply(&widget(3)).expect_err("an odd size is refused");
        assert!(odd.contains("spec.size must be even"), "{odd}");
        let big = kubectl_apply(&widget(10)).expect_err("a size above the maximum is refused");
        assert!(big.contains("should be less than or equal to 8"), "{big}");

        // A Deployment of a locally built image runs; logs and exec work.
        kubectl_apply(&workload("serve", false, 17007)).unwrap_or_else(|e| panic!("{e}"));
        let pod = running_pod("serve");
        let pod_name = pod["metadata"]["name"]
            .as_str()
            .expect("pod name")
            .to_owned();
        let pod_ip = pod["status"]["podIP"].as_str().expect("pod IP").to_owned();
        assert!(pod_ip.starts_with("10.214."), "pod IP {pod_ip}");
        let logs = wait_for("the pod's log line", Duration::from_secs(30), || {
            kubectl(&["-n", NS, "logs", &pod_name]).and_then(|l| {
                if l.contains("serving UDP echo") {
                    Ok(l)
                } else {
                    Err(l)
                }
            })
        });
        assert!(logs.contains("17007"), "{logs}");
        let version = kubectl_ok(&[
            "-n",
            NS,
            "exec",
            &pod_name,
            "--",
            "/usr/local/bin/oxidize-testbed",
            "--version",
        ]);
        assert!(version.contains("oxidize-testbed"), "{version}");

        // A hostNetwork pod listens inside the node's namespace, not in the root namespace.
        kubectl_apply(&workload("hostnet", true, 17107)).unwrap_or_else(|e| panic!("{e}"));
        let hpod = running_pod("hostnet");
        assert_eq!(hpod["status"]["podIP"], NODE_IP, "{}", hpod["status"]);
        let in_node = cluster::run(
            "ip",
            &["netns", "exec", NODE_NS, "ss", "-Hltn", "sport = :17107"],
        )
        .expect("ss in the node namespace");
        assert!(
            in_node.contains("17107"),
            "not listening in {NODE_NS}: {in_node:?}"
        );
        let in_root =
            cluster::run("ss", &["-Hltn", "sport = :17107"]).expect("ss in the root namespace");
        assert!(
            in_root.trim().is_empty(),
            "listening in the root namespace: {in_root}"
        );
    }
    // `down` (the guard's drop) left nothing behind.
    let after = HostSnapshot::take();
    let diff = before.diff(&after);
    assert!(
        diff.is_empty(),
        "cluster up/down changed the host:\n{}",
        diff.join("\n")
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
