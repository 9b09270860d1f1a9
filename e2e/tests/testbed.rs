//! The test bed's own tests, as root on the real kernel: the three-host topology forwards
//! traffic, veth queues are what was asked, closures and processes run inside namespaces, and
//! nothing is left behind, panics included.

use std::path::Path;
use std::time::Duration;

use oxidize_testbed::link::{self, End};
use oxidize_testbed::{netns, require_root, servers, topology, Netns, Topology, TopologyOptions};

fn exists(name: &str) -> bool {
    netns::list()
        .expect("ip netns list")
        .iter()
        .any(|n| n == name)
}

#[test]
fn root_three_hosts_forward_ping_udp_and_tcp() {
    if !require_root("root_three_hosts_forward_ping_udp_and_tcp") {
        return;
    }
    let bed = Topology::new(&TopologyOptions::default()).expect("build topology");
    for v6 in [false, true] {
        let replies = topology::ping(&bed.client, topology::internet_ip(v6), 3).expect("ping");
        assert_eq!(replies, 3, "ping (v6={v6}) across the relay");

        let echo = bed.udp_echo_addr(v6);
        let echoed = bed
            .client
            .run(|| servers::udp_echoes(echo, 50, 1400, Duration::from_secs(2)))
            .expect("enter client")
            .expect("udp echo");
        assert_eq!(echoed, 50, "UDP echoes (v6={v6})");

        let addr = bed.tcp_stream_addr(v6);
        let download = bed
            .client
            .run(|| servers::tcp_download(addr, 4 << 20, Duration::from_secs(20)))
            .expect("enter client")
            .expect("tcp download");
        assert!(download.checksum_ok, "TCP checksum (v6={v6})");
        assert_eq!(download.bytes, 4 << 20);
    }
    let served = bed.udp_echo_server().expect("servers started").served();
    assert_eq!(
        served, 100,
        "the internet host's echo server saw every datagram"
    );
}

#[test]
fn root_without_forwarding_nothing_crosses_the_relay() {
    if !require_root("root_without_forwarding_nothing_crosses_the_relay") {
        return;
    }
    let bed = Topology::new(&TopologyOptions {
        forwarding: false,
        ..TopologyOptions::default()
    })
    .expect("build topology");
    // The relay itself is reachable; the internet host behind it is not.
    assert_eq!(
        topology::ping(&bed.client, topology::RELAY_V4.into(), 1).expect("ping relay"),
        1
    );
    assert_eq!(
        topology::ping(&bed.client, topology::internet_ip(false), 1).expect("ping internet"),
        0
    );
}

#[test]
fn root_veth_with_four_queues_reports_four() {
    if !require_root("root_veth_with_four_queues_reports_four") {
        return;
    }
    let a = Netns::new("q-a").expect("netns");
    let b = Netns::new("q-b").expect("netns");
    link::veth_pair(
        End {
            ns: &a,
            name: "qa0",
        },
        End {
            ns: &b,
            name: "qb0",
        },
        4,
    )
    .expect("veth");
    assert_eq!(link::queue_counts(&a, "qa0").expect("queues"), (4, 4));
    assert_eq!(link::queue_counts(&b, "qb0").expect("queues"), (4, 4));
    // The same through sysfs, as the AF_XDP preflight will see it.
    let queues = a.exec("ls", &["/sys/class/net/qa0/queues"]).expect("ls");
    let rx = queues
        .split_whitespace()
        .filter(|q| q.starts_with("rx-"))
        .count();
    assert_eq!(rx, 4, "sysfs queues: {queues}");
}

#[test]
fn root_closure_runs_inside_the_namespace() {
    if !require_root("root_closure_runs_inside_the_namespace") {
        return;
    }
    let a = Netns::new("in-a").expect("netns");
    let b = Netns::new("in-b").expect("netns");
    link::veth_pair(
        End {
            ns: &a,
            name: "ina0",
        },
        End {
            ns: &b,
            name: "inb0",
        },
        1,
    )
    .expect("veth");
    let names: Vec<String> = a
        .run(|| {
            nix::net::if_::if_nameindex()
                .expect("if_nameindex")
                .iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .collect()
        })
        .expect("enter namespace");
    assert!(names.contains(&"ina0".to_owned()), "{names:?}");
    assert!(!names.contains(&"inb0".to_owned()), "{names:?}");
    assert_eq!(names.len(), 2, "only lo and the veth end: {names:?}");
}

#[test]
fn root_child_process_is_killed_with_its_guard() {
    if !require_root("root_child_process_is_killed_with_its_guard") {
        return;
    }
    let ns = Netns::new("child").expect("netns");
    let child = ns.spawn(ns.command("sleep").arg("600")).expect("spawn");
    let pid = child.id();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(child);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "sleep {pid} survived its guard"
    );
}

#[test]
fn root_panic_inside_a_namespace_leaves_nothing_behind() {
    if !require_root("root_panic_inside_a_namespace_leaves_nothing_behind") {
        return;
    }
    let seen = std::sync::Mutex::new((String::new(), 0u32));
    let result = std::panic::catch_unwind(|| {
        let a = Netns::new("panic-a").expect("netns");
        let b = Netns::new("panic-b").expect("netns");
        link::veth_pair(
            End {
                ns: &a,
                name: "pa0",
            },
            End {
                ns: &b,
                name: "pb0",
            },
            2,
        )
        .expect("veth");
        let child = a.spawn(a.command("sleep").arg("600")).expect("spawn");
        *seen.lock().expect("lock") = (a.name().to_owned(), child.id());
        std::mem::forget(child); // only the namespace guard may clean it up
        a.run(|| panic!("on purpose, inside the namespace"))
            .expect("enter");
    });
    assert!(result.is_err(), "the closure should have panicked");
    let (name, pid) = seen.into_inner().expect("lock");
    assert!(!name.is_empty());
    assert!(!exists(&name), "namespace {name} survived the panic");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} survived the panic"
    );
}

/// Panics for real (not caught): the suite's final check (`scripts/test.sh`) then proves that
/// the guards removed the namespace during unwinding.
#[test]
#[should_panic(expected = "on purpose")]
fn root_test_that_panics_on_purpose() {
    if !require_root("root_test_that_panics_on_purpose") {
        panic!("on purpose (skipped: not root)");
    }
    let bed = Topology::new(&TopologyOptions::default()).expect("build topology");
    bed.relay
        .run(|| panic!("on purpose, mid-test inside the relay namespace"))
        .expect("enter");
}

#[test]
fn root_sweep_removes_namespaces_of_dead_processes() {
    if !require_root("root_sweep_removes_namespaces_of_dead_processes") {
        return;
    }
    // pid 0 never names a live process, so this looks like a namespace left by a killed test
    // of this run (so the final check of scripts/test.sh reports it if the sweep misses it);
    // ours (this process is alive) must stay.
    let run = netns::run_id().expect("run id");
    let stale = format!("{}0-{run}-{}-stale", netns::PREFIX, std::process::id());
    oxidize_testbed::cmd::ip(&format!("netns add {stale}")).expect("add stale namespace");
    let live = Netns::new("live").expect("netns");
    let removed: Vec<String> = netns::sweep_stale()
        .expect("sweep")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(removed.contains(&stale), "{removed:?}");
    assert!(!exists(&stale));
    assert!(!removed.iter().any(|n| n == live.name()), "{removed:?}");
    assert!(
        exists(live.name()),
        "the sweep removed a live process's namespace"
    );
}

#[test]
fn root_namespaces_carry_the_run_id() {
    if !require_root("root_namespaces_carry_the_run_id") {
        return;
    }
    let ns = Netns::new("named").expect("netns");
    let run = netns::run_id().expect("run id");
    assert!(
        ns.name()
            .starts_with(&format!("{}{}-{run}-", netns::PREFIX, std::process::id())),
        "{}",
        ns.name()
    );
    assert!(netns::list_run(run)
        .expect("list")
        .contains(&ns.name().to_owned()));
    if let Ok(id) = std::env::var(netns::RUN_ID_ENV) {
        assert_eq!(run, id, "the run id comes from {}", netns::RUN_ID_ENV);
    }
    let owner = netns::Owner::of(ns.name()).expect("a test-bed name");
    assert_eq!(owner.run.as_deref(), Some(run));
    assert!(owner.alive());
}
