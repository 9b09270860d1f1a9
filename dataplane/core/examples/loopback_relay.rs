//! A development relay on a loopback UDP socket, for interop checks with other QUIC stacks.
//!
//! It drives one `RelayCore` from a plain `std::net::UdpSocket` (the I/O edge lives here, not in
//! the library) and plays the internet itself: every IPv4 packet a client sends into the tunnel
//! comes straight back with source and destination swapped. Self-signed certificate for
//! `localhost`, token `secret`, pool 10.66.0.0/24 and fd66::/64.
//!
//! ```text
//! cargo run -p oxidize-relay-core --example loopback_relay -- [seconds] [port]
//! .venv/bin/python dataplane/core/interop/aioquic_client.py secret   # 200, address, echo
//! .venv/bin/python dataplane/core/interop/aioquic_client.py wrong    # 403
//! .venv/bin/python dataplane/core/interop/aioquic_client.py -        # 401
//! ```

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_relay_core::tls;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4433);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let server = tls::server_config(vec![ck.cert.der().clone()], key, Duration::from_secs(10))
        .expect("server config");
    let mut relay = RelayCore::new(RelayConfig {
        worker_id: 0,
        seed: [5; 32],
        server,
        template: UriTemplate::default(),
        tokens: TokenSet::new(["secret"]),
        pool_v4: "10.66.0.0/24".parse().expect("cidr"),
        pool_v6: Some("fd66::/64".parse().expect("cidr")),
        max_inner_packet: 1500,
        retry_above_handshakes: None,
        throttle: Default::default(),
    })
    .expect("relay");
    let sock = UdpSocket::bind(("127.0.0.1", port))?;
    println!("relay on {}", sock.local_addr()?);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut buf = vec![0u8; 65536];
    let mut tx = Vec::new();
    while Instant::now() < end {
        let now = Instant::now();
        let wait = relay
            .poll_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        sock.set_read_timeout(Some(wait))?;
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            relay.handle_datagram(Instant::now(), from, None, BytesMut::from(&buf[..n]));
        }
        relay.handle_timeout(Instant::now());
        while let Some(tp) = relay.poll_tunnel_packet() {
            let mut p = tp.packet.to_vec();
            if p.len() >= 20 && p[0] >> 4 == 4 {
                let (src, dst) = ([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]]);
                p[12..16].copy_from_slice(&dst);
                p[16..20].copy_from_slice(&src);
                println!(
                    "echo {} bytes for {}",
                    p.len(),
                    std::net::Ipv4Addr::from(src)
                );
                let _ = relay.handle_tunnel_packet(&p);
            }
        }
        while let Some(t) = relay.poll_transmit(Instant::now(), &mut tx) {
            sock.send_to(&tx[..t.size], t.destination)?;
        }
    }
    println!("stats: {:?}", relay.stats());
    Ok(())
}
