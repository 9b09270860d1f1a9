//! UMEM creation (hugepages when available, with a warning and a counter when not) and frame
//! ownership: every UMEM frame is at any time in exactly one place — the free list, the
//! kernel's fill/RX path, the TX/completion path, or the application as a [`Frame`] handle.

#![forbid(unsafe_code)]

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use xsk_rs::config::UmemConfig;
use xsk_rs::{FrameDesc, Umem};

use crate::stats::UmemUsage;

static HUGEPAGE_FALLBACKS: AtomicU64 = AtomicU64::new(0);
static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// How many UMEMs of this process fell back from hugepages to normal pages (a metric).
pub fn hugepage_fallbacks() -> u64 {
    HUGEPAGE_FALLBACKS.load(Ordering::Relaxed)
}

/// Creates a UMEM of `frames` frames; with `hugepages` it tries `MAP_HUGETLB` first and falls
/// back to normal pages with a warning (and [`hugepage_fallbacks`] counting it). Returns the UMEM,
/// its frame descriptors and whether hugepages back it.
pub(crate) fn create(
    config: UmemConfig,
    frames: NonZeroU32,
    hugepages: bool,
) -> Result<(Umem, Vec<FrameDesc>, bool), xsk_rs::umem::UmemCreateError> {
    if hugepages {
        match Umem::new(config, frames, true) {
            Ok((umem, descs)) => return Ok((umem, descs, true)),
            Err(e) => {
                HUGEPAGE_FALLBACKS.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = %e,
                    frames = frames.get(),
                    "UMEM: no hugepages available, falling back to normal pages (more TLB \
                     misses); reserve hugepages with vm.nr_hugepages to fix"
                );
            }
        }
    }
    let (umem, descs) = Umem::new(config, frames, false)?;
    Ok((umem, descs, false))
}

/// A UMEM frame owned by the application: received by [`crate::XskQueue::rx_batch`] or taken
/// with [`crate::XskQueue::alloc`]. Give it back with [`crate::XskQueue::tx_batch`] or
/// [`crate::XskQueue::release`]; a handle that is dropped instead leaks its frame (visible in
/// [`UmemUsage::held`]).
#[derive(Debug)]
#[must_use = "a Frame must be sent or released, or its UMEM frame leaks"]
pub struct Frame {
    pub(crate) desc: FrameDesc,
    pub(crate) pool: u64,
}

impl Frame {
    /// The frame's length in bytes (what was received, or what was last written).
    pub fn len(&self) -> usize {
        self.desc.lengths().data()
    }

    /// Whether the frame holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame's offset in the UMEM (for logs and tests).
    pub fn addr(&self) -> usize {
        self.desc.addr()
    }
}

/// Frame bookkeeping of one UMEM (pure; no rings). The queue moves descriptors through it.
#[derive(Debug)]
pub(crate) struct FramePool {
    pub(crate) id: u64,
    pub(crate) free: Vec<FrameDesc>,
    total: u32,
    in_fill: u32,
    in_tx: u32,
    held: u32,
    hugepages: bool,
}

impl FramePool {
    pub(crate) fn new(descs: Vec<FrameDesc>, hugepages: bool) -> Self {
        FramePool {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            total: descs.len() as u32,
            free: descs,
            in_fill: 0,
            in_tx: 0,
            held: 0,
            hugepages,
        }
    }

    /// `n` descriptors from the end of the free list went onto the fill ring.
    pub(crate) fn filled(&mut self, n: usize) {
        self.in_fill += n as u32;
    }

    /// `n` frames came out of the RX ring and become [`Frame`]s.
    pub(crate) fn received(&mut self, n: usize) {
        self.in_fill = self.in_fill.saturating_sub(n as u32);
        self.held += n as u32;
    }

    /// `n` held frames went onto the TX ring.
    pub(crate) fn transmitted(&mut self, n: usize) {
        self.held = self.held.saturating_sub(n as u32);
        self.in_tx += n as u32;
    }

    /// Frames came back from the completion ring: onto the free list.
    pub(crate) fn completed(&mut self, descs: &[FrameDesc]) {
        self.in_tx = self.in_tx.saturating_sub(descs.len() as u32);
        self.free.extend_from_slice(descs);
    }

    /// Takes a free frame for the application.
    pub(crate) fn alloc(&mut self) -> Option<Frame> {
        let desc = self.free.pop()?;
        self.held += 1;
        Some(Frame {
            desc,
            pool: self.id,
        })
    }

    /// A held frame goes back to the free list.
    pub(crate) fn release(&mut self, frame: Frame) {
        self.held = self.held.saturating_sub(1);
        self.free.push(frame.desc);
    }

    /// Whether `frame` belongs to this pool.
    pub(crate) fn owns(&self, frame: &Frame) -> bool {
        frame.pool == self.id
    }

    pub(crate) fn usage(&self) -> UmemUsage {
        UmemUsage {
            total: self.total,
            free: self.free.len() as u32,
            in_fill: self.in_fill,
            in_tx: self.in_tx,
            held: self.held,
            hugepages: self.hugepages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> FramePool {
        FramePool::new(vec![FrameDesc::default(); n], false)
    }

    fn invariant(p: &FramePool) {
        let u = p.usage();
        assert_eq!(u.free + u.in_fill + u.in_tx + u.held, u.total, "{u:?}");
    }

    #[test]
    fn frames_move_through_every_state_and_come_back() {
        let mut p = pool(8);
        // Fill 4: the queue takes them off the free list and reports them.
        p.free.truncate(4);
        p.filled(4);
        invariant(&p);
        p.received(2);
        invariant(&p);
        let mut held: Vec<Frame> = (0..2)
            .map(|_| Frame {
                desc: FrameDesc::default(),
                pool: p.id,
            })
            .collect();
        p.transmitted(1);
        let _sent = held.pop(); // the frame went to TX; its handle is consumed
        invariant(&p);
        p.completed(&[FrameDesc::default()]);
        invariant(&p);
        for f in held {
            p.release(f);
        }
        invariant(&p);
        assert_eq!(p.usage().in_use(), 0);
        let f = p.alloc().expect("free frame");
        assert!(p.owns(&f));
        assert!(!pool(1).owns(&f));
        assert_eq!(p.usage().held, 1);
        p.release(f);
        invariant(&p);
    }
}
