//! The plain-socket baseline: a UDP echo on `recvmmsg`/`sendmmsg` batches of up to 64. Not a
//! relay backend the operator can select; it exists so that benchmarks compare the AF_XDP layer
//! with the best the normal socket path offers on the same link.

#![forbid(unsafe_code)]

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::socket::BATCH;
use crate::syscall::{self, DatagramSlot};
use crate::{Error, Result};

/// Echoes datagrams on `socket` until `stop` is set; returns how many were echoed. Sleeps in
/// `poll()` (up to `idle_ms`) when idle.
pub fn run(socket: &UdpSocket, stop: &AtomicBool, idle_ms: i32) -> Result<u64> {
    let fd = socket.as_raw_fd();
    let mut slots: Vec<DatagramSlot> = (0..BATCH).map(|_| DatagramSlot::new(2048)).collect();
    let mut iovs = Vec::with_capacity(BATCH);
    let mut echoed = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = syscall::recvmmsg(fd, &mut slots, &mut iovs)
            .map_err(|e| Error::syscall("recvmmsg", e))?;
        if n == 0 {
            syscall::poll_one(fd, libc::POLLIN, idle_ms)
                .map_err(|e| Error::syscall("poll(udp)", e))?;
            continue;
        }
        let mut sent = 0;
        while sent < n {
            let k = syscall::sendmmsg(fd, &mut slots[sent..], n - sent, &mut iovs)
                .map_err(|e| Error::syscall("sendmmsg", e))?;
            if k == 0 {
                syscall::poll_one(fd, libc::POLLOUT, idle_ms)
                    .map_err(|e| Error::syscall("poll(udp)", e))?;
            }
            sent += k;
        }
        echoed += n as u64;
    }
    Ok(echoed)
}
