//! The cluster suite: the user's whole path on the project's local Kubernetes
//! (`scripts/cluster/cluster.sh`), one named step after another, as a platform team runs it:
//! `helm install`, a NIC for the node, `kubectl apply` of a RelayNode, the tuned node, the relay
//! pod unprivileged and pinned, client traffic through it, a real Prometheus, a spec change, leader
//! failover, an apiserver restart, bad input, delete and restore.
//!
//! A custom harness (`harness = false`): the steps depend on each other, so they run in order;
//! each prints `step <name> ... ok (<seconds>)` or its failure, later steps are skipped after a
//! failure, and the teardown always runs. `cargo test -p oxidize-testbed --test cluster` runs it
//! when `OXIDIZE_CLUSTER_TESTS=1` (scripts/test.sh's cluster stage); `-- --demo` prints the
//! figures the demo shows and `-- --keep` leaves the cluster up for exploring.
//! `-- --demo` runs only the steps of the story `make demo` tells (install, RelayNode, tuned
//! node, relay pod, client traffic, Prometheus figures, delete and restore) and prints figures.

#[path = "cluster/bed.rs"]
mod bed;
#[path = "cluster/steps.rs"]
mod steps;
#[path = "cluster/world.rs"]
mod world;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use oxidize_testbed::cluster;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keep = args.iter().any(|a| a == "--keep");
    let demo = args.iter().any(|a| a == "--demo");
    // `--until STEP`: stop after that step (for working on the suite; the teardown still runs).
    let until = args
        .iter()
        .position(|a| a == "--until")
        .and_then(|i| args.get(i + 1).cloned());
    // `cargo test -- --list` and name filters: this suite is one unit, listed as such.
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in steps::STEPS {
            println!("cluster::{name}: test");
        }
        return;
    }
    if !cluster::enabled("cluster suite") || !oxidize_testbed::require_root("cluster suite") {
        return;
    }
    let start = Instant::now();
    let mut world = world::World::new(demo);
    let mut failed: Vec<(&str, String)> = Vec::new();
    // `--only a,b`: just these steps, in the suite's order (for working on the suite).
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|l| l.split(',').map(str::to_owned).collect());
    let known_defects = args.iter().any(|a| a == "--known-defects");
    let all: Vec<&steps::Step> = steps::STEPS
        .iter()
        .chain(steps::KNOWN_DEFECTS.iter().filter(|(name, _, _)| {
            known_defects || only.as_ref().is_some_and(|o| o.iter().any(|n| n == name))
        }))
        .collect();
    for (name, step, in_demo) in all {
        if (demo && !in_demo) || only.as_ref().is_some_and(|o| !o.iter().any(|n| n == name)) {
            continue;
        }
        if !failed.is_empty() {
            println!("step {name} ... skipped (an earlier step failed)");
            continue;
        }
        world::progress(&format!("step {name}"));
        let name: &'static str = name;
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| step(&mut world)));
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(()) => println!("step {name} ... ok ({secs:.1} s)"),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "panicked".into());
                println!("step {name} ... FAILED ({secs:.1} s)\n{msg}");
                world.diagnose();
                failed.push((name, msg));
            }
        }
        if until.as_deref() == Some(name) {
            break;
        }
    }
    if keep {
        world.keep();
        println!(
            "--keep: the cluster stays up. {}\nStop it with: scripts/cluster/cluster.sh down",
            cluster_env()
        );
    }
    drop(world);
    println!(
        "\ncluster suite: {} steps, {} failed, {:.0} s",
        steps::STEPS.len(),
        failed.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        for (name, _) in &failed {
            println!("failed: {name}");
        }
        println!("rerun: OXIDIZE_CLUSTER_TESTS=1 cargo test -p oxidize-testbed --test cluster");
        std::process::exit(1);
    }
}

fn cluster_env() -> String {
    format!(
        "export KUBECONFIG={} PATH={}:$PATH",
        cluster::kubeconfig().display(),
        cluster::cluster_home().join("bin").display()
    )
}
