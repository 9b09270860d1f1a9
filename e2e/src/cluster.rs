//! The local Kubernetes for the cluster suites: bring it up and down (`scripts/cluster/cluster.sh`),
//! run `kubectl`/`helm` against it, pack a test binary into an image, and snapshot the host
//! state that `up`/`down` must leave as it found it.
//!
//! Cluster tests run only when `OXIDIZE_CLUSTER_TESTS=1` (the `cluster` stage of
//! `scripts/test.sh` sets it after building the cluster and the images); otherwise they print
//! why and return. With `CI=1` as well, a missing cluster build is a failure, not a skip.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (the e2e crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where the cluster keeps its binaries and state (`OXIDIZE_CLUSTER_HOME`, default `.cluster`).
pub fn cluster_home() -> PathBuf {
    std::env::var_os("OXIDIZE_CLUSTER_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cluster"))
}

/// The node's network namespace (fixed by cluster.sh).
pub const NODE_NS: &str = "oxk-node";
/// The node's name in the API.
pub const NODE_NAME: &str = "oxidize-node";
/// The node's address on its veth (kubelet, hostNetwork pods).
pub const NODE_IP: &str = "10.213.0.2";

/// Whether the cluster tests should run; prints why not when they should not.
/// Panics when `CI=1` asks for them but the cluster is not built.
pub fn enabled(test: &str) -> bool {
    if std::env::var("OXIDIZE_CLUSTER_TESTS").as_deref() != Ok("1") {
        eprintln!(
            "{test}: skipped: set OXIDIZE_CLUSTER_TESTS=1 (scripts/test.sh's cluster stage does, \
             after `make cluster-build images`)"
        );
        return false;
    }
    let apiserver = cluster_home().join("bin/kube-apiserver");
    assert!(
        apiserver.exists(),
        "{test}: OXIDIZE_CLUSTER_TESTS=1 but {} is missing: run `make cluster-build`",
        apiserver.display()
    );
    true
}

/// Runs a program; `Ok(stdout)` on success, `Err` with the command and its stderr otherwise.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    run_stdin(program, args, None)
}

/// [`run`] with bytes on stdin.
pub fn run_stdin(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig())
        .env("PATH", tool_path())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// The admin kubeconfig `up` writes.
pub fn kubeconfig() -> PathBuf {
    cluster_home().join("run/admin.kubeconfig")
}

/// PATH with the cluster's binaries (kubectl) and the project's tools (helm) first.
fn tool_path() -> String {
    format!(
        "{}:{}:{}",
        cluster_home().join("bin").display(),
        repo_root().join(".tools/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `kubectl ARGS`.
pub fn kubectl(args: &[&str]) -> Result<String, String> {
    run("kubectl", args)
}

/// `kubectl ARGS`, panicking with kubectl's message on failure.
pub fn kubectl_ok(args: &[&str]) -> String {
    kubectl(args).unwrap_or_else(|e| panic!("{e}"))
}

/// `kubectl apply -f -` with a manifest.
pub fn kubectl_apply(yaml: &str) -> Result<String, String> {
    run_stdin("kubectl", &["apply", "-f", "-"], Some(yaml))
}

/// `kubectl get ARGS -o json`, parsed; `None` when it fails.
pub fn get_json(args: &[&str]) -> Option<serde_json::Value> {
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", "json"]);
    kubectl(&a).ok().and_then(|s| serde_json::from_str(&s).ok())
}

/// Polls `f` every half second until it returns `Some`, or panics after `timeout` with `what`
/// and the last diagnostic `f` gave through `Err`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        let last = match f() {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; last seen: {last}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `cluster.sh SUBCOMMAND ARGS`, streaming its progress to the test's output.
pub fn cluster_sh(args: &[&str]) -> Result<(), String> {
    let script = repo_root().join("scripts/cluster/cluster.sh");
    let status = Command::new("bash")
        .arg(&script)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cluster.sh {} failed: {status}", args.join(" ")))
    }
}

/// A running local cluster; dropping it (panics included) runs `cluster.sh down`.
#[derive(Debug)]
pub struct Cluster {
    _private: (),
}

impl Cluster {
    /// `cluster.sh up` with these image archives loaded. Panics with the script's message.
    pub fn up(images: &[PathBuf]) -> Cluster {
        let mut args = vec!["up".to_owned()];
        args.extend(images.iter().map(|p| p.display().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = cluster_sh(&refs) {
            let _ = cluster_sh(&["down"]);
            panic!("{e}");
        }
        Cluster { _private: () }
    }

    /// Loads more image archives into the node.
    pub fn load(&self, images: &[PathBuf]) {
        let mut args = vec!["load".to_owned()];
        args.extend(images.iter().map(|p| p.display().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cluster_sh(&refs).unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = cluster_sh(&["down"]) {
            eprintln!("cluster down failed: {e}");
        }
    }
}

/// The archives `make images` wrote (build/images), by file name.
pub fn built_image(file: &str) -> PathBuf {
    let path = repo_root().join("build/images").join(file);
    assert!(
        path.exists(),
        "{} is missing: run `make images`",
        path.display()
    );
    path
}

/// Packs a binary of this build (e.g. `env!("CARGO_BIN_EXE_oxidize-testbed")`) into an OCI
/// archive named `reference`, with scripts/images/pack.sh. Returns the archive path.
pub fn pack_image(binary: &Path, reference: &str, out_dir: &Path) -> PathBuf {
    let file = reference.replace(['/', ':'], "_") + ".tar";
    let out = out_dir.join(file);
    let script = repo_root().join("scripts/images/pack.sh");
    let bin = binary.display().to_string();
    let out_s = out.display().to_string();
    run(
        "bash",
        &[
            &script.display().to_string(),
            &bin,
            reference,
            &out_s,
            "65532:65532",
        ],
    )
    .unwrap_or_else(|e| panic!("packing {bin}: {e}"));
    out
}

/// What of the host `up`/`down` may touch: network namespaces, root-namespace links and routes,
/// mount points, the kubelet's cgroups, listening TCP sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSnapshot {
    /// `ip netns list` names.
    pub netns: BTreeSet<String>,
    /// Root-namespace link names.
    pub links: BTreeSet<String>,
    /// Root-namespace IPv4 routes.
    pub routes: BTreeSet<String>,
    /// Mount points of this mount namespace.
    pub mounts: BTreeSet<String>,
    /// Cgroup directories named kubepods*, in every hierarchy.
    pub cgroups: BTreeSet<String>,
    /// Host paths the kubelet, containerd or CNI create when misconfigured.
    pub paths: BTreeSet<String>,
    /// Listening TCP sockets (local address:port) in the root namespace.
    pub listeners: BTreeSet<String>,
}

/// Ports the control plane and the node's components listen on.
const CLUSTER_PORTS: [&str; 9] = [
    "6443", "23790", "23800", "10257", "10259", "10248", "10249", "10250", "10256",
];

fn lines(program: &str, args: &[&str]) -> BTreeSet<String> {
    run(program, args)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

impl HostSnapshot {
    /// Reads the host state now.
    pub fn take() -> HostSnapshot {
        // Test-bed namespaces (`oxt-*`) belong to other tests running at the same time.
        let netns = lines("ip", &["netns", "list"])
            .into_iter()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
            .filter(|n| !n.starts_with("oxt-"))
            .collect();
        let links = lines("ip", &["-o", "link", "show"])
            .into_iter()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_owned()))
            .collect();
        let routes = lines("ip", &["route", "show"]);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
            .filter(|m| !m.starts_with("/run/netns/oxt-"))
            .collect();
        let mut cgroups = BTreeSet::new();
        if let Ok(dirs) = std::fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                for top in ["kubepods", "kubepods.slice"] {
                    let p = d.path().join(top);
                    if p.exists() {
                        cgroups.insert(p.display().to_string());
                    }
                }
            }
        }
        let paths = [
            "/var/lib/cni",
            "/var/lib/kubelet",
            "/var/log/pods",
            "/var/log/containers",
            "/run/containerd",
            "/etc/cni",
            "/var/lib/oxidize",
        ]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .map(str::to_owned)
        .collect();
        // Only the cluster's ports and addresses: other programs open and close listeners.
        let listeners = lines("ss", &["-Hltn"])
            .into_iter()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
            .filter(|a| {
                let port = a.rsplit(':').next().unwrap_or("");
                a.starts_with("10.213.") || CLUSTER_PORTS.contains(&port)
            })
            .collect();
        HostSnapshot {
            netns,
            links,
            routes,
            mounts,
            cgroups,
            paths,
            listeners,
        }
    }

    /// Human-readable differences (`+` appeared, `-` vanished), empty when equal.
    pub fn diff(&self, after: &HostSnapshot) -> Vec<String> {
        let mut out = Vec::new();
        let fields: [(&str, &BTreeSet<String>, &BTreeSet<String>); 7] = [
            ("netns", &self.netns, &after.netns),
            ("link", &self.links, &after.links),
            ("route", &self.routes, &after.routes),
            ("mount", &self.mounts, &after.mounts),
            ("cgroup", &self.cgroups, &after.cgroups),
            ("path", &self.paths, &after.paths),
            ("listener", &self.listeners, &after.listeners),
        ];
        for (what, a, b) in fields {
            out.extend(b.difference(a).map(|x| format!("+{what} {x}")));
            out.extend(a.difference(b).map(|x| format!("-{what} {x}")));
        }
        out
    }
}
