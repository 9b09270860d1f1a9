//! What the cluster suite's steps share: the running cluster, the node's NIC bed, processes the
//! suite started (client, Prometheus), and the host values recorded before tuning.

use std::path::PathBuf;
use std::process::Child;
use std::time::Instant;

use oxidize_testbed::cluster::{self, kubectl, Cluster, HostSnapshot};

use crate::bed::Bed;

/// Prints a progress line with the time since the suite started.
pub(crate) fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[cluster suite {t:6.1}s] {what}");
}

/// `kubectl logs` of every container of the relay pods.
const RELAY_LOGS: [&str; 8] = [
    "-n",
    "oxidize-relays",
    "logs",
    "-l",
    "app.kubernetes.io/name=oxidize-relay",
    "--all-containers",
    "--prefix",
    "--tail=30",
];

/// The suite's state. Dropping it tears everything down in reverse order.
pub(crate) struct World {
    /// Print the demo's figures.
    pub(crate) demo: bool,
    /// Scratch files (certificates, configs, Prometheus data).
    pub(crate) dir: PathBuf,
    /// The host as it was before `up` (compared after `down`).
    pub(crate) host_before: HostSnapshot,
    /// Node values before tuning (compared after restore).
    pub(crate) node_before: Option<crate::bed::NodeValues>,
    /// The NIC, client and internet namespaces.
    pub(crate) bed: Option<Bed>,
    /// `oxidize-client` in the client namespace.
    pub(crate) client: Option<Child>,
    /// The real Prometheus.
    pub(crate) prometheus: Option<Child>,
    /// Its HTTP address.
    pub(crate) prometheus_addr: String,
    cluster: Option<Cluster>,
    keep: bool,
}

impl World {
    /// Brings the cluster up with the images `make images` built.
    pub(crate) fn new(demo: bool) -> World {
        let dir = std::env::temp_dir().join(format!("oxk-suite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let host_before = HostSnapshot::take();
        progress("cluster up (operator and dataplane images loaded)");
        let images: Vec<PathBuf> =
            std::fs::read_to_string(cluster::repo_root().join("build/images/digests.txt"))
                .expect("build/images/digests.txt: run `make images`")
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|f| !f.starts_with("pause-"))
                .map(cluster::built_image)
                .collect();
        // The static CPU manager: the relay pod (Guaranteed, one whole CPU) gets CPU 1 for itself,
        // CPU 0 stays for the system and the shared pool (the operator).
        std::env::set_var("OXIDIZE_CLUSTER_CPU_POLICY", "static");
        std::env::set_var("OXIDIZE_CLUSTER_RESERVED_CPUS", "0");
        let cluster = Cluster::up(&images);
        World {
            demo,
            dir,
            host_before,
            node_before: None,
            bed: None,
            client: None,
            prometheus: None,
            prometheus_addr: "127.0.0.1:19090".into(),
            cluster: Some(cluster),
            keep: false,
        }
    }

    /// Leave the cluster and the bed up when the suite ends.
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    /// After a failed step: what a person would look at first.
    pub(crate) fn diagnose(&self) {
        for log in ["prometheus.log", "client.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(log)) {
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                eprintln!("--- {log} (last lines)\n{}", tail.join("\n"));
            }
        }
        for args in [
            &["get", "pods", "-A", "-o", "wide"][..],
            &["get", "relaynodes", "-A", "-o", "yaml"][..],
            &["get", "events", "-A", "--sort-by=.lastTimestamp"][..],
            &RELAY_LOGS[..],
            &[&RELAY_LOGS[..], &["--previous"]].concat()[..],
        ] {
            match kubectl(args) {
                Ok(out) => {
                    let tail: Vec<&str> = out.lines().rev().take(60).collect();
                    eprintln!(
                        "--- kubectl {}\n{}",
                        args.join(" "),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                Err(e) => eprintln!("--- {e}"),
            }
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for child in [self.client.take(), self.prometheus.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.keep {
            if let Some(c) = self.cluster.take() {
                std::mem::forget(c);
            }
            if let Some(b) = self.bed.take() {
                std::mem::forget(b);
            }
            return;
        }
        // The RelayNodes first, so the finalizer restores the node while the cluster runs.
        let _ = kubectl(&[
            "delete",
            "relaynodes",
            "--all",
            "-A",
            "--wait=true",
            "--timeout=120s",
        ]);
        // If the operator could not restore the node (a failed step), the suite does it with
        // the tuner itself, in the node's namespaces, so the host gets its values back.
        let state_file = "/var/lib/oxidize/tune-state.json";
        if std::path::Path::new(state_file).exists() {
            let bin = cluster::repo_root().join("target/debug/oxidize-dataplane");
            let bin = bin.display().to_string();
            let out = cluster::run(
                "ip",
                &[
                    "netns",
                    "exec",
                    cluster::NODE_NS,
                    &bin,
                    "tune",
                    "--restore",
                    "--state-file",
                    state_file,
                ],
            );
            eprintln!("teardown: the operator left tuned values; restored them directly: {out:?}");
        }
        self.bed.take();
        self.cluster.take();
        // The relay pods' hostPath state directory: the kubelet made it (DirectoryOrCreate);
        // restore empties it, the suite removes it if the host had none before.
        let state = "/var/lib/oxidize".to_owned();
        if !self.host_before.paths.contains(&state) {
            let _ = std::fs::remove_dir(&state);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let diff = self.host_before.diff(&HostSnapshot::take());
        if diff.is_empty() {
            progress("teardown: the host is as before");
        } else {
            eprintln!("teardown: the host changed:\n{}", diff.join("\n"));
        }
    }
}
