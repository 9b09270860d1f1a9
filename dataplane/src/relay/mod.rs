//! The relay server: `oxidize-dataplane relay --config FILE [--io xdp|udp]`.
//!
//! Wiring: settings ([`config`]) -> TLS and tokens ([`secrets`]) -> the health/metrics endpoint
//! ([`http`]) -> egress (TUN, routes, masquerade; [`crate::egress`]) -> XDP program and one
//! AF_XDP socket per queue ([`xdp_io`]) or UDP sockets ([`udp_io`]) -> one pinned [`worker`]
//! thread per queue, linked by lock-free rings ([`handoff`]) -> the control loop here (signals,
//! Secret reloads, drain) -> teardown in reverse order.
//!
//! Pure logic, tested without I/O: [`config`], [`pool_split`], [`metrics`], [`http::route`].

pub mod config;
pub mod doorbell;
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
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use oxidize_relay_core::pool::Cidr;
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_xdp::{AttachMode, XdpProgram, XskConfig, XskQueue, ZeroCopy};

use crate::egress::{self, DatagramOverhead, Egress, EgressConfig, EgressPlan};
use config::RelaySettings;
use io::PacketIo;
use state::Shared;
use worker::{Control, Worker};

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

/// How often the Secrets are checked for changes.
const SECRET_POLL: Duration = Duration::from_secs(2);

fn random_seed() -> anyhow::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom for the connection ID seed")?;
    Ok(seed)
}

/// Runs the relay until SIGTERM/SIGINT.
///
/// # Errors
/// Whatever stopped start-up (with what to do about it) or a worker's fatal error.
pub fn run(args: &RelayArgs) -> anyhow::Result<()> {
    let settings = config::load(&args.config)?;
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
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let server = secrets::load_tls(&settings.tls_cert, &settings.tls_key, settings.idle_timeout)?;
    let tokens = secrets::load_tokens(&settings.tokens_dir)?;
    let shared = Arc::new(Shared::new(settings.workers));
    shared.tls_loaded.store(true, Ordering::Relaxed);
    let http = http::spawn(settings.metrics_addr, shared.clone())?;
    tracing::info!(http_addr = %http.addr(), "relay: /healthz /readyz /metrics");

    let link = oxidize_xdp::netlink::link_info(&settings.interface)
        .with_context(|| format!("interface {} (config `interface`)", settings.interface))?;
    let inner_mtu =
        egress::inner_mtu(link.mtu, &DatagramOverhead::default()).with_context(|| {
            format!(
                "MTU {} of {} is too small to carry tunnelled packets",
                link.mtu, settings.interface
            )
        })?;
    let mut egress_config = EgressConfig::new(
        settings.pools.v4,
        u16::try_from(settings.workers).unwrap_or(u16::MAX),
        &settings.egress_interface,
        inner_mtu,
    );
    egress_config.pool_v6 = settings.pools.v6;
    let plan = EgressPlan::new(&egress_config)?;
    let mut egress = Egress::setup(plan)?;
    let tun_queues = egress.take_queues();

    let result = (|| -> anyhow::Result<()> {
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
) -> anyhow::Result<Vec<RelayCore>> {
    let template = UriTemplate::parse(&settings.uri_template)
        .map_err(|e| anyhow::anyhow!("relay.uriTemplate: {e}"))?;
    let mut cores = Vec::new();
    for id in 0..settings.workers {
        let cidr = |s: String| -> anyhow::Result<Cidr> {
            s.parse()
                .map_err(|e| anyhow::anyhow!("pool part {s}: {e:?}"))
        };
        let pool_v4 = cidr(settings.pools.v4_parts[id].to_string())?;
        let pool_v6 = match settings.pools.v6_parts.get(id) {
            Some(p) => Some(cidr(p.to_string())?),
            None => None,
        };
        let core = RelayCore::new(RelayConfig {
            worker_id: u8::try_from(id).context("worker id")?,
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
        .map_err(|e| anyhow::anyhow!("client pool of worker {id}: {e}"))?;
        cores.push(core);
    }
    Ok(cores)
}

/// Starts the workers and runs the control loop until a signal, then drains and joins them.
fn serve<I: PacketIo + Send + 'static>(
    settings: &RelaySettings,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
    program: Option<&XdpProgram>,
    ios: Vec<I>,
    cores: Vec<RelayCore>,
    tun_queues: Vec<egress::TunQueue>,
) -> anyhow::Result<()> {
    let rings = handoff::mesh(settings.workers, handoff::RING_CAPACITY);
    let mut tuns: Vec<Option<egress::TunQueue>> = tun_queues.into_iter().map(Some).collect();
    tuns.resize_with(settings.workers, || None);
    let mut controls: Vec<Sender<Control>> = Vec::new();
    let doorbells = Arc::new(
        (0..settings.workers)
            .map(|_| doorbell::Doorbell::new())
            .collect::<std::io::Result<Vec<_>>>()
            .context("eventfd() for the worker doorbells")?,
    );
    let mut handles: Vec<JoinHandle<std::io::Result<()>>> = Vec::new();
    for (id, ((io, core), (rings, tun))) in ios
        .into_iter()
        .zip(cores)
        .zip(rings.into_iter().zip(tuns))
        .enumerate()
    {
        let (tx, rx) = channel();
        controls.push(tx);
        let cpu = settings.cores[id];
        let worker = Worker {
            id,
            io,
            core,
            tun,
            pools: settings.pools.clone(),
            rings,
            control: rx,
            shared: shared.clone(),
            doorbells: doorbells.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("relay-worker-{id}"))
            .spawn(move || {
                if let Err(e) = oxidize_xdp::syscall::pin_current_thread(cpu) {
                    tracing::warn!(worker = id, cpu, error = %e, "relay: could not pin the worker to its core");
                }
                worker.run()
            })
            .context("spawning a worker thread")?;
        handles.push(handle);
    }
    shared.io_ready.store(true, Ordering::Relaxed);
    let broadcast = |msg: &dyn Fn() -> Control| {
        for (c, bell) in controls.iter().zip(doorbells.iter()) {
            let _ = c.send(msg());
            bell.ring_always();
        }
    };
    let mut watch =
        secrets::SecretWatch::new(&settings.tls_cert, &settings.tls_key, &settings.tokens_dir);
    let mut last_watch = Instant::now();
    let mut last_xdp = Instant::now()
        .checked_sub(Duration::from_secs(1))
        .unwrap_or_else(Instant::now);
    let mut failed: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(i) = handles.iter().position(|h| h.is_finished()) {
            failed = Some(format!("worker {i} stopped unexpectedly"));
            break;
        }
        if let Some(p) = program {
            if last_xdp.elapsed() >= Duration::from_secs(1) {
                last_xdp = Instant::now();
                refresh_xdp_counters(p, shared);
            }
        }
        if last_watch.elapsed() >= SECRET_POLL {
            last_watch = Instant::now();
            reload(settings, shared, &mut watch, &broadcast);
        }
    }
    tracing::info!(drain = ?settings.drain_timeout, "relay: stopping: GOAWAY to every connection");
    shared.stopping.store(true, Ordering::Relaxed);
    broadcast(&|| Control::Drain);
    let deadline = Instant::now() + settings.drain_timeout;
    while Instant::now() < deadline && failed.is_none() {
        std::thread::sleep(Duration::from_millis(50));
        // Snapshots are at most 250 ms old; wait one more round after they show no connection.
        if shared.snapshots().iter().all(|s| s.connections == 0) {
            std::thread::sleep(Duration::from_millis(300));
            if shared.snapshots().iter().all(|s| s.connections == 0) {
                break;
            }
        }
    }
    tracing::info!("relay: CONNECTION_CLOSE to the remaining connections");
    broadcast(&|| Control::Close);
    drop(controls);
    let mut errors = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("worker {i}: {e}")),
            Err(_) => errors.push(format!("worker {i} panicked")),
        }
    }
    if let Some(f) = failed {
        errors.insert(0, f);
    }
    if !errors.is_empty() {
        bail!("relay workers failed: {}", errors.join("; "));
    }
    Ok(())
}

fn refresh_xdp_counters(program: &XdpProgram, shared: &Shared) {
    match program.counters() {
        Ok(c) => {
            let mut totals = [0u64; 8];
            for k in oxidize_xdp::XdpCounter::ALL {
                totals[k as usize] = c.total(k);
            }
            if let Ok(mut g) = shared.xdp_counters.lock() {
                *g = Some(totals);
            }
        }
        Err(e) => tracing::debug!(error = %e, "relay: reading the XDP counters failed"),
    }
}

fn reload(
    settings: &RelaySettings,
    shared: &Shared,
    watch: &mut secrets::SecretWatch,
    broadcast: &dyn Fn(&dyn Fn() -> Control),
) {
    let changes = watch.poll_changes();
    if changes.tls {
        match secrets::load_tls(&settings.tls_cert, &settings.tls_key, settings.idle_timeout) {
            Ok(cfg) => {
                broadcast(&|| Control::ServerConfig(cfg.clone()));
                shared.tls_reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!("relay: TLS certificate reloaded");
            }
            Err(e) => {
                shared.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "relay: TLS reload failed; keeping the old certificate");
            }
        }
    }
    if changes.tokens {
        match secrets::load_tokens(&settings.tokens_dir) {
            Ok(t) => {
                broadcast(&|| Control::Tokens(t.clone()));
                shared.token_reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(tokens = t.len(), "relay: tokens reloaded");
            }
            Err(e) => {
                shared.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "relay: token reload failed; keeping the old tokens");
            }
        }
    }
}
