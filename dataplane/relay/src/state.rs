//! State shared between the workers, the control thread and the HTTP endpoint. Workers publish
//! a snapshot of their counters every few hundred milliseconds (one uncontended lock between
//! batches, never per packet); the HTTP endpoint renders the latest snapshots.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use oxidize_relay_core::relay::RelayStats;

/// Counters of a worker's packet I/O (AF_XDP or UDP socket) and hand-offs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoStats {
    /// UDP datagrams received for the relay port.
    pub rx_packets: u64,
    /// Their payload bytes.
    pub rx_bytes: u64,
    /// UDP datagrams sent.
    pub tx_packets: u64,
    /// Their payload bytes.
    pub tx_bytes: u64,
    /// Frames that did not parse as UDP (released).
    pub rx_malformed: u64,
    /// Sends dropped: no free UMEM frame.
    pub tx_no_frame: u64,
    /// Sends dropped: no next-hop MAC for the destination.
    pub tx_no_route: u64,
    /// Sends dropped: the frame could not be built or the socket refused it.
    pub tx_error: u64,
}

/// Counters of the hand-offs between workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandoffStats {
    /// QUIC packets passed to the worker that owns their connection.
    pub quic_out: u64,
    /// Packets from the TUN passed to the worker that owns their destination.
    pub tunnel_out: u64,
    /// Hand-offs dropped because the other worker's ring was full.
    pub ring_full: u64,
    /// TUN packets for an address no worker owns.
    pub tunnel_unowned: u64,
}

/// Counters of a worker's TUN queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunStats {
    /// Packets read (from the internet).
    pub read_packets: u64,
    /// Packets written (to the internet).
    pub written_packets: u64,
    /// Read errors.
    pub read_errors: u64,
    /// Writes dropped because the queue was full.
    pub write_full: u64,
    /// Other write errors.
    pub write_errors: u64,
}

/// Everything one worker reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The relay core's counters.
    pub core: RelayStats,
    /// Open QUIC connections.
    pub connections: u64,
    /// Open CONNECT-IP sessions.
    pub sessions: u64,
    /// Addresses handed out from this worker's part of the pool.
    pub pool_in_use: u64,
    /// Size of this worker's part of the pool.
    pub pool_capacity: u64,
    /// Packet I/O.
    pub io: IoStats,
    /// Hand-offs.
    pub handoff: HandoffStats,
    /// TUN queue.
    pub tun: TunStats,
    /// The kernel's AF_XDP socket statistics (AF_XDP backend only).
    pub xsk: Option<oxidize_xdp::stats::XskStatistics>,
}

/// One worker's slot.
#[derive(Debug, Default)]
pub struct WorkerSlot {
    /// Set while the worker loop runs.
    pub running: AtomicBool,
    /// The latest snapshot.
    pub snapshot: Mutex<WorkerSnapshot>,
}

/// Shared state of one relay process.
#[derive(Debug)]
pub struct Shared {
    /// One slot per worker.
    pub workers: Vec<WorkerSlot>,
    /// The packet I/O is up (XDP attached and every socket registered, or the UDP sockets bound).
    pub io_ready: AtomicBool,
    /// A TLS certificate is loaded.
    pub tls_loaded: AtomicBool,
    /// SIGTERM/SIGINT received: not ready any more.
    pub stopping: AtomicBool,
    /// Successful certificate reloads.
    pub tls_reloads: AtomicU64,
    /// Successful token reloads.
    pub token_reloads: AtomicU64,
    /// Failed reloads (the old material stays in use).
    pub reload_failures: AtomicU64,
    /// The XDP program's counters summed over CPUs (slot order of `XdpCounter::ALL`), refreshed
    /// by the control thread; `None` without XDP.
    pub xdp_counters: Mutex<Option<[u64; 8]>>,
}

impl Shared {
    /// State for `workers` workers, nothing ready yet.
    pub fn new(workers: usize) -> Self {
        Shared {
            workers: (0..workers).map(|_| WorkerSlot::default()).collect(),
            io_ready: AtomicBool::new(false),
            tls_loaded: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            tls_reloads: AtomicU64::new(0),
            token_reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            xdp_counters: Mutex::new(None),
        }
    }

    /// Ready: packet I/O up, every worker running, TLS loaded, not stopping.
    pub fn ready(&self) -> bool {
        self.io_ready.load(Ordering::Relaxed)
            && self.tls_loaded.load(Ordering::Relaxed)
            && !self.stopping.load(Ordering::Relaxed)
            && self
                .workers
                .iter()
                .all(|w| w.running.load(Ordering::Relaxed))
    }

    /// The latest snapshot of every worker.
    pub fn snapshots(&self) -> Vec<WorkerSnapshot> {
        self.workers
            .iter()
            .map(|w| match w.snapshot.lock() {
                Ok(s) => *s,
                Err(poisoned) => *poisoned.into_inner(),
            })
            .collect()
    }
}
