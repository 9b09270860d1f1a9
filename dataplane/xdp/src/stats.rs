//! Plain counter structs. No metrics dependency: the relay binary turns snapshots into
//! Prometheus series off the hot path.

#![forbid(unsafe_code)]

/// One slot of the XDP program's per-CPU `counters` map (same order as `enum counter` in
/// `bpf/relay_xdp.bpf.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpCounter {
    /// Handed to the AF_XDP socket of the packet's RX queue.
    Redirected = 0,
    /// Passed: not IPv4/IPv6 (ARP, LLDP, ...).
    PassNotIp = 1,
    /// Passed: IP but not UDP (TCP, ICMP, ...).
    PassNotUdp = 2,
    /// Passed: UDP to a port that is not the relay's.
    PassOtherPort = 3,
    /// Passed: an IPv4 fragment or an IPv6 fragment header (the kernel reassembles).
    PassFragment = 4,
    /// Passed: an IPv6 extension header the program does not walk.
    PassIpv6Ext = 5,
    /// Passed: relay port, but no AF_XDP socket in the queue's XSKMAP slot.
    PassNoSocket = 6,
    /// Passed: truncated or invalid headers.
    ErrMalformed = 7,
}

impl XdpCounter {
    /// All counters in slot order.
    pub const ALL: [XdpCounter; 8] = [
        XdpCounter::Redirected,
        XdpCounter::PassNotIp,
        XdpCounter::PassNotUdp,
        XdpCounter::PassOtherPort,
        XdpCounter::PassFragment,
        XdpCounter::PassIpv6Ext,
        XdpCounter::PassNoSocket,
        XdpCounter::ErrMalformed,
    ];

    /// A fixed label for metrics, e.g. `pass_other_port`.
    pub fn label(self) -> &'static str {
        match self {
            XdpCounter::Redirected => "redirected",
            XdpCounter::PassNotIp => "pass_not_ip",
            XdpCounter::PassNotUdp => "pass_not_udp",
            XdpCounter::PassOtherPort => "pass_other_port",
            XdpCounter::PassFragment => "pass_fragment",
            XdpCounter::PassIpv6Ext => "pass_ipv6_ext",
            XdpCounter::PassNoSocket => "pass_no_socket",
            XdpCounter::ErrMalformed => "err_malformed",
        }
    }
}

/// A snapshot of the XDP program's counters: one row per possible CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// `per_cpu[cpu][counter as usize]`.
    pub per_cpu: Vec<[u64; 8]>,
}

impl XdpCounters {
    /// The sum of one counter over all CPUs.
    pub fn total(&self, counter: XdpCounter) -> u64 {
        self.per_cpu.iter().map(|row| row[counter as usize]).sum()
    }

    /// One counter on one CPU (0 when the CPU is out of range).
    pub fn on_cpu(&self, cpu: usize, counter: XdpCounter) -> u64 {
        self.per_cpu.get(cpu).map_or(0, |row| row[counter as usize])
    }

    /// The counters that grew from `earlier` to `self`, summed over CPUs.
    pub fn delta(&self, earlier: &XdpCounters) -> [u64; 8] {
        let mut out = [0u64; 8];
        for c in XdpCounter::ALL {
            out[c as usize] = self.total(c).saturating_sub(earlier.total(c));
        }
        out
    }
}

/// The kernel's `XDP_STATISTICS` for one AF_XDP socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStatistics {
    /// Frames dropped for reasons other than an invalid descriptor.
    pub rx_dropped: u64,
    /// Invalid descriptors seen on the fill ring / RX path.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors put on the TX ring.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty.
    pub tx_ring_empty_descs: u64,
}

/// Where the UMEM frames of one queue are. `free + in_fill + in_tx + held == total` always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UmemUsage {
    /// Frames in the UMEM.
    pub total: u32,
    /// Frames on the free list (not given to the kernel nor the application).
    pub free: u32,
    /// Frames on the fill ring or in the RX ring, owned by the kernel for reception.
    pub in_fill: u32,
    /// Frames on the TX ring or waiting on the completion ring.
    pub in_tx: u32,
    /// Frames handed to the application ([`crate::Frame`]) and not yet given back.
    pub held: u32,
    /// Whether the UMEM is backed by hugepages.
    pub hugepages: bool,
}

impl UmemUsage {
    /// Frames the application or the TX path holds: what must return to 0 when traffic stops.
    pub fn in_use(&self) -> u32 {
        self.in_tx + self.held
    }
}

/// Counters of one AF_XDP queue, kept by its worker (plain fields, no atomics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received (whole frames).
    pub rx_bytes: u64,
    /// Frames sent (put on the TX ring).
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// TX frames completed by the kernel.
    pub tx_completed: u64,
    /// `sendto()` kicks of the TX ring.
    pub tx_kicks: u64,
    /// Fill/RX wakeups (`recvfrom()`/`poll()` because of need_wakeup or busy polling).
    pub rx_wakeups: u64,
    /// Times the worker slept in `poll()`.
    pub idle_polls: u64,
    /// Frames the application gave back without sending (e.g. malformed or not for us).
    pub released: u64,
    /// TX frames that did not fit the TX ring on a `tx_batch` call (left with the caller; a frame
    /// that waits several calls is counted on each).
    pub tx_ring_full: u64,
}

/// A full snapshot of one queue, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// The queue index.
    pub queue: u32,
    /// The worker's counters.
    pub io: QueueStats,
    /// The kernel's socket statistics.
    pub xsk: XskStatistics,
    /// Where the UMEM frames are.
    pub umem: UmemUsage,
}
