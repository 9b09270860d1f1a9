//! Packet I/O on a plain UDP socket (`--io udp`): for development and as the benchmark
//! baseline; the operator never selects it. One socket per worker with `SO_REUSEPORT`, so the
//! kernel spreads clients over the workers by 4-tuple. Outer ECN is not read or set here.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};
use quinn_proto::EcnCodepoint;

use super::error::{Error, Result};
use super::io::{PacketIo, PeerPath, Received, BATCH};
use super::state::IoStats;

/// One worker's UDP socket.
#[derive(Debug)]
pub struct UdpIo {
    socket: UdpSocket,
    buf: Vec<u8>,
    stats: IoStats,
}

impl UdpIo {
    /// Binds `addr` with `SO_REUSEPORT` (every worker binds the same address), non-blocking.
    ///
    /// # Errors
    /// [`Error::Io`] naming the call that failed.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let errno = |step: &str, e: nix::Error| {
            Error::io(format!("{step} (UDP {addr})"), std::io::Error::from(e))
        };
        let fd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|e| errno("socket()", e))?;
        socket::setsockopt(&fd, sockopt::ReusePort, &true)
            .map_err(|e| errno("setsockopt(SO_REUSEPORT)", e))?;
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrStorage::from(addr),
        )
        .map_err(|e| errno("bind()", e))?;
        let socket = UdpSocket::from(fd);
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::io("setting the UDP socket non-blocking", e))?;
        Ok(UdpIo {
            socket,
            buf: vec![0; 65536],
            stats: IoStats::default(),
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// As `getsockname()`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

impl PacketIo for UdpIo {
    fn recv_batch(&mut self, each: &mut dyn FnMut(Received<'_>)) -> std::io::Result<usize> {
        let mut n = 0;
        while n < BATCH {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, remote)) => {
                    n += 1;
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    each(Received {
                        remote,
                        ecn: None,
                        payload: &self.buf[..len],
                        path: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP errors of earlier sends surface here; they are not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn send(&mut self, dst: SocketAddr, _ecn: Option<EcnCodepoint>, payload: &[u8]) {
        match self.socket.send_to(payload, dst) {
            Ok(_) => {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += payload.len() as u64;
            }
            Err(e) => {
                tracing::debug!(error = %e, %dst, "relay: UDP send failed");
                self.stats.tx_error += 1;
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn learn(&mut self, _remote: IpAddr, _path: PeerPath) {}

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn stats(&self) -> IoStats {
        self.stats
    }
}
