//! End-to-end tests of the relay core and the client core over in-memory queues.

mod util;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use oxidize_relay_core::capsule::{AddressEntry, IpRange};
use oxidize_relay_core::cid;
use oxidize_relay_core::client::ClientEvent;
use oxidize_relay_core::packet::DropReason;
use util::{ipv4_udp, Pair, TOKEN};

const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn assigned_v4(events: &[ClientEvent]) -> Option<Ipv4Addr> {
    events.iter().find_map(|e| match e {
        ClientEvent::AddressAssigned(a) => {
            a.iter()
                .find_map(|AddressEntry { prefix, .. }| match prefix.addr {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
        }
        _ => None,
    })
}

fn open_tunnel(pair: &mut Pair, token: Option<&str>) -> usize {
    let i = pair.add_client(token);
    pair.drive();
    i
}

#[test]
fn handshake_tunnel_and_address_assignment() {
    let mut pair = Pair::new("10.8.0.0/24", Some("fd00:8::/64"));
    let i = open_tunnel(&mut pair, Some(TOKEN));
    let c = pair.client(i);
    assert!(c.events.contains(&ClientEvent::Connected), "{:?}", c.events);
    assert!(
        c.events.contains(&ClientEvent::TunnelOpen),
        "{:?}",
        c.events
    );
    assert_eq!(assigned_v4(&c.events), Some(Ipv4Addr::new(10, 8, 0, 2)));
    let v6 = c.events.iter().any(|e| matches!(e, ClientEvent::AddressAssigned(a) if a.iter().any(|x| x.prefix.addr == "fd00:8::2".parse::<IpAddr>().expect("ip"))));
    assert!(v6, "{:?}", c.events);
    assert!(c
        .events
        .contains(&ClientEvent::Routes(vec![IpRange::V4_ALL, IpRange::V6_ALL])));
    assert!(c.core.is_tunnel_open());
    let stats = pair.relay.stats();
    assert_eq!(
        (
            stats.connections_accepted,
            stats.sessions_opened,
            stats.address_requests
        ),
        (1, 1, 1)
    );
    assert_eq!(pair.relay.sessions().len(), 1);
}

#[test]
fn ip_packets_both_ways_and_spoofing_dropped() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let i = open_tunnel(&mut pair, Some(TOKEN));
    let me = assigned_v4(&pair.client(i).events).expect("address");

    // Client -> internet.
    let out = ipv4_udp(me, INTERNET_HOST, b"ping");
    pair.client(i)
        .core
        .handle_tunnel_packet(&out)
        .expect("sent");
    pair.drive();
    assert_eq!(pair.internet.len(), 1);
    assert_eq!(&pair.internet[0].packet[..], &out[..]);

    // Internet -> client.
    let back = ipv4_udp(INTERNET_HOST, me, b"pong");
    let sid = pair.relay.handle_tunnel_packet(&back).expect("sealed");
    assert_eq!(sid, pair.internet[0].session);
    pair.drive();
    assert_eq!(pair.client(i).received, vec![back]);

    // Spoofed inner source: dropped at the relay and counted.
    let spoof = ipv4_udp(Ipv4Addr::new(10, 8, 0, 99), INTERNET_HOST, b"evil");
    pair.client(i)
        .core
        .handle_tunnel_packet(&spoof)
        .expect("sent");
    pair.drive();
    assert_eq!(
        pair.internet.len(),
        1,
        "spoofed packet must not reach the internet"
    );
    assert_eq!(pair.relay.stats().drops.spoofed_source, 1);

    // Malformed inner packet and a packet for nobody.
    pair.client(i)
        .core
        .handle_tunnel_packet(&[0x45, 0, 0])
        .expect("sent");
    pair.drive();
    assert_eq!(pair.relay.stats().drops.malformed, 1);
    let nobody = ipv4_udp(INTERNET_HOST, Ipv4Addr::new(10, 8, 0, 77), b"?");
    assert_eq!(
        pair.relay.handle_tunnel_packet(&nobody),
        Err(DropReason::WrongDestination)
    );

    // With the session known to the caller: the destination must still be the session's.
    let again = ipv4_udp(INTERNET_HOST, me, b"pong 2");
    pair.relay
        .handle_tunnel_packet_for(sid, &again)
        .expect("sealed");
    assert_eq!(
        pair.relay.handle_tunnel_packet_for(sid, &nobody),
        Err(DropReason::WrongDestination)
    );
    let too_big = ipv4_udp(INTERNET_HOST, me, &[0u8; 1400]);
    assert_eq!(
        pair.relay.handle_tunnel_packet(&too_big),
        Err(DropReason::TooLarge)
    );
    pair.drive();
    assert_eq!(pair.client(i).received.len(), 2);

    let stats = pair.relay.stats();
    assert_eq!((stats.to_internet_packets, stats.to_client_packets), (1, 2));
    assert_eq!(
        (stats.drops.wrong_destination, stats.drops.too_large),
        (2, 1)
    );
}

#[test]
fn missing_and_wrong_tokens() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let a = open_tunnel(&mut pair, None);
    let b = open_tunnel(&mut pair, Some("wrong"));
    assert!(
        pair.client(a).events.contains(&ClientEvent::Rejected(401)),
        "{:?}",
        pair.client(a).events
    );
    assert!(
        pair.client(b).events.contains(&ClientEvent::Rejected(403)),
        "{:?}",
        pair.client(b).events
    );
    assert!(!pair.client(b).core.is_tunnel_open());
    // Nothing a refused client sends is relayed.
    let p = ipv4_udp(Ipv4Addr::new(10, 8, 0, 2), INTERNET_HOST, b"x");
    assert_eq!(
        pair.client(b).core.handle_tunnel_packet(&p),
        Err(DropReason::Unsendable)
    );
    pair.drive();
    assert!(pair.internet.is_empty());
    let r = pair.relay.stats().rejected;
    assert_eq!((r.unauthenticated, r.forbidden), (1, 1));
    assert_eq!(pair.relay.sessions().len(), 0);
    assert_eq!(pair.relay.pool().in_use(), 0);
}

#[test]
fn pool_exhausted_then_released() {
    let mut pair = Pair::new("10.8.0.0/30", None); // room for one client
    let a = open_tunnel(&mut pair, Some(TOKEN));
    let b = open_tunnel(&mut pair, Some(TOKEN));
    assert!(pair.client(a).core.is_tunnel_open());
    assert!(
        pair.client(b).events.contains(&ClientEvent::Rejected(503)),
        "{:?}",
        pair.client(b).events
    );
    assert_eq!(pair.relay.stats().rejected.pool_exhausted, 1);

    let now = pair.now;
    pair.client(a).core.close(now);
    pair.drive();
    assert_eq!(
        pair.relay.pool().in_use(),
        0,
        "closing the connection frees the address"
    );
    let c = open_tunnel(&mut pair, Some(TOKEN));
    assert!(pair.client(c).core.is_tunnel_open());
}

#[test]
fn two_clients_get_their_own_replies() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let a = open_tunnel(&mut pair, Some(TOKEN));
    let b = open_tunnel(&mut pair, Some("other-token"));
    let (ia, ib) = (
        assigned_v4(&pair.client(a).events).expect("a"),
        assigned_v4(&pair.client(b).events).expect("b"),
    );
    assert_ne!(ia, ib);
    let ra = ipv4_udp(INTERNET_HOST, ia, b"for a");
    let rb = ipv4_udp(INTERNET_HOST, ib, b"for b");
    pair.relay.handle_tunnel_packet(&ra).expect("a");
    pair.relay.handle_tunnel_packet(&rb).expect("b");
    pair.drive();
    assert_eq!(pair.client(a).received, vec![ra]);
    assert_eq!(pair.client(b).received, vec![rb]);
}

#[test]
fn goaway_then_close_on_shutdown() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let i = open_tunnel(&mut pair, Some(TOKEN));
    let now = pair.now;
    pair.relay.shutdown(now);
    pair.drive();
    assert!(
        pair.client(i).events.contains(&ClientEvent::Goaway),
        "{:?}",
        pair.client(i).events
    );
    assert_eq!(pair.relay.stats().goaway_sent, 1);
    // New connections are refused while draining.
    let late = open_tunnel(&mut pair, Some(TOKEN));
    assert!(!pair.client(late).core.is_tunnel_open());
    let now = pair.now;
    pair.relay.close_all(now);
    pair.advance(Duration::from_secs(2));
    let closed = pair
        .client(i)
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Closed(r) if r.contains("closed by peer")));
    assert!(closed, "{:?}", pair.client(i).events);
    assert_eq!(pair.relay.sessions().len(), 0);
    assert_eq!(pair.relay.pool().in_use(), 0);
    assert!(pair.relay.stats().connections_refused >= 1);
}

#[test]
fn idle_timeout_on_the_virtual_clock() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let i = open_tunnel(&mut pair, Some(TOKEN));
    assert_eq!(pair.relay.connection_count(), 1);
    pair.advance(Duration::from_secs(20));
    assert!(
        pair.client(i).core.is_tunnel_open(),
        "still open before the idle timeout"
    );
    pair.advance(Duration::from_secs(40));
    assert!(pair.client(i).core.is_closed());
    assert_eq!(pair.relay.stats().connections_timed_out, 1);
    assert_eq!(pair.relay.connection_count(), 0);
    assert_eq!(pair.relay.pool().in_use(), 0);
}

#[test]
fn survives_loss_during_the_handshake() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    pair.drop_next = 2; // the client's first Initial and its retransmission... or the reply
    let i = pair.add_client(Some(TOKEN));
    pair.advance(Duration::from_secs(5));
    assert!(pair.dropped == 2);
    assert!(
        pair.client(i).core.is_tunnel_open(),
        "{:?}",
        pair.client(i).events
    );
}

#[test]
fn relay_cids_carry_the_worker_id() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let i = open_tunnel(&mut pair, Some(TOKEN));
    // A short-header packet from the client after the handshake names a relay-issued CID.
    let me = assigned_v4(&pair.client(i).events).expect("address");
    pair.client(i)
        .core
        .handle_tunnel_packet(&ipv4_udp(me, INTERNET_HOST, b"x"))
        .expect("sent");
    let mut buf = Vec::new();
    let now = pair.now;
    let t = pair
        .client(i)
        .core
        .poll_transmit(now, &mut buf)
        .expect("a packet");
    assert_eq!(
        cid::worker_of(&buf[..t.size]),
        Some(3),
        "{:02x?}",
        &buf[..t.size.min(12)]
    );
}

#[test]
fn resumed_connection_sends_the_request_in_0rtt() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let quic = pair.client_config();
    let first = pair.add_client_with(quic.clone(), Some(TOKEN));
    pair.drive();
    assert!(pair.client(first).core.is_tunnel_open());
    assert!(!pair.client(first).core.stats().zero_rtt_accepted);
    let second = pair.add_client_with(quic, Some(TOKEN));
    pair.drive();
    let c = pair.client(second);
    assert!(c.core.is_tunnel_open(), "{:?}", c.events);
    assert!(
        c.core.stats().zero_rtt_accepted,
        "the resumed connection used 0-RTT"
    );
    assert_eq!(pair.relay.stats().zero_rtt_accepted, 1);
    assert_eq!(pair.relay.sessions().len(), 2);
}

#[test]
fn retry_under_handshake_load_still_connects() {
    let mut pair = Pair::with_retry("10.8.0.0/24", None, Some(0)); // always Retry
    let i = open_tunnel(&mut pair, Some(TOKEN));
    assert!(
        pair.client(i).core.is_tunnel_open(),
        "{:?}",
        pair.client(i).events
    );
    assert_eq!(pair.relay.stats().retries_sent, 1);
    assert_eq!(pair.relay.stats().connections_accepted, 1);
}

#[test]
fn certificate_can_be_replaced() {
    let mut pair = Pair::new("10.8.0.0/24", None);
    let a = open_tunnel(&mut pair, Some(TOKEN));
    // A new certificate that the existing clients' roots do not trust: new handshakes fail,
    // the established connection is unaffected.
    let other = util::cert();
    let server =
        oxidize_relay_core::tls::server_config(other.chain, other.key, util::IDLE).expect("config");
    pair.relay.set_server_config(server);
    let b = open_tunnel(&mut pair, Some(TOKEN));
    assert!(pair.client(a).core.is_tunnel_open());
    assert!(
        pair.client(b).core.is_closed(),
        "{:?}",
        pair.client(b).events
    );
}

#[test]
fn repeated_auth_failures_from_one_source_are_slowed_down() {
    use oxidize_relay_core::throttle::ThrottleConfig;
    let cfg = ThrottleConfig {
        max_failures: 2,
        window: Duration::from_secs(60),
        block_for: Duration::from_secs(30),
    };
    let mut pair = Pair::with_throttle("10.8.0.0/24", cfg);
    let bad_ip = Ipv4Addr::new(198, 51, 100, 66);
    let quic = pair.client_config();
    let a = pair.add_client_at(quic.clone(), bad_ip, Some("guess-1"));
    pair.drive();
    let b = pair.add_client_at(quic.clone(), bad_ip, None);
    pair.drive();
    assert!(pair.client(a).events.contains(&ClientEvent::Rejected(403)));
    assert!(pair.client(b).events.contains(&ClientEvent::Rejected(401)));
    // Blocked now: even the right token cannot connect from there...
    let c = pair.add_client_at(quic.clone(), bad_ip, Some(TOKEN));
    pair.drive();
    assert!(
        pair.client(c).core.is_closed(),
        "{:?}",
        pair.client(c).events
    );
    assert_eq!(pair.relay.stats().connections_throttled, 1);
    // ...while other sources are unaffected...
    let d = pair.add_client_at(quic.clone(), Ipv4Addr::new(198, 51, 100, 67), Some(TOKEN));
    pair.drive();
    assert!(pair.client(d).core.is_tunnel_open());
    // ...and the block ends.
    pair.advance(Duration::from_secs(31));
    let e = pair.add_client_at(quic, bad_ip, Some(TOKEN));
    pair.drive();
    assert!(
        pair.client(e).core.is_tunnel_open(),
        "{:?}",
        pair.client(e).events
    );
}
