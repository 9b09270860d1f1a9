//! Waking an idle worker: an eventfd that another thread writes only while the worker sleeps
//! in `poll()` (or is about to), so a busy worker costs its neighbours no syscall.
//!
//! Protocol: the worker calls [`Doorbell::prepare_sleep`], re-checks its rings, polls with the
//! doorbell's descriptor, then calls [`Doorbell::woke`]. A producer pushes first, then calls
//! [`Doorbell::ring`]. This is a store-then-load pair on each side (producer: ring entry, then
//! flag; worker: flag, then ring entry), which only works with a full `SeqCst` fence between the
//! store and the load on both sides: the ring's own `Release`/`Acquire` accesses do not order
//! against the flag otherwise (x86 may reorder a store with a later load). With the fences,
//! either the producer sees the flag and writes the eventfd, or the worker's re-check sees the
//! pushed entry.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};

use nix::sys::eventfd::{EfdFlags, EventFd};

/// One worker's doorbell.
#[derive(Debug)]
pub struct Doorbell {
    fd: EventFd,
    sleeping: AtomicBool,
}

impl Doorbell {
    /// A non-blocking eventfd, not sleeping.
    ///
    /// # Errors
    /// As `eventfd(2)`.
    pub fn new() -> std::io::Result<Self> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(std::io::Error::from)?;
        Ok(Doorbell {
            fd,
            sleeping: AtomicBool::new(false),
        })
    }

    /// Wakes the worker if it sleeps (after pushing to its ring).
    pub fn ring(&self) {
        // Orders the caller's ring push before the flag load (see the module doc).
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.ring_always();
        }
    }

    /// Wakes the worker whatever it does (control messages, rare).
    pub fn ring_always(&self) {
        // EAGAIN means the counter is already non-zero: the worker will wake anyway.
        let _ = self.fd.write(1);
    }

    /// The worker is about to sleep: re-check the rings after this.
    pub fn prepare_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        // Orders the flag store before the caller's ring re-check (see the module doc).
        fence(Ordering::SeqCst);
    }

    /// The worker is awake again; clears a pending ring.
    pub fn woke(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        // EAGAIN when nobody rang.
        let _ = self.fd.read();
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    fn readable(d: &Doorbell) -> bool {
        let mut fds = [PollFd::new(d.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).expect("poll") > 0
    }

    #[test]
    fn rings_only_a_sleeping_worker() {
        let d = Doorbell::new().expect("eventfd");
        d.ring();
        assert!(!readable(&d), "an awake worker is not woken");
        d.prepare_sleep();
        d.ring();
        assert!(readable(&d));
        d.woke();
        assert!(!readable(&d), "woke() clears the ring");
        d.ring_always();
        assert!(readable(&d));
    }
}
