//! Configuration of one queue's AF_XDP socket and UMEM.

use crate::{Error, Result};

/// Zero-copy policy of the bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopy {
    /// Zero-copy if the driver supports it, copy mode otherwise.
    #[default]
    Auto,
    /// Zero-copy or an error naming the driver.
    Required,
    /// Always copy mode.
    Off,
}

/// Busy-polling options (`SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL`, `SO_BUSY_POLL_BUDGET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    /// `SO_BUSY_POLL` in microseconds.
    pub usecs: u32,
    /// `SO_BUSY_POLL_BUDGET`: packets per busy-poll round.
    pub budget: u32,
}

/// Configuration of one queue's socket and UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskConfig {
    /// UMEM frames (power of two not required).
    pub frame_count: u32,
    /// Bytes per frame: 2048 or 4096.
    pub frame_size: u32,
    /// Entries in each of the RX, TX, fill and completion rings (power of two).
    pub ring_size: u32,
    /// Frames kept off the fill ring for sending (`alloc`).
    pub tx_reserve: u32,
    /// Zero-copy policy.
    pub zero_copy: ZeroCopy,
    /// Try hugepages for the UMEM (falls back with a warning).
    pub hugepages: bool,
    /// Busy polling, if wanted.
    pub busy_poll: Option<BusyPoll>,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            frame_count: 4096,
            frame_size: 2048,
            ring_size: 2048,
            tx_reserve: 512,
            zero_copy: ZeroCopy::Auto,
            hugepages: true,
            busy_poll: None,
        }
    }
}

impl XskConfig {
    /// Bytes of UMEM this configuration maps (what RLIMIT_MEMLOCK is charged).
    pub fn umem_bytes(&self) -> u64 {
        u64::from(self.frame_count) * u64::from(self.frame_size)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(what));
        if !matches!(self.frame_size, 2048 | 4096) {
            return bad(format!(
                "frame_size {} is not 2048 or 4096",
                self.frame_size
            ));
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 64 {
            return bad(format!(
                "ring_size {} is not a power of two >= 64",
                self.ring_size
            ));
        }
        if self.frame_count < self.ring_size + self.tx_reserve {
            return bad(format!(
                "frame_count {} is below ring_size {} + tx_reserve {}: the fill ring could \
                 not be kept full",
                self.frame_count, self.ring_size, self.tx_reserve
            ));
        }
        Ok(())
    }
}

/// How the socket ended up bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// `XDP_ZEROCOPY`.
    ZeroCopy,
    /// `XDP_COPY`.
    Copy,
}
