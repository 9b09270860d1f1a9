//! End to end through the AF_XDP relay: ping, 1,000 UDP echoes with none lost, a large TCP
//! download with its sha256 checked and throughput printed, inner IPv6, and no outer IP
//! fragments for full-size packets on the relay's interface.
//!
//! The download size is 200 MiB (issue 7); `OXIDIZE_E2E_DOWNLOAD_MIB` changes it.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::{Bed, NsId};
use oxidize_testbed::servers;
use oxidize_testbed::topology::{self, RELAY_CLIENT_IF};

fn download_bytes() -> u64 {
    std::env::var("OXIDIZE_E2E_DOWNLOAD_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(200)
        * 1024
        * 1024
}

fn tun_mtu(bed: &Bed, tun: &str) -> usize {
    let out = bed
        .topo
        .client
        .ip(&format!("-o link show dev {tun}"))
        .expect("TUN link");
    out.split_whitespace()
        .skip_while(|w| *w != "mtu")
        .nth(1)
        .and_then(|m| m.parse().ok())
        .expect("TUN MTU")
}

#[test]
fn root_e2e_traffic_through_the_relay() {
    if !oxidize_testbed::require_root("root_e2e_traffic_through_the_relay") {
        return;
    }
    let mut bed = Bed::new();
    let ready = bed.start_relay();
    println!("relay ready on AF_XDP ({RELAY_CLIENT_IF}, 2 queues, 2 workers) in {ready:?}");
    // Outer fragments on the relay's client-side interface, counted for the whole test.
    let capture = bed.capture_fragments();
    let c = bed.start_client(NsId::Client, "oxc0", &[]);
    let (addr, took) = bed.wait_tunnel(NsId::Client, c, false, Duration::from_secs(20));
    println!("client tunnel up: {addr} after {took:?}");
    assert!(
        addr.to_string().starts_with("10.99.0."),
        "address {addr} is not from the pool"
    );

    let replies = topology::ping(&bed.topo.client, topology::internet_ip(false), 5).expect("ping");
    println!("IPv4 ping through the tunnel: {replies}/5");
    assert_eq!(replies, 5);

    let echo = bed.topo.udp_echo_addr(false);
    let start = Instant::now();
    let echoed = bed
        .topo
        .client
        .run(|| servers::udp_echoes(echo, 1000, 1200, Duration::from_secs(2)))
        .expect("enter client ns")
        .expect("UDP echoes");
    println!(
        "UDP echoes: {echoed}/1000 byte-exact in {:?}",
        start.elapsed()
    );
    assert_eq!(echoed, 1000, "UDP echoes were lost");

    // Full-size inner packets out (UDP of exactly the TUN MTU) and in (TCP segments of the
    // MSS the TUN MTU gives).
    let mtu = tun_mtu(&bed, "oxc0");
    let full = mtu - 28;
    let echoed = bed
        .topo
        .client
        .run(|| servers::udp_echoes(echo, 100, full, Duration::from_secs(1)))
        .expect("enter client ns")
        .expect("full-size UDP echoes");
    println!("full-size UDP echoes ({mtu}-byte IP packets): {echoed}/100");
    assert_eq!(echoed, 100, "full-size echoes were lost");

    let bytes = download_bytes();
    let addr_tcp = bed.topo.tcp_stream_addr(false);
    let d = bed
        .topo
        .client
        .run(|| servers::tcp_download(addr_tcp, bytes, Duration::from_secs(60)))
        .expect("enter client ns")
        .expect("TCP download through the tunnel");
    println!(
        "TCP download: {} MiB, sha256 {} ({}), {:.1} s, {:.0} Mbit/s",
        d.bytes / (1024 * 1024),
        &d.sha256[..16],
        if d.checksum_ok { "matches" } else { "MISMATCH" },
        d.elapsed.as_secs_f64(),
        d.mbit_per_s()
    );
    assert!(d.checksum_ok, "sha256 mismatch");

    // Inner IPv6 (the pool has IPv6).
    let (addr6, _) = bed.wait_tunnel(NsId::Client, c, true, Duration::from_secs(10));
    assert!(
        addr6.to_string().starts_with("fd99::"),
        "IPv6 address {addr6} is not from the pool"
    );
    let replies = topology::ping(&bed.topo.client, topology::internet_ip(true), 3).expect("ping6");
    let echo6 = bed.topo.udp_echo_addr(true);
    let echoed6 = bed
        .topo
        .client
        .run(|| servers::udp_echoes(echo6, 100, 1200, Duration::from_secs(2)))
        .expect("enter client ns")
        .expect("UDP echoes over IPv6");
    let addr6_tcp = bed.topo.tcp_stream_addr(true);
    let d6 = bed
        .topo
        .client
        .run(|| servers::tcp_download(addr6_tcp, 16 * 1024 * 1024, Duration::from_secs(60)))
        .expect("enter client ns")
        .expect("IPv6 TCP download");
    println!(
        "inner IPv6 {addr6}: ping {replies}/3, UDP echoes {echoed6}/100, 16 MiB TCP {} at {:.0} Mbit/s",
        if d6.checksum_ok { "sha256 matches" } else { "MISMATCH" },
        d6.mbit_per_s()
    );
    assert_eq!(replies, 3);
    assert_eq!(echoed6, 100);
    assert!(d6.checksum_ok);

    // No outer fragments: tcpdump saw none, the client created none, the relay reassembled none.
    std::thread::sleep(Duration::from_millis(300));
    let frags = bed.fragments_seen(capture);
    let frag_creates = snmp(&bed.topo.client, "Ip:", "FragCreates");
    let reasm = snmp(&bed.topo.relay, "Ip:", "ReasmReqds");
    println!("outer IP fragments on {RELAY_CLIENT_IF}: {frags} (client FragCreates {frag_creates}, relay ReasmReqds {reasm})");
    assert_eq!(frags, 0, "outer fragments seen on the relay interface");
    assert_eq!(frag_creates, 0, "the client fragmented outer packets");
    assert_eq!(reasm, 0, "the relay reassembled outer fragments");

    bed.wait_metric(
        "oxidize_relay_tunnel_bytes_total",
        Some("to_client"),
        Duration::from_secs(5),
        |v| v >= bytes,
    );
    let m = |n: &str, l: Option<&str>| bed.metric(n, l).unwrap_or(0);
    println!(
        "relay metrics: connections {}, sessions {}, to_internet {} pkts / {} B, to_client {} pkts / {} B, drops {}",
        m("oxidize_relay_connections", None),
        m("oxidize_relay_sessions", None),
        m("oxidize_relay_tunnel_packets_total", Some("to_internet")),
        m("oxidize_relay_tunnel_bytes_total", Some("to_internet")),
        m("oxidize_relay_tunnel_packets_total", Some("to_client")),
        m("oxidize_relay_tunnel_bytes_total", Some("to_client")),
        m("oxidize_relay_drops_total", None),
    );

    // A clean stop removes the client's device and routes.
    let status = bed.stop_client(c, nix::sys::signal::Signal::SIGTERM);
    assert!(
        status.is_some_and(|s| s.success()),
        "client exit: {status:?}"
    );
    let left = bed.topo.client.ip("-o link show").expect("links");
    assert!(!left.contains("oxc0"), "TUN left behind: {left}");
    let routes = bed.topo.client.ip("route show proto 79").expect("routes");
    assert!(routes.trim().is_empty(), "routes left behind: {routes}");
    println!("client log:\n{}", bed.client_log(c));
}

/// A `/proc/net/snmp` counter inside `ns`.
fn snmp(ns: &oxidize_testbed::Netns, table: &str, field: &str) -> u64 {
    let text = ns
        .exec("cat", &["/proc/net/snmp"])
        .expect("read /proc/net/snmp");
    let mut rows = text.lines().filter(|l| l.starts_with(table));
    let (Some(head), Some(vals)) = (rows.next(), rows.next()) else {
        panic!("no {table} table in /proc/net/snmp");
    };
    let i = head
        .split_whitespace()
        .position(|h| h == field)
        .unwrap_or_else(|| panic!("no {field} in {table}"));
    vals.split_whitespace()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
