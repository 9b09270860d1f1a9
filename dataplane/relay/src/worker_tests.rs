//! Two workers on loopback UDP sockets, a relay-core client: the handshake goes to worker 0,
//! then every client packet is sent to worker 1, which must hand it to worker 0 (the worker id
//! in the destination connection ID) over the ring.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use oxidize_relay_core::auth::TokenSet;
use oxidize_relay_core::client::{ClientCore, ClientEvent, TunnelConfig};
use oxidize_relay_core::relay::{RelayConfig, RelayCore};
use oxidize_relay_core::template::UriTemplate;
use oxidize_relay_core::tls;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{Control, Worker};
use crate::doorbell::Doorbell;
use crate::handoff;
use crate::pool_split::PoolSplit;
use crate::state::Shared;
use crate::udp_io::UdpIo;

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

#[test]
fn packets_on_the_wrong_worker_reach_the_owner() {
    let ck = rcgen::generate_simple_self_signed(vec!["relay.test".to_owned()]).expect("rcgen");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let chain = vec![ck.cert.der().clone()];
    let idle = Duration::from_secs(10);
    let server = tls::server_config(chain.clone(), key, idle).expect("server config");
    let pools = PoolSplit::new("10.99.0.0/24".parse().expect("net"), None, 2).expect("split");
    let shared = Arc::new(Shared::new(2));
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut addrs = Vec::new();
    let mut controls = Vec::new();
    let mut handles = Vec::new();
    let doorbells = Arc::new(vec![
        Doorbell::new().expect("eventfd"),
        Doorbell::new().expect("eventfd"),
    ]);
    for (id, rings) in handoff::mesh(2, 64).into_iter().enumerate() {
        let io = UdpIo::bind(loopback).expect("bind loopback");
        addrs.push(io.local_addr().expect("addr"));
        let core = RelayCore::new(RelayConfig {
            worker_id: id as u8,
            seed: [id as u8 + 1; 32],
            server: server.clone(),
            template: UriTemplate::default(),
            tokens: TokenSet::new(["t"]),
            pool_v4: pools.v4_parts[id].to_string().parse().expect("cidr"),
            pool_v6: None,
            max_inner_packet: 1400,
            retry_above_handshakes: None,
            throttle: oxidize_relay_core::throttle::ThrottleConfig::default(),
        })
        .expect("core");
        let (tx, rx) = channel();
        controls.push(tx);
        let worker = Worker {
            id,
            io,
            core,
            tun: None,
            pools: pools.clone(),
            rings,
            control: rx,
            shared: shared.clone(),
            doorbells: doorbells.clone(),
            busy_poll: false,
        };
        handles.push(std::thread::spawn(move || worker.run()));
    }
    let socket = UdpSocket::bind(loopback).expect("client socket");
    socket.set_nonblocking(true).expect("nonblocking");
    let mut client = ClientCore::connect(
        Instant::now(),
        TunnelConfig {
            quic: tls::client_config(&chain, idle).expect("client config"),
            server: addrs[0],
            server_name: "relay.test".into(),
            authority: "relay.test".into(),
            path: "/.well-known/masque/ip/*/*/".into(),
            token: Some("t".into()),
            seed: [9; 32],
        },
    )
    .expect("connect");
    let mut me = None;
    let mut sent = 0;
    let mut buf = Vec::new();
    let mut rx = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |shared: &Shared| {
        let s = shared.snapshots();
        s[0].core.to_internet_packets >= 10 && s[1].handoff.quic_out >= 10
    };
    while !done(&shared) {
        assert!(
            Instant::now() < deadline,
            "timed out: {:?}",
            shared.snapshots()
        );
        let now = Instant::now();
        // After the tunnel is open, everything goes to worker 1 (as after NAT rebinding).
        let target = if me.is_some() { addrs[1] } else { addrs[0] };
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let _ = socket.send_to(&buf[..t.size], target);
        }
        while let Ok((n, _)) = socket.recv_from(&mut rx) {
            client.handle_datagram(Instant::now(), addrs[0], None, BytesMut::from(&rx[..n]));
        }
        if client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            client.handle_timeout(Instant::now());
        }
        while let Some(ev) = client.poll_event() {
            if let ClientEvent::AddressAssigned(a) = ev {
                if let Some(IpAddr::V4(v4)) = a.first().map(|e| e.prefix.addr) {
                    me = Some(v4);
                }
            }
        }
        if let Some(v4) = me {
            if sent < 20 {
                assert!(pools.v4_parts[0].contains(&v4), "worker 0 assigned {v4}");
                let _ =
                    client.handle_tunnel_packet(&ipv4_udp(v4, Ipv4Addr::new(192, 0, 2, 9), 200));
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for (c, bell) in controls.iter().zip(doorbells.iter()) {
        c.send(Control::Close).expect("worker alive");
        bell.ring_always();
    }
    for h in handles {
        h.join().expect("worker thread").expect("worker result");
    }
    let s = shared.snapshots();
    assert_eq!(
        s[1].core.to_internet_packets, 0,
        "worker 1 must not own the session"
    );
    assert_eq!(s[1].connections, 0);
}
