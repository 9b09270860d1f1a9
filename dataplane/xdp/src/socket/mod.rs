//! One AF_XDP socket per NIC queue, owned by one worker thread.
//!
//! [`XskQueue`] keeps the fill ring full (minus a TX reserve), reaps completions, honours
//! `need_wakeup`, kicks TX only while descriptors are pending (copy mode sends at most 32 per
//! `sendto()`), moves frames in batches of up to [`BATCH`], and sleeps in `poll()` when idle.
//! Frames are [`Frame`] handles: the type system and the pool id make sure only frames of this
//! UMEM that the application owns are read, written or produced to a ring.

use std::ffi::CString;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use xsk_rs::config::{
    BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use crate::stats::{QueueSnapshot, QueueStats, UmemUsage, XskStatistics};
mod config;

pub use crate::umem::Frame;
use crate::umem::{self, FramePool};
use crate::{syscall, Error, Result};
pub use config::{BindMode, BusyPoll, XskConfig, ZeroCopy};

/// Largest batch moved through a ring at once.
pub const BATCH: usize = 64;

/// One AF_XDP socket bound to one interface queue, with its own UMEM.
pub struct XskQueue {
    ifname: String,
    queue: u32,
    fd: RawFd,
    mode: BindMode,
    busy_poll: bool,
    ring_size: u32,
    tx_reserve: usize,
    pool: FramePool,
    scratch: Vec<FrameDesc>,
    stats: QueueStats,
    // Rings before the UMEM: they hold the socket, which must go before the UMEM.
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    umem: Umem,
}

impl std::fmt::Debug for XskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskQueue")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .field("umem", &self.pool.usage())
            .finish_non_exhaustive()
    }
}

impl XskQueue {
    /// Creates a UMEM and an AF_XDP socket bound to `ifname` queue `queue` (in the calling
    /// thread's network namespace), and fills the fill ring. Register the socket in the XDP
    /// program with [`crate::XdpProgram::register`]`(queue, q.fd())`.
    pub fn open(ifname: &str, queue: u32, config: &XskConfig) -> Result<Self> {
        config.validate()?;
        let sock_err = |detail: String| Error::Socket {
            ifname: ifname.to_owned(),
            queue,
            detail,
        };
        let interface = Interface::new(
            CString::new(ifname).map_err(|_| Error::InterfaceNotFound(ifname.to_owned()))?,
        );
        if syscall::if_nametoindex(ifname).is_err() {
            return Err(Error::InterfaceNotFound(ifname.to_owned()));
        }
        let attempts: &[BindMode] = match config.zero_copy {
            ZeroCopy::Auto => &[BindMode::ZeroCopy, BindMode::Copy],
            ZeroCopy::Required => &[BindMode::ZeroCopy],
            ZeroCopy::Off => &[BindMode::Copy],
        };
        let mut last_err = None;
        // After one fallback to normal pages, later attempts do not try hugepages again.
        let mut hugepages = config.hugepages;
        for &mode in attempts {
            match Self::bind(ifname, &interface, queue, config, mode, &mut hugepages) {
                Ok(q) => return Ok(q),
                Err(BindError::Bind(e)) => {
                    tracing::debug!(ifname, queue, ?mode, error = %e, "AF_XDP bind failed");
                    last_err = Some(e);
                }
                Err(BindError::Other(e)) => return Err(e),
            }
        }
        let e = last_err.unwrap_or_else(|| std::io::Error::other("no bind attempted"));
        if config.zero_copy == ZeroCopy::Required {
            let driver = syscall::ethtool_driver(ifname).unwrap_or_else(|_| "unknown".into());
            return Err(Error::ZeroCopyUnsupported {
                ifname: ifname.to_owned(),
                driver,
                source: e,
            });
        }
        Err(sock_err(format!("bind failed: {e}")))
    }

    fn bind(
        ifname: &str,
        interface: &Interface,
        queue: u32,
        config: &XskConfig,
        mode: BindMode,
        try_hugepages: &mut bool,
    ) -> std::result::Result<Self, BindError> {
        let other = |detail: String| {
            BindError::Other(Error::Socket {
                ifname: ifname.to_owned(),
                queue,
                detail,
            })
        };
        let ring = QueueSize::new(config.ring_size)
            .map_err(|e| BindError::Other(Error::Config(e.to_string())))?;
        let umem_config = UmemConfig::builder()
            .frame_size(
                FrameSize::new(config.frame_size)
                    .map_err(|e| BindError::Other(Error::Config(e.to_string())))?,
            )
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| BindError::Other(Error::Config(e.to_string())))?;
        let frames = NonZeroU32::new(config.frame_count)
            .ok_or_else(|| BindError::Other(Error::Config("frame_count is 0".into())))?;
        let (umem, descs, hugepages) =
            umem::create(umem_config, frames, *try_hugepages).map_err(|e| {
                other(format!(
                    "UMEM of {} bytes: {e} (locked memory: grant IPC_LOCK or raise ulimit -l)",
                    config.umem_bytes()
                ))
            })?;
        *try_hugepages = hugepages;
        let mut bind_flags = BindFlags::XDP_USE_NEED_WAKEUP;
        bind_flags |= match mode {
            BindMode::ZeroCopy => BindFlags::XDP_ZEROCOPY,
            BindMode::Copy => BindFlags::XDP_COPY,
        };
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(bind_flags)
            .build();
        // SAFETY: the UMEM is new and not shared with any other socket, so the shared-UMEM
        // requirement of `Socket::new` (INHIBIT_PROG_LOAD when re-binding a pair) does not apply;
        // we set INHIBIT_PROG_LOAD anyway because our own program owns the XSKMAP.
        let created = unsafe { Socket::new(socket_config, &umem, interface, queue) };
        let (tx, rx, rings) = created.map_err(|e| {
            let source = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .and_then(std::io::Error::raw_os_error)
                .map_or_else(
                    || std::io::Error::other(e.to_string()),
                    std::io::Error::from_raw_os_error,
                );
            BindError::Bind(source)
        })?;
        let (fq, cq) = rings.ok_or_else(|| other("no fill/completion ring returned".into()))?;
        let fd = rx.fd().as_raw_fd();
        if let Some(bp) = config.busy_poll {
            let set = |opt, value: u32, name: &str| {
                syscall::setsockopt_int(fd, opt, value as libc::c_int)
                    .map_err(|e| other(format!("setsockopt({name}): {e}")))
            };
            set(syscall::SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL")?;
            set(syscall::SO_BUSY_POLL, bp.usecs, "SO_BUSY_POLL")?;
            set(
                syscall::SO_BUSY_POLL_BUDGET,
                bp.budget,
                "SO_BUSY_POLL_BUDGET",
            )?;
        }
        let mut q = XskQueue {
            ifname: ifname.to_owned(),
            queue,
            fd,
            mode,
            busy_poll: config.busy_poll.is_some(),
            ring_size: config.ring_size,
            tx_reserve: config.tx_reserve as usize,
            pool: FramePool::new(descs, hugepages),
            scratch: vec![FrameDesc::default(); BATCH],
            stats: QueueStats::default(),
            tx,
            rx,
            fq,
            cq,
            umem,
        };
        q.refill().map_err(BindError::Other)?;
        tracing::info!(
            ifname,
            queue,
            ?mode,
            hugepages,
            frames = config.frame_count,
            "AF_XDP socket bound"
        );
        Ok(q)
    }

    /// The socket's fd, for [`crate::XdpProgram::register`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.fd().as_fd_borrowed()
    }

    /// The queue index.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// How the socket is bound.
    pub fn bind_mode(&self) -> BindMode {
        self.mode
    }

    /// Puts free frames (beyond the TX reserve) on the fill ring and wakes the kernel if it
    /// asked for it.
    fn refill(&mut self) -> Result<()> {
        let spare = self.pool.free.len().saturating_sub(self.tx_reserve);
        if spare > 0 {
            let room = self.fq.nb_free(spare as u32) as usize;
            let n = room.min(spare);
            if n > 0 {
                let start = self.pool.free.len() - n;
                // SAFETY: descriptors on the free list belong to this queue's UMEM and are owned
                // by no one else (not in any ring, no `Frame` handle for them).
                let produced = unsafe { self.fq.produce(&self.pool.free[start..]) };
                self.pool.free.drain(start..start + produced);
                self.pool.filled(produced);
            }
        }
        if self.fq.needs_wakeup() {
            self.stats.rx_wakeups += 1;
            syscall::xsk_rx_wakeup(self.fd)
                .map_err(|e| Error::syscall(format!("recvfrom(xsk {})", self.queue), e))?;
        }
        Ok(())
    }

    /// Moves completed TX frames back to the free list; kicks TX again if descriptors are still
    /// pending (copy mode sends at most 32 per kick).
    pub fn reap(&mut self) -> Result<usize> {
        let mut total = 0;
        loop {
            // SAFETY: the scratch descriptors are overwritten with completed frames of this UMEM,
            // which the kernel has released to us.
            let n = unsafe { self.cq.consume(&mut self.scratch) };
            if n == 0 {
                break;
            }
            self.pool.completed(&self.scratch[..n]);
            self.stats.tx_completed += n as u64;
            total += n;
        }
        self.kick_tx()?;
        Ok(total)
    }

    fn tx_pending(&mut self) -> u32 {
        self.ring_size - self.tx.nb_free(self.ring_size).min(self.ring_size)
    }

    fn kick_tx(&mut self) -> Result<()> {
        if self.pool.usage().in_tx == 0 || self.tx_pending() == 0 {
            return Ok(());
        }
        if self.tx.needs_wakeup() || self.mode == BindMode::Copy {
            self.stats.tx_kicks += 1;
            self.tx
                .wakeup()
                .map_err(|e| Error::syscall(format!("sendto(xsk {})", self.queue), e))?;
        }
        Ok(())
    }

    /// Receives up to `max` (at most [`BATCH`]) frames into `out` and returns how many arrived.
    /// Also reaps completions and refills the fill ring, so a worker that only receives and
    /// sends through this type keeps every ring moving.
    pub fn rx_batch(&mut self, out: &mut Vec<Frame>, max: usize) -> Result<usize> {
        self.reap()?;
        self.refill()?;
        let max = max.min(BATCH);
        // SAFETY: the scratch descriptors are overwritten with received frames of this UMEM,
        // which the kernel hands over to us; each becomes exactly one `Frame`.
        let n = unsafe { self.rx.consume(&mut self.scratch[..max]) };
        if n == 0 {
            if self.busy_poll {
                self.stats.rx_wakeups += 1;
                syscall::xsk_rx_wakeup(self.fd)
                    .map_err(|e| Error::syscall(format!("recvfrom(xsk {})", self.queue), e))?;
            }
            return Ok(0);
        }
        self.pool.received(n);
        for desc in &self.scratch[..n] {
            self.stats.rx_frames += 1;
            self.stats.rx_bytes += desc.lengths().data() as u64;
            out.push(Frame {
                desc: *desc,
                pool: self.pool.id,
            });
        }
        Ok(n)
    }

    /// Puts frames from the front of `frames` on the TX ring (up to [`BATCH`] per call and as
    /// many as fit) and kicks the kernel. Sent frames are removed from `frames`; those that did
    /// not fit stay for the next call. Returns how many were sent.
    ///
    /// # Panics
    /// If a frame belongs to another queue's UMEM (a programming error).
    pub fn tx_batch(&mut self, frames: &mut Vec<Frame>) -> Result<usize> {
        let wanted = frames.len().min(BATCH);
        if wanted == 0 {
            return Ok(0);
        }
        // libxdp reserves all or nothing: ask for no more than the ring has room for, so a
        // nearly full ring still takes what fits instead of nothing.
        let free = usize::try_from(self.tx.nb_free(wanted as u32)).unwrap_or(0);
        let n = wanted.min(free);
        for (slot, frame) in self.scratch.iter_mut().zip(&frames[..n]) {
            assert!(
                self.pool.owns(frame),
                "frame from another UMEM given to queue {}",
                self.queue
            );
            *slot = frame.desc;
        }
        // SAFETY: every descriptor comes from a `Frame` of this UMEM (checked above) that the
        // application owned; the handles are consumed below, so nothing touches them until
        // they come back through the completion ring.
        let sent = unsafe { self.tx.produce(&self.scratch[..n]) };
        for frame in frames.drain(..sent) {
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
        }
        if sent < wanted {
            self.stats.tx_ring_full += (wanted - sent) as u64;
        }
        self.pool.transmitted(sent);
        self.kick_tx()?;
        Ok(sent)
    }

    /// Gives a frame back without sending it.
    ///
    /// # Panics
    /// If the frame belongs to another queue's UMEM.
    pub fn release(&mut self, frame: Frame) {
        assert!(
            self.pool.owns(&frame),
            "frame from another UMEM given to queue {}",
            self.queue
        );
        self.stats.released += 1;
        self.pool.release(frame);
    }

    /// Takes a free frame to build a packet in, if one is left (the TX reserve keeps some).
    pub fn alloc(&mut self) -> Option<Frame> {
        self.pool.alloc()
    }

    /// The frame's bytes.
    ///
    /// # Panics
    /// If the frame belongs to another queue's UMEM.
    pub fn data<'a>(&'a self, frame: &'a Frame) -> &'a [u8] {
        assert!(self.pool.owns(frame), "frame from another UMEM");
        // SAFETY: the frame belongs to this UMEM (checked) and the application owns it (a
        // `Frame` exists only while no ring holds it). The returned slice borrows `frame` as
        // well as `self`, so `write` (which needs `&mut Frame`) cannot run on the same frame
        // while the slice lives.
        let data = unsafe { self.umem.data(&frame.desc) };
        let slice: &[u8] = data.contents();
        slice
    }

    /// Lets `fill` write the frame: it gets the whole frame buffer (current contents first) and
    /// returns the new length, which must not exceed the buffer.
    ///
    /// # Panics
    /// If the frame belongs to another queue's UMEM.
    pub fn write<E>(
        &self,
        frame: &mut Frame,
        fill: impl FnOnce(&mut [u8]) -> std::result::Result<usize, E>,
    ) -> std::result::Result<usize, E> {
        assert!(self.pool.owns(frame), "frame from another UMEM");
        // SAFETY: as in `data`; the exclusive borrow of `frame` makes this the only access to
        // its memory while the closure runs.
        let mut data = unsafe { self.umem.data_mut(&mut frame.desc) };
        let old = data.contents().len();
        let capacity = {
            let mut cursor = data.cursor();
            let cap = cursor.buf_len();
            cursor.set_pos(cap);
            cap
        };
        match fill(data.contents_mut()) {
            Ok(len) => {
                data.cursor().set_pos(len.min(capacity));
                Ok(len.min(capacity))
            }
            Err(e) => {
                data.cursor().set_pos(old);
                Err(e)
            }
        }
    }

    /// Sleeps in `poll()` until the socket has frames to read (or TX room while frames are
    /// pending), or `timeout_ms` passes. Returns whether it woke for readiness.
    pub fn wait(&mut self, timeout_ms: i32) -> Result<bool> {
        self.stats.idle_polls += 1;
        let mut events = libc::POLLIN;
        if self.pool.usage().in_tx > 0 {
            events |= libc::POLLOUT;
        }
        let revents = syscall::poll_one(self.fd, events, timeout_ms)
            .map_err(|e| Error::syscall(format!("poll(xsk {})", self.queue), e))?;
        Ok(revents != 0)
    }

    /// The worker's counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Where this queue's UMEM frames are.
    pub fn umem_usage(&self) -> UmemUsage {
        self.pool.usage()
    }

    /// The kernel's `XDP_STATISTICS` for this socket.
    pub fn xsk_statistics(&self) -> Result<XskStatistics> {
        let s = self
            .rx
            .fd()
            .xdp_statistics()
            .map_err(|e| Error::syscall("getsockopt(XDP_STATISTICS)", e))?;
        Ok(XskStatistics {
            rx_dropped: s.rx_dropped(),
            rx_invalid_descs: s.rx_invalid_descs(),
            tx_invalid_descs: s.tx_invalid_descs(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs(),
            tx_ring_empty_descs: s.tx_ring_empty_descs(),
        })
    }

    /// Everything at once, for the metrics endpoint.
    pub fn snapshot(&self) -> Result<QueueSnapshot> {
        Ok(QueueSnapshot {
            queue: self.queue,
            io: self.stats,
            xsk: self.xsk_statistics()?,
            umem: self.pool.usage(),
        })
    }
}

enum BindError {
    Bind(std::io::Error),
    Other(Error),
}

trait AsFdBorrowed {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_>;
}

impl AsFdBorrowed for xsk_rs::socket::Fd {
    fn as_fd_borrowed(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd stays open as long as the socket that `self` belongs to, and the
        // returned borrow cannot outlive `self`.
        unsafe { BorrowedFd::borrow_raw(self.as_raw_fd()) }
    }
}
