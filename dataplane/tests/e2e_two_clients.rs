//! Two clients at once through the AF_XDP relay: different addresses, concurrent UDP echoes,
//! each receiving only its own replies (one client with TUN offload, one without).

mod e2e_common;

use std::time::Duration;

use e2e_common::{Bed, NsId};
use oxidize_testbed::servers;

#[test]
fn root_e2e_two_clients_each_see_only_their_own_replies() {
    let name = "root_e2e_two_clients_each_see_only_their_own_replies";
    if !oxidize_testbed::require_root(name) {
        return;
    }
    let mut bed = Bed::new();
    bed.start_relay();
    let second = bed.add_client_ns();
    let a = bed.start_client(NsId::Client, "oxa0", &[]);
    // B without GSO/GRO batching on its TUN, so both TUN paths carry traffic.
    let b = bed.start_client(second, "oxb0", &["--no-tun-offload"]);
    let (addr_a, _) = bed.wait_tunnel(NsId::Client, a, false, Duration::from_secs(20));
    let (addr_b, _) = bed.wait_tunnel(second, b, false, Duration::from_secs(20));
    println!("client A {addr_a}, client B {addr_b}");
    assert_ne!(addr_a, addr_b, "both clients got the same address");
    bed.wait_metric(
        "oxidize_relay_sessions",
        None,
        Duration::from_secs(5),
        |v| v == 2,
    );

    // Both at once: every reply must be byte-exact (the payload pattern is per datagram) and
    // arrive at the client that asked; the echo server sees both.
    let echo = bed.topo.udp_echo_addr(false);
    let served_before = bed.topo.udp_echo_server().map_or(0, |s| s.served());
    let (got_a, got_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            bed.ns(NsId::Client)
                .run(|| servers::udp_echoes(echo, 500, 1000, Duration::from_secs(2)))
                .expect("enter A")
                .expect("echoes A")
        });
        let tb = s.spawn(|| {
            bed.ns(second)
                .run(|| servers::udp_echoes(echo, 500, 1100, Duration::from_secs(2)))
                .expect("enter B")
                .expect("echoes B")
        });
        (ta.join().expect("A"), tb.join().expect("B"))
    });
    let served = bed.topo.udp_echo_server().map_or(0, |s| s.served()) - served_before;
    println!("concurrent UDP echoes: A {got_a}/500, B {got_b}/500, server echoed {served}");
    assert_eq!((got_a, got_b), (500, 500));

    // The other client's replies never reach this one: each client's own count of packets
    // out of the tunnel is its 500 echoes plus a few pings, never the other's 500 too.
    for n in [a, b] {
        let rx = bed.status_rx_packets(n);
        println!("client {n}: {rx} packets received from the tunnel");
        assert!((500..600).contains(&rx), "client {n} received {rx} packets");
    }
}
