//! Routes through the tunnel: the plan (pure) and the `ip` commands that apply and remove it.
//!
//! Full tunnel uses the two halves of each address family (`0.0.0.0/1` + `128.0.0.0/1`,
//! `::/1` + `8000::/1`) through the TUN: together they are more specific than any default
//! route, so the host's own default route is never replaced and needs no restoring. A host
//! route keeps the relay itself reachable through the original gateway, so the tunnel does not
//! swallow its own packets. Every route we add carries the routing protocol number
//! [`ROUTE_PROTO`], so that a new start can flush what a killed run left (`ip route flush proto`).

use std::net::IpAddr;
use std::process::Command;

use ipnet::IpNet;

use super::error::ClientError;

/// The `proto` of every route the client adds (an otherwise unused number; iproute2 prints it).
pub const ROUTE_PROTO: u8 = 79;

/// What to send through the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSpec {
    /// Everything (both halves of each address family the relay assigned).
    FullTunnel,
    /// Only these prefixes.
    Prefixes(Vec<IpNet>),
}

/// How the relay was reachable before the tunnel came up (`ip route get <relay>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRoute {
    /// Next hop, when the relay is not on-link.
    pub gateway: Option<IpAddr>,
    /// Outgoing interface.
    pub dev: String,
}

/// The routes to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// Prefixes routed into the TUN device.
    pub via_tun: Vec<IpNet>,
    /// Host route for the relay through the original path (full tunnel, or a prefix covering it).
    pub relay_host: Option<(IpNet, OriginalRoute)>,
}

/// Plans the routes for the families the relay assigned (`v4`, `v6`).
pub fn plan(
    spec: &RouteSpec,
    v4: bool,
    v6: bool,
    relay: IpAddr,
    original: Option<&OriginalRoute>,
) -> RoutePlan {
    let via_tun: Vec<IpNet> = match spec {
        RouteSpec::FullTunnel => {
            let mut nets = Vec::new();
            if v4 {
                nets.extend(
                    ["0.0.0.0/1", "128.0.0.0/1"]
                        .iter()
                        .filter_map(|s| s.parse::<IpNet>().ok()),
                );
            }
            if v6 {
                nets.extend(
                    ["::/1", "8000::/1"]
                        .iter()
                        .filter_map(|s| s.parse::<IpNet>().ok()),
                );
            }
            nets
        }
        RouteSpec::Prefixes(p) => p
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)) && v4 || matches!(n, IpNet::V6(_)) && v6)
            .copied()
            .collect(),
    };
    let swallows_relay = via_tun.iter().any(|n| n.contains(&relay));
    let relay_host = match original {
        Some(o) if swallows_relay => Some((IpNet::from(relay), o.clone())),
        _ => None,
    };
    RoutePlan {
        via_tun,
        relay_host,
    }
}

/// The `ip` argument lists that install `plan` with `tun` as the TUN device. The host route
/// for the relay comes first so the relay stays reachable at every step.
pub fn apply_commands(plan: &RoutePlan, tun: &str) -> Vec<Vec<String>> {
    let proto = ROUTE_PROTO.to_string();
    let mut cmds = Vec::new();
    if let Some((host, o)) = &plan.relay_host {
        let mut c = vec![
            family(host).into(),
            "route".into(),
            "replace".into(),
            host.to_string(),
        ];
        if let Some(gw) = o.gateway {
            c.extend(["via".into(), gw.to_string()]);
        }
        c.extend(["dev".into(), o.dev.clone(), "proto".into(), proto.clone()]);
        cmds.push(c);
    }
    for net in &plan.via_tun {
        cmds.push(vec![
            family(net).into(),
            "route".into(),
            "replace".into(),
            net.to_string(),
            "dev".into(),
            tun.into(),
            "proto".into(),
            proto.clone(),
        ]);
    }
    cmds
}

/// The `ip` argument lists that remove every route we ever add (both families). The routes
/// through the TUN also vanish with the device; this catches the relay host route.
pub fn flush_commands() -> Vec<Vec<String>> {
    ["-4", "-6"]
        .iter()
        .map(|f| {
            [*f, "route", "flush", "proto", &ROUTE_PROTO.to_string()]
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        })
        .collect()
}

fn family(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "-4",
        IpNet::V6(_) => "-6",
    }
}

/// Parses `ip route get` output (`10.0.0.1 via 192.168.1.1 dev eth0 src ...`).
pub fn parse_route_get(output: &str) -> Option<OriginalRoute> {
    let words: Vec<&str> = output.split_whitespace().collect();
    let after = |key: &str| {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .map(|w| w[1].to_owned())
    };
    Some(OriginalRoute {
        gateway: after("via").and_then(|g| g.parse().ok()),
        dev: after("dev")?,
    })
}

/// Runs `ip` with `args`; the one place the client shells out for routing.
///
/// # Errors
/// [`ClientError::Ip`] with the command line and iproute2's message.
pub fn ip(args: &[String]) -> Result<String, ClientError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| ClientError::Ip {
            command: args.join(" "),
            message: format!("cannot run ip (is iproute2 installed?): {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(ClientError::Ip {
            command: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// How the relay is reached now (before our routes exist).
///
/// # Errors
/// [`ClientError::Ip`] when there is no route to the relay at all.
pub fn original_route(relay: IpAddr) -> Result<OriginalRoute, ClientError> {
    let args = vec!["route".into(), "get".into(), relay.to_string()];
    let out = ip(&args)?;
    parse_route_get(&out).ok_or_else(|| ClientError::Ip {
        command: args.join(" "),
        message: format!("cannot parse the route to the relay from: {}", out.trim()),
    })
}

/// Removes every route a previous (possibly killed) run added. Errors are logged, not fatal.
pub fn flush() {
    for cmd in flush_commands() {
        if let Err(e) = ip(&cmd) {
            tracing::debug!(error = %e, "route flush");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse()
            .unwrap_or_else(|_| unreachable!("test prefix {s}"))
    }

    fn eth0_via_gw() -> OriginalRoute {
        OriginalRoute {
            gateway: Some("192.168.1.1".parse().unwrap_or_else(|_| unreachable!())),
            dev: "eth0".into(),
        }
    }

    #[test]
    fn full_tunnel_both_families_with_relay_host_route() {
        let relay: IpAddr = "203.0.113.7".parse().unwrap_or_else(|_| unreachable!());
        let p = plan(
            &RouteSpec::FullTunnel,
            true,
            true,
            relay,
            Some(&eth0_via_gw()),
        );
        assert_eq!(
            p.via_tun,
            [
                net("0.0.0.0/1"),
                net("128.0.0.0/1"),
                net("::/1"),
                net("8000::/1")
            ]
        );
        assert_eq!(p.relay_host, Some((net("203.0.113.7/32"), eth0_via_gw())));
        let cmds = apply_commands(&p, "oxc0");
        assert_eq!(
            cmds[0].join(" "),
            "-4 route replace 203.0.113.7/32 via 192.168.1.1 dev eth0 proto 79"
        );
        assert_eq!(
            cmds[1].join(" "),
            "-4 route replace 0.0.0.0/1 dev oxc0 proto 79"
        );
        assert_eq!(
            cmds[4].join(" "),
            "-6 route replace 8000::/1 dev oxc0 proto 79"
        );
        assert_eq!(cmds.len(), 5);
    }

    #[test]
    fn ipv4_only_assignment_routes_no_ipv6() {
        let relay: IpAddr = "10.77.1.1".parse().unwrap_or_else(|_| unreachable!());
        let on_link = OriginalRoute {
            gateway: None,
            dev: "c-eth".into(),
        };
        let p = plan(&RouteSpec::FullTunnel, true, false, relay, Some(&on_link));
        assert_eq!(p.via_tun, [net("0.0.0.0/1"), net("128.0.0.0/1")]);
        let cmds = apply_commands(&p, "t");
        assert_eq!(
            cmds[0].join(" "),
            "-4 route replace 10.77.1.1/32 dev c-eth proto 79"
        );
    }

    #[test]
    fn prefixes_that_miss_the_relay_need_no_host_route() {
        let relay: IpAddr = "10.77.1.1".parse().unwrap_or_else(|_| unreachable!());
        let spec = RouteSpec::Prefixes(vec![net("10.77.2.0/24"), net("fd77:2::/64")]);
        let p = plan(&spec, true, false, relay, Some(&eth0_via_gw()));
        assert_eq!(p.via_tun, [net("10.77.2.0/24")]);
        assert_eq!(p.relay_host, None);
        let p = plan(&spec, true, true, relay, Some(&eth0_via_gw()));
        assert_eq!(p.via_tun.len(), 2);
    }

    #[test]
    fn prefix_covering_the_relay_gets_a_host_route() {
        let relay: IpAddr = "fd77:1::1".parse().unwrap_or_else(|_| unreachable!());
        let spec = RouteSpec::Prefixes(vec![net("fd77::/16")]);
        let p = plan(&spec, false, true, relay, Some(&eth0_via_gw()));
        assert_eq!(p.relay_host.map(|(h, _)| h), Some(net("fd77:1::1/128")));
    }

    #[test]
    fn flush_covers_both_families() {
        let c = flush_commands();
        assert_eq!(c[0].join(" "), "-4 route flush proto 79");
        assert_eq!(c[1].join(" "), "-6 route flush proto 79");
    }

    #[test]
    fn parses_route_get() {
        let r = parse_route_get(
            "203.0.113.7 via 192.168.1.1 dev eth0 src 192.168.1.20 uid 0 \n    cache \n",
        );
        assert_eq!(r, Some(eth0_via_gw()));
        let r = parse_route_get("10.77.1.1 dev c-eth src 10.77.1.2 uid 0\n    cache\n");
        assert_eq!(
            r,
            Some(OriginalRoute {
                gateway: None,
                dev: "c-eth".into()
            })
        );
        assert_eq!(
            parse_route_get("RTNETLINK answers: Network is unreachable"),
            None
        );
    }
}
