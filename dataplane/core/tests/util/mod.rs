//! An in-memory relay + clients pair with a virtual clock (after quinn-proto's tests/util.rs).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helper"
)]

pub(crate) mod raw;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::client::{ClientCore, ClientEvent, TunnelConfig};
use oxidize_relay_core::relay::{RelayConfig, RelayCore, TunnelPacket};
use oxidize_relay_core::template::UriTemplate;
use oxidize_relay_core::tls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub(crate) const TOKEN: &str = "test-token-1";
pub(crate) const RELAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 443);
pub(crate) const IDLE: Duration = Duration::from_secs(30);

pub(crate) struct Cert {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

pub(crate) fn cert() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["relay.test".to_owned()]).expect("rcgen");
    Cert {
        chain: vec![ck.cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der())),
    }
}

pub(crate) struct Client {
    pub(crate) addr: SocketAddr,
    pub(crate) core: ClientCore,
    pub(crate) events: Vec<ClientEvent>,
    pub(crate) received: Vec<Vec<u8>>,
}

struct InFlight {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

pub(crate) struct Pair {
    pub(crate) now: Instant,
    pub(crate) relay: RelayCore,
    pub(crate) clients: Vec<Client>,
    pub(crate) internet: Vec<TunnelPacket>,
    pub(crate) latency: Duration,
    /// Drop this many of the next datagrams (either direction) to simulate loss.
    pub(crate) drop_next: usize,
    pub(crate) dropped: usize,
    in_flight: VecDeque<InFlight>,
    cert: Cert,
}

impl Pair {
    pub(crate) fn new(pool_v4: &str, pool_v6: Option<&str>) -> Self {
        Self::with_retry(pool_v4, pool_v6, None)
    }

    /// A pair with a given auth throttle.
    pub(crate) fn with_throttle(
        pool_v4: &str,
        throttle: oxidize_relay_core::throttle::ThrottleConfig,
    ) -> Self {
        let mut p = Self::with_retry(pool_v4, None, None);
        p.relay.set_throttle(throttle);
        p
    }

    /// A pair whose relay sends Retry at `retry_above` handshakes in progress.
    pub(crate) fn with_retry(
        pool_v4: &str,
        pool_v6: Option<&str>,
        retry_above: Option<usize>,
    ) -> Self {
        let cert = cert();
        let server = tls::server_config(cert.chain.clone(), cert.key.clone_key(), IDLE)
            .expect("server config");
        let relay = RelayCore::new(RelayConfig {
            worker_id: 3,
            seed: [7; 32],
            server,
            template: UriTemplate::default(),
            tokens: TokenSet::new([TOKEN, "other-token"]),
            pool_v4: pool_v4.parse().expect("cidr"),
            pool_v6: pool_v6.map(|s| s.parse().expect("cidr")),
            max_inner_packet: 1500,
            retry_above_handshakes: retry_above,
            throttle: oxidize_relay_core::throttle::ThrottleConfig::default(),
        })
        .expect("relay");
        Self {
            now: Instant::now(),
            relay,
            clients: Vec::new(),
            internet: Vec::new(),
            latency: Duration::from_millis(5),
            drop_next: 0,
            dropped: 0,
            in_flight: VecDeque::new(),
            cert,
        }
    }

    /// Adds a client that connects with `token`; returns its index.
    pub(crate) fn add_client(&mut self, token: Option<&str>) -> usize {
        let quic = tls::client_config(&self.cert.chain, IDLE).expect("client config");
        self.add_client_with(quic, token)
    }

    /// Adds a client with a given QUIC client configuration (share one to resume sessions).
    pub(crate) fn add_client_with(
        &mut self,
        quic: quinn_proto::ClientConfig,
        token: Option<&str>,
    ) -> usize {
        let i = self.clients.len();
        let ip = Ipv4Addr::new(198, 51, 100, 1 + i as u8);
        self.add_client_at(quic, ip, token)
    }

    /// Adds a client whose packets come from `ip` (several clients may share one).
    pub(crate) fn add_client_at(
        &mut self,
        quic: quinn_proto::ClientConfig,
        ip: Ipv4Addr,
        token: Option<&str>,
    ) -> usize {
        let i = self.clients.len();
        let addr = SocketAddr::new(std::net::IpAddr::V4(ip), 40000 + i as u16);
        let core = ClientCore::connect(
            self.now,
            TunnelConfig {
                quic,
                server: RELAY,
                server_name: "relay.test".into(),
                authority: "relay.test".into(),
                path: "/.well-known/masque/ip/*/*/".into(),
                token: token.map(str::to_owned),
                seed: [i as u8 + 1; 32],
            },
        )
        .expect("connect");
        self.clients.push(Client {
            addr,
            core,
            events: Vec::new(),
            received: Vec::new(),
        });
        i
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if self.drop_next > 0 {
            self.drop_next -= 1;
            self.dropped += 1;
            return;
        }
        self.in_flight.push_back(InFlight {
            at: self.now + self.latency,
            from,
            to,
            bytes,
        });
    }

    /// Moves every pending transmit into flight and collects outputs; true if anything moved.
    fn collect(&mut self) -> bool {
        let mut moved = false;
        let mut buf = Vec::new();
        while let Some(t) = self.relay.poll_transmit(self.now, &mut buf) {
            self.send(RELAY, t.destination, buf[..t.size].to_vec());
            moved = true;
        }
        while let Some(p) = self.relay.poll_tunnel_packet() {
            self.internet.push(p);
        }
        for i in 0..self.clients.len() {
            let addr = self.clients[i].addr;
            while let Some(t) = self.clients[i].core.poll_transmit(self.now, &mut buf) {
                let bytes = buf[..t.size].to_vec();
                self.send(addr, RELAY, bytes);
                moved = true;
            }
            let c = &mut self.clients[i];
            while let Some(ev) = c.core.poll_event() {
                c.events.push(ev);
            }
            while let Some(p) = c.core.poll_tunnel_packet() {
                c.received.push(p.to_vec());
            }
        }
        moved
    }

    fn deliver_due(&mut self) {
        while self.in_flight.front().is_some_and(|p| p.at <= self.now) {
            let Some(p) = self.in_flight.pop_front() else {
                break;
            };
            let data = BytesMut::from(&p.bytes[..]);
            if p.to == RELAY {
                self.relay.handle_datagram(self.now, p.from, None, data);
            } else if let Some(c) = self.clients.iter_mut().find(|c| c.addr == p.to) {
                c.core.handle_datagram(self.now, p.from, None, data);
            }
        }
    }

    fn next_timeout(&mut self) -> Option<Instant> {
        let mut t = self.relay.poll_timeout();
        for c in &mut self.clients {
            t = match (t, c.core.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        t
    }

    fn fire_timers(&mut self) {
        self.relay.handle_timeout(self.now);
        for c in &mut self.clients {
            c.core.handle_timeout(self.now);
        }
    }

    /// Runs until nothing is in flight and no timer is due within `horizon`.
    pub(crate) fn drive_for(&mut self, horizon: Duration) {
        let end = self.now + horizon;
        for _ in 0..100_000 {
            self.fire_timers();
            self.collect();
            let next_packet = self.in_flight.front().map(|p| p.at);
            let next = match (next_packet, self.next_timeout()) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => return,
            };
            if next > end {
                if next_packet.is_none() {
                    return;
                }
                self.now = self.now.max(next);
            } else {
                self.now = self.now.max(next);
            }
            self.deliver_due();
        }
        panic!("pair did not settle");
    }

    /// Runs a short while (handshakes, a round trip, acks).
    pub(crate) fn drive(&mut self) {
        self.drive_for(Duration::from_millis(500));
    }

    /// Moves the clock forward by `d`, firing timers on the way, then settles.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.drive_for(d);
        self.now = self.now.max(end);
        self.drive();
    }

    pub(crate) fn client_config(&self) -> quinn_proto::ClientConfig {
        tls::client_config(&self.cert.chain, IDLE).expect("client config")
    }

    pub(crate) fn client(&mut self, i: usize) -> &mut Client {
        &mut self.clients[i]
    }
}

/// A minimal IPv4/UDP packet (checksums zero: nothing on the path checks them).
pub(crate) fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = (28 + payload.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0x30, 0x39, 0x00, 0x07]);
    p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}
