//! The relay stopped with SIGTERM and with SIGKILL, then restarted: the client reconnects by
//! itself and traffic resumes; the time to resume is printed. Then a network outage longer
//! than the idle timeout with the relay still running: the client reconnects with its session
//! ticket and the relay accepts 0-RTT.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::{Bed, NsId, IDLE_SECS, PORT};
use nix::sys::signal::Signal;
use oxidize_testbed::{servers, topology};

/// Waits until a UDP echo through the tunnel comes back (probes every 100 ms).
fn wait_traffic(bed: &Bed, within: Duration) -> Duration {
    let start = Instant::now();
    let echo = bed.topo.udp_echo_addr(false);
    loop {
        let ok = bed
            .topo
            .client
            .run(|| servers::udp_echoes(echo, 1, 64, Duration::from_millis(100)))
            .expect("enter client ns")
            .unwrap_or(0);
        if ok == 1 {
            // Through the tunnel, not around it: the relay namespace forwards in the kernel
            // too while a relay runs (NAT egress), so a client without its routes would pass.
            let routes = bed
                .topo
                .client
                .ip("-4 route show dev oxc0")
                .unwrap_or_default();
            assert!(
                routes.contains("0.0.0.0/1") && routes.contains("128.0.0.0/1"),
                "traffic passed but the client's tunnel routes are gone: {routes:?}; client log:\n{}",
                bed.client_log(0)
            );
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "traffic did not resume within {within:?}; client log:\n{}\nrelay log:\n{}",
            bed.client_log(0),
            bed.relay_text()
        );
    }
}

fn iptables(bed: &Bed, op: &str) {
    bed.topo
        .client
        .exec(
            "iptables",
            &[
                op,
                "OUTPUT",
                "-p",
                "udp",
                "--dport",
                &PORT.to_string(),
                "-j",
                "DROP",
            ],
        )
        .expect("iptables in the client namespace");
}

#[test]
fn root_e2e_client_reconnects_after_relay_restarts() {
    let name = "root_e2e_client_reconnects_after_relay_restarts";
    if !oxidize_testbed::require_root(name) {
        return;
    }
    let mut bed = Bed::new();
    bed.start_relay();
    let c = bed.start_client(NsId::Client, "oxc0", &[]);
    bed.wait_tunnel(NsId::Client, c, false, Duration::from_secs(20));

    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let status = bed.stop_relay(signal);
        println!("relay stopped with {signal}: {status:?}");
        let lost = topology::ping(&bed.topo.client, topology::internet_ip(false), 1).unwrap_or(0);
        assert_eq!(
            lost,
            0,
            "traffic passed without a relay; client log:\n{}",
            bed.client_log(c)
        );
        let down = Instant::now();
        let ready = bed.start_relay();
        let resumed = wait_traffic(&bed, Duration::from_secs(30));
        println!(
            "after {signal}: relay ready in {ready:?}, traffic resumed {resumed:?} after ready ({:?} after the restart began)",
            down.elapsed()
        );
    }
    // Outage with the relay up: both sides time out; the client comes back with 0-RTT.
    let zero_rtt_before = bed
        .metric("oxidize_relay_zero_rtt_accepted_total", None)
        .unwrap_or(0);
    iptables(&bed, "-I");
    let cut = Instant::now();
    std::thread::sleep(Duration::from_secs(IDLE_SECS + 1));
    iptables(&bed, "-D");
    let resumed = wait_traffic(&bed, Duration::from_secs(30));
    println!(
        "after a {:?} outage (idle timeout {IDLE_SECS} s): traffic resumed {resumed:?} after the network came back",
        cut.elapsed() - resumed
    );
    let zero_rtt = bed.wait_metric(
        "oxidize_relay_zero_rtt_accepted_total",
        None,
        Duration::from_secs(5),
        |v| v > zero_rtt_before,
    );
    println!("0-RTT handshakes accepted by the relay: {zero_rtt}");

    // The client prints its reconnect line just after it passes the tunnel's first packets on.
    let log = oxidize_testbed::wait::until(
        "3 reconnect lines in the client log",
        Duration::from_secs(10),
        || bed.client_log(c),
        |log| {
            log.lines()
                .filter(|l| l.starts_with("reconnected:"))
                .count()
                >= 3
        },
    );
    let resumes: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("reconnected:"))
        .collect();
    println!("client reconnect lines:\n{}", resumes.join("\n"));
    assert_eq!(resumes.len(), 3, "client log:\n{log}");
    assert!(resumes[2].contains("0-RTT accepted"), "{}", resumes[2]);
}
