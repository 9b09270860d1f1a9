//! One connection to the relay: the tokio loop around the relay core's sans-IO
//! [`ClientCore`] (UDP socket in and out, timers, TUN packets, signals).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ipnet::IpNet;
use oxidize_relay_core::capsule::AddressEntry;
use oxidize_relay_core::client::{ClientCore, ClientEvent, TunnelConfig};
use oxidize_relay_core::mtu::{carries_ipv6, PathMtu};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::error::ClientError;
use super::routes::{self, OriginalRoute, RouteSpec};
use super::signals::{Signal, Signals};
use super::status::{State, Status};
use super::tun::Tun;

/// Packets handled per wake-up before transmits are flushed.
const BATCH: usize = 64;

/// How one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// SIGINT/SIGTERM: the connection was closed; stop.
    Shutdown,
    /// The connection ended or never came up; try again.
    Lost {
        /// Whether the tunnel had been open (resets the backoff).
        was_open: bool,
        /// Why, for the log.
        reason: String,
    },
}

/// What lives across connections.
pub struct Context {
    /// The relay's UDP address.
    pub relay: SocketAddr,
    /// Template for each connection (seed replaced per attempt).
    pub tunnel: TunnelConfig,
    /// TUN name.
    pub tun_name: String,
    /// MTUs.
    pub mtu: PathMtu,
    /// Routes wanted.
    pub routes: RouteSpec,
    /// How the relay was reached before our routes.
    pub original: Option<OriginalRoute>,
    /// Time allowed until the tunnel is open.
    pub connect_timeout: Duration,
    /// Batch TUN I/O with the kernel's GSO/GRO (virtio-net header).
    pub tun_offload: bool,
    /// The device, once the first address arrived.
    pub tun: Option<Tun>,
    /// Packets read from the TUN.
    pub from_tun: mpsc::Receiver<Vec<u8>>,
    /// Sender side of `from_tun`, handed to the TUN reader when the device is created.
    pub to_relay: mpsc::Sender<Vec<u8>>,
    /// What the status line shows.
    pub status: Status,
    /// Routes installed for these families (v4, v6).
    pub routed: Option<(bool, bool)>,
    /// When the last open tunnel was lost (cleared when one is open again).
    pub lost_at: Option<Instant>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("relay", &self.relay)
            .field("tun", &self.tun)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut seed).is_err() {
        // Never expected; quinn-proto only needs the seed to differ between connections.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        seed[..16].copy_from_slice(&t.to_le_bytes());
    }
    seed
}

/// Prints the status line (stdout, one line).
pub fn print_status(ctx: &Context) {
    let mut s = ctx.status.clone();
    s.dropped += ctx.tun.as_ref().map_or(0, Tun::write_drops);
    println!("{s}");
}

/// Runs one connection until it ends.
///
/// # Errors
/// [`ClientError::Auth`] on 401/403 (do not retry); [`ClientError::Io`] / TUN / route errors.
pub async fn run(ctx: &mut Context, signals: &mut Signals) -> Result<Outcome, ClientError> {
    let local = match ctx.relay {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let io = |what| move |source| ClientError::Io { what, source };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(io("bind the UDP socket"))?;
    socket
        .connect(ctx.relay)
        .await
        .map_err(io("connect the UDP socket to the relay"))?;
    let started = Instant::now();
    let mut config = ctx.tunnel.clone();
    config.seed = random_seed();
    let mut core = ClientCore::connect(started, config).map_err(|e| ClientError::Io {
        what: "start the QUIC connection",
        source: std::io::Error::other(e.to_string()),
    })?;
    ctx.status.state = Some(State::Connecting);
    ctx.status.handshake_rtt = None;
    ctx.status.zero_rtt = false;
    let open_deadline = started + ctx.connect_timeout;
    let mut open = false;
    let mut buf = vec![0u8; 65536];
    let mut tx = Vec::with_capacity(1500);
    loop {
        let now = Instant::now();
        while let Some(t) = core.poll_transmit(now, &mut tx) {
            if let Err(e) = socket.send(&tx[..t.size]).await {
                tracing::debug!(error = %e, "UDP send failed");
            }
        }
        while let Some(p) = core.poll_tunnel_packet() {
            ctx.status.rx_packets += 1;
            ctx.status.rx_bytes += p.len() as u64;
            if let Some(tun) = &ctx.tun {
                tun.send(p);
            }
        }
        while let Some(ev) = core.poll_event() {
            match ev {
                ClientEvent::Connected => {
                    ctx.status.handshake_rtt = Some(started.elapsed());
                    tracing::info!(relay = %ctx.relay, "QUIC connected");
                }
                ClientEvent::TunnelOpen => {
                    open = true;
                    ctx.status.state = Some(State::Connected);
                    ctx.status.zero_rtt = core.stats().zero_rtt_accepted;
                    if let Some(lost) = ctx.lost_at.take() {
                        ctx.status.reconnects += 1;
                        println!(
                            "reconnected: tunnel resumed {} ms after the connection was lost (0-RTT {})",
                            lost.elapsed().as_millis(),
                            if ctx.status.zero_rtt { "accepted" } else { "not used" }
                        );
                    }
                    tracing::info!(
                        zero_rtt = ctx.status.zero_rtt,
                        took_ms = started.elapsed().as_millis() as u64,
                        "tunnel open"
                    );
                }
                ClientEvent::Rejected(status) => {
                    if let Some(e) = ClientError::from_status(status) {
                        return Err(e);
                    }
                    return Ok(Outcome::Lost {
                        was_open: open,
                        reason: format!("the relay answered HTTP {status}"),
                    });
                }
                ClientEvent::AddressAssigned(entries) => {
                    assign(ctx, &entries)?;
                    print_status(ctx);
                }
                ClientEvent::Routes(r) => tracing::debug!(routes = ?r, "relay advertised routes"),
                ClientEvent::Goaway => tracing::info!("relay is going away"),
                ClientEvent::Closed(reason) => {
                    return Ok(Outcome::Lost {
                        was_open: open,
                        reason,
                    })
                }
            }
        }
        if core.is_closed() {
            return Ok(Outcome::Lost {
                was_open: open,
                reason: "connection closed".into(),
            });
        }
        if !open && now >= open_deadline {
            return Ok(Outcome::Lost {
                was_open: false,
                reason: format!("no tunnel within {:?}", ctx.connect_timeout),
            });
        }
        let mut wake = core
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(3600));
        if !open {
            wake = wake.min(open_deadline);
        }
        tokio::select! {
            r = socket.recv(&mut buf) => match r {
                Ok(n) => {
                    let now = Instant::now();
                    core.handle_datagram(now, ctx.relay, None, BytesMut::from(&buf[..n]));
                    for _ in 1..BATCH {
                        match socket.try_recv(&mut buf) {
                            Ok(n) => core.handle_datagram(now, ctx.relay, None, BytesMut::from(&buf[..n])),
                            Err(_) => break,
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && !open => {
                    return Ok(Outcome::Lost { was_open: false, reason: "relay port unreachable (ICMP)".into() });
                }
                Err(e) => tracing::debug!(error = %e, "UDP receive failed"),
            },
            p = ctx.from_tun.recv() => {
                if let Some(p) = p {
                    send_packet(ctx, &mut core, &p);
                    for _ in 1..BATCH {
                        match ctx.from_tun.try_recv() {
                            Ok(p) => send_packet(ctx, &mut core, &p),
                            Err(_) => break,
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(wake.into()) => core.handle_timeout(Instant::now()),
            s = signals.next() => match s {
                Signal::Status => print_status(ctx),
                Signal::Stop => {
                    core.close(Instant::now());
                    let now = Instant::now();
                    while let Some(t) = core.poll_transmit(now, &mut tx) {
                        // Best effort: the relay also notices through its idle timeout.
                        let _ = socket.send(&tx[..t.size]).await;
                    }
                    return Ok(Outcome::Shutdown);
                }
            },
        }
    }
}

fn send_packet(ctx: &mut Context, core: &mut ClientCore, packet: &[u8]) {
    match core.handle_tunnel_packet(packet) {
        Ok(()) => {
            ctx.status.tx_packets += 1;
            ctx.status.tx_bytes += packet.len() as u64;
        }
        Err(reason) => {
            ctx.status.dropped += 1;
            tracing::trace!(?reason, len = packet.len(), "packet not tunnelled");
        }
    }
}

/// Merges the addresses of one ADDRESS_ASSIGN capsule into the current set, per family: a
/// family present in the capsule replaces that family's addresses (an all-zero address removes
/// it, RFC 9484 section 4.7.1); a family absent from the capsule is kept. The relay answers our
/// IPv4-only ADDRESS_REQUEST with IPv4 alone after assigning both families unasked, so replacing
/// the whole set would drop the IPv6 address.
pub fn merge_assigned(current: &[IpNet], entries: &[AddressEntry]) -> Vec<IpNet> {
    let is_v6 = |a: &IpAddr| matches!(a, IpAddr::V6(_));
    let mut out: Vec<IpNet> = current
        .iter()
        .filter(|n| {
            !entries
                .iter()
                .any(|e| is_v6(&e.prefix.addr) == is_v6(&n.addr()))
        })
        .copied()
        .collect();
    for e in entries {
        if e.prefix.addr.is_unspecified() {
            continue;
        }
        if let Ok(net) = IpNet::new(e.prefix.addr, e.prefix.len) {
            if !out.contains(&net) {
                out.push(net);
            }
        }
    }
    out.sort_by_key(|n| is_v6(&n.addr()));
    out
}

/// Applies an ADDRESS_ASSIGN: creates the TUN on first use, sets addresses, installs routes.
fn assign(ctx: &mut Context, entries: &[AddressEntry]) -> Result<(), ClientError> {
    let mut nets = merge_assigned(&ctx.status.addresses, entries);
    if !carries_ipv6(&ctx.mtu) && nets.iter().any(|n| matches!(n, IpNet::V6(_))) {
        tracing::warn!(
            tun_mtu = ctx.mtu.tun,
            "the path MTU is too small for inner IPv6 (needs 1280); IPv6 not used"
        );
        nets.retain(|n| matches!(n, IpNet::V4(_)));
    }
    if nets.is_empty() {
        tracing::warn!("the relay assigned no usable address");
        return Ok(());
    }
    if ctx.tun.is_none() {
        ctx.tun = Some(Tun::create(
            &ctx.tun_name,
            ctx.mtu.tun,
            ctx.tun_offload,
            ctx.to_relay.clone(),
        )?);
    }
    let mut changed = false;
    if let Some(tun) = ctx.tun.as_mut() {
        changed = tun.set_addresses(&nets)?;
    }
    ctx.status.addresses = nets.clone();
    let v4 = nets.iter().any(|n| matches!(n, IpNet::V4(_)));
    let v6 = nets.iter().any(|n| matches!(n, IpNet::V6(_)));
    // Also after any address change: the kernel may have flushed the routes through the TUN.
    if changed || ctx.routed != Some((v4, v6)) {
        let relay: IpAddr = ctx.relay.ip();
        let plan = routes::plan(&ctx.routes, v4, v6, relay, ctx.original.as_ref());
        for cmd in routes::apply_commands(&plan, &ctx.tun_name) {
            routes::ip(&cmd)?;
        }
        tracing::info!(routes = ?plan.via_tun, relay_host = ?plan.relay_host.as_ref().map(|h| h.0), "routes installed");
        ctx.routed = Some((v4, v6));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxidize_relay_core::capsule::IpPrefix;

    fn entry(id: u64, addr: &str, len: u8) -> AddressEntry {
        AddressEntry {
            request_id: id,
            prefix: IpPrefix {
                addr: addr.parse().unwrap_or_else(|_| unreachable!("{addr}")),
                len,
            },
        }
    }

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter()
            .map(|s| s.parse().unwrap_or_else(|_| unreachable!("{s}")))
            .collect()
    }

    #[test]
    fn first_assignment_takes_both_families() {
        let got = merge_assigned(&[], &[entry(0, "fd99::2", 128), entry(0, "10.99.0.2", 32)]);
        assert_eq!(got, nets(&["10.99.0.2/32", "fd99::2/128"]));
    }

    #[test]
    fn a_v4_only_answer_keeps_the_v6_address() {
        let cur = nets(&["10.99.0.2/32", "fd99::2/128"]);
        let got = merge_assigned(&cur, &[entry(1, "10.99.0.2", 32)]);
        assert_eq!(got, cur);
    }

    #[test]
    fn a_new_address_of_a_family_replaces_the_old_one() {
        let cur = nets(&["10.99.0.2/32", "fd99::2/128"]);
        let got = merge_assigned(&cur, &[entry(0, "10.99.0.7", 32)]);
        assert_eq!(got, nets(&["10.99.0.7/32", "fd99::2/128"]));
    }

    #[test]
    fn an_all_zero_address_removes_the_family() {
        let cur = nets(&["10.99.0.2/32", "fd99::2/128"]);
        let got = merge_assigned(&cur, &[entry(1, "::", 128)]);
        assert_eq!(got, nets(&["10.99.0.2/32"]));
    }
}
