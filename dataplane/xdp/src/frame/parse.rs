//! Parsing a received frame into a borrowed view.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Ecn, ETH_HLEN, IPV4_HLEN, IPV6_HLEN, UDP_HLEN};

/// A received UDP datagram, borrowed from its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrame<'a> {
    /// Destination MAC (ours).
    pub dst_mac: [u8; 6],
    /// Source MAC (the next hop to reply through).
    pub src_mac: [u8; 6],
    /// The VLAN tag control information, if the frame had one tag.
    pub vlan: Option<u16>,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The ECN codepoint.
    pub ecn: Ecn,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
    /// The UDP payload (bounded by the UDP length, so Ethernet padding is not included).
    pub payload: &'a [u8],
    /// Offset of the payload in the frame.
    pub payload_offset: usize,
}

/// Why a frame is not a UDP datagram this layer handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The frame ends inside a header.
    #[error("frame truncated")]
    Truncated,
    /// Not IPv4 or IPv6 (the ethertype).
    #[error("not IP (ethertype {0:#06x})")]
    NotIp(u16),
    /// IP, but not UDP (the protocol number).
    #[error("not UDP (protocol {0})")]
    NotUdp(u8),
    /// An IPv4 fragment or an IPv6 fragment header.
    #[error("IP fragment")]
    Fragment,
    /// An IPv6 extension header that is not walked.
    #[error("unsupported IPv6 extension header {0}")]
    Ipv6Extension(u8),
    /// Wrong IP version nibble, IHL below 5, or lengths that disagree with the frame.
    #[error("invalid IP header")]
    BadIpHeader,
    /// The UDP length field is below 8 or beyond the IP payload.
    #[error("invalid UDP length")]
    BadUdpLength,
}

fn get<const N: usize>(frame: &[u8], at: usize) -> Result<[u8; N], ParseError> {
    frame
        .get(at..at.checked_add(N).ok_or(ParseError::Truncated)?)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(ParseError::Truncated)
}

/// Parses Ethernet (one optional VLAN tag), IPv4 (any IHL, no fragments) or IPv6 (hop-by-hop,
/// routing and destination-options headers walked, up to 4), and UDP. Never panics.
pub fn parse(frame: &[u8]) -> Result<UdpFrame<'_>, ParseError> {
    let dst_mac: [u8; 6] = get(frame, 0)?;
    let src_mac: [u8; 6] = get(frame, 6)?;
    let mut proto = u16::from_be_bytes(get(frame, 12)?);
    let mut at = ETH_HLEN;
    let mut vlan = None;
    if proto == 0x8100 || proto == 0x88a8 {
        let tag: [u8; 4] = get(frame, at)?;
        vlan = Some(u16::from_be_bytes([tag[0], tag[1]]));
        proto = u16::from_be_bytes([tag[2], tag[3]]);
        at += 4;
    }
    let (src_ip, dst_ip, ecn, hop_limit, udp_at, ip_end) = match proto {
        0x0800 => {
            let ip: [u8; IPV4_HLEN] = get(frame, at)?;
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ip[0] >> 4 != 4 || ihl < IPV4_HLEN {
                return Err(ParseError::BadIpHeader);
            }
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return Err(ParseError::Fragment);
            }
            if ip[9] != 17 {
                return Err(ParseError::NotUdp(ip[9]));
            }
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            if total < ihl || at + total > frame.len() {
                return Err(ParseError::BadIpHeader);
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (
                IpAddr::V4(src),
                IpAddr::V4(dst),
                Ecn::from_bits(ip[1]),
                ip[8],
                at + ihl,
                at + total,
            )
        }
        0x86dd => {
            let ip: [u8; IPV6_HLEN] = get(frame, at)?;
            if ip[0] >> 4 != 6 {
                return Err(ParseError::BadIpHeader);
            }
            let tclass = (ip[0] << 4) | (ip[1] >> 4);
            let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let ip_end = at + IPV6_HLEN + payload_len;
            if ip_end > frame.len() {
                return Err(ParseError::BadIpHeader);
            }
            let mut next = ip[6];
            let mut cursor = at + IPV6_HLEN;
            for _ in 0..crate::classify::MAX_EXT_HDRS {
                if !matches!(next, 0 | 43 | 60) {
                    break;
                }
                let ext: [u8; 2] = get(frame, cursor)?;
                next = ext[0];
                cursor += (usize::from(ext[1]) + 1) * 8;
            }
            match next {
                17 => {}
                44 => return Err(ParseError::Fragment),
                0 | 43 | 60 | 50 | 51 | 59 | 135 | 139 | 140 => {
                    return Err(ParseError::Ipv6Extension(next))
                }
                other => return Err(ParseError::NotUdp(other)),
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap_or([0; 16]));
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap_or([0; 16]));
            (
                IpAddr::V6(src),
                IpAddr::V6(dst),
                Ecn::from_bits(tclass),
                ip[7],
                cursor,
                ip_end,
            )
        }
        other => return Err(ParseError::NotIp(other)),
    };
    let udp: [u8; UDP_HLEN] = get(frame, udp_at)?;
    if udp_at + UDP_HLEN > ip_end {
        return Err(ParseError::Truncated);
    }
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < UDP_HLEN || udp_at + udp_len > ip_end {
        return Err(ParseError::BadUdpLength);
    }
    let payload_offset = udp_at + UDP_HLEN;
    Ok(UdpFrame {
        dst_mac,
        src_mac,
        vlan,
        src: SocketAddr::new(src_ip, u16::from_be_bytes([udp[0], udp[1]])),
        dst: SocketAddr::new(dst_ip, u16::from_be_bytes([udp[2], udp[3]])),
        ecn,
        hop_limit,
        payload: &frame[payload_offset..udp_at + udp_len],
        payload_offset,
    })
}
