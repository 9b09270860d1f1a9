//! The health and metrics endpoint: `/healthz`, `/readyz`, `/metrics` over HTTP/1.1 on one
//! thread, outside the hot path. Hand-written on `std::net` (three fixed GET routes, one
//! request per connection) so that the relay needs no async runtime or HTTP stack.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::error::{Error, Result};
use super::metrics;
use super::state::Shared;

/// A response: status line, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

/// Routes one request line (pure, for tests).
pub fn route(request_line: &str, shared: &Shared) -> Response {
    let text = |status, body: &str| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return text(400, "bad request\n");
    };
    let path = target.split('?').next().unwrap_or(target);
    if method != "GET" && method != "HEAD" {
        return text(405, "only GET\n");
    }
    match path {
        "/healthz" => text(200, "ok\n"),
        "/readyz" => {
            if shared.ready() {
                text(200, "ready\n")
            } else {
                let why = if shared.stopping.load(Ordering::Relaxed) {
                    "shutting down"
                } else if !shared.io_ready.load(Ordering::Relaxed) {
                    "packet I/O not attached"
                } else if !shared.tls_loaded.load(Ordering::Relaxed) {
                    "TLS not loaded"
                } else {
                    "a worker is not running"
                };
                text(503, &format!("not ready: {why}\n"))
            }
        }
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: metrics::render(shared),
        },
        _ => text(404, "not found (try /healthz, /readyz, /metrics)\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Whether `head` holds a complete request head (a blank line after the request line).
fn end_of_head(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

fn serve_one(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let mut used = 0;
    // Read the whole request head, not just the request line: closing a socket that still has
    // unread bytes makes the kernel answer with RST, and the client may lose the response
    // (curl and Prometheus then see "connection reset by peer"). Headers are otherwise ignored.
    while used < buf.len() && !end_of_head(&buf[..used]) {
        let n = stream.read(&mut buf[used..])?;
        if n == 0 {
            break;
        }
        used += n;
    }
    let head = String::from_utf8_lossy(&buf[..used]);
    let line = head.lines().next().unwrap_or_default();
    let r = route(line, shared);
    let body = if line.starts_with("HEAD ") {
        ""
    } else {
        r.body.as_str()
    };
    write!(
        stream,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        body
    )?;
    stream.flush()
}

/// The running endpoint.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl HttpServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread: sets the flag and wakes the blocking `accept` with one connection.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = self.handle.join();
    }
}

/// Binds `addr` and serves on a thread (blocking in `accept`) until [`HttpServer::shutdown`].
///
/// # Errors
/// [`Error::Io`] when the address cannot be bound.
pub fn spawn(addr: SocketAddr, shared: Arc<Shared>) -> Result<HttpServer> {
    let listener = TcpListener::bind(addr).map_err(|e| {
        Error::io(
            format!("binding the metrics/health endpoint {addr} (metricsAddr)"),
            e,
        )
    })?;
    let mut local = listener
        .local_addr()
        .map_err(|e| Error::io("reading the endpoint address", e))?;
    if local.ip().is_unspecified() {
        // Wake-up connections go to loopback of the same family.
        local.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("relay-http".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                match stream {
                    Ok(stream) => {
                        if let Err(e) = serve_one(stream, &shared) {
                            tracing::debug!(error = %e, "http: request failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "http: accept failed");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        })
        .map_err(|e| Error::io("spawning the HTTP thread", e))?;
    Ok(HttpServer {
        addr: local,
        stop,
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let shared = Shared::new(1);
        assert_eq!(route("GET /healthz HTTP/1.1", &shared).status, 200);
        let r = route("GET /readyz HTTP/1.1", &shared);
        assert_eq!(r.status, 503);
        assert!(r.body.contains("packet I/O"), "{}", r.body);
        shared.io_ready.store(true, Ordering::Relaxed);
        shared.tls_loaded.store(true, Ordering::Relaxed);
        assert!(route("GET /readyz HTTP/1.1", &shared)
            .body
            .contains("worker"));
        shared.workers[0].running.store(true, Ordering::Relaxed);
        assert_eq!(route("GET /readyz HTTP/1.1", &shared).status, 200);
        shared.stopping.store(true, Ordering::Relaxed);
        assert_eq!(route("GET /readyz HTTP/1.1", &shared).status, 503);
        let m = route("GET /metrics HTTP/1.1", &shared);
        assert!(m.body.contains("oxidize_relay_connections 0"));
        assert_eq!(route("GET /nope HTTP/1.1", &shared).status, 404);
        assert_eq!(route("POST /metrics HTTP/1.1", &shared).status, 405);
        assert_eq!(route("", &shared).status, 400);
    }

    #[test]
    fn serves_over_tcp() {
        let shared = Arc::new(Shared::new(1));
        let server = spawn("127.0.0.1:0".parse().expect("addr"), shared).expect("bind");
        let mut s = TcpStream::connect(server.addr()).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("ok\n"));
        server.shutdown();
    }

    /// A request head that arrives in pieces is read to its end before the answer, so closing
    /// the connection never resets it (which used to lose `/metrics` answers now and then).
    #[test]
    fn request_head_in_pieces_is_answered_without_reset() {
        let shared = Arc::new(Shared::new(1));
        let server = spawn("127.0.0.1:0".parse().expect("addr"), shared).expect("bind");
        for _ in 0..200 {
            let mut s = TcpStream::connect(server.addr()).expect("connect");
            s.write_all(b"GET /metrics HTTP/1.0\r\n")
                .expect("write line");
            s.write_all(b"Host: 127.0.0.1\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
                .expect("write headers");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read without reset");
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
            assert!(out.contains("oxidize_relay_connections"), "{out}");
        }
        server.shutdown();
    }

    #[test]
    fn end_of_head_needs_a_blank_line() {
        assert!(!end_of_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(end_of_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(end_of_head(b"GET / HTTP/1.0\n\n"));
    }
}
