use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::testing;
use super::*;

#[test]
fn parses_what_it_builds_v4_and_v6() {
    for frame in [testing::udp4(b"hello", 4433), testing::udp6(b"hello", 4433)] {
        let parsed = parse(&frame).expect("valid frame");
        assert_eq!(parsed.payload, b"hello");
        assert_eq!(parsed.dst.port(), 4433);
        assert_eq!(parsed.src_mac, testing::SRC_MAC);
        assert_eq!(parsed.ecn, Ecn::Ect0);
    }
}

#[test]
fn checksums_verify() {
    let frame = testing::udp4(b"abc", 9);
    assert_eq!(ipv4_header_checksum(&frame[14..34]), 0);
    // Recomputing over a segment with its checksum in place gives 0, reported as 0xffff.
    let p = parse(&frame).expect("valid");
    let udp = &frame[34..];
    assert_eq!(udp_checksum(p.src.ip(), p.dst.ip(), udp), 0xffff);
}

#[test]
fn ipv4_df_set_and_ecn_carried() {
    let frame = testing::udp4(b"x", 9);
    assert_eq!(frame[20] & 0x40, 0x40, "DF");
    assert_eq!(frame[15] & 0b11, Ecn::Ect0.bits());
}

#[test]
fn vlan_options_and_extension_headers_parse() {
    let vlan = testing::udp4_vlan(b"v", 1);
    assert_eq!(parse(&vlan).map(|p| p.vlan), Ok(Some(100)));
    let opts = testing::udp4_options(b"o", 1);
    assert_eq!(parse(&opts).map(|p| p.payload), Ok(&b"o"[..]));
    let dst_opts = testing::udp6_ext(b"e", 1, 60);
    assert_eq!(parse(&dst_opts).map(|p| p.payload), Ok(&b"e"[..]));
    assert_eq!(
        parse(&testing::udp6_ext(b"e", 1, 44)),
        Err(ParseError::Fragment)
    );
    assert_eq!(
        parse(&testing::udp6_ext(b"e", 1, 51)),
        Err(ParseError::Ipv6Extension(51))
    );
    assert_eq!(
        parse(&testing::udp4_fragment(b"f", 1)),
        Err(ParseError::Fragment)
    );
    assert_eq!(parse(&testing::tcp4(1)), Err(ParseError::NotUdp(6)));
    assert_eq!(parse(&testing::arp()), Err(ParseError::NotIp(0x0806)));
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut frame = testing::udp4(b"ab", 9);
    frame.resize(60, 0);
    assert_eq!(parse(&frame).map(|p| p.payload), Ok(&b"ab"[..]));
}

#[test]
fn reply_in_place_swaps_and_keeps_payload() {
    let mut frame = testing::udp4_options(b"payload", 4433);
    let (reply, at, len) = {
        let p = parse(&frame).expect("valid");
        (UdpHeaders::reply_to(&p), p.payload_offset, p.payload.len())
    };
    let n = reply.write_in_place(&mut frame, at, len).expect("fits");
    let r = parse(&frame[..n]).expect("valid reply");
    assert_eq!(r.payload, b"payload");
    assert_eq!(r.dst.port(), testing::SRC_PORT);
    assert_eq!(r.dst_mac, testing::SRC_MAC);
}

#[test]
fn family_mismatch_and_small_buffer_are_errors() {
    let mut h = UdpHeaders::reply_to(&parse(&testing::udp4(b"", 1)).expect("valid"));
    h.dst = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 1);
    assert_eq!(
        h.write(&mut [0u8; 100], b""),
        Err(BuildError::FamilyMismatch)
    );
    h.dst = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 1);
    assert!(matches!(
        h.write(&mut [0u8; 10], b""),
        Err(BuildError::BufferTooSmall { .. })
    ));
}

fn arb_addr_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<u16>()
        )
            .prop_map(|(a, pa, b, pb)| (
                SocketAddr::new(IpAddr::from(a), pa),
                SocketAddr::new(IpAddr::from(b), pb)
            )),
        (
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<u16>()
        )
            .prop_map(|(a, pa, b, pb)| (
                SocketAddr::new(IpAddr::from(a), pa),
                SocketAddr::new(IpAddr::from(b), pb)
            )),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics_and_agrees_with_classify(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
        let parsed = parse(&frame);
        let verdict = crate::classify::classify(&frame, &[4433]);
        // Whenever user space can parse a datagram to 4433, the program redirects it.
        if let Ok(p) = parsed {
            if p.dst.port() == 4433 {
                prop_assert_eq!(verdict, crate::classify::Verdict::Redirect);
            }
        }
    }

    #[test]
    fn build_then_parse_round_trips(
        (src, dst) in arb_addr_pair(),
        vlan in proptest::option::of(any::<u16>()),
        ecn in 0u8..4,
        hop in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let h = UdpHeaders {
            src_mac: [1, 2, 3, 4, 5, 6],
            dst_mac: [7, 8, 9, 10, 11, 12],
            vlan,
            src,
            dst,
            ecn: Ecn::from_bits(ecn),
            hop_limit: hop,
        };
        let mut buf = vec![0u8; 2048];
        let n = h.write(&mut buf, &payload).expect("fits");
        let p = parse(&buf[..n]).expect("round trip parses");
        prop_assert_eq!(p.payload, &payload[..]);
        prop_assert_eq!(p.src, src);
        prop_assert_eq!(p.dst, dst);
        prop_assert_eq!(p.vlan, vlan);
        prop_assert_eq!(p.ecn, Ecn::from_bits(ecn));
        prop_assert_eq!(p.hop_limit, hop);
        prop_assert_eq!(crate::classify::classify(&buf[..n], &[dst.port()]), crate::classify::Verdict::Redirect);
        // The UDP checksum verifies: recomputing over the segment with its checksum gives 0 (or 0xffff).
        let udp_at = p.payload_offset - UDP_HLEN;
        let check = udp_checksum(src.ip(), dst.ip(), &buf[udp_at..n]);
        prop_assert!(check == 0xffff || check == 0, "udp checksum does not verify: {check:#x}");
        if src.is_ipv4() {
            let ip_at = udp_at - IPV4_HLEN;
            prop_assert_eq!(ipv4_header_checksum(&buf[ip_at..udp_at]), 0);
        }
    }
}
