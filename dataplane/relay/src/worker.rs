//! One worker: one NIC queue, one core, one [`RelayCore`], one TUN queue. No async runtime,
//! no lock on the packet path; batches of up to [`BATCH`].
//!
//! Loop: control messages (between batches) -> receive a batch (hand QUIC packets owned by
//! another worker over its ring) -> packets from other workers -> a batch from the TUN queue
//! (hand packets for another worker's clients over its ring) -> tunnel packets to the TUN ->
//! timers -> transmits -> publish counters (every 250 ms) -> `poll()` on the packet and TUN
//! descriptors when there was nothing to do.

use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::egress::TunQueue;
use bytes::BytesMut;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::cid;
use oxidize_relay_core::relay::RelayCore;
use quinn_proto::ServerConfig;

use super::doorbell::Doorbell;
use super::handoff::{Handoff, Rings};
use super::io::{PacketIo, BATCH};
use super::pool_split::PoolSplit;
use super::state::{HandoffStats, Shared, TunStats, WorkerSnapshot};

/// Messages from the control thread, checked between batches.
#[derive(Debug)]
pub enum Control {
    /// The certificate Secret changed.
    ServerConfig(Arc<ServerConfig>),
    /// The token Secret changed.
    Tokens(TokenSet),
    /// SIGTERM: send GOAWAY, refuse new connections.
    Drain,
    /// Drain time over: CONNECTION_CLOSE to everyone, then exit.
    Close,
}

/// Longest `poll()` sleep (hand-offs and control messages ring the worker's doorbell, so this
/// only bounds how stale the published counters of an idle worker get).
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often counters are published.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// How long closing connections get to send CONNECTION_CLOSE before the worker exits.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Transmits per round before receiving again.
const MAX_TRANSMITS: usize = 4 * BATCH;
/// Bytes per TUN read buffer (beyond any inner MTU the relay sets).
const TUN_BUF: usize = 2048;

/// Everything a worker owns.
pub struct Worker<I: PacketIo> {
    /// Worker id (= queue = CID byte).
    pub id: usize,
    /// The packet I/O.
    pub io: I,
    /// The relay core.
    pub core: RelayCore,
    /// The worker's TUN queue (none in tests without egress).
    pub tun: Option<TunQueue>,
    /// Who owns which client address.
    pub pools: PoolSplit,
    /// Rings to and from the other workers.
    pub rings: Rings,
    /// Control messages.
    pub control: Receiver<Control>,
    /// Shared state (counters, running flag).
    pub shared: Arc<Shared>,
    /// Every worker's doorbell (index = worker id).
    pub doorbells: Arc<Vec<Doorbell>>,
    /// Busy-poll: never sleep in `poll()` (the core is the worker's alone; `busyPoll: true`).
    pub busy_poll: bool,
}

impl<I: PacketIo> std::fmt::Debug for Worker<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

struct Counters {
    handoff: HandoffStats,
    tun: TunStats,
}

impl<I: PacketIo> Worker<I> {
    /// Runs until told to close (or the control channel is gone); returns on a fatal I/O error.
    ///
    /// # Errors
    /// The I/O error that stopped the worker.
    pub fn run(mut self) -> std::io::Result<()> {
        let slot = &self.shared.workers[self.id];
        slot.running.store(true, Ordering::Relaxed);
        let result = self.run_loop();
        self.io.finish();
        let slot = &self.shared.workers[self.id];
        slot.running.store(false, Ordering::Relaxed);
        result
    }

    fn run_loop(&mut self) -> std::io::Result<()> {
        let Worker {
            id,
            io,
            core,
            tun,
            pools,
            rings,
            control,
            shared,
            doorbells,
            busy_poll,
        } = self;
        let busy_poll = *busy_poll;
        let id = *id;
        let slot = &shared.workers[id];
        let mut c = Counters {
            handoff: HandoffStats::default(),
            tun: TunStats::default(),
        };
        let mut tx_buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut tun_bufs: Vec<[u8; TUN_BUF]> = vec![[0u8; TUN_BUF]; BATCH];
        let mut tun_lens = [0usize; BATCH];
        let mut last_publish = Instant::now();
        let mut closing: Option<Instant> = None;
        let mut dirty = false;
        loop {
            let now = Instant::now();
            loop {
                match control.try_recv() {
                    Ok(Control::ServerConfig(cfg)) => core.set_server_config(cfg),
                    Ok(Control::Tokens(t)) => core.set_tokens(t),
                    Ok(Control::Drain) => core.shutdown(now),
                    Ok(Control::Close) => {
                        core.close_all(now);
                        closing.get_or_insert(now);
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        core.close_all(now);
                        closing.get_or_insert(now);
                        break;
                    }
                }
            }
            if let Some(since) = closing {
                if core.connection_count() == 0 || now.duration_since(since) > CLOSE_GRACE {
                    break;
                }
            }
            let mut work = 0;

            // 1. Packets from the NIC.
            let workers = rings.outbound.len();
            work += io.recv_batch(&mut |r| {
                let owner = cid::worker_of(r.payload).map(usize::from);
                match owner {
                    Some(w) if w != id && w < workers => {
                        let msg = Handoff::Quic {
                            remote: r.remote,
                            ecn: r.ecn,
                            path: r.path,
                            data: BytesMut::from(r.payload),
                        };
                        match rings.outbound[w].as_mut().map(|p| p.push(msg)) {
                            Some(Ok(())) => {
                                c.handoff.quic_out += 1;
                                doorbells[w].ring();
                            }
                            _ => c.handoff.ring_full += 1,
                        }
                    }
                    _ => core.handle_datagram(now, r.remote, r.ecn, BytesMut::from(r.payload)),
                }
            })?;

            // 2. Hand-offs from other workers.
            for ring in rings.inbound.iter_mut() {
                for _ in 0..BATCH {
                    let Ok(msg) = ring.pop() else { break };
                    work += 1;
                    match msg {
                        Handoff::Quic {
                            remote,
                            ecn,
                            path,
                            data,
                        } => {
                            if let Some(p) = path {
                                io.learn(remote.ip(), p);
                            }
                            core.handle_datagram(now, remote, ecn, data);
                        }
                        Handoff::Tunnel(packet) => {
                            let _ = core.handle_tunnel_packet(&packet);
                        }
                    }
                }
            }

            // 3. Packets from the internet.
            if let Some(tun) = tun.as_mut() {
                match tun.read_batch(&mut tun_bufs, &mut tun_lens) {
                    Ok(n) => {
                        work += n;
                        for (buf, len) in tun_bufs.iter().zip(tun_lens.iter()).take(n) {
                            let packet = &buf[..*len];
                            let owner = oxidize_relay_core::packet::destination(packet)
                                .ok()
                                .and_then(|dst| pools.owner_of(dst));
                            match owner {
                                Some(w) if w == id => {
                                    let _ = core.handle_tunnel_packet(packet);
                                }
                                Some(w) => {
                                    let msg = Handoff::Tunnel(packet.to_vec());
                                    match rings.outbound[w].as_mut().map(|p| p.push(msg)) {
                                        Some(Ok(())) => {
                                            c.handoff.tunnel_out += 1;
                                            doorbells[w].ring();
                                        }
                                        _ => c.handoff.ring_full += 1,
                                    }
                                }
                                None => c.handoff.tunnel_unowned += 1,
                            }
                        }
                    }
                    Err(e) => {
                        // The queue counts its own failures (see `snapshot`).
                        tracing::debug!(error = %e, "relay: TUN read failed");
                    }
                }
            }

            // 4. Packets to the internet.
            while let Some(tp) = core.poll_tunnel_packet() {
                work += 1;
                match tun.as_mut() {
                    // The queue counts successes and failures itself (see `snapshot`).
                    Some(t) => {
                        let _ = t.write(&tp.packet);
                    }
                    None => c.tun.write_errors += 1,
                }
            }

            // 5. Timers.
            let now = Instant::now();
            if core.poll_timeout().is_some_and(|t| t <= now) {
                core.handle_timeout(now);
            }

            // 6. Transmits.
            let mut sent = 0;
            while sent < MAX_TRANSMITS {
                let Some(t) = core.poll_transmit(now, &mut tx_buf) else {
                    break;
                };
                let size = t.size.min(tx_buf.len());
                match t.segment_size {
                    Some(seg) if seg > 0 && seg < size => {
                        for chunk in tx_buf[..size].chunks(seg) {
                            io.send(t.destination, t.ecn, chunk);
                        }
                    }
                    _ => io.send(t.destination, t.ecn, &tx_buf[..size]),
                }
                sent += 1;
            }
            work += sent;
            io.flush()?;

            // 7. Counters: every PUBLISH_EVERY while busy, and whenever the worker goes idle
            // after doing something (so that idle counters are current).
            dirty |= work > 0;
            let going_idle = work == 0 && dirty;
            if going_idle || now.duration_since(last_publish) >= PUBLISH_EVERY || closing.is_some()
            {
                dirty = false;
                last_publish = now;
                let mut snap = snapshot(core, io.stats(), &c, tun.as_ref());
                snap.xsk = io.xsk_statistics();
                if let Ok(mut s) = slot.snapshot.lock() {
                    *s = snap;
                }
            }

            // 8. Idle: sleep until a descriptor is readable, the doorbell rings, the next
            // timer, or IDLE_POLL.
            if work == 0 && busy_poll {
                std::hint::spin_loop();
            } else if work == 0 {
                let bell = &doorbells[id];
                bell.prepare_sleep();
                if rings.inbound.iter().any(|r| !r.is_empty()) {
                    bell.woke();
                    continue;
                }
                let timeout = core.poll_timeout().map_or(IDLE_POLL, |t| {
                    t.saturating_duration_since(now).min(IDLE_POLL)
                });
                // Round up: a timer under 1 ms away must not become poll(0) and a busy spin.
                let ms = u16::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
                let packet_fd = PollFd::new(io.poll_fd(), PollFlags::POLLIN);
                let bell_fd = PollFd::new(bell.fd(), PollFlags::POLLIN);
                let polled = match tun.as_ref() {
                    Some(t) => nix::poll::poll(
                        &mut [
                            packet_fd,
                            bell_fd,
                            PollFd::new(t.as_fd(), PollFlags::POLLIN),
                        ],
                        PollTimeout::from(ms),
                    ),
                    None => nix::poll::poll(&mut [packet_fd, bell_fd], PollTimeout::from(ms)),
                };
                bell.woke();
                match polled {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(std::io::Error::from(e)),
                }
            }
        }
        let snap = snapshot(core, io.stats(), &c, tun.as_ref());
        publish(slot_of(shared, id), snap);
        Ok(())
    }
}

fn slot_of(shared: &Shared, id: usize) -> &Mutex<WorkerSnapshot> {
    &shared.workers[id].snapshot
}

fn publish(slot: &Mutex<WorkerSnapshot>, snap: WorkerSnapshot) {
    if let Ok(mut s) = slot.lock() {
        *s = snap;
    }
}

fn snapshot(
    core: &RelayCore,
    io: super::state::IoStats,
    c: &Counters,
    tun: Option<&TunQueue>,
) -> WorkerSnapshot {
    // The TUN queue keeps its own counters; the loop only counts packets it had to drop for
    // want of a TUN queue (`c.tun.write_errors`, tests without one).
    let mut tun_stats = c.tun;
    if let Some(t) = tun {
        let s = t.stats();
        tun_stats = TunStats {
            read_packets: s.read_packets,
            written_packets: s.written_packets,
            read_errors: s.errors.read,
            write_full: s.errors.write_full,
            write_errors: c.tun.write_errors + s.errors.write_invalid + s.errors.write_other,
        };
    }
    WorkerSnapshot {
        core: core.stats(),
        connections: core.connection_count() as u64,
        sessions: core.sessions().len() as u64,
        pool_in_use: core.pool().in_use(),
        pool_capacity: core.pool().capacity(),
        io,
        handoff: c.handoff,
        tun: tun_stats,
        xsk: None,
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
