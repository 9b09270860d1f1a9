//! A raw QUIC client next to the relay core: writes hand-made HTTP/3 bytes, to test how the
//! relay treats peers that break (or stretch) the rules.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_relay_core::tls;
use quinn_proto::{
    Connection, ConnectionError, ConnectionHandle, DatagramEvent, Dir, Endpoint, EndpointConfig,
    Event, ReadError, StreamId,
};

use super::{cert, IDLE, RELAY, TOKEN};

const ME: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 200)), 5555);

pub(crate) struct RawPair {
    pub(crate) now: Instant,
    pub(crate) relay: RelayCore,
    ep: Endpoint,
    ch: ConnectionHandle,
    pub(crate) conn: Connection,
    to_relay: VecDeque<Vec<u8>>,
    to_me: VecDeque<Vec<u8>>,
    pub(crate) lost: Option<ConnectionError>,
    pub(crate) received: std::collections::HashMap<StreamId, (Vec<u8>, Option<ReadError>, bool)>,
}

impl RawPair {
    pub(crate) fn new() -> Self {
        let c = cert();
        let server = tls::server_config(c.chain.clone(), c.key.clone_key(), IDLE).expect("server");
        let relay = RelayCore::new(RelayConfig {
            worker_id: 1,
            seed: [9; 32],
            server,
            template: UriTemplate::default(),
            tokens: TokenSet::new([TOKEN]),
            pool_v4: "10.8.0.0/24".parse().expect("cidr"),
            pool_v6: None,
            max_inner_packet: 1500,
            retry_above_handshakes: None,
            throttle: oxidize_relay_core::throttle::ThrottleConfig::default(),
        })
        .expect("relay");
        let now = Instant::now();
        let mut ep = Endpoint::new(
            Arc::new(EndpointConfig::default()),
            None,
            true,
            Some([4; 32]),
        );
        let quic = tls::client_config(&c.chain, IDLE).expect("client");
        let (ch, conn) = ep.connect(now, quic, RELAY, "relay.test").expect("connect");
        let mut p = Self {
            now,
            relay,
            ep,
            ch,
            conn,
            to_relay: VecDeque::new(),
            to_me: VecDeque::new(),
            lost: None,
            received: Default::default(),
        };
        p.drive();
        assert!(!p.conn.is_handshaking(), "handshake did not finish");
        p
    }

    /// Exchanges packets until both sides are quiet (no latency, no loss).
    pub(crate) fn drive(&mut self) {
        for _ in 0..1000 {
            let mut buf = Vec::new();
            while let Some(t) = self.conn.poll_transmit(self.now, 1, &mut buf) {
                self.to_relay.push_back(buf[..t.size].to_vec());
                buf.clear();
            }
            while let Some(t) = self.relay.poll_transmit(self.now, &mut buf) {
                self.to_me.push_back(buf[..t.size].to_vec());
            }
            if self.to_relay.is_empty() && self.to_me.is_empty() {
                return;
            }
            self.now += Duration::from_millis(1);
            while let Some(p) = self.to_relay.pop_front() {
                self.relay
                    .handle_datagram(self.now, ME, None, BytesMut::from(&p[..]));
            }
            while let Some(p) = self.to_me.pop_front() {
                let mut out = Vec::new();
                if let Some(DatagramEvent::ConnectionEvent(_, ev)) = self.ep.handle(
                    self.now,
                    RELAY,
                    None,
                    None,
                    BytesMut::from(&p[..]),
                    &mut out,
                ) {
                    self.conn.handle_event(ev);
                }
            }
            self.relay.handle_timeout(self.now);
            self.conn.handle_timeout(self.now);
            self.pump_events();
        }
        panic!("raw pair did not settle");
    }

    fn pump_events(&mut self) {
        while let Some(ev) = self.conn.poll_endpoint_events() {
            if let Some(cev) = self.ep.handle_event(self.ch, ev) {
                self.conn.handle_event(cev);
            }
        }
        while let Some(ev) = self.conn.poll() {
            match ev {
                Event::ConnectionLost { reason } => self.lost = Some(reason),
                Event::Stream(quinn_proto::StreamEvent::Readable { id }) => self.read(id),
                Event::Stream(quinn_proto::StreamEvent::Opened { dir }) => {
                    while let Some(id) = self.conn.streams().accept(dir) {
                        self.read(id);
                    }
                }
                _ => {}
            }
        }
    }

    fn read(&mut self, id: StreamId) {
        let entry = self.received.entry(id).or_default();
        let mut recv = self.conn.recv_stream(id);
        let Ok(mut chunks) = recv.read(true) else {
            return;
        };
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(c)) => entry.0.extend_from_slice(&c.bytes),
                Ok(None) => {
                    entry.2 = true;
                    break;
                }
                Err(ReadError::Blocked) => break,
                Err(e) => {
                    entry.1 = Some(e);
                    break;
                }
            }
        }
        let _ = chunks.finalize();
    }

    /// Opens a stream and writes `bytes` (and FIN if asked).
    pub(crate) fn open(&mut self, dir: Dir, bytes: &[u8], fin: bool) -> StreamId {
        let id = self.conn.streams().open(dir).expect("stream credit");
        self.write(id, bytes, fin);
        id
    }

    pub(crate) fn write(&mut self, id: StreamId, bytes: &[u8], fin: bool) {
        let n = self.conn.send_stream(id).write(bytes).expect("write");
        assert_eq!(n, bytes.len(), "flow control");
        if fin {
            self.conn.send_stream(id).finish().expect("finish");
        }
        self.drive();
    }

    pub(crate) fn send_datagram(&mut self, d: &[u8]) {
        self.conn
            .datagrams()
            .send(Bytes::copy_from_slice(d), true)
            .expect("datagram");
        self.drive();
    }

    /// The application error code the relay closed the connection with, if it did.
    pub(crate) fn close_code(&self) -> Option<u64> {
        match &self.lost {
            Some(ConnectionError::ApplicationClosed(c)) => Some(c.error_code.into_inner()),
            _ => None,
        }
    }
}
