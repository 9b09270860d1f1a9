//! The relay server, run as `oxidize-dataplane relay --config FILE [--io xdp|udp]`.
//!
//! Wiring: settings ([`config`]) -> TLS and tokens ([`secrets`]) -> the health/metrics endpoint
//! ([`http`]) -> egress (TUN, routes, masquerade; [`egress`]) -> XDP program and one
//! AF_XDP socket per queue ([`xdp_io`]) or UDP sockets ([`udp_io`]) -> one pinned [`worker`]
//! thread per queue, linked by lock-free rings ([`handoff`]) woken by [`doorbell`]s -> the
//! control loop (`control.rs`: signals, Secret reloads, XDP counters, drain) -> teardown in
//! reverse order.
//!
//! Module map:
//! - [`config`]: the DataplaneConfig document and environment overrides -> [`config::RelaySettings`].
//! - [`secrets`]: TLS certificate/key and bearer tokens from the mounted Secrets.
//! - [`egress`]: the `nat` egress (TUN device, routes, a forwarding check, kernel masquerade).
//! - [`io`]: the packet I/O trait of a worker; [`xdp_io`] (AF_XDP) and [`udp_io`] (UDP) implement it.
//! - [`worker`]: one pinned thread per queue around a `RelayCore`; [`handoff`] and [`doorbell`]
//!   link the workers; [`pool_split`] gives each its part of the client pool; [`cores`] picks
//!   their cores inside the process's CPU affinity.
//! - [`state`], [`metrics`], [`http`]: shared counters, their Prometheus text, `/healthz`
//!   `/readyz` `/metrics`.
//! - [`error`]: the relay's error type.
//!
//! Pure logic, tested without I/O: [`config`], [`pool_split`], [`metrics`], [`http::route`],
//! [`egress::plan`], [`cores::choose`].

pub mod config;
mod control;
pub mod cores;
pub mod doorbell;
pub mod egress;
pub mod error;
pub mod handoff;
pub mod http;
pub mod io;
pub mod metrics;
pub mod pool_split;
pub mod secrets;
pub mod state;
pub mod udp_io;
pub mod worker;
pub mod xdp_io;

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use oxidize_relay_core::pool::Cidr;
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_xdp::{AttachMode, XdpProgram, XskConfig, XskQueue, ZeroCopy};

use config::RelaySettings;
use control::serve;
use egress::{Egress, EgressConfig, EgressPlan};
use state::Shared;

pub use error::{Error, Result};

/// The packet I/O backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IoBackend {
    /// AF_XDP sockets behind the XDP program (production).
    #[default]
    Xdp,
    /// Plain UDP sockets (development, benchmark baseline).
    Udp,
}

/// `relay` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// The DataplaneConfig document (YAML).
    #[arg(
        long,
        env = "OXIDIZE_CONFIG",
        default_value = "/etc/oxidize/config/dataplane.yaml"
    )]
    pub config: PathBuf,
    /// Packet I/O backend.
    #[arg(long = "io", value_enum, default_value_t)]
    pub io: IoBackend,
    /// XDP attach mode (generic only for drivers without native XDP).
    #[arg(long, value_parser = ["native", "generic"], default_value = "native")]
    pub xdp_mode: String,
}

fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| Error::io("reading /dev/urandom for the connection ID seed", e))?;
    Ok(seed)
}

/// Runs the relay until SIGTERM/SIGINT.
///
/// # Errors
/// Whatever stopped start-up (with what to do about it) or a worker's fatal error.
pub fn run(args: &RelayArgs) -> Result<()> {
    let mut settings = config::load(&args.config)?;
    settings.cores = cores::for_this_process(&settings.cores)?;
    tracing::info!(
        interface = %settings.interface,
        egress = %settings.egress_interface,
        workers = settings.workers,
        port = settings.port,
        io = ?args.io,
        "relay: starting"
    );
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Error::io("installing signal handlers", e))?;
    }
    let server = secrets::load_tls(&settings.tls_cert, &settings.tls_key, settings.idle_timeout)?;
    let tokens = secrets::load_tokens(&settings.tokens_dir)?;
    let shared = Arc::new(Shared::new(settings.workers));
    shared.tls_loaded.store(true, Ordering::Relaxed);
    let http = http::spawn(settings.metrics_addr, shared.clone())?;
    tracing::info!(http_addr = %http.addr(), "relay: /healthz /readyz /metrics");

    let link = oxidize_xdp::netlink::link_info(&settings.interface).map_err(|source| {
        Error::Interface {
            interface: settings.interface.clone(),
            source,
        }
    })?;
    // The TUN MTU follows the QUIC packets this relay actually sends, not the link: quinn caps
    // them at its MTU-discovery bound (1452 B of UDP payload), so a larger inner packet towards
    // a client could never be sealed. Same rule as the client's; the worst case (IPv6 outer) is
    // used because clients may come over either family.
    let inner_mtu = u32::from(
        oxidize_relay_core::mtu::path_mtu(link.mtu, true)
            .map_err(|source| Error::Mtu {
                interface: settings.interface.clone(),
                mtu: link.mtu,
                source,
            })?
            .tun,
    );
    let mut egress_config = EgressConfig::new(
        settings.pools.v4,
        u16::try_from(settings.workers).unwrap_or(u16::MAX),
        &settings.egress_interface,
        inner_mtu,
    );
    egress_config.pool_v6 = settings.pools.v6;
    let plan = EgressPlan::new(&egress_config).map_err(egress::Error::from)?;
    let mut egress = Egress::setup(plan)?;
    let tun_queues = egress.take_queues();

    let result = (|| -> Result<()> {
        let cores = build_cores(&settings, &server, &tokens, inner_mtu)?;
        match args.io {
            IoBackend::Xdp => {
                let mode = if args.xdp_mode == "generic" {
                    AttachMode::Generic
                } else {
                    AttachMode::Native
                };
                let xsk = xsk_config(&settings);
                oxidize_xdp::preflight::check(&oxidize_xdp::preflight::Request {
                    ifname: &settings.interface,
                    queues: settings.workers as u32,
                    umem_bytes: xsk.umem_bytes() * settings.workers as u64,
                })?;
                let program =
                    XdpProgram::load_and_attach(&settings.interface, &[settings.port], mode)?;
                let mut ios = Vec::new();
                let mac: [u8; 6] = link.mac.as_slice().try_into().unwrap_or([0; 6]);
                for q in 0..settings.workers as u32 {
                    let socket = XskQueue::open(&settings.interface, q, &xsk)?;
                    program.register(q, socket.fd())?;
                    ios.push(xdp_io::XdpIo::new(socket, link.ifindex, mac));
                }
                tracing::info!(interface = %settings.interface, mode = mode.as_str(), "relay: XDP attached, AF_XDP sockets registered");
                let r = serve(
                    &settings,
                    &shared,
                    &stop,
                    Some(&program),
                    ios,
                    cores,
                    tun_queues,
                );
                drop(program);
                tracing::info!("relay: XDP program detached");
                r
            }
            IoBackend::Udp => {
                let mut ios = Vec::new();
                for _ in 0..settings.workers {
                    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), settings.port);
                    let io = udp_io::UdpIo::bind(addr).or_else(|_| {
                        udp_io::UdpIo::bind(SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                            settings.port,
                        ))
                    })?;
                    ios.push(io);
                }
                serve(&settings, &shared, &stop, None, ios, cores, tun_queues)
            }
        }
    })();
    let teardown = egress.teardown();
    http.shutdown();
    result?;
    teardown?;
    tracing::info!("relay: stopped cleanly");
    Ok(())
}

fn xsk_config(settings: &RelaySettings) -> XskConfig {
    use oxidize_crds::relaynode::ZeroCopyMode;
    XskConfig {
        zero_copy: match settings.zero_copy {
            ZeroCopyMode::Auto => ZeroCopy::Auto,
            ZeroCopyMode::Required => ZeroCopy::Required,
            ZeroCopyMode::Off => ZeroCopy::Off,
        },
        hugepages: settings.hugepages,
        busy_poll: settings.busy_poll.then_some(oxidize_xdp::BusyPoll {
            usecs: 50,
            budget: 64,
        }),
        ..XskConfig::default()
    }
}

fn build_cores(
    settings: &RelaySettings,
    server: &Arc<quinn_proto::ServerConfig>,
    tokens: &oxidize_relay_core::auth::TokenSet,
    inner_mtu: u32,
) -> Result<Vec<RelayCore>> {
    let template = UriTemplate::parse(&settings.uri_template)
        .map_err(|e| Error::invalid("relay.uriTemplate", e.to_string()))?;
    let mut cores = Vec::new();
    for id in 0..settings.workers {
        let cidr = |s: String| -> Result<Cidr> {
            s.parse().map_err(|e| Error::WorkerPool {
                worker: id,
                detail: format!("pool part {s}: {e:?}"),
            })
        };
        let pool_v4 = cidr(settings.pools.v4_parts[id].to_string())?;
        let pool_v6 = match settings.pools.v6_parts.get(id) {
            Some(p) => Some(cidr(p.to_string())?),
            None => None,
        };
        let core = RelayCore::new(RelayConfig {
            worker_id: u8::try_from(id).map_err(|_| Error::WorkerPool {
                worker: id,
                detail: "worker id does not fit in one byte".to_owned(),
            })?,
            seed: random_seed()?,
            server: server.clone(),
            template: template.clone(),
            tokens: tokens.clone(),
            pool_v4,
            pool_v6,
            max_inner_packet: inner_mtu as usize,
            retry_above_handshakes: settings.retry_above_handshakes,
            throttle: oxidize_relay_core::throttle::ThrottleConfig::default(),
        })
        .map_err(|e| Error::WorkerPool {
            worker: id,
            detail: e.to_string(),
        })?;
        cores.push(core);
    }
    Ok(cores)
}
