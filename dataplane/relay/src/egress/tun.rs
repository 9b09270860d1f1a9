//! Per-worker TUN queues: batched non-blocking reads, single writes, plain counters.
//!
//! Each queue is one file descriptor of the multi-queue TUN device (`IFF_MULTI_QUEUE`,
//! `IFF_NO_PI`: every read or write is exactly one IP packet). The kernel spreads packets that
//! leave through the TUN over the queues by flow, preferring the queue that last wrote the flow,
//! so a worker tends to read the replies to what it wrote. Nothing here allocates per packet.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tun_rs::SyncDevice;

use super::error::libc_errno;

/// Errors counted by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueErrors {
    /// Reads that failed with something other than "no packet ready".
    pub read: u64,
    /// Writes refused because the queue was full (`EAGAIN`): the packet was dropped.
    pub write_full: u64,
    /// Writes the kernel rejected as malformed (`EINVAL`: not an IPv4/IPv6 packet).
    pub write_invalid: u64,
    /// Other write failures.
    pub write_other: u64,
}

/// Counters of one queue, from the relay's point of view: `read_*` is traffic from the internet
/// towards the clients, `written_*` from the clients towards the internet.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets read from the TUN.
    pub read_packets: u64,
    /// Bytes read from the TUN.
    pub read_bytes: u64,
    /// Packets written to the TUN.
    pub written_packets: u64,
    /// Bytes written to the TUN.
    pub written_bytes: u64,
    /// Failures by kind.
    pub errors: QueueErrors,
}

/// One queue of the TUN device, owned by one worker.
pub struct TunQueue {
    index: u16,
    device: SyncDevice,
    stats: QueueStats,
}

impl TunQueue {
    /// Wraps an open queue and switches it to non-blocking mode.
    pub(crate) fn new(index: u16, device: SyncDevice) -> io::Result<Self> {
        device.set_nonblocking(true)?;
        Ok(TunQueue {
            index,
            device,
            stats: QueueStats::default(),
        })
    }

    /// The queue number (0-based), i.e. the worker it belongs to.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Reads up to `bufs.len()` packets without blocking; `lens[i]` gets the length of the packet
    /// in `bufs[i]`. Returns how many were read (0 when none was waiting). Each buffer should
    /// hold at least the device MTU; a longer packet is truncated by the kernel.
    ///
    /// An error is returned only when nothing was read; errors after the first packet end the
    /// batch early and are counted.
    pub fn read_batch<B: AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> io::Result<usize> {
        let max = bufs.len().min(lens.len());
        let mut count = 0;
        while count < max {
            match self.device.recv(bufs[count].as_mut()) {
                Ok(n) => {
                    lens[count] = n;
                    self.stats.read_packets += 1;
                    self.stats.read_bytes += n as u64;
                    count += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.stats.errors.read += 1;
                    if count == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        Ok(count)
    }

    /// Writes one IP packet into the kernel (towards the internet). Never blocks: a full queue
    /// drops the packet and returns `WouldBlock`.
    pub fn write(&mut self, packet: &[u8]) -> io::Result<()> {
        loop {
            match self.device.send(packet) {
                Ok(_) => {
                    self.stats.written_packets += 1;
                    self.stats.written_bytes += packet.len() as u64;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let errors = &mut self.stats.errors;
                    match e.raw_os_error() {
                        _ if e.kind() == io::ErrorKind::WouldBlock => errors.write_full += 1,
                        Some(libc_errno::EINVAL) => errors.write_invalid += 1,
                        _ => errors.write_other += 1,
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}

impl std::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunQueue")
            .field("index", &self.index)
            .field("fd", &self.device.as_raw_fd())
            .field("stats", &self.stats)
            .finish()
    }
}

impl AsRawFd for TunQueue {
    /// The queue's descriptor, for `poll()`/`epoll` (readable = packets waiting).
    fn as_raw_fd(&self) -> RawFd {
        self.device.as_raw_fd()
    }
}

impl AsFd for TunQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.device.as_fd()
    }
}
