//! Links inside test namespaces: veth pairs with a chosen number of queues, addresses, routes.

use crate::cmd::ip;
use crate::{Error, Netns, Result};

/// One end of a veth pair: the namespace it lives in and its interface name.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// The namespace holding this end.
    pub ns: &'a Netns,
    /// Interface name inside that namespace (at most 15 bytes).
    pub name: &'a str,
}

/// Creates a veth pair between two namespaces with `queues` RX and TX queues on each end, and
/// brings both ends up. The pair disappears when either namespace is deleted.
pub fn veth_pair(a: End<'_>, b: End<'_>, queues: u32) -> Result<()> {
    let queues = queues.max(1);
    ip(&format!(
        "-n {} link add {} numtxqueues {queues} numrxqueues {queues} type veth \
         peer name {} netns {} numtxqueues {queues} numrxqueues {queues}",
        a.ns.name(),
        a.name,
        b.name,
        b.ns.name()
    ))?;
    a.ns.ip(&format!("link set {} up", a.name))?;
    b.ns.ip(&format!("link set {} up", b.name))?;
    Ok(())
}

/// Adds an address (`10.0.0.1/24` or `fd00::1/64`) to an interface. IPv6 addresses skip duplicate
/// address detection so they are usable at once.
pub fn add_addr(ns: &Netns, ifname: &str, cidr: &str) -> Result<()> {
    let nodad = if cidr.contains(':') { " nodad" } else { "" };
    ns.ip(&format!("addr add {cidr} dev {ifname}{nodad}"))
        .map(|_| ())
}

/// Adds a route, e.g. `default via 10.0.0.1` or `10.9.0.0/16 dev tun0`.
pub fn add_route(ns: &Netns, route: &str) -> Result<()> {
    let family = if route.contains(':') { "-6 " } else { "" };
    ns.ip(&format!("{family}route add {route}")).map(|_| ())
}

/// Turns IPv4 and IPv6 forwarding on or off inside the namespace (per-namespace sysctls).
pub fn set_forwarding(ns: &Netns, on: bool) -> Result<()> {
    let value = if on { "1" } else { "0" };
    ns.exec("sysctl", &["-qw", &format!("net.ipv4.ip_forward={value}")])?;
    ns.exec(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.all.forwarding={value}")],
    )?;
    Ok(())
}

/// The number of RX and TX queues the kernel reports for a link (`ip -d -j link show`).
pub fn queue_counts(ns: &Netns, ifname: &str) -> Result<(u32, u32)> {
    let command = format!("-n {} -d -j link show dev {ifname}", ns.name());
    let out = ip(&command)?;
    let parse = |detail: String| Error::Parse {
        command: format!("ip {command}"),
        detail,
    };
    let json: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| parse(format!("not JSON: {e}")))?;
    let link = json
        .get(0)
        .ok_or_else(|| parse("no link in output".into()))?;
    let field = |key: &str| {
        link.get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| parse(format!("no `{key}`")))
    };
    Ok((field("num_rx_queues")?, field("num_tx_queues")?))
}

/// The MAC address of a link, as `aa:bb:cc:dd:ee:ff`.
pub fn mac(ns: &Netns, ifname: &str) -> Result<String> {
    let command = format!("-n {} -j link show dev {ifname}", ns.name());
    let out = ip(&command)?;
    let json: serde_json::Value = serde_json::from_str(&out).map_err(|e| Error::Parse {
        command: format!("ip {command}"),
        detail: e.to_string(),
    })?;
    json.get(0)
        .and_then(|l| l.get("address"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Parse {
            command: format!("ip {command}"),
            detail: "no `address`".into(),
        })
}
