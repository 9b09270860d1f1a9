//! The cluster suite's steps, in the order a platform team meets them. Each asserts what it
//! shows; a failure panics with what was expected and what was seen.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxidize_testbed::cluster::{
    self, get_json, kubectl, kubectl_apply, kubectl_ok, run, wait_for, NODE_NAME, NODE_NS,
};
use serde_json::Value;

use crate::bed::{self, Bed, NodeValues};
use crate::world::{progress, World};

/// A step: its name (printed, and the name to rerun by), what it does, and whether `make demo`
/// (the suite with `--demo`) runs it too.
pub(crate) type Step = (&'static str, fn(&mut World), bool);

/// Every step, in order.
pub(crate) const STEPS: &[Step] = &[
    ("helm_install_two_replicas_one_leader", helm_install, true),
    ("node_nic_client_and_internet", node_nic, true),
    ("bad_input_refused_with_cel_messages", bad_input, false),
    ("relaynode_tunes_the_node", relaynode_tunes_the_node, true),
    (
        "relay_pod_unprivileged_ready_pinned",
        relay_pod_unprivileged,
        true,
    ),
    ("client_traffic_through_the_relay_pod", client_traffic, true),
    (
        "prometheus_scrapes_operator_and_relay",
        prometheus_scrapes,
        true,
    ),
    ("figures_from_prometheus_and_kubectl", figures, true),
    (
        "dashboard_and_alert_queries_return_data",
        dashboard_and_alerts,
        false,
    ),
    (
        "relay_down_alert_fires_and_resolves",
        relay_down_alert,
        false,
    ),
    (
        "spec_change_rolls_without_crash_loop",
        spec_change_rolls,
        false,
    ),
    ("leader_sigterm_hands_over_within_5s", leader_sigterm, false),
    (
        "leader_sigkill_taken_over_after_lease_expiry",
        leader_sigkill,
        false,
    ),
    ("delete_restores_the_node", delete_restores, true),
];

/// Steps that show a known, open defect: run only with `--known-defects` (or `--only`), so that
/// CI stays meaningful while the defect is worked on. Each names its issue.
///
/// - apiserver restart (issue 16): after the suite's failovers, a spec change made right after
///   an apiserver restart was not applied within 90 s (it was when the step ran alone: 14 s);
///   the owned-object watches re-list after 410 Expired, events in the gap are lost until the
///   periodic requeue.
pub(crate) const KNOWN_DEFECTS: &[Step] = &[(
    "apiserver_restart_operator_reconnects",
    apiserver_restart,
    false,
)];

const RELEASE: &str = "oxidize";
const OP_NS: &str = "oxidize-system";
const RN_NS: &str = "oxidize-relays";
const RN: &str = "edge";
const PORT: u16 = 4433;
const METRICS_PORT: u16 = 9464;
const TOKEN: &str = "cluster-suite-token-4f1c2a";
const SERVER_NAME: &str = "relay.oxidize.test";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn target_bin(name: &str) -> String {
    let root = cluster::repo_root();
    for dir in ["target/debug", "target/release"] {
        let p = root.join(dir).join(name);
        if p.exists() {
            return p.display().to_string();
        }
    }
    panic!("{name} is not built: run `cargo build -p oxidize-dataplane -p oxidize-testbed`");
}

fn app_version() -> String {
    let chart = std::fs::read_to_string(cluster::repo_root().join("charts/oxidize/Chart.yaml"))
        .expect("Chart.yaml");
    chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("appVersion in Chart.yaml")
}

fn dataplane_image() -> String {
    format!("ghcr.io/oxidize-dev/oxidize-dataplane:{}", app_version())
}

fn operator_pods() -> Vec<Value> {
    get_json(&[
        "-n",
        OP_NS,
        "pods",
        "-l",
        "app.kubernetes.io/name=oxidize-operator",
    ])
    .and_then(|v| v["items"].as_array().cloned())
    .unwrap_or_default()
}

fn lease_holder() -> String {
    get_json(&["-n", OP_NS, "lease", "oxidize-operator"])
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn wait_operators_ready(n: usize, within: Duration) -> Vec<Value> {
    wait_for(&format!("{n} Ready operator replicas"), within, || {
        let pods = operator_pods();
        let ready: Vec<Value> = pods
            .iter()
            .filter(|p| pod_ready(p) && p["metadata"]["deletionTimestamp"].is_null())
            .cloned()
            .collect();
        if ready.len() == n {
            Ok(ready)
        } else {
            Err(format!(
                "{} of {} ready: {:?}",
                ready.len(),
                pods.len(),
                pods.iter()
                    .map(|p| (p["metadata"]["name"].clone(), p["status"]["phase"].clone()))
                    .collect::<Vec<_>>()
            ))
        }
    })
}

fn helm_install(_w: &mut World) {
    let chart = cluster::repo_root().join("charts/oxidize");
    run(
        "helm",
        &[
            "upgrade",
            "--install",
            RELEASE,
            &chart.display().to_string(),
            "-n",
            OP_NS,
            "--create-namespace",
            "--wait",
            "--timeout",
            "180s",
            "--set",
            "restoreTimeoutSeconds=60",
            // This node has 2 CPUs, one reserved for the system: the relay's worker takes the
            // other whole, so the operator asks for none (docs/operator.md, "Sizing").
            "--set",
            "resources.requests.cpu=0",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ready = wait_operators_ready(2, secs(120));
    let names: Vec<String> = ready
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let holder = wait_for("a Lease holder", secs(60), || {
        let h = lease_holder();
        if names.iter().any(|n| h.starts_with(n.as_str())) {
            Ok(h)
        } else {
            Err(format!("holder {h:?}, pods {names:?}"))
        }
    });
    progress(&format!("two operator replicas Ready; leader {holder}"));
    let node = get_json(&["node", NODE_NAME]).expect("node");
    progress(&format!(
        "node allocatable: cpu {} memory {}",
        node["status"]["allocatable"]["cpu"], node["status"]["allocatable"]["memory"]
    ));
    let explain = kubectl_ok(&["explain", "relaynode.spec"]);
    assert!(
        explain.contains("dataplane") && explain.contains("tuning"),
        "{explain}"
    );
    kubectl_ok(&["create", "namespace", RN_NS]);
    kubectl_ok(&[
        "label",
        "namespace",
        RN_NS,
        "pod-security.kubernetes.io/enforce=privileged",
    ]);
}

fn node_nic(w: &mut World) {
    w.node_before = None;
    w.bed = Some(Bed::new(&target_bin("oxidize-testbed")));
    let before = NodeValues::read();
    progress(&format!("node values before tuning: {before:?}"));
    w.node_before = Some(before);
    kubectl_ok(&[
        "label",
        "node",
        NODE_NAME,
        "oxidize.dev/relay=true",
        "--overwrite",
    ]);
}

fn relaynode(sysctl_somaxconn: &str) -> String {
    format!(
        r#"apiVersion: relay.oxidize.dev/v1alpha1
kind: RelayNode
metadata:
  name: {RN}
  namespace: {RN_NS}
spec:
  nodeSelector:
    oxidize.dev/relay: "true"
  tuning:
    hugepages:
      size: 2Mi
      countPerNumaNode: 16
    sysctls:
      net.core.somaxconn: "{sysctl_somaxconn}"
    nic:
      channels: 1
      disableGro: true
    isolatedCores: "1"
  dataplane:
    image: {image}
    imagePullPolicy: IfNotPresent
    interface: {nic}
    egressInterface: {wan}
    queues: 1
    workerCores: "1"
    port: {PORT}
    metricsPort: {METRICS_PORT}
    busyPoll: false
    tlsSecretName: relay-tls
    tokenSecretName: relay-tokens
    clientPool:
      ipv4: 10.99.0.0/24
      ipv6: fd99::/64
"#,
        image = dataplane_image(),
        nic = bed::NIC,
        wan = bed::WAN,
    )
}

fn bad_input(_w: &mut World) {
    let good = relaynode("2048");
    for (from, to, message) in [
        (
            "isolatedCores: \"1\"",
            "isolatedCores: \"5-2\"",
            "has a range whose start is above its end",
        ),
        ("queues: 1", "queues: 65", "queues"),
        ("port: 4433", "port: 70000", "port"),
        ("ipv4: 10.99.0.0/24", "ipv4: 10.99.0.0/33", "ipv4"),
    ] {
        let bad = good.replace(from, to);
        assert_ne!(bad, good, "the bad spec differs ({to})");
        let err = kubectl_apply(&bad).expect_err(&format!("the apiserver refuses {to}"));
        assert!(
            err.contains(message),
            "refusal of `{to}` names {message:?}: {err}"
        );
        progress(&format!(
            "refused `{to}`: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    assert!(
        get_json(&["-n", RN_NS, "relaynode", RN]).is_none(),
        "nothing was created by the refused specs"
    );
}

fn secrets(w: &World) {
    let d = &w.dir;
    let p = |f: &str| d.join(f).display().to_string();
    let openssl = |args: &[&str]| run("openssl", args).unwrap_or_else(|e| panic!("{e}"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Oxidize suite CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={SERVER_NAME}"),
        "-keyout",
        &p("tls.key"),
        "-out",
        &p("tls.csr"),
    ]);
    std::fs::write(
        d.join("san.ext"),
        format!("subjectAltName=DNS:{SERVER_NAME}\n"),
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("tls.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("san.ext"),
        "-out",
        &p("tls.crt"),
    ]);
    std::fs::write(d.join("client.token"), TOKEN).expect("token");
    kubectl_ok(&[
        "-n",
        RN_NS,
        "create",
        "secret",
        "tls",
        "relay-tls",
        "--cert",
        &p("tls.crt"),
        "--key",
        &p("tls.key"),
    ]);
    kubectl_ok(&[
        "-n",
        RN_NS,
        "create",
        "secret",
        "generic",
        "relay-tokens",
        &format!("--from-literal=suite={TOKEN}"),
    ]);
}

fn relaynode_status() -> Value {
    get_json(&["-n", RN_NS, "relaynode", RN])
        .map(|r| r["status"].clone())
        .unwrap_or_default()
}

fn condition(status: &Value, ty: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == ty).cloned())
        .unwrap_or_default()
}

fn relaynode_tunes_the_node(w: &mut World) {
    secrets(w);
    kubectl_apply(&relaynode("2048")).unwrap_or_else(|e| panic!("{e}"));
    let status = wait_for("Tuned=True with the node's tune report", secs(180), || {
        let s = relaynode_status();
        let tuned = condition(&s, "Tuned");
        if tuned["status"] == "True"
            && s["observedGeneration"] == 1
            && s["nodes"][0]["tuning"]["succeeded"] == true
        {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    });
    assert_eq!(status["nodes"][0]["name"], NODE_NAME, "{status}");
    assert_eq!(
        condition(&status, "Tuned")["observedGeneration"],
        1,
        "{status}"
    );
    let now = NodeValues::read();
    let before = w.node_before.clone().expect("values before tuning");
    progress(&format!("node values after tuning: {now:?}"));
    assert_eq!(
        now.somaxconn, "2048",
        "the plan's sysctl is set in the node"
    );
    assert_eq!(
        now.ip_forward, "1",
        "forwarding is on (the tune step's job, not the relay's)"
    );
    // IPv4 forwarding was already on (the cluster's pod network needs it); IPv6 forwarding
    // is what shows the tune step setting forwarding.
    assert_eq!(before.ip6_forward, "0", "IPv6 forwarding off before tuning");
    assert_eq!(
        now.ip6_forward, "1",
        "the tune step turned IPv6 forwarding on"
    );
    assert!(
        now.nr_hugepages.parse::<u64>().unwrap_or(0) >= 16,
        "16 hugepages reserved: {now:?}"
    );
    assert!(
        now.gro.contains(": off"),
        "GRO off on {}: {}",
        bed::NIC,
        now.gro
    );
    assert_ne!(now.channels, before.channels, "channels changed to 1");
    assert!(
        now.state_files.iter().any(|f| f == "tune-state.json"),
        "the tuner recorded the originals: {now:?}"
    );
}

fn relay_pod() -> Value {
    wait_for("a Ready relay pod", secs(180), || {
        let pods = get_json(&[
            "-n",
            RN_NS,
            "pods",
            "-l",
            &format!("app.kubernetes.io/instance={RN}"),
        ])
        .ok_or("kubectl get pods")?;
        let items = pods["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .find(|p| {
                pod_ready(p)
                    && p["metadata"]["deletionTimestamp"].is_null()
                    && p["spec"]["containers"][0]["name"] == "relay"
            })
            .cloned()
            .ok_or_else(|| {
                items
                    .iter()
                    .map(|p| format!("{} {}", p["metadata"]["name"], p["status"]))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    })
}

fn relay_pid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let node_ns = std::fs::metadata(format!("/run/netns/{NODE_NS}"))
        .map(|m| m.ino())
        .ok();
    run("pgrep", &["-f", "oxidize-dataplane relay"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .find(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|m| m.ino())
                .ok()
                == node_ns
        })
        .expect("the relay process in the node's network namespace")
}

fn relay_pod_unprivileged(w: &mut World) {
    let pod = relay_pod();
    let relay = &pod["spec"]["containers"][0];
    let sc = &relay["securityContext"];
    assert_eq!(sc["privileged"], false, "{sc}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{sc}");
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{sc}"
    );
    let caps: Vec<String> = sc["capabilities"]["add"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    progress(&format!("relay capabilities: {caps:?}"));
    assert_eq!(
        pod["status"]["containerStatuses"][0]["restartCount"], 0,
        "the relay started once, no crash loop"
    );
    assert_eq!(pod["status"]["qosClass"], "Guaranteed", "{}", pod["status"]);
    let link = run("ip", &["-n", NODE_NS, "-d", "link", "show", bed::NIC]).expect("ip link");
    assert!(
        link.contains("prog/xdp"),
        "XDP attached to {}: {link}",
        bed::NIC
    );
    // The worker thread is pinned to the core the spec names.
    let pid = relay_pid();
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).expect("relay threads");
    let mut pinned = Vec::new();
    for t in threads.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        if comm.trim().starts_with("relay-worker") {
            pinned.push((comm.trim().to_owned(), cpus));
        }
    }
    progress(&format!("relay pid {pid}, workers: {pinned:?}"));
    assert_eq!(
        pinned,
        vec![("relay-worker-0".to_owned(), "1".to_owned())],
        "relay-worker-0 on CPU 1, the core the kubelet granted"
    );
    if w.demo {
        println!(
            "relay pod {} Ready; XDP on {}; {pinned:?}",
            pod["metadata"]["name"],
            bed::NIC
        );
    }
}

fn start_client(w: &mut World) {
    let bed = w.bed.as_ref().expect("bed");
    let log = std::fs::File::create(w.dir.join("client.log")).expect("client log");
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            bed.client.name(),
            &target_bin("oxidize-client"),
        ])
        .arg(format!("{}:{PORT}", bed::RELAY_IP))
        .args([
            "--server-name",
            SERVER_NAME,
            "--tun",
            "oxc0",
            "--status-interval",
            "0",
        ])
        .arg("--ca-file")
        .arg(w.dir.join("ca.pem"))
        .arg("--token-file")
        .arg(w.dir.join("client.token"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start oxidize-client");
    w.client = Some(child);
}

fn tunnel_up(w: &World) {
    let ns = w.bed.as_ref().expect("bed").client.name().to_owned();
    wait_for("the tunnel's IPv4 and IPv6 addresses", secs(60), || {
        let a = run("ip", &["-n", &ns, "-o", "addr", "show", "dev", "oxc0"])?;
        if a.contains("10.99.") && a.contains("fd99") {
            Ok(())
        } else {
            Err(format!(
                "{a}\nclient log: {}",
                std::fs::read_to_string(w.dir.join("client.log")).unwrap_or_default()
            ))
        }
    });
}

fn traffic(w: &World, mib: u64) {
    let ns = w.bed.as_ref().expect("bed").client.name().to_owned();
    for ip in [bed::INTERNET_IP, bed::INTERNET_IP6] {
        let out = wait_for(&format!("ping {ip} through the tunnel"), secs(30), || {
            run(
                "ip",
                &[
                    "netns", "exec", &ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", ip,
                ],
            )
            // Right after a (re)connect the first echoes may be lost: ask again until a
            // whole round gets through.
            .and_then(|o| {
                if o.contains(" 0% packet loss") {
                    Ok(o)
                } else {
                    Err(o)
                }
            })
        });
        assert!(out.contains(" 0% packet loss"), "{out}");
        progress(&format!("ping {ip}: {}", out.lines().last().unwrap_or("")));
    }
    let out = run(
        "ip",
        &[
            "netns",
            "exec",
            &ns,
            &target_bin("oxidize-testbed"),
            "download",
            &format!("{}:9009", bed::INTERNET_IP),
            "--bytes",
            &(mib * 1024 * 1024).to_string(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("matches"), "{out}");
    progress(&out);
    if w.demo {
        println!("{out}");
    }
}

fn client_traffic(w: &mut World) {
    start_client(w);
    tunnel_up(w);
    traffic(w, 32);
}

/// The Prometheus config: the chart's rules and two jobs whose targets come from files the
/// suite writes (Debian's Prometheus is built without Kubernetes service discovery).
fn prometheus_config(w: &World) -> String {
    let rules = w.dir.join("rules.yaml").display().to_string();
    let targets = w.dir.join("targets").display().to_string();
    format!(
        r#"global: {{scrape_interval: 2s, evaluation_interval: 2s}}
rule_files: [{rules}]
scrape_configs:
  - job_name: oxidize-operator
    file_sd_configs: [{{files: [{targets}/oxidize-operator.json], refresh_interval: 2s}}]
  - job_name: oxidize-relay
    file_sd_configs: [{{files: [{targets}/oxidize-relay.json], refresh_interval: 2s}}]
"#
    )
}

/// Resolves the Services the chart and the operator declare for scraping (what their
/// ServiceMonitors select: the operator's Service by its `app.kubernetes.io/name` label and its
/// `http` port, each RelayNode's metrics Service and its `metrics` port) to their endpoints,
/// as Prometheus' Kubernetes discovery would, and writes them as file_sd targets.
fn write_targets(w: &World) {
    let dir = w.dir.join("targets");
    std::fs::create_dir_all(&dir).expect("targets dir");
    for (job, ns, port_name) in [
        ("oxidize-operator", OP_NS, "http"),
        ("oxidize-relay", RN_NS, "metrics"),
    ] {
        let services = get_json(&[
            "-n",
            ns,
            "services",
            "-l",
            &format!("app.kubernetes.io/name={job}"),
        ])
        .expect("services");
        let mut groups = Vec::new();
        for svc in services["items"].as_array().cloned().unwrap_or_default() {
            let name = svc["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let slices = get_json(&[
                "-n",
                ns,
                "endpointslices",
                "-l",
                &format!("kubernetes.io/service-name={name}"),
            ])
            .expect("endpointslices");
            for slice in slices["items"].as_array().cloned().unwrap_or_default() {
                let Some(port) = slice["ports"]
                    .as_array()
                    .and_then(|p| p.iter().find(|p| p["name"] == port_name))
                    .and_then(|p| p["port"].as_u64())
                else {
                    continue;
                };
                for ep in slice["endpoints"].as_array().cloned().unwrap_or_default() {
                    let Some(addr) = ep["addresses"][0].as_str() else {
                        continue;
                    };
                    groups.push(serde_json::json!({
                        "targets": [format!("{addr}:{port}")],
                        "labels": {
                            "namespace": ns,
                            "service": name,
                            "pod": ep["targetRef"]["name"],
                            "node": ep["nodeName"],
                        },
                    }));
                }
            }
        }
        let tmp = dir.join(format!("{job}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&groups).expect("json")).expect("write targets");
        std::fs::rename(&tmp, dir.join(format!("{job}.json"))).expect("rename targets");
    }
}

/// An instant query; `Err` while Prometheus is not answering.
fn prom_get(w: &World, expr: &str) -> Result<Value, String> {
    let url = format!("http://{}/api/v1/query", w.prometheus_addr);
    let out = run(
        "curl",
        &[
            "-fsS",
            "--get",
            &url,
            "--data-urlencode",
            &format!("query={expr}"),
        ],
    )?;
    serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
}

fn prom_query(w: &World, expr: &str) -> Value {
    prom_get(w, expr).unwrap_or_else(|e| panic!("{e}"))
}

fn prometheus_scrapes(w: &mut World) {
    // The rules the chart ships, as Prometheus loads them (the PrometheusRule's spec).
    let rules =
        std::fs::read_to_string(cluster::repo_root().join("charts/oxidize/files/rules.yaml"))
            .expect("rules.yaml");
    // The alerts' `for` durations are covered by `promtool test rules`; here they are cut to
    // a few seconds so that a firing alert shows within the suite's time.
    let rules: String = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 4s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(w.dir.join("rules.yaml"), rules).expect("write rules");
    std::fs::write(w.dir.join("prometheus.yml"), prometheus_config(w)).expect("write config");
    write_targets(w);
    let log = std::fs::File::create(w.dir.join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            w.dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            w.dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={}", w.prometheus_addr))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start prometheus (apt prometheus)");
    w.prometheus = Some(child);
    wait_for("Prometheus ready", secs(30), || {
        run(
            "curl",
            &["-fsS", &format!("http://{}/-/ready", w.prometheus_addr)],
        )
    });
    let targets = wait_for("both jobs' targets up", secs(90), || {
        write_targets(w);
        let v = prom_get(w, "up")?;
        let series = v["data"]["result"].as_array().cloned().unwrap_or_default();
        let up = |job: &str| {
            series
                .iter()
                .filter(|s| s["metric"]["job"] == job && s["value"][1] == "1")
                .count()
        };
        if up("oxidize-operator") >= 2 && up("oxidize-relay") >= 1 {
            Ok(series)
        } else {
            Err(format!("{series:?}"))
        }
    });
    progress(&format!("Prometheus targets up: {}", targets.len()));
    let tx = prom_query(w, "sum(oxidize_relay_tunnel_packets_total)");
    let n: f64 = tx["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        n > 0.0,
        "the relay's tunnel packets reached Prometheus: {tx}"
    );
}

/// Every expression of the dashboard and the rules (scripts/checks/promql_exprs.py), as
/// (source, expression to query). An alert's own expression has series only while it fires,
/// so for alerts the parts that must have data on a healthy cluster are queried.
fn scalar(w: &World, expr: &str) -> f64 {
    prom_query(w, expr)["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// What the relay did, read back from Prometheus, and the RelayNode as `kubectl get` shows it.
fn figures(w: &mut World) {
    let rows = [
        ("relay connections (open)", "sum(oxidize_relay_connections)"),
        ("CONNECT-IP sessions (open)", "sum(oxidize_relay_sessions)"),
        (
            "handshakes accepted",
            "sum(oxidize_relay_handshakes_total{result=\"accepted\"})",
        ),
        (
            "packets client -> internet",
            "sum(oxidize_relay_tunnel_packets_total{direction=\"to_internet\"})",
        ),
        (
            "bytes   client -> internet",
            "sum(oxidize_relay_tunnel_bytes_total{direction=\"to_internet\"})",
        ),
        (
            "packets internet -> client",
            "sum(oxidize_relay_tunnel_packets_total{direction=\"to_client\"})",
        ),
        (
            "bytes   internet -> client",
            "sum(oxidize_relay_tunnel_bytes_total{direction=\"to_client\"})",
        ),
        ("drops (all reasons)", "sum(oxidize_relay_drops_total)"),
        (
            "operator reconciles",
            "sum(oxidize_operator_reconciliations_total)",
        ),
    ];
    let mut text = String::from("figures from Prometheus:\n");
    for (label, expr) in rows {
        text.push_str(&format!("  {label:<30} {:>14.0}\n", scalar(w, expr)));
    }
    let to_client = scalar(w, rows[5].1);
    assert!(
        to_client > 1000.0,
        "the download's packets are counted: {text}"
    );
    let rn = kubectl_ok(&["-n", RN_NS, "get", "relaynode", RN, "-o", "wide"]);
    text.push_str(&format!("kubectl get relaynode -o wide:\n{rn}"));
    println!("{text}");
}

fn exprs() -> Vec<(String, String)> {
    let script = cluster::repo_root().join("scripts/checks/promql_exprs.py");
    let out = run("python3", &[&script.display().to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let mut all = Vec::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let source = v["source"].as_str().unwrap_or("").to_owned();
        match v["data_exprs"].as_array() {
            Some(parts) => all.extend(
                parts
                    .iter()
                    .filter_map(|p| p.as_str())
                    .map(|p| (source.clone(), p.to_owned())),
            ),
            None => all.push((source, v["expr"].as_str().unwrap_or("").to_owned())),
        }
    }
    all
}

fn dashboard_and_alerts(w: &mut World) {
    let all = exprs();
    assert!(
        all.len() >= 8,
        "the dashboard and rules have expressions: {all:?}"
    );
    // Rates need two scrapes inside their window: poll each until it has series.
    let deadline = Instant::now() + secs(120);
    let mut empty: Vec<String> = Vec::new();
    for (source, expr) in &all {
        loop {
            let v = prom_query(w, expr);
            if v["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break;
            }
            if Instant::now() > deadline {
                empty.push(format!("{source}: {expr}"));
                break;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    assert!(
        empty.is_empty(),
        "expressions with no series:\n{}",
        empty.join("\n")
    );
    progress(&format!(
        "{} dashboard and rule expressions return data",
        all.len()
    ));
}

fn firing(w: &World, alert: &str) -> bool {
    let v = prom_query(
        w,
        &format!("ALERTS{{alertname=\"{alert}\",alertstate=\"firing\"}}"),
    );
    v["data"]["result"]
        .as_array()
        .is_some_and(|r| !r.is_empty())
}

/// The relay stops answering (SIGSTOP: the process lives, its scrapes time out), so
/// `up{job="oxidize-relay"} == 0` and OxidizeRelayDown fires; SIGCONT resolves it.
fn relay_down_alert(w: &mut World) {
    assert!(
        !firing(w, "OxidizeRelayDown"),
        "not firing on a healthy relay"
    );
    let pid = relay_pid().to_string();
    run("kill", &["-STOP", &pid]).unwrap_or_else(|e| panic!("{e}"));
    let fired = std::panic::catch_unwind(|| {
        wait_for("OxidizeRelayDown firing", secs(60), || {
            if firing(w, "OxidizeRelayDown") {
                Ok(())
            } else {
                Err("pending or inactive".into())
            }
        })
    });
    run("kill", &["-CONT", &pid]).unwrap_or_else(|e| panic!("{e}"));
    if let Err(p) = fired {
        std::panic::resume_unwind(p);
    }
    progress("OxidizeRelayDown fired while the relay was stopped");
    wait_for("OxidizeRelayDown resolved", secs(60), || {
        if firing(w, "OxidizeRelayDown") {
            Err("still firing".into())
        } else {
            Ok(())
        }
    });
}

fn spec_change_rolls(w: &mut World) {
    let old = relay_pod();
    let old_name = old["metadata"]["name"].as_str().unwrap_or("").to_owned();
    kubectl_apply(&relaynode("1024")).unwrap_or_else(|e| panic!("{e}"));
    let new = wait_for("a new Ready relay pod at generation 2", secs(240), || {
        let p = relay_pod();
        let s = relaynode_status();
        if p["metadata"]["name"] != old_name.as_str() && s["observedGeneration"] == 2 {
            Ok(p)
        } else {
            Err(format!("pod {} status {s}", p["metadata"]["name"]))
        }
    });
    assert_eq!(
        new["status"]["containerStatuses"][0]["restartCount"], 0,
        "no crash loop"
    );
    assert_eq!(NodeValues::read().somaxconn, "1024");
    tunnel_up(w);
    traffic(w, 4);
}

fn leader_pod() -> String {
    let holder = lease_holder();
    operator_pods()
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .find(|n| holder.starts_with(n.as_str()))
        .unwrap_or_else(|| panic!("no operator pod holds the Lease ({holder:?})"))
}

fn leader_sigterm(_w: &mut World) {
    let old = leader_pod();
    let t = Instant::now();
    kubectl_ok(&["-n", OP_NS, "delete", "pod", &old, "--wait=false"]);
    let new = wait_for("another replica to lead", secs(10), || {
        let h = lease_holder();
        if !h.is_empty() && !h.starts_with(old.as_str()) {
            Ok(h)
        } else {
            Err(h)
        }
    });
    let took = t.elapsed();
    progress(&format!(
        "{old} deleted: {new} leads after {:.1} s",
        took.as_secs_f64()
    ));
    assert!(took < secs(5), "takeover within 5 s, took {took:?}");
    // It handled SIGTERM: gone well before the 30 s grace period.
    wait_for("the old leader's pod to exit", secs(8), || {
        match kubectl(&["-n", OP_NS, "get", "pod", &old, "-o", "name"]) {
            Err(_) => Ok(()),
            Ok(_) => Err(format!("{old} still exists")),
        }
    });
    progress(&format!(
        "{old} exited {:.1} s after its deletion",
        t.elapsed().as_secs_f64()
    ));
    wait_operators_ready(2, secs(120));
}

fn leader_sigkill(_w: &mut World) {
    let old = leader_pod();
    let t = Instant::now();
    kubectl_ok(&[
        "-n",
        OP_NS,
        "delete",
        "pod",
        &old,
        "--grace-period=0",
        "--force",
        "--wait=false",
    ]);
    let new = wait_for(
        "another replica to lead after the Lease expires",
        secs(60),
        || {
            let h = lease_holder();
            if !h.is_empty() && !h.starts_with(old.as_str()) {
                Ok(h)
            } else {
                Err(h)
            }
        },
    );
    progress(&format!(
        "{old} killed: {new} leads after {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    wait_operators_ready(2, secs(120));
}

fn restarts() -> Vec<i64> {
    operator_pods()
        .iter()
        .map(|p| {
            p["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect()
}

/// The apiserver goes away for a few seconds: the operator keeps running (a lost Lease stops
/// reconciling and it campaigns again, no restart), then repairs what changed meanwhile,
/// without duplicating anything.
fn apiserver_restart(_w: &mut World) {
    let before = get_json(&["-n", RN_NS, "daemonsets"]).expect("daemonsets");
    let restarts_before = restarts();
    cluster::cluster_sh(&["restart-apiserver"]).unwrap_or_else(|e| panic!("{e}"));
    // A spec change made right after the restart is noticed (by the re-established watch or
    // the re-list after it) and applied: the ConfigMap carries the new plan.
    kubectl_apply(&relaynode("1536")).unwrap_or_else(|e| panic!("{e}"));
    let cm = format!("{RN}-config");
    wait_for(
        "the spec changed after the restart applied",
        secs(90),
        || {
            let data = kubectl(&[
                "-n",
                RN_NS,
                "get",
                "configmap",
                &cm,
                "-o",
                "jsonpath={.data}",
            ])?;
            if data.contains("1536") {
                Ok(())
            } else {
                Err(data)
            }
        },
    );
    wait_for(
        "status at the current generation and Ready",
        secs(120),
        || {
            let rn = get_json(&["-n", RN_NS, "relaynode", RN]).ok_or("relaynode")?;
            let s = &rn["status"];
            if s["observedGeneration"] == rn["metadata"]["generation"]
                && condition(s, "Ready")["status"] == "True"
            {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    );
    let after = get_json(&["-n", RN_NS, "daemonsets"]).expect("daemonsets");
    assert_eq!(
        after["items"].as_array().map(Vec::len),
        before["items"].as_array().map(Vec::len),
        "no duplicate DaemonSets"
    );
    wait_operators_ready(2, secs(60));
    assert_eq!(restarts(), restarts_before, "no operator replica restarted");
    wait_for("a leader", secs(30), || {
        let h = lease_holder();
        if h.is_empty() {
            Err("no holder".into())
        } else {
            Ok(h)
        }
    });
}

fn delete_restores(w: &mut World) {
    kubectl_ok(&[
        "-n",
        RN_NS,
        "delete",
        "relaynode",
        RN,
        "--wait=true",
        "--timeout=180s",
    ]);
    let before = w.node_before.clone().expect("values before tuning");
    let now = wait_for("the node's values restored", secs(60), || {
        let now = NodeValues::read();
        if now == before {
            Ok(now)
        } else {
            Err(format!("before {before:?}\nnow    {now:?}"))
        }
    });
    progress(&format!("restored: {now:?}"));
    for owned in [
        format!("daemonset/{RN}-relay"),
        format!("configmap/{RN}-config"),
        format!("service/{RN}-metrics"),
    ] {
        wait_for(&format!("{owned} gone"), secs(60), || {
            match kubectl(&["-n", RN_NS, "get", &owned, "-o", "name"]) {
                Err(_) => Ok(()),
                Ok(_) => Err(format!("{owned} still exists")),
            }
        });
    }
}
