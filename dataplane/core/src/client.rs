//! The client side of the same protocol, for the Linux client: one QUIC connection to a relay
//! and one CONNECT-IP tunnel on it.
//!
//! Call order mirrors [`crate::relay::RelayCore`]: `handle_datagram` / `handle_timeout` in,
//! `poll_transmit` / `poll_timeout` / `poll_event` / `poll_tunnel_packet` out.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use quinn_proto::{
    ConnectError, Connection, ConnectionHandle, DatagramEvent, EcnCodepoint, Endpoint,
    EndpointConfig, Event, Side, StreamId, Transmit, VarInt,
};

use crate::capsule::{AddressEntry, Capsule, IpPrefix, IpRange};
use crate::datagram::{self, HttpDatagram, CONTEXT_IP_PACKET};
use crate::error::h3_code;
use crate::h3::{H3Conn, H3Event};
use crate::packet::{DropReason, DropStats};
use crate::request;
use crate::settings::Settings;

/// What the client connects with.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// QUIC client configuration (see [`crate::tls::client_config`]).
    pub quic: quinn_proto::ClientConfig,
    /// The relay's UDP address.
    pub server: SocketAddr,
    /// TLS server name.
    pub server_name: String,
    /// `:authority` of the request.
    pub authority: String,
    /// `:path` of the request (an expanded URI template).
    pub path: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Seed for quinn-proto's RNG.
    pub seed: [u8; 32],
}

/// Progress the owner of the client wants to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The QUIC + TLS handshake finished; the CONNECT-IP request is on its way.
    Connected,
    /// The relay accepted the tunnel (2xx).
    TunnelOpen,
    /// The relay refused the request with this status.
    Rejected(u16),
    /// The relay assigned addresses.
    AddressAssigned(Vec<AddressEntry>),
    /// The relay advertised routes.
    Routes(Vec<IpRange>),
    /// The relay sent GOAWAY: reconnect elsewhere or later.
    Goaway,
    /// The connection is closed.
    Closed(String),
}

/// Client counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Packets sent into the tunnel.
    pub sent_packets: u64,
    /// Packets received from the tunnel.
    pub received_packets: u64,
    /// Dropped packets by reason.
    pub drops: DropStats,
    /// The request went out in 0-RTT and the relay accepted it.
    pub zero_rtt_accepted: bool,
}

/// One client connection with one tunnel.
pub struct ClientCore {
    endpoint: Endpoint,
    handle: ConnectionHandle,
    conn: Connection,
    h3: H3Conn,
    config: TunnelConfig,
    stream: Option<StreamId>,
    tunnel_open: bool,
    events: VecDeque<ClientEvent>,
    from_relay: VecDeque<Bytes>,
    stats: ClientStats,
    closed: bool,
    sent_0rtt: bool,
    awaiting_settings: bool,
}

impl std::fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCore")
            .field("stream", &self.stream)
            .field("tunnel_open", &self.tunnel_open)
            .field("stats", &self.stats)
            .finish()
    }
}

impl ClientCore {
    /// Starts connecting; the first packets come out of [`ClientCore::poll_transmit`].
    ///
    /// # Errors
    /// [`ConnectError`] when quinn-proto refuses the parameters (bad server name, ...).
    pub fn connect(now: Instant, config: TunnelConfig) -> Result<Self, ConnectError> {
        let mut endpoint = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            None,
            true,
            Some(config.seed),
        );
        let (handle, conn) =
            endpoint.connect(now, config.quic.clone(), config.server, &config.server_name)?;
        let mut core = Self {
            endpoint,
            handle,
            conn,
            h3: H3Conn::new(Side::Client, Settings::masque()),
            config,
            stream: None,
            tunnel_open: false,
            events: VecDeque::new(),
            from_relay: VecDeque::new(),
            stats: ClientStats::default(),
            closed: false,
            sent_0rtt: false,
            awaiting_settings: false,
        };
        if core.conn.has_0rtt() {
            // Resuming a TLS session: send SETTINGS and the request as 0-RTT data.
            // The relay's SETTINGS are those of the previous connection (RFC 9114 section
            // 7.2.4.2): it is a CONNECT-IP relay.
            core.sent_0rtt = true;
            core.start_request(now, true);
        }
        Ok(core)
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// True once the relay accepted the tunnel.
    pub fn is_tunnel_open(&self) -> bool {
        self.tunnel_open
    }

    /// True once the connection is closed or lost.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Handles one UDP payload from the relay.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let mut buf = Vec::new();
        if let Some(DatagramEvent::ConnectionEvent(ch, ev)) =
            self.endpoint.handle(now, remote, None, ecn, data, &mut buf)
        {
            if ch == self.handle {
                self.conn.handle_event(ev);
            }
        }
        self.drive(now);
    }

    /// Handles expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
        self.drive(now);
    }

    /// The next timer deadline.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// The next UDP payload to send, written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        self.conn.poll_transmit(now, 1, buf)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The next IP packet that came out of the tunnel.
    pub fn poll_tunnel_packet(&mut self) -> Option<Bytes> {
        self.from_relay.pop_front()
    }

    /// Sends an IP packet into the tunnel as an HTTP Datagram.
    ///
    /// # Errors
    /// [`DropReason::Unsendable`] before the tunnel is open or when the relay cannot take
    /// datagrams now, [`DropReason::TooLarge`] above the datagram size (both counted).
    pub fn handle_tunnel_packet(&mut self, ip_packet: &[u8]) -> Result<(), DropReason> {
        let r = self.send_packet(ip_packet);
        match r {
            Ok(()) => self.stats.sent_packets += 1,
            Err(reason) => self.stats.drops.record(reason),
        }
        r
    }

    fn send_packet(&mut self, ip_packet: &[u8]) -> Result<(), DropReason> {
        let stream = self
            .stream
            .filter(|_| self.tunnel_open)
            .ok_or(DropReason::Unsendable)?;
        let stream_id = u64::from(VarInt::from(stream));
        let mut d = Vec::with_capacity(HttpDatagram::header_len(stream_id, 0) + ip_packet.len());
        datagram::encode_header(stream_id, CONTEXT_IP_PACKET, &mut d)
            .map_err(|_| DropReason::Unsendable)?;
        d.extend_from_slice(ip_packet);
        let max = self
            .conn
            .datagrams()
            .max_size()
            .ok_or(DropReason::Unsendable)?;
        if d.len() > max {
            return Err(DropReason::TooLarge);
        }
        self.conn
            .datagrams()
            .send(d.into(), true)
            .map_err(|_| DropReason::Unsendable)
    }

    /// Closes the tunnel and the connection with H3_NO_ERROR.
    pub fn close(&mut self, now: Instant) {
        self.conn.close(
            now,
            VarInt::from_u32(h3_code::NO_ERROR as u32),
            Bytes::from_static(b"client closing"),
        );
        self.drive(now);
    }

    fn drive(&mut self, now: Instant) {
        while let Some(ev) = self.conn.poll_endpoint_events() {
            if let Some(cev) = self.endpoint.handle_event(self.handle, ev) {
                self.conn.handle_event(cev);
            }
        }
        while let Some(ev) = self.conn.poll() {
            match ev {
                Event::Connected => {
                    self.events.push_back(ClientEvent::Connected);
                    if !self.sent_0rtt {
                        self.start_request(now, false);
                    } else if self.conn.accepted_0rtt() {
                        self.stats.zero_rtt_accepted = true;
                    } else {
                        // 0-RTT refused: the streams opened in it are gone; start over.
                        self.h3 = H3Conn::new(Side::Client, Settings::masque());
                        self.stream = None;
                        self.start_request(now, false);
                    }
                }
                Event::Stream(se) => {
                    if let Err(e) = self.h3.handle_stream_event(&mut self.conn, se) {
                        let code = VarInt::from_u64(e.code).unwrap_or(VarInt::from_u32(0x102));
                        self.conn
                            .close(now, code, Bytes::copy_from_slice(e.reason.as_bytes()));
                    }
                }
                Event::DatagramReceived => {
                    while let Some(d) = self.conn.datagrams().recv() {
                        self.handle_relay_datagram(d);
                    }
                }
                Event::ConnectionLost { reason } => {
                    self.closed = true;
                    self.tunnel_open = false;
                    self.events
                        .push_back(ClientEvent::Closed(reason.to_string()));
                }
                Event::HandshakeDataReady | Event::DatagramsUnblocked => {}
            }
        }
        while let Some(ev) = self.h3.poll_event() {
            match ev {
                H3Event::Headers { stream, fields } if Some(stream) == self.stream => {
                    match request::response_status(&fields) {
                        Some(s) if (200..300).contains(&s) => {
                            self.tunnel_open = true;
                            self.events.push_back(ClientEvent::TunnelOpen);
                        }
                        // Interim responses (1xx) are skipped.
                        Some(s) if s < 200 => {}
                        s => self.events.push_back(ClientEvent::Rejected(s.unwrap_or(0))),
                    }
                }
                H3Event::Capsule {
                    capsule: Capsule::AddressAssign(a),
                    ..
                } => {
                    self.events.push_back(ClientEvent::AddressAssigned(a));
                }
                H3Event::Capsule {
                    capsule: Capsule::RouteAdvertisement(r),
                    ..
                } => {
                    self.events.push_back(ClientEvent::Routes(r));
                }
                H3Event::Capsule {
                    capsule: Capsule::Datagram(d),
                    ..
                } => {
                    let mut r = crate::varint::Reader::new(&d);
                    if r.varint() == Ok(CONTEXT_IP_PACKET) {
                        self.stats.received_packets += 1;
                        self.from_relay.push_back(d.slice(r.position()..));
                    }
                }
                H3Event::StreamEnded { stream } if Some(stream) == self.stream => {
                    self.tunnel_open = false;
                }
                H3Event::Goaway(_) => self.events.push_back(ClientEvent::Goaway),
                H3Event::Settings(_) if self.awaiting_settings => {
                    self.awaiting_settings = false;
                    self.send_request(now);
                }
                _ => {}
            }
        }
        self.h3.flush(&mut self.conn);
    }

    /// Opens the control stream, then sends the request: at once in 0-RTT (`early`), else
    /// once the relay's SETTINGS allow Extended CONNECT (RFC 9220 section 3).
    fn start_request(&mut self, now: Instant, early: bool) {
        if let Err(e) = self.h3.open(&mut self.conn) {
            let code = VarInt::from_u64(e.code).unwrap_or(VarInt::from_u32(0x102));
            self.conn
                .close(now, code, Bytes::copy_from_slice(e.reason.as_bytes()));
            return;
        }
        if !early && self.h3.peer_settings().is_none() {
            self.awaiting_settings = true;
            return;
        }
        self.send_request(now);
    }

    fn send_request(&mut self, now: Instant) {
        if let Some(s) = self.h3.peer_settings() {
            if !(s.enable_connect_protocol && s.h3_datagram) {
                let reason = "relay does not offer Extended CONNECT with HTTP Datagrams";
                let code = VarInt::from_u32(h3_code::REQUEST_REJECTED as u32);
                self.conn
                    .close(now, code, Bytes::from_static(reason.as_bytes()));
                return;
            }
        }
        let Some(stream) = self.h3.open_request(&mut self.conn) else {
            return;
        };
        self.stream = Some(stream);
        let fields = request::request_fields(
            &self.config.authority,
            &self.config.path,
            self.config.token.as_deref(),
        );
        self.h3.send_headers(&mut self.conn, stream, &fields, false);
        let ask = Capsule::AddressRequest(vec![AddressEntry {
            request_id: 1,
            prefix: IpPrefix {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                len: 32,
            },
        }]);
        self.h3.send_capsule(&mut self.conn, stream, &ask);
    }

    fn handle_relay_datagram(&mut self, d: Bytes) {
        let Ok(p) = HttpDatagram::decode(&d) else {
            return self.stats.drops.record(DropReason::Malformed);
        };
        let ours = self.stream.map(|s| u64::from(VarInt::from(s)));
        if Some(p.stream_id) != ours {
            return self.stats.drops.record(DropReason::UnknownSession);
        }
        if p.context_id != CONTEXT_IP_PACKET {
            return self.stats.drops.record(DropReason::UnknownContext);
        }
        let start = d.len() - p.payload.len();
        self.stats.received_packets += 1;
        self.from_relay.push_back(d.slice(start..));
    }
}
