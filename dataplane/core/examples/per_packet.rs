//! What each direction costs per packet in the relay core, in memory (no I/O): quinn-proto
//! encryption/decryption, HTTP Datagram framing and the inner-packet checks, on one core.
//!
//! `cargo run --release -p oxidize-relay-core --example per_packet [packets] [inner-bytes]`
//! prints a table of microseconds per packet for the sending and the receiving side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::client::{ClientCore, ClientEvent, TunnelConfig};
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_relay_core::tls;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const RELAY: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 443);
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 4000);

fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(28)];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

/// Moves packets both ways until quiet (handshake, acks); returns the tunnel packets that came
/// out on the way (to the internet, to the client).
fn settle(relay: &mut RelayCore, client: &mut ClientCore) -> (usize, usize) {
    let mut out = (0, 0);
    let mut buf = Vec::new();
    for _ in 0..200 {
        let now = Instant::now();
        let mut moved = false;
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            relay.handle_datagram(now, CLIENT, None, BytesMut::from(&buf[..t.size]));
            moved = true;
        }
        while let Some(t) = relay.poll_transmit(now, &mut buf) {
            client.handle_datagram(now, RELAY, None, BytesMut::from(&buf[..t.size]));
            moved = true;
        }
        while relay.poll_tunnel_packet().is_some() {
            out.0 += 1;
        }
        while client.poll_tunnel_packet().is_some() {
            out.1 += 1;
        }
        if !moved {
            return out;
        }
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let ck = rcgen::generate_simple_self_signed(vec!["relay.test".to_owned()]).expect("rcgen");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let chain = vec![ck.cert.der().clone()];
    let idle = Duration::from_secs(60);
    let mut relay = RelayCore::new(RelayConfig {
        worker_id: 0,
        seed: [1; 32],
        server: tls::server_config(chain.clone(), key, idle).expect("server config"),
        template: UriTemplate::default(),
        tokens: TokenSet::new(["t"]),
        pool_v4: "10.8.0.0/24".parse().expect("cidr"),
        pool_v6: None,
        max_inner_packet: 1500,
        retry_above_handshakes: None,
        throttle: oxidize_relay_core::throttle::ThrottleConfig::default(),
    })
    .expect("relay");
    let mut client = ClientCore::connect(
        Instant::now(),
        TunnelConfig {
            quic: tls::client_config(&chain, idle).expect("client config"),
            server: RELAY,
            server_name: "relay.test".into(),
            authority: "relay.test".into(),
            path: "/.well-known/masque/ip/*/*/".into(),
            token: Some("t".into()),
            seed: [2; 32],
        },
    )
    .expect("connect");
    settle(&mut relay, &mut client);
    let mut me = None;
    while let Some(ev) = client.poll_event() {
        if let ClientEvent::AddressAssigned(a) = ev {
            if let Some(IpAddr::V4(v4)) = a.first().map(|e| e.prefix.addr) {
                me = Some(v4);
            }
        }
    }
    let me = me.expect("an address was assigned");
    let host = Ipv4Addr::new(203, 0, 113, 9);
    let up = ipv4_udp(me, host, size);
    let down = ipv4_udp(host, me, size);
    let mut buf = Vec::new();

    // Client -> internet.
    let (mut send, mut recv, mut delivered) = (Duration::ZERO, Duration::ZERO, 0usize);
    for i in 0..n {
        let t0 = Instant::now();
        let _ = client.handle_tunnel_packet(&up);
        let tx = client.poll_transmit(t0, &mut buf);
        let t1 = Instant::now();
        if let Some(t) = tx {
            relay.handle_datagram(t1, CLIENT, None, BytesMut::from(&buf[..t.size]));
            while relay.poll_tunnel_packet().is_some() {
                delivered += 1;
            }
        }
        recv += t1.elapsed();
        send += t1 - t0;
        if i % 32 == 31 {
            delivered += settle(&mut relay, &mut client).0;
        }
    }
    delivered += settle(&mut relay, &mut client).0;
    let up_row = (send, recv, delivered);

    // Internet -> client.
    let (mut send, mut recv, mut delivered) = (Duration::ZERO, Duration::ZERO, 0usize);
    for i in 0..n {
        let t0 = Instant::now();
        let _ = relay.handle_tunnel_packet(&down);
        let tx = relay.poll_transmit(t0, &mut buf);
        let t1 = Instant::now();
        if let Some(t) = tx {
            client.handle_datagram(t1, RELAY, None, BytesMut::from(&buf[..t.size]));
            while client.poll_tunnel_packet().is_some() {
                delivered += 1;
            }
        }
        recv += t1.elapsed();
        send += t1 - t0;
        if i % 32 == 31 {
            delivered += settle(&mut relay, &mut client).1;
        }
    }
    delivered += settle(&mut relay, &mut client).1;
    let down_row = (send, recv, delivered);

    println!(
        "{n} packets of {size} B inner, one core, in memory (acks every 32 packets, not timed)"
    );
    println!("| direction | delivered | sender us/pkt | receiver us/pkt |");
    println!("| --- | --- | --- | --- |");
    for (name, (s, r, d)) in [
        ("client -> internet (relay receives)", up_row),
        ("internet -> client (relay sends)", down_row),
    ] {
        let per = |t: Duration| t.as_secs_f64() * 1e6 / n as f64;
        println!("| {name} | {d} | {:.2} | {:.2} |", per(s), per(r));
    }
    let drops = relay.stats().drops;
    println!("relay drops: {drops:?}");
}
