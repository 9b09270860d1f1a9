//! A client killed without warning: the relay frees its session and address after the idle
//! timeout, and a new client start cleans up the dead one's TUN device and routes.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::{Bed, NsId, IDLE_SECS};
use nix::sys::signal::Signal;

#[test]
fn root_e2e_killed_client_is_freed_after_idle_timeout() {
    let name = "root_e2e_killed_client_is_freed_after_idle_timeout";
    if !oxidize_testbed::require_root(name) {
        return;
    }
    let mut bed = Bed::new();
    bed.start_relay();
    let c = bed.start_client(NsId::Client, "oxc0", &[]);
    let (addr, _) = bed.wait_tunnel(NsId::Client, c, false, Duration::from_secs(20));
    let m = |bed: &Bed, n: &str| bed.metric(n, None).unwrap_or(u64::MAX);
    bed.wait_metric(
        "oxidize_relay_sessions",
        None,
        Duration::from_secs(5),
        |v| v == 1,
    );
    let in_use = bed.wait_metric(
        "oxidize_relay_pool_addresses_in_use",
        None,
        Duration::from_secs(5),
        |v| v >= 1,
    );
    println!("session open, pool addresses in use: {in_use}");

    bed.stop_client(c, Signal::SIGKILL);
    let killed = Instant::now();
    loop {
        if m(&bed, "oxidize_relay_sessions") == 0
            && m(&bed, "oxidize_relay_pool_addresses_in_use") == 0
        {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(IDLE_SECS * 3),
            "session not freed {:?} after the kill (idle timeout {IDLE_SECS} s); relay log:\n{}",
            killed.elapsed(),
            bed.relay_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let freed = killed.elapsed();
    println!("killed client's session and address {addr} freed {freed:?} after the kill (idle timeout {IDLE_SECS} s)");
    assert!(
        freed >= Duration::from_secs(IDLE_SECS - 1),
        "freed before the idle timeout: {freed:?}"
    );

    // The dead client left its TUN device and routes; a new start removes them first.
    let routes = bed.topo.client.ip("route show proto 79").expect("routes");
    assert!(
        !routes.trim().is_empty(),
        "expected the killed client's routes to be left behind"
    );
    let c2 = bed.start_client(NsId::Client, "oxc0", &[]);
    let (addr2, took) = bed.wait_tunnel(NsId::Client, c2, false, Duration::from_secs(20));
    println!("new client after stale cleanup: {addr2} in {took:?}");
    bed.wait_metric(
        "oxidize_relay_sessions",
        None,
        Duration::from_secs(5),
        |v| v == 1,
    );
}
