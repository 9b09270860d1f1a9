//! The standard three-host bed for relay tests:
//!
//! ```text
//!  client ns                relay ns                         internet ns
//!  c-eth 10.77.1.2/24  <->  r-cli 10.77.1.1/24
//!        fd77:1::2/64             fd77:1::1/64
//!                           r-wan 10.77.2.1/24         <->  i-eth 10.77.2.2/24
//!                                 fd77:2::1/64                    fd77:2::2/64
//! ```
//!
//! The client's default route points at the relay; the internet host's default route points back
//! at the relay too, so with forwarding on (the default) packets cross by plain kernel routing.
//! Relay tests build the bed with forwarding off, so that nothing crosses until a relay runs.
//! The relay's `nat` egress needs forwarding but never sets it (on a node that is the tune
//! step's job; the relay's /proc/sys is read-only), so a test turns it on right before it starts
//! the relay, as the tune step would. Traffic still goes through the relay: the client's routes
//! send everything into its tunnel, and the relay unwraps it into its egress. Addresses are
//! fixed: every topology lives in its own namespaces, so parallel tests cannot collide.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::link::{add_addr, add_route, set_forwarding, veth_pair, End};
use crate::servers::{self, Server};
use crate::{Netns, Result};

/// Client-side interface name inside the client namespace.
pub const CLIENT_IF: &str = "c-eth";
/// The relay's interface towards the clients (the one AF_XDP attaches to).
pub const RELAY_CLIENT_IF: &str = "r-cli";
/// The relay's interface towards the internet (the egress / NAT side).
pub const RELAY_WAN_IF: &str = "r-wan";
/// The internet host's interface.
pub const INTERNET_IF: &str = "i-eth";

/// Client address.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
/// Relay address on the client side.
pub const RELAY_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
/// Relay address on the internet side.
pub const RELAY_WAN_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// Internet host address.
pub const INTERNET_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
/// Client IPv6 address.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 2);
/// Relay IPv6 address on the client side.
pub const RELAY_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 1, 0, 0, 0, 0, 0, 1);
/// Relay IPv6 address on the internet side.
pub const RELAY_WAN_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 2, 0, 0, 0, 0, 0, 1);
/// Internet host IPv6 address.
pub const INTERNET_V6: Ipv6Addr = Ipv6Addr::new(0xfd77, 2, 0, 0, 0, 0, 0, 2);

/// How to build the bed.
#[derive(Debug, Clone)]
pub struct TopologyOptions {
    /// RX/TX queues on the client <-> relay veth (the relay's AF_XDP side).
    pub relay_queues: u32,
    /// Whether the relay namespace forwards packets in the kernel from the start (`false` for
    /// relay tests, which turn it on with [`crate::link::set_forwarding`] just before the relay
    /// starts, the way the tune step prepares a node).
    pub forwarding: bool,
    /// Whether the internet host starts its UDP echo and TCP stream servers.
    pub servers: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            relay_queues: 1,
            forwarding: true,
            servers: true,
        }
    }
}

/// The three namespaces, their links and the internet host's servers. Dropping it removes all.
#[derive(Debug)]
pub struct Topology {
    // Field order is drop order: servers stop before their namespace goes.
    udp_echo: Option<Server>,
    tcp_stream: Option<Server>,
    /// The client host.
    pub client: Netns,
    /// The relay host.
    pub relay: Netns,
    /// The internet host.
    pub internet: Netns,
}

impl Topology {
    /// Builds the bed.
    pub fn new(options: &TopologyOptions) -> Result<Self> {
        let client = Netns::new("client")?;
        let relay = Netns::new("relay")?;
        let internet = Netns::new("internet")?;
        veth_pair(
            End {
                ns: &client,
                name: CLIENT_IF,
            },
            End {
                ns: &relay,
                name: RELAY_CLIENT_IF,
            },
            options.relay_queues,
        )?;
        veth_pair(
            End {
                ns: &relay,
                name: RELAY_WAN_IF,
            },
            End {
                ns: &internet,
                name: INTERNET_IF,
            },
            1,
        )?;
        add_addr(&client, CLIENT_IF, &format!("{CLIENT_V4}/24"))?;
        add_addr(&client, CLIENT_IF, &format!("{CLIENT_V6}/64"))?;
        add_addr(&relay, RELAY_CLIENT_IF, &format!("{RELAY_V4}/24"))?;
        add_addr(&relay, RELAY_CLIENT_IF, &format!("{RELAY_V6}/64"))?;
        add_addr(&relay, RELAY_WAN_IF, &format!("{RELAY_WAN_V4}/24"))?;
        add_addr(&relay, RELAY_WAN_IF, &format!("{RELAY_WAN_V6}/64"))?;
        add_addr(&internet, INTERNET_IF, &format!("{INTERNET_V4}/24"))?;
        add_addr(&internet, INTERNET_IF, &format!("{INTERNET_V6}/64"))?;
        add_route(&client, &format!("default via {RELAY_V4}"))?;
        add_route(&client, &format!("default via {RELAY_V6}"))?;
        add_route(&internet, &format!("default via {RELAY_WAN_V4}"))?;
        add_route(&internet, &format!("default via {RELAY_WAN_V6}"))?;
        set_forwarding(&relay, options.forwarding)?;
        let mut bed = Topology {
            udp_echo: None,
            tcp_stream: None,
            client,
            relay,
            internet,
        };
        if options.servers {
            let (udp, tcp) = bed.internet.run(|| {
                Ok::<_, crate::Error>((
                    servers::udp_echo(servers::UDP_ECHO_PORT)?,
                    servers::tcp_stream(servers::TCP_STREAM_PORT)?,
                ))
            })??;
            bed.udp_echo = Some(udp);
            bed.tcp_stream = Some(tcp);
        }
        Ok(bed)
    }

    /// The internet host's UDP echo address for the given family.
    pub fn udp_echo_addr(&self, v6: bool) -> SocketAddr {
        SocketAddr::new(internet_ip(v6), servers::UDP_ECHO_PORT)
    }

    /// The internet host's TCP stream address for the given family.
    pub fn tcp_stream_addr(&self, v6: bool) -> SocketAddr {
        SocketAddr::new(internet_ip(v6), servers::TCP_STREAM_PORT)
    }

    /// The UDP echo server (when started), e.g. to read how many datagrams it echoed.
    pub fn udp_echo_server(&self) -> Option<&Server> {
        self.udp_echo.as_ref()
    }
}

/// The internet host's address for the given family.
pub fn internet_ip(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(INTERNET_V6)
    } else {
        IpAddr::V4(INTERNET_V4)
    }
}

/// Pings `target` from `ns` (`count` echo requests, 2 s deadline each); returns the replies seen.
/// No reply at all is `Ok(0)`, not an error.
pub fn ping(ns: &Netns, target: IpAddr, count: u32) -> Result<u32> {
    let output = ns
        .command("ping")
        .args(["-n", "-q", "-c", &count.to_string(), "-W", "2", "-i", "0.2"])
        .arg(target.to_string())
        .output()
        .map_err(|source| crate::Error::Spawn {
            command: "ping".into(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // "3 packets transmitted, 3 received, 0% packet loss"
    stdout
        .lines()
        .find(|l| l.contains("transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| crate::Error::Command {
            command: format!("ping {target} in {}", ns.name()),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
}
