//! Root tests of the `nat` egress in the test bed's relay namespace. The bed does not forward by
//! itself; each test turns forwarding on as the tune step would, because the egress only reads
//! it (and refuses to start when it is off).

mod egress_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Duration;

use egress_support::{icmp_echo, udp_packet, wait_for_packet, Captured, PROTO_ICMP, PROTO_UDP};
use oxidize_relay::egress::{Egress, EgressConfig, EgressPlan};
use oxidize_testbed::topology::{
    INTERNET_V4, INTERNET_V6, RELAY_WAN_IF, RELAY_WAN_V4, RELAY_WAN_V6,
};
use oxidize_testbed::{Topology, TopologyOptions};

const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 2);
const TIMEOUT: Duration = Duration::from_secs(3);

fn plan(queues: u16, v6: bool) -> EgressPlan {
    let mut config = EgressConfig::new(
        "10.99.0.0/24".parse().expect("pool"),
        queues,
        RELAY_WAN_IF,
        1400,
    );
    if v6 {
        config.pool_v6 = Some("fd99::/64".parse().expect("pool"));
    }
    EgressPlan::new(&config).expect("valid plan")
}

/// A bed whose relay namespace forwards, as the tune step leaves a node.
fn bed(servers: bool) -> Topology {
    let bed = bed_without_forwarding(servers);
    oxidize_testbed::link::set_forwarding(&bed.relay, true).expect("forwarding on");
    bed
}

fn bed_without_forwarding(servers: bool) -> Topology {
    Topology::new(&TopologyOptions {
        relay_queues: 1,
        forwarding: false,
        servers,
    })
    .expect("test bed")
}

fn setup_in(bed: &Topology, plan: EgressPlan) -> Egress {
    bed.relay
        .run(move || Egress::setup(plan))
        .expect("enter the relay namespace")
        .expect("egress set-up")
}

fn teardown_in(bed: &Topology, egress: Egress) {
    bed.relay
        .run(move || egress.teardown())
        .expect("enter the relay namespace")
        .expect("egress teardown");
}

fn sysctl(bed: &Topology, key: &str) -> String {
    bed.relay
        .exec("sysctl", &["-n", key])
        .expect("sysctl")
        .trim()
        .to_owned()
}

fn tables(bed: &Topology) -> String {
    bed.relay
        .exec("nft", &["list", "tables"])
        .expect("nft list tables")
}

fn root_ip_forward() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("read the host's ip_forward")
}

/// Nothing of ours is left in the relay namespace.
fn assert_clean(bed: &Topology) {
    let links = bed.relay.ip("link show").expect("ip link");
    assert!(!links.contains("oxz0"), "TUN left behind:\n{links}");
    let routes = bed.relay.ip("route show").expect("ip route");
    assert!(
        !routes.contains("10.99.0.0"),
        "route left behind:\n{routes}"
    );
    let routes6 = bed.relay.ip("-6 route show").expect("ip -6 route");
    assert!(
        !routes6.contains("fd99"),
        "IPv6 route left behind:\n{routes6}"
    );
    let tables = tables(bed);
    assert!(
        !tables.contains("oxidize"),
        "nft table left behind:\n{tables}"
    );
}

/// The forwarding sysctls of the relay namespace, which the egress must never change.
fn forwarding(bed: &Topology) -> (String, String) {
    (
        sysctl(bed, "net.ipv4.ip_forward"),
        sysctl(bed, "net.ipv6.conf.all.forwarding"),
    )
}

#[test]
fn root_egress_setup_creates_everything_and_teardown_removes_it() {
    if !oxidize_testbed::require_root(
        "root_egress_setup_creates_everything_and_teardown_removes_it",
    ) {
        return;
    }
    let host_forward = root_ip_forward();
    let bed = bed(false);
    assert_clean(&bed);
    let egress = setup_in(&bed, plan(2, true));
    assert_eq!(forwarding(&bed), ("1".into(), "1".into()));
    assert_eq!(egress.plan().tun.queues, 2);

    let link = bed
        .relay
        .ip("-d link show oxz0")
        .expect("ip link show oxz0");
    assert!(link.contains("mtu 1400"), "{link}");
    assert!(link.contains(",UP"), "{link}");
    assert!(!link.contains("MULTICAST"), "{link}");
    assert!(link.contains("multi_queue numqueues 2"), "{link}");
    assert!(link.contains("pi off"), "{link}");
    let routes = bed.relay.ip("route show").expect("ip route");
    assert!(routes.contains("10.99.0.0/24 dev oxz0"), "{routes}");
    let routes6 = bed.relay.ip("-6 route show").expect("ip -6 route");
    assert!(routes6.contains("fd99::/64 dev oxz0"), "{routes6}");
    // No IPv6 link-local on the TUN, so the kernel sends nothing of its own into it, except:
    // with forwarding already on when the TUN is registered (as on a tuned node), the kernel
    // joins it to all-routers (ff02::2) while TUN devices still have IFF_MULTICAST, and reports
    // that once the device is up: MLDv2 reports from :: to ff02::16, which the workers drop.
    // Leaving the group needs a per-interface sysctl write, which the relay does not do.
    let addrs = bed.relay.ip("-6 addr show dev oxz0").expect("ip -6 addr");
    assert!(!addrs.contains("fe80"), "{addrs}\n{link}");
    let mut egress = egress;
    // MLD repeats unsolicited reports within 1 s (unsolicited_report_interval).
    std::thread::sleep(Duration::from_millis(1100));
    let mut bufs = vec![vec![0u8; 2048]; 8];
    let mut lens = [0usize; 8];
    const MLDV2_REPORTS: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16];
    for queue in egress.queues_mut() {
        let n = queue.read_batch(&mut bufs, &mut lens).expect("read_batch");
        for (buf, &len) in bufs.iter().zip(&lens).take(n) {
            let packet = &buf[..len];
            assert!(
                packet.len() > 40 && packet[0] >> 4 == 6 && packet[24..40] == MLDV2_REPORTS,
                "unexpected packet from the kernel: {packet:?}"
            );
        }
    }
    let table = bed
        .relay
        .exec("nft", &["list", "table", "inet", "oxidize"])
        .expect("nft list table");
    for expected in [
        "type nat hook postrouting priority srcnat; policy accept;",
        "ip saddr 10.99.0.0/24 oifname \"r-wan\" masquerade",
        "ip6 saddr fd99::/64 oifname \"r-wan\" masquerade",
        "type filter hook forward priority filter; policy accept;",
        "iifname \"oxz0\" oifname \"r-wan\" ip saddr 10.99.0.0/24 accept",
        "iifname \"r-wan\" oifname \"oxz0\" ip daddr 10.99.0.0/24 ct state established,related accept",
    ] {
        assert!(table.contains(expected), "missing {expected:?} in\n{table}");
    }

    teardown_in(&bed, egress);
    assert_clean(&bed);
    assert_eq!(
        forwarding(&bed),
        ("1".into(), "1".into()),
        "teardown touched the forwarding sysctls (the tune step owns them)"
    );
    assert_eq!(
        root_ip_forward(),
        host_forward,
        "the host's ip_forward changed"
    );
}

#[test]
fn root_egress_refuses_to_start_when_forwarding_is_off() {
    if !oxidize_testbed::require_root("root_egress_refuses_to_start_when_forwarding_is_off") {
        return;
    }
    let bed = bed_without_forwarding(false);
    let err = bed
        .relay
        .run(|| Egress::setup(plan(1, false)))
        .expect("enter the relay namespace")
        .expect_err("no forwarding, no relay");
    assert_eq!(
        err.to_string(),
        "net.ipv4.ip_forward is 0 in this network namespace; the tune step sets it \
         (RelayNode tuning), or run `sysctl -w net.ipv4.ip_forward=1` before starting the relay"
    );
    // Refused before anything was created, and the sysctl was only read.
    assert_clean(&bed);
    assert_eq!(forwarding(&bed), ("0".into(), "0".into()));

    // IPv4 on but the IPv6 pool's forwarding off: refused, naming the IPv6 sysctl.
    bed.relay
        .exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
        .expect("IPv4 forwarding on");
    let err = bed
        .relay
        .run(|| Egress::setup(plan(1, true)))
        .expect("enter the relay namespace")
        .expect_err("no IPv6 forwarding with an IPv6 pool");
    let text = err.to_string();
    assert!(
        text.starts_with("net.ipv6.conf.all.forwarding is 0 in this network namespace"),
        "{text}"
    );
    assert!(
        text.contains("sysctl -w net.ipv6.conf.all.forwarding=1"),
        "{text}"
    );
    assert_clean(&bed);

    // Without an IPv6 pool, IPv4 forwarding is enough: it starts.
    let egress = setup_in(&bed, plan(1, false));
    teardown_in(&bed, egress);
    assert_clean(&bed);
    assert_eq!(forwarding(&bed), ("1".into(), "0".into()));
}

#[test]
fn root_egress_masquerades_udp_and_icmp_and_returns_replies() {
    if !oxidize_testbed::require_root("root_egress_masquerades_udp_and_icmp_and_returns_replies") {
        return;
    }
    let bed = bed(false);
    let mut egress = setup_in(&bed, plan(2, false));
    let mut queues = egress.take_queues();
    assert_eq!(queues.len(), 2);

    // UDP: the internet host sees the relay's WAN address; its reply comes out of the TUN.
    let socket = bed
        .internet
        .run(|| UdpSocket::bind((INTERNET_V4, 0)))
        .expect("enter the internet namespace")
        .expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let payload = b"oxidize egress over IPv4";
    let packet = udp_packet(CLIENT_V4.into(), 40_000, INTERNET_V4.into(), port, payload);
    queues[0].write(&packet).expect("write to the TUN");
    let mut buf = [0u8; 2048];
    let (n, from) = socket
        .recv_from(&mut buf)
        .expect("the datagram reached the internet host");
    assert_eq!(&buf[..n], payload);
    assert_eq!(from.ip(), IpAddr::V4(RELAY_WAN_V4), "not masqueraded");
    socket.send_to(b"reply v4", from).expect("reply");
    let (_, reply) = wait_for_packet(&mut queues, TIMEOUT, |p| {
        p.proto == PROTO_UDP && p.dst == IpAddr::V4(CLIENT_V4)
    })
    .expect("the reply came out of the TUN");
    assert_eq!(reply.src, IpAddr::V4(INTERNET_V4));
    let (sport, dport, data) = reply.udp().expect("UDP");
    assert_eq!((sport, dport, data), (port, 40_000, &b"reply v4"[..]));

    // ICMP echo from the other queue: the internet host answers, the reply is de-NATed.
    let ping = icmp_echo(CLIENT_V4, INTERNET_V4, 0x0a0b, 7, b"oxidize ping");
    queues[1].write(&ping).expect("write ICMP");
    let (_, pong) = wait_for_packet(&mut queues, TIMEOUT, |p| {
        p.proto == PROTO_ICMP && p.dst == IpAddr::V4(CLIENT_V4)
    })
    .expect("the echo reply came out of the TUN");
    assert_eq!(pong.src, IpAddr::V4(INTERNET_V4));
    let (id, seq, data) = pong.icmp_echo_reply().expect("echo reply");
    assert_eq!((id, seq, data), (0x0a0b, 7, &b"oxidize ping"[..]));

    let written: u64 = queues.iter().map(|q| q.stats().written_packets).sum();
    let read: u64 = queues.iter().map(|q| q.stats().read_packets).sum();
    assert_eq!(written, 2);
    assert!(read >= 2, "read {read}");
    assert_eq!(queues[0].stats().written_bytes, packet.len() as u64);

    // A garbled packet is refused by the kernel and counted.
    assert!(queues[0].write(&[0xff; 20]).is_err());
    assert_eq!(queues[0].stats().errors.write_invalid, 1);

    drop(queues);
    teardown_in(&bed, egress);
    assert_clean(&bed);
}

#[test]
fn root_egress_masquerades_ipv6() {
    if !oxidize_testbed::require_root("root_egress_masquerades_ipv6") {
        return;
    }
    let bed = bed(false);
    let mut egress = setup_in(&bed, plan(1, true));
    let socket = bed
        .internet
        .run(|| UdpSocket::bind((INTERNET_V6, 0)))
        .expect("enter the internet namespace")
        .expect("bind");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let packet = udp_packet(
        CLIENT_V6.into(),
        40_006,
        INTERNET_V6.into(),
        port,
        b"v6 out",
    );
    let queues = egress.queues_mut();
    queues[0].write(&packet).expect("write to the TUN");
    let mut buf = [0u8; 2048];
    let (n, from) = socket
        .recv_from(&mut buf)
        .expect("the IPv6 datagram reached the internet host");
    assert_eq!(&buf[..n], b"v6 out");
    assert_eq!(from.ip(), IpAddr::V6(RELAY_WAN_V6), "not masqueraded");
    socket.send_to(b"v6 back", from).expect("reply");
    let (_, reply) = wait_for_packet(queues, TIMEOUT, |p| {
        p.proto == PROTO_UDP && p.dst == IpAddr::V6(CLIENT_V6)
    })
    .expect("the IPv6 reply came out of the TUN");
    assert_eq!(reply.src, IpAddr::V6(INTERNET_V6));
    let (sport, dport, data) = reply.udp().expect("UDP");
    assert_eq!((sport, dport, data), (port, 40_006, &b"v6 back"[..]));
    teardown_in(&bed, egress);
    assert_clean(&bed);
}

#[test]
fn root_egress_removes_leftovers_of_a_crashed_run() {
    if !oxidize_testbed::require_root("root_egress_removes_leftovers_of_a_crashed_run") {
        return;
    }
    let bed = bed(false);
    // What a crashed run can leave: a (persistent) TUN of our name and our table.
    bed.relay
        .ip("tuntap add dev oxz0 mode tun multi_queue")
        .expect("stale TUN");
    bed.relay
        .exec("nft", &["add", "table", "inet", "oxidize"])
        .expect("stale table");
    bed.relay
        .exec(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "oxidize",
                "stale",
                "{ type nat hook postrouting priority 100 ; }",
            ],
        )
        .expect("stale chain");

    let logs = Captured::default();
    let writer = logs.clone();
    let egress = bed
        .relay
        .run(move || {
            let subscriber = tracing_subscriber::fmt()
                .with_writer(writer)
                .with_ansi(false)
                .finish();
            tracing::subscriber::with_default(subscriber, || Egress::setup(plan(2, false)))
        })
        .expect("enter the relay namespace")
        .expect("egress set-up");
    let log = logs.text();
    assert!(
        log.contains("removing stale TUN device left by a previous run"),
        "{log}"
    );
    assert!(
        log.contains("removed stale nftables table inet oxidize left by a previous run"),
        "{log}"
    );
    let link = bed.relay.ip("-d link show oxz0").expect("ip link");
    assert!(link.contains("numqueues 2"), "{link}");
    assert!(
        link.contains("persist off"),
        "the stale persistent TUN was reused:\n{link}"
    );
    let table = bed
        .relay
        .exec("nft", &["list", "table", "inet", "oxidize"])
        .expect("nft list table");
    assert!(!table.contains("stale"), "stale chain survived:\n{table}");
    assert_eq!(table.matches("masquerade").count(), 1, "{table}");
    teardown_in(&bed, egress);
    assert_clean(&bed);
}

#[test]
fn root_egress_refuses_devices_it_does_not_own() {
    if !oxidize_testbed::require_root("root_egress_refuses_devices_it_does_not_own") {
        return;
    }
    let bed = bed(false);
    // A TUN of our name that a live process holds: another relay may be running.
    let holder = bed
        .relay
        .run(|| {
            tun_rs::DeviceBuilder::new()
                .name("oxz0")
                .multi_queue(true)
                .packet_information(false)
                .build_sync()
        })
        .expect("enter the relay namespace")
        .expect("holder TUN");
    let err = bed
        .relay
        .run(|| Egress::setup(plan(1, false)))
        .expect("enter the relay namespace")
        .expect_err("a TUN in use must not be taken over");
    let message = err.to_string();
    assert!(
        message.contains("remove stale TUN device oxz0"),
        "{message}"
    );
    assert!(message.contains("another relay"), "{message}");
    assert!(
        bed.relay.ip("link show oxz0").is_ok(),
        "the live TUN was deleted"
    );
    drop(holder);

    // A device of our name that is not a TUN at all.
    bed.relay
        .ip("link add oxz0 type veth peer name oxz0-peer")
        .expect("veth named oxz0");
    let err = bed
        .relay
        .run(|| Egress::setup(plan(1, false)))
        .expect("enter the relay namespace")
        .expect_err("a veth must not be deleted");
    assert!(err.to_string().contains("is not a TUN device"), "{err}");
    assert!(
        bed.relay.ip("link show oxz0").is_ok(),
        "the veth was deleted"
    );
    bed.relay.ip("link del oxz0").expect("delete veth");

    // A missing egress interface: the step is named and nothing is created.
    let mut config = EgressConfig::new("10.99.0.0/24".parse().expect("pool"), 1, "nope0", 1400);
    config.tun_name = "oxz0".into();
    let missing = EgressPlan::new(&config).expect("plan");
    let err = bed
        .relay
        .run(move || Egress::setup(missing))
        .expect("enter the relay namespace")
        .expect_err("no egress interface");
    assert!(
        err.to_string().contains("find egress interface nope0"),
        "{err}"
    );
    assert_clean(&bed);
}

#[test]
fn root_egress_dropped_on_another_thread_cleans_its_own_namespace() {
    if !oxidize_testbed::require_root(
        "root_egress_dropped_on_another_thread_cleans_its_own_namespace",
    ) {
        return;
    }
    let host_forward = root_ip_forward();
    let bed = bed(false);
    let egress = setup_in(&bed, plan(1, true));
    // This thread is in the host's namespace: the guard must still act on the relay's.
    drop(egress);
    assert_clean(&bed);
    assert_eq!(forwarding(&bed), ("1".into(), "1".into()));
    assert_eq!(
        root_ip_forward(),
        host_forward,
        "the host's ip_forward changed"
    );
}

#[test]
fn packet_helper_checksum_matches_rfc1071_example() {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement: 220d).
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(egress_support::checksum(&data), 0x220d);
    let packet = udp_packet(CLIENT_V4.into(), 1, INTERNET_V4.into(), 2, b"abc");
    let parsed = egress_support::Packet::parse(&packet).expect("parses");
    assert_eq!(parsed.udp(), Some((1, 2, &b"abc"[..])));
}

#[test]
fn root_egress_without_cap_net_admin_says_what_is_missing() {
    if !oxidize_testbed::require_root("root_egress_without_cap_net_admin_says_what_is_missing") {
        return;
    }
    let bed = bed(false);
    let err = bed
        .relay
        .run(|| {
            // Capabilities are per thread: only this (throw-away) thread loses NET_ADMIN.
            caps::drop(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_NET_ADMIN,
            )
            .expect("drop CAP_NET_ADMIN");
            Egress::setup(plan(1, false))
        })
        .expect("enter the relay namespace")
        .expect_err("set-up without CAP_NET_ADMIN");
    let message = err.to_string();
    assert!(message.contains("egress step `"), "{message}");
    assert!(message.contains("CAP_NET_ADMIN"), "{message}");
    assert_clean(&bed);
}

#[test]
fn root_egress_failed_setup_undoes_what_it_did() {
    if !oxidize_testbed::require_root("root_egress_failed_setup_undoes_what_it_did") {
        return;
    }
    let bed = bed(false);
    // Someone else routes the IPv6 pool: the IPv4 route and the TUN are made, then the IPv6
    // route fails and both must be undone, while the foreign route stays.
    bed.relay
        .ip("-6 route add fd99::/64 dev r-wan")
        .expect("foreign route");
    let err = bed
        .relay
        .run(|| Egress::setup(plan(1, true)))
        .expect("enter the relay namespace")
        .expect_err("the pool is routed elsewhere");
    let message = err.to_string();
    assert!(
        message.contains("add route fd99::/64 dev oxz0"),
        "{message}"
    );
    assert!(message.contains("already exists"), "{message}");
    let routes6 = bed.relay.ip("-6 route show").expect("ip -6 route");
    assert!(
        routes6.contains("fd99::/64 dev r-wan"),
        "foreign route removed:\n{routes6}"
    );
    bed.relay
        .ip("-6 route del fd99::/64 dev r-wan")
        .expect("remove foreign route");
    assert_clean(&bed);
}
