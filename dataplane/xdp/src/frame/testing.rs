//! Crafted frames for tests (unit tests here, and the BPF and root tests of this crate).
//!
//! Every builder returns a complete Ethernet frame. Addresses: 10.0.0.1 -> 10.0.0.2 and
//! fd00::1 -> fd00::2, source port 40000, MACs 02:00:00:00:00:01 -> 02:00:00:00:00:02.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Ecn, UdpHeaders};

/// Source MAC of crafted frames.
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// Destination MAC of crafted frames.
pub const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// Source port of crafted frames.
pub const SRC_PORT: u16 = 40000;

fn headers(v6: bool, dport: u16) -> UdpHeaders {
    let (src, dst) = if v6 {
        (
            SocketAddr::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into(), SRC_PORT),
            SocketAddr::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into(), dport),
        )
    } else {
        (
            SocketAddr::new(Ipv4Addr::new(10, 0, 0, 1).into(), SRC_PORT),
            SocketAddr::new(Ipv4Addr::new(10, 0, 0, 2).into(), dport),
        )
    };
    UdpHeaders {
        src_mac: SRC_MAC,
        dst_mac: DST_MAC,
        vlan: None,
        src,
        dst,
        ecn: Ecn::Ect0,
        hop_limit: 64,
    }
}

fn build(h: &UdpHeaders, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; h.header_len() + payload.len()];
    let len = h.write(&mut buf, payload).unwrap_or(0);
    buf.truncate(len);
    buf
}

/// IPv4 UDP to `dport`.
pub fn udp4(payload: &[u8], dport: u16) -> Vec<u8> {
    build(&headers(false, dport), payload)
}

/// IPv6 UDP to `dport`.
pub fn udp6(payload: &[u8], dport: u16) -> Vec<u8> {
    build(&headers(true, dport), payload)
}

/// IPv4 UDP to `dport` with one 802.1Q tag (VLAN 100).
pub fn udp4_vlan(payload: &[u8], dport: u16) -> Vec<u8> {
    let mut h = headers(false, dport);
    h.vlan = Some(100);
    build(&h, payload)
}

/// IPv4 UDP to `dport` with 8 bytes of IP options (IHL 7: two NOP-padded option words).
pub fn udp4_options(payload: &[u8], dport: u16) -> Vec<u8> {
    let mut frame = udp4(payload, dport);
    frame.splice(34..34, [1u8; 8]); // 8 NOP options after the 20-byte header
    frame[14] = 0x47;
    let total = u16::from_be_bytes([frame[16], frame[17]]) + 8;
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum = super::ipv4_header_checksum(&frame[14..42]);
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
    frame
}

/// An IPv4 UDP first fragment (MF set) to `dport`.
pub fn udp4_fragment(payload: &[u8], dport: u16) -> Vec<u8> {
    let mut frame = udp4(payload, dport);
    frame[20] |= 0x20; // more fragments
    frame
}

/// IPv4 TCP (SYN) to `dport`.
pub fn tcp4(dport: u16) -> Vec<u8> {
    let mut frame = udp4(&[0u8; 12], dport);
    frame[23] = 6;
    frame
}

/// An ARP request.
pub fn arp() -> Vec<u8> {
    let mut frame = vec![0xffu8; 6];
    frame.extend_from_slice(&SRC_MAC);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&SRC_MAC);
    frame.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    frame
}

/// IPv6 UDP to `dport` behind one extension header of type `ext` (0 hop-by-hop, 60 destination
/// options, 43 routing, 44 fragment, 51 AH): 8 bytes, `next header` = UDP.
pub fn udp6_ext(payload: &[u8], dport: u16, ext: u8) -> Vec<u8> {
    let mut frame = udp6(payload, dport);
    let next = frame[20];
    frame[20] = ext;
    // 8-byte header: next, len 0 (8 bytes), then padding (PadN option for options headers).
    frame.splice(54..54, [next, 0, 1, 4, 0, 0, 0, 0]);
    let plen = u16::from_be_bytes([frame[18], frame[19]]) + 8;
    frame[18..20].copy_from_slice(&plen.to_be_bytes());
    frame
}
