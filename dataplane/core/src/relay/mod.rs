//! The relay side: an `Endpoint`-owning core for one worker, driven by the worker's loop.
//!
//! Call order for the loop: for each received UDP payload [`RelayCore::handle_datagram`]; for
//! each packet from the internet [`RelayCore::handle_tunnel_packet`]; then drain
//! [`RelayCore::poll_tunnel_packet`] (to the internet) and [`RelayCore::poll_transmit`] (to the
//! NIC); sleep until [`RelayCore::poll_timeout`] and call [`RelayCore::handle_timeout`].

mod stats;
mod tunnel;

pub use stats::{RejectStats, RelayStats};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, DatagramEvent, EcnCodepoint, Endpoint,
    EndpointConfig, Event, ServerConfig, Side, Transmit, VarInt,
};
use tracing::debug;

use crate::auth::TokenSet;
use crate::cid::WorkerCidGenerator;
use crate::error::h3_code;
use crate::h3::H3Conn;
use crate::pool::{AddressPool, Cidr, PoolError};
use crate::session::{SessionId, SessionTable};
use crate::settings::Settings;
use crate::template::UriTemplate;
use crate::throttle::{AuthThrottle, ThrottleConfig};

/// What a worker's relay core is configured with.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This worker's id, embedded in every connection ID it issues.
    pub worker_id: u8,
    /// Secret seed for connection IDs and quinn-proto's RNG (fresh per process start).
    pub seed: [u8; 32],
    /// The QUIC server configuration (see [`crate::tls::server_config`]).
    pub server: Arc<ServerConfig>,
    /// The CONNECT-IP URI template.
    pub template: UriTemplate,
    /// Accepted bearer tokens.
    pub tokens: TokenSet,
    /// Client IPv4 pool.
    pub pool_v4: Cidr,
    /// Optional client IPv6 pool.
    pub pool_v6: Option<Cidr>,
    /// Largest inner packet accepted from a client.
    pub max_inner_packet: usize,
    /// Answer new connections with a Retry (address validation, RFC 9000 section 8.1) while
    /// at least this many handshakes are in progress; `None` never sends Retry.
    pub retry_above_handshakes: Option<usize>,
    /// Slowing down repeated authentication failures per source address.
    pub throttle: ThrottleConfig,
}

/// A packet leaving the tunnel towards the internet, after the source check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPacket {
    /// The session it came from.
    pub session: SessionId,
    /// The inner IP packet: a view into the received QUIC DATAGRAM (no copy); packets that came
    /// in DATAGRAM capsules on the request stream are copied out of the stream buffers.
    pub packet: Bytes,
}

struct Conn {
    conn: Connection,
    h3: H3Conn,
}

/// The relay core of one worker.
pub struct RelayCore {
    endpoint: Endpoint,
    server: Arc<ServerConfig>,
    conns: HashMap<ConnectionHandle, Conn>,
    order: Vec<ConnectionHandle>,
    next_poll: usize,
    responses: VecDeque<(Transmit, Vec<u8>)>,
    sessions: SessionTable,
    pool: AddressPool,
    tokens: TokenSet,
    template: UriTemplate,
    max_inner_packet: usize,
    retry_above_handshakes: Option<usize>,
    throttle: AuthThrottle,
    to_internet: VecDeque<TunnelPacket>,
    stats: RelayStats,
    shutting_down: bool,
}

impl std::fmt::Debug for RelayCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayCore")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl RelayCore {
    /// A core for one worker.
    ///
    /// # Errors
    /// [`PoolError`] when the address pool configuration is unusable.
    pub fn new(config: RelayConfig) -> Result<Self, PoolError> {
        let pool = AddressPool::new(config.pool_v4, config.pool_v6)?;
        let worker_id = config.worker_id;
        let seed = config.seed;
        let mut ep_config = EndpointConfig::default();
        ep_config.cid_generator(move || Box::new(WorkerCidGenerator::new(worker_id, seed)));
        let endpoint = Endpoint::new(
            Arc::new(ep_config),
            Some(config.server.clone()),
            true,
            Some(seed),
        );
        Ok(Self {
            endpoint,
            server: config.server,
            conns: HashMap::new(),
            order: Vec::new(),
            next_poll: 0,
            responses: VecDeque::new(),
            sessions: SessionTable::default(),
            pool,
            tokens: config.tokens,
            template: config.template,
            max_inner_packet: config.max_inner_packet,
            retry_above_handshakes: config.retry_above_handshakes,
            throttle: AuthThrottle::new(config.throttle),
            to_internet: VecDeque::new(),
            stats: RelayStats::default(),
            shutting_down: false,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// The session table.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The address pool.
    pub fn pool(&self) -> &AddressPool {
        &self.pool
    }

    /// Open QUIC connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Replaces the TLS/QUIC server configuration (the certificate Secret changed); existing
    /// connections keep theirs.
    pub fn set_server_config(&mut self, server: Arc<ServerConfig>) {
        self.endpoint.set_server_config(Some(server.clone()));
        self.server = server;
    }

    /// Replaces the auth-failure throttle settings (default: [`ThrottleConfig::default`]);
    /// counts so far are forgotten.
    pub fn set_throttle(&mut self, config: ThrottleConfig) {
        self.throttle = AuthThrottle::new(config);
    }

    /// Replaces the accepted tokens (the token Secret changed).
    pub fn set_tokens(&mut self, tokens: TokenSet) {
        self.tokens = tokens;
    }

    /// Handles one UDP payload received from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let mut buf = Vec::new();
        match self.endpoint.handle(now, remote, None, ecn, data, &mut buf) {
            Some(DatagramEvent::ConnectionEvent(ch, ev)) => {
                if let Some(c) = self.conns.get_mut(&ch) {
                    c.conn.handle_event(ev);
                    self.drive(ch, now);
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                let blocked = self.throttle.is_blocked(remote.ip(), now);
                if self.shutting_down || blocked {
                    let t = self.endpoint.refuse(incoming, &mut buf);
                    self.stats.connections_refused += 1;
                    self.stats.connections_throttled += u64::from(blocked);
                    self.responses.push_back((t, buf));
                    return;
                }
                let handshaking = self
                    .conns
                    .values()
                    .filter(|c| c.conn.is_handshaking())
                    .count();
                if incoming.may_retry()
                    && self
                        .retry_above_handshakes
                        .is_some_and(|limit| handshaking >= limit)
                {
                    match self.endpoint.retry(incoming, &mut buf) {
                        Ok(t) => {
                            self.stats.retries_sent += 1;
                            self.responses.push_back((t, buf));
                        }
                        Err(e) => self.endpoint.ignore(e.into_incoming()),
                    }
                    return;
                }
                match self
                    .endpoint
                    .accept(incoming, now, &mut buf, Some(self.server.clone()))
                {
                    Ok((ch, conn)) => {
                        self.stats.connections_accepted += 1;
                        debug!(conn = ?ch, %remote, "connection accepted");
                        let mut c = Conn {
                            conn,
                            h3: H3Conn::new(Side::Server, Settings::masque()),
                        };
                        // Opening may fail before the handshake; it is retried on Connected.
                        let _ = c.h3.open(&mut c.conn);
                        self.conns.insert(ch, c);
                        self.order.push(ch);
                        self.drive(ch, now);
                    }
                    Err(e) => {
                        self.stats.connections_refused += 1;
                        debug!(%remote, error = %e.cause, "connection refused");
                        if let Some(t) = e.response {
                            self.responses.push_back((t, buf));
                        }
                    }
                }
            }
            Some(DatagramEvent::Response(t)) => self.responses.push_back((t, buf)),
            None => {}
        }
    }

    /// Handles expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ConnectionHandle> = self
            .conns
            .iter_mut()
            .filter_map(|(ch, c)| c.conn.poll_timeout().filter(|t| *t <= now).map(|_| *ch))
            .collect();
        for ch in due {
            if let Some(c) = self.conns.get_mut(&ch) {
                c.conn.handle_timeout(now);
            }
            self.drive(ch, now);
        }
    }

    /// The earliest timer deadline over all connections.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.conns
            .values_mut()
            .filter_map(|c| c.conn.poll_timeout())
            .min()
    }

    /// The next UDP payload to send, written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        if let Some((t, bytes)) = self.responses.pop_front() {
            buf.extend_from_slice(&bytes[..t.size.min(bytes.len())]);
            return Some(t);
        }
        let n = self.order.len();
        for i in 0..n {
            let ch = self.order[(self.next_poll + i) % n];
            if let Some(c) = self.conns.get_mut(&ch) {
                if let Some(t) = c.conn.poll_transmit(now, 1, buf) {
                    self.next_poll = (self.next_poll + i + 1) % n;
                    return Some(t);
                }
            }
        }
        None
    }

    /// The next packet for the internet.
    pub fn poll_tunnel_packet(&mut self) -> Option<TunnelPacket> {
        self.to_internet.pop_front()
    }

    /// Stops taking requests: new connections are refused and every connection gets GOAWAY.
    /// Follow with [`RelayCore::close_all`] once the drain time is over.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let handles: Vec<ConnectionHandle> = self.conns.keys().copied().collect();
        for ch in handles {
            if let Some(c) = self.conns.get_mut(&ch) {
                if c.h3.send_goaway(&mut c.conn) {
                    self.stats.goaway_sent += 1;
                }
            }
            self.drive(ch, now);
        }
    }

    /// Closes every connection with H3_NO_ERROR.
    pub fn close_all(&mut self, now: Instant) {
        let handles: Vec<ConnectionHandle> = self.conns.keys().copied().collect();
        for ch in handles {
            if let Some(c) = self.conns.get_mut(&ch) {
                c.conn.close(
                    now,
                    VarInt::from_u32(h3_code::NO_ERROR as u32),
                    Bytes::from_static(b"relay shutting down"),
                );
            }
            self.drive(ch, now);
        }
    }

    /// Processes everything a connection has to say after an input.
    fn drive(&mut self, ch: ConnectionHandle, now: Instant) {
        let Some(mut c) = self.conns.remove(&ch) else {
            return;
        };
        let mut drained = false;
        while let Some(ev) = c.conn.poll_endpoint_events() {
            drained |= ev.is_drained();
            if let Some(cev) = self.endpoint.handle_event(ch, ev) {
                c.conn.handle_event(cev);
            }
        }
        while let Some(ev) = c.conn.poll() {
            match ev {
                Event::Connected => {
                    // On a server, `has_0rtt` means early data was accepted.
                    if c.conn.has_0rtt() {
                        self.stats.zero_rtt_accepted += 1;
                    }
                    if let Err(e) = c.h3.open(&mut c.conn) {
                        self.h3_close(&mut c, now, e.code, &e.reason);
                    }
                }
                Event::Stream(se) => {
                    if let Err(e) = c.h3.handle_stream_event(&mut c.conn, se) {
                        self.h3_close(&mut c, now, e.code, &e.reason);
                    }
                }
                Event::DatagramReceived => {
                    while let Some(d) = c.conn.datagrams().recv() {
                        self.handle_client_datagram(ch, d);
                    }
                }
                Event::ConnectionLost { reason } => {
                    debug!(conn = ?ch, %reason, "connection lost");
                    self.stats.connections_closed += 1;
                    if matches!(reason, ConnectionError::TimedOut) {
                        self.stats.connections_timed_out += 1;
                    }
                    for s in self.sessions.remove_connection(ch) {
                        self.pool.release(s.assignment);
                        self.stats.sessions_closed += 1;
                    }
                }
                Event::HandshakeDataReady | Event::DatagramsUnblocked => {}
            }
        }
        self.handle_h3_events(ch, &mut c, now);
        c.h3.flush(&mut c.conn);
        if drained {
            self.order.retain(|h| *h != ch);
            self.next_poll = 0;
            for s in self.sessions.remove_connection(ch) {
                self.pool.release(s.assignment);
                self.stats.sessions_closed += 1;
            }
        } else {
            self.conns.insert(ch, c);
        }
    }

    fn h3_close(&mut self, c: &mut Conn, now: Instant, code: u64, reason: &str) {
        debug!(code, reason, "closing connection for an HTTP/3 error");
        self.stats.h3_errors += 1;
        let code =
            VarInt::from_u64(code).unwrap_or(VarInt::from_u32(h3_code::INTERNAL_ERROR as u32));
        c.conn
            .close(now, code, Bytes::copy_from_slice(reason.as_bytes()));
    }
}
