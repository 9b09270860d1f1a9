//! A NIC for the cluster's node: a 2-queue veth `oxk-nic` inside the node's network namespace
//! with a client namespace on its other end, and an "internet" namespace behind the node's
//! uplink `oxk-wan` (its default route), serving the test bed's UDP echo and TCP stream.
//!
//! ```text
//!  client ns (oxidize-client)      node ns oxk-node (relay pod, hostNetwork)      internet ns
//!  c-eth 10.77.1.2 ───────────────── oxk-nic 10.77.1.1 (XDP, 2 queues)
//!                                    oxk-wan 10.77.2.1 ─────────────────────────── i-eth 10.77.2.2
//! ```

use oxidize_testbed::cluster::{run, NODE_NS};
use oxidize_testbed::{Netns, NsChild};

/// The relay's NIC inside the node namespace.
pub(crate) const NIC: &str = "oxk-nic";
/// The node's uplink towards the internet namespace (the relay's egress interface).
pub(crate) const WAN: &str = "oxk-wan";
/// The relay's address on its NIC.
pub(crate) const RELAY_IP: &str = "10.77.1.1";
/// The internet host.
pub(crate) const INTERNET_IP: &str = "10.77.2.2";
/// The internet host over IPv6.
pub(crate) const INTERNET_IP6: &str = "fd77:2::2";

/// The namespaces and servers; dropping it removes them (the veths go with the namespaces).
pub(crate) struct Bed {
    // Dropped in this order: the servers, then the namespaces (and their veths).
    _servers: NsChild,
    /// The client namespace.
    pub(crate) client: Netns,
    _internet: Netns,
}

fn sh(args: &[&str]) {
    run(args[0], &args[1..]).unwrap_or_else(|e| panic!("{e}"));
}

fn node(args: &str) {
    let mut v = vec!["ip", "-n", NODE_NS];
    v.extend(args.split_whitespace());
    sh(&v);
}

impl Bed {
    /// Builds the bed and starts the internet servers.
    pub(crate) fn new(testbed_bin: &str) -> Bed {
        let client = Netns::new("kclient").expect("client namespace");
        let internet = Netns::new("kinet").expect("internet namespace");
        sh(&[
            "ip",
            "link",
            "add",
            "c-eth",
            "netns",
            client.name(),
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
            "type",
            "veth",
            "peer",
            "name",
            NIC,
            "netns",
            NODE_NS,
            "numtxqueues",
            "2",
            "numrxqueues",
            "2",
        ]);
        sh(&[
            "ip",
            "link",
            "add",
            "i-eth",
            "netns",
            internet.name(),
            "type",
            "veth",
            "peer",
            "name",
            WAN,
            "netns",
            NODE_NS,
        ]);
        node(&format!("addr add {RELAY_IP}/24 dev {NIC}"));
        node(&format!("addr add fd77:1::1/64 dev {NIC} nodad"));
        node(&format!("addr add 10.77.2.1/24 dev {WAN}"));
        node(&format!("addr add fd77:2::1/64 dev {WAN} nodad"));
        node(&format!("link set {NIC} up"));
        node(&format!("link set {WAN} up"));
        // The internet is the node's default route; the cluster's Service range keeps its own.
        node(&format!("route replace default via {INTERNET_IP}"));
        node("-6 route replace default via fd77:2::2");
        client
            .ip("addr add 10.77.1.2/24 dev c-eth")
            .expect("client address");
        client
            .ip("addr add fd77:1::2/64 dev c-eth nodad")
            .expect("client v6 address");
        // XDP on a veth needs its RX queues >= the peer's TX queues: the RelayNode's plan sets
        // the NIC to one channel, so the client side sends on one queue.
        client
            .exec("ethtool", &["-L", "c-eth", "tx", "1"])
            .expect("c-eth to one TX queue");
        client.ip("link set c-eth up").expect("c-eth up");
        client.ip("link set lo up").expect("client lo");
        internet
            .ip("addr add 10.77.2.2/24 dev i-eth")
            .expect("internet address");
        internet
            .ip("addr add fd77:2::2/64 dev i-eth nodad")
            .expect("internet v6 address");
        internet.ip("link set i-eth up").expect("i-eth up");
        internet.ip("link set lo up").expect("internet lo");
        internet
            .ip("route add default via 10.77.2.1")
            .expect("internet route");
        let servers = internet
            .spawn(internet.command(testbed_bin).arg("serve"))
            .expect("internet servers");
        Bed {
            _servers: servers,
            client,
            _internet: internet,
        }
    }
}

/// Node values the tuning touches, read before and after (restore must give them back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeValues {
    /// `/proc/sys/vm/nr_hugepages` (global).
    pub(crate) nr_hugepages: String,
    /// `net.ipv4.ip_forward` in the node namespace.
    pub(crate) ip_forward: String,
    /// `net.ipv6.conf.all.forwarding` in the node namespace (off until the tune step; the
    /// cluster itself turns IPv4 forwarding on for its pods).
    pub(crate) ip6_forward: String,
    /// `net.core.somaxconn` in the node namespace (a per-namespace sysctl the plan sets).
    pub(crate) somaxconn: String,
    /// `ethtool -l oxk-nic` current channels.
    pub(crate) channels: String,
    /// `ethtool -k oxk-nic` GRO.
    pub(crate) gro: String,
    /// Files in the tuner's host state directory.
    pub(crate) state_files: Vec<String>,
}

fn in_node(program: &str, args: &[&str]) -> String {
    let mut v = vec!["netns", "exec", NODE_NS, program];
    v.extend_from_slice(args);
    run("ip", &v).unwrap_or_else(|e| panic!("{e}"))
}

impl NodeValues {
    /// Reads them now.
    pub(crate) fn read() -> NodeValues {
        let channels = in_node("ethtool", &["-l", NIC]);
        let current = channels
            .split("Current hardware settings:")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let gro = in_node("ethtool", &["-k", NIC])
            .lines()
            .find(|l| l.starts_with("generic-receive-offload"))
            .unwrap_or("")
            .to_owned();
        let mut state_files: Vec<String> = std::fs::read_dir("/var/lib/oxidize")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        state_files.sort();
        NodeValues {
            nr_hugepages: std::fs::read_to_string("/proc/sys/vm/nr_hugepages")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            ip_forward: in_node("sysctl", &["-n", "net.ipv4.ip_forward"])
                .trim()
                .to_owned(),
            ip6_forward: in_node("sysctl", &["-n", "net.ipv6.conf.all.forwarding"])
                .trim()
                .to_owned(),
            somaxconn: in_node("sysctl", &["-n", "net.core.somaxconn"])
                .trim()
                .to_owned(),
            channels: current,
            gro,
            state_files,
        }
    }
}
