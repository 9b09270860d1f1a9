//! The control thread: starts the workers, then watches signals, worker health, the Secrets and
//! the XDP counters; on SIGTERM/SIGINT drains (GOAWAY), closes (CONNECTION_CLOSE) and joins.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oxidize_relay_core::relay::RelayCore;
use oxidize_xdp::XdpProgram;

use super::config::RelaySettings;
use super::error::{Error, Result};
use super::io::PacketIo;
use super::state::Shared;
use super::worker::{Control, Worker};
use super::{doorbell, handoff, secrets};
use crate::egress;

/// How often the Secrets are checked for changes.
const SECRET_POLL: Duration = Duration::from_secs(2);

/// Starts the workers and runs the control loop until a signal, then drains and joins them.
pub(crate) fn serve<I: PacketIo + Send + 'static>(
    settings: &RelaySettings,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
    program: Option<&XdpProgram>,
    ios: Vec<I>,
    cores: Vec<RelayCore>,
    tun_queues: Vec<egress::TunQueue>,
) -> Result<()> {
    let rings = handoff::mesh(settings.workers, handoff::RING_CAPACITY);
    let mut tuns: Vec<Option<egress::TunQueue>> = tun_queues.into_iter().map(Some).collect();
    tuns.resize_with(settings.workers, || None);
    let mut controls: Vec<Sender<Control>> = Vec::new();
    let doorbells = Arc::new(
        (0..settings.workers)
            .map(|_| doorbell::Doorbell::new())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io("eventfd() for the worker doorbells", e))?,
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
            busy_poll: settings.busy_poll,
        };
        let handle = std::thread::Builder::new()
            .name(format!("relay-worker-{id}"))
            .spawn(move || {
                if let Err(e) = oxidize_xdp::syscall::pin_current_thread(cpu) {
                    tracing::warn!(worker = id, cpu, error = %e, "relay: could not pin the worker to its core");
                }
                worker.run()
            })
            .map_err(|e| Error::io("spawning a worker thread", e))?;
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
        return Err(Error::Workers(errors));
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
        Err(e) => tracing::warn!(error = %e, "relay: reading the XDP counters failed"),
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
