//! A UDP echo worker on this layer: the smallest complete worker (receive, parse, reply in place
//! to the sender's MAC, send). Root tests, the kill test and the bench use it, and the relay's
//! workers follow the same loop shape.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use crate::frame::{parse, UdpHeaders};
use crate::socket::BATCH;
use crate::{Frame, Result, XskQueue};

/// What one echo worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoReport {
    /// Datagrams echoed.
    pub echoed: u64,
    /// Frames that did not parse as UDP (counted, released, never fatal).
    pub malformed: u64,
}

/// Reusable buffers of one echo worker.
#[derive(Debug, Default)]
pub struct EchoWorker {
    rx: Vec<Frame>,
    tx: Vec<Frame>,
    report: EchoReport,
}

impl EchoWorker {
    /// A worker with empty batches.
    pub fn new() -> Self {
        EchoWorker {
            rx: Vec::with_capacity(BATCH),
            tx: Vec::with_capacity(BATCH),
            report: EchoReport::default(),
        }
    }

    /// What the worker did so far.
    pub fn report(&self) -> EchoReport {
        self.report
    }

    /// One round: receive a batch, turn each datagram into its reply in place, send them.
    /// Returns how many frames were received (0 = idle).
    pub fn poll_once(&mut self, queue: &mut XskQueue) -> Result<usize> {
        let n = queue.rx_batch(&mut self.rx, BATCH)?;
        for mut frame in self.rx.drain(..) {
            let len = frame.len();
            let reply = queue.write(&mut frame, |buf| {
                let p = parse(&buf[..len])?;
                let (at, plen) = (p.payload_offset, p.payload.len());
                UdpHeaders::reply_to(&p)
                    .write_in_place(buf, at, plen)
                    .map_err(|_| crate::frame::ParseError::Truncated)
            });
            match reply {
                Ok(_) => self.tx.push(frame),
                Err(e) => {
                    tracing::trace!(error = %e, "echo: malformed frame released");
                    self.report.malformed += 1;
                    queue.release(frame);
                }
            }
        }
        while !self.tx.is_empty() {
            let sent = queue.tx_batch(&mut self.tx)?;
            self.report.echoed += sent as u64;
            if sent == 0 {
                // TX ring full: let the kernel complete some and retry.
                queue.reap()?;
                queue.wait(1)?;
            }
        }
        Ok(n)
    }

    /// Serves until `stop` is set, sleeping in `poll()` (up to `idle_ms`) when idle.
    pub fn run(
        &mut self,
        queue: &mut XskQueue,
        stop: &AtomicBool,
        idle_ms: i32,
    ) -> Result<EchoReport> {
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once(queue)? == 0 {
                queue.reap()?;
                queue.wait(idle_ms)?;
            }
        }
        self.drain(queue)?;
        Ok(self.report)
    }

    /// Waits (up to about 100 ms) for TX completions so that the UMEM usage returns to its
    /// idle level before the queue is inspected or closed.
    pub fn drain(&mut self, queue: &mut XskQueue) -> Result<()> {
        for _ in 0..100 {
            queue.reap()?;
            if queue.umem_usage().in_tx == 0 {
                break;
            }
            queue.wait(1)?;
        }
        Ok(())
    }
}
