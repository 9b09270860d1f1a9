//! The relay stopped with SIGTERM and with SIGKILL, then restarted: the client reconnects by
//! itself and traffic resumes; the time to resume is printed.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::{start_or_skip, Bed, NsId};
use nix::sys::signal::Signal;
use oxidize_testbed::topology;

fn wait_ping(bed: &Bed, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if topology::ping(&bed.topo.client, topology::internet_ip(false), 1).unwrap_or(0) == 1 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "traffic did not resume within {within:?}; client log:\n{}\nrelay log:\n{}",
            bed.client_log(0),
            bed.relay_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_e2e_client_reconnects_after_relay_restarts() {
    let name = "root_e2e_client_reconnects_after_relay_restarts";
    if !oxidize_testbed::require_root(name) {
        return;
    }
    let mut bed = Bed::new();
    if start_or_skip(&mut bed, name).is_none() {
        return;
    }
    let c = bed.start_client(NsId::Client, "oxc0", &[]);
    bed.wait_tunnel(NsId::Client, c, false, Duration::from_secs(20));

    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let status = bed.stop_relay(signal);
        println!("relay stopped with {signal}: {status:?}");
        let lost = topology::ping(&bed.topo.client, topology::internet_ip(false), 1).unwrap_or(0);
        assert_eq!(lost, 0, "traffic passed without a relay");
        let down = Instant::now();
        let ready = bed.start_relay().expect("restart the relay");
        let resumed = wait_ping(&bed, Duration::from_secs(30));
        println!(
            "after {signal}: relay ready in {ready:?}, traffic resumed {resumed:?} after ready ({:?} after the restart began)",
            down.elapsed()
        );
    }
    let log = bed.client_log(c);
    let resumes: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("reconnected:"))
        .collect();
    println!("client reconnect lines:\n{}", resumes.join("\n"));
    assert_eq!(resumes.len(), 2, "client log:\n{log}");
    let zero_rtt = bed.metric("oxidize_relay_zero_rtt_accepted_total", None);
    println!("0-RTT accepted by the restarted relay: {zero_rtt:?}");
}
