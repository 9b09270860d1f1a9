//! The internet host's servers and their clients.
//!
//! - UDP echo: every datagram is sent back unchanged to its sender.
//! - TCP stream: the client sends the number of bytes it wants as a big-endian `u64`; the server
//!   answers with that many bytes of a deterministic pattern, then the 32-byte SHA-256 of them. The
//!   client recomputes the digest over what it received, so corruption or truncation anywhere on
//!   the path shows up as a mismatch.
//!
//! Servers run on background threads and stop when their guard is dropped. Create them inside a
//! namespace with [`crate::Netns::run`]; the sockets stay in that namespace.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Default UDP echo port of the internet host.
pub const UDP_ECHO_PORT: u16 = 7007;
/// Default TCP stream port of the internet host.
pub const TCP_STREAM_PORT: u16 = 9009;

const POLL: Duration = Duration::from_millis(50);

/// A running server thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Datagrams echoed (UDP) or connections accepted (TCP) so far. Counted before the reply is
    /// sent (UDP) or the stream served (TCP), so a client that got its answer sees it counted.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a UDP echo server on `[::]:port` (IPv4 and IPv6).
pub fn udp_echo(port: u16) -> Result<Server> {
    let socket = UdpSocket::bind(("::", port))
        .map_err(|e| Error::io(format!("bind UDP echo on [::]:{port}"), e))?;
    socket
        .set_read_timeout(Some(POLL))
        .map_err(|e| Error::io("set UDP read timeout", e))?;
    let addr = socket
        .local_addr()
        .map_err(|e| Error::io("UDP local_addr", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (stop2, served2) = (stop.clone(), served.clone());
    let thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !stop2.load(Ordering::Relaxed) {
            match socket.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    // Count before replying: a client that has its echo must see it counted
                    // (counting after `send_to` let a test read 19 of 20).
                    served2.fetch_add(1, Ordering::SeqCst);
                    if let Err(e) = socket.send_to(&buf[..n], peer) {
                        served2.fetch_sub(1, Ordering::SeqCst);
                        eprintln!("udp echo to {peer}: {e}");
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => eprintln!("udp echo: {e}"),
            }
        }
    });
    Ok(Server {
        addr,
        stop,
        served,
        thread: Some(thread),
    })
}

/// Starts the TCP stream server on `[::]:port` (IPv4 and IPv6); one thread per connection.
pub fn tcp_stream(port: u16) -> Result<Server> {
    let listener = TcpListener::bind(("::", port))
        .map_err(|e| Error::io(format!("bind TCP stream on [::]:{port}"), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("set TCP listener non-blocking", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("TCP local_addr", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let (stop2, served2) = (stop.clone(), served.clone());
    let thread = std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    served2.fetch_add(1, Ordering::SeqCst);
                    std::thread::spawn(move || {
                        if let Err(e) = serve_stream(stream) {
                            eprintln!("tcp stream: {e}");
                        }
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL / 5),
                Err(e) => eprintln!("tcp accept: {e}"),
            }
        }
    });
    Ok(Server {
        addr,
        stop,
        served,
        thread: Some(thread),
    })
}

fn serve_stream(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut len = [0u8; 8];
    stream.read_exact(&mut len)?;
    let mut remaining = u64::from_be_bytes(len);
    let mut pattern = Pattern::default();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    while remaining > 0 {
        let n = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        pattern.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        stream.write_all(&buf[..n])?;
        remaining -= n as u64;
    }
    stream.write_all(&hasher.finalize())?;
    stream.flush()
}

/// Deterministic byte pattern (xorshift64), so no two positions of a long stream repeat early.
#[derive(Debug)]
struct Pattern(u64);

impl Default for Pattern {
    fn default() -> Self {
        Pattern(0x9E37_79B9_7F4A_7C15)
    }
}

impl Pattern {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// What a TCP stream download gave.
#[derive(Debug, Clone)]
pub struct Download {
    /// Payload bytes received (without the digest).
    pub bytes: u64,
    /// Whether the digest the server sent matches the bytes received.
    pub checksum_ok: bool,
    /// Hex SHA-256 of the bytes received.
    pub sha256: String,
    /// Wall time from connect to the last byte.
    pub elapsed: Duration,
}

impl Download {
    /// Throughput in Mbit/s.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Downloads `bytes` from a TCP stream server and checks the digest.
pub fn tcp_download(addr: SocketAddr, bytes: u64, timeout: Duration) -> Result<Download> {
    let start = Instant::now();
    let io = |what: &str, e| Error::io(format!("tcp download from {addr}: {what}"), e);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io("connect", e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| io("set timeout", e))?;
    stream
        .write_all(&bytes.to_be_bytes())
        .map_err(|e| io("send length", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut remaining = bytes;
    while remaining > 0 {
        let want = usize::try_from(remaining.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = stream
            .read(&mut buf[..want])
            .map_err(|e| io("read payload", e))?;
        if n == 0 {
            return Err(io(
                "read payload",
                std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("stream ended {remaining} bytes early"),
                ),
            ));
        }
        hasher.update(&buf[..n]);
        remaining -= n as u64;
    }
    let mut digest = [0u8; 32];
    stream
        .read_exact(&mut digest)
        .map_err(|e| io("read digest", e))?;
    let ours = hasher.finalize();
    Ok(Download {
        bytes,
        checksum_ok: ours.as_slice() == digest,
        sha256: ours.iter().map(|b| format!("{b:02x}")).collect(),
        elapsed: start.elapsed(),
    })
}

/// Sends `count` datagrams of `size` bytes to a UDP echo server, one at a time, and returns how
/// many came back byte-exact within `timeout` each.
pub fn udp_echoes(server: SocketAddr, count: u32, size: usize, timeout: Duration) -> Result<u32> {
    let bind = if server.is_ipv4() {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(bind).map_err(|e| Error::io("bind UDP client", e))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| Error::io("set UDP client timeout", e))?;
    socket
        .connect(server)
        .map_err(|e| Error::io(format!("connect UDP to {server}"), e))?;
    let mut ok = 0;
    let mut reply = vec![0u8; size + 1];
    for seq in 0..count {
        let mut payload = vec![0u8; size];
        Pattern(u64::from(seq) + 1).fill(&mut payload);
        socket
            .send(&payload)
            .map_err(|e| Error::io(format!("send UDP to {server}"), e))?;
        // Skip late replies to earlier datagrams; stop at the first timeout.
        loop {
            match socket.recv(&mut reply) {
                Ok(n) if reply[..n] == payload[..] => {
                    ok += 1;
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_not_constant() {
        let (mut a, mut b) = (vec![0u8; 100], vec![0u8; 100]);
        Pattern::default().fill(&mut a);
        Pattern::default().fill(&mut b);
        assert_eq!(a, b);
        assert_ne!(a[..8], a[8..16]);
    }

    #[test]
    fn tcp_stream_roundtrip_on_loopback_detects_length() {
        let server = tcp_stream(0).expect("bind on loopback");
        let addr = SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
        let d = tcp_download(addr, 300_001, Duration::from_secs(5)).expect("download");
        assert!(d.checksum_ok);
        assert_eq!(d.bytes, 300_001);
    }

    #[test]
    fn udp_echo_on_loopback_is_byte_exact() {
        let server = udp_echo(0).expect("bind on loopback");
        let addr = SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
        assert_eq!(
            udp_echoes(addr, 20, 1200, Duration::from_secs(10)).expect("echo"),
            20
        );
        // The server counts each datagram before echoing it, so all 20 are counted by now.
        assert_eq!(server.served(), 20);
    }
}
