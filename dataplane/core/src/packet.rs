//! Checks on inner IP packets: header parse, source-address check, drop reasons.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::pool::Assignment;

/// Why a tunnelled packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4 or IPv6 packet.
    Malformed,
    /// Larger than the tunnel allows.
    TooLarge,
    /// The inner source is not the session's assigned address.
    SpoofedSource,
    /// The HTTP Datagram names a stream with no tunnel.
    UnknownSession,
    /// The HTTP Datagram uses a context ID other than 0.
    UnknownContext,
    /// The peer cannot take the datagram now (no DATAGRAM support, or the send queue is full).
    Unsendable,
    /// The inner destination is not the session's address (internet to client direction).
    WrongDestination,
}

/// Drop counters by reason, a plain struct as quinn-proto's stats are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// [`DropReason::Malformed`].
    pub malformed: u64,
    /// [`DropReason::TooLarge`].
    pub too_large: u64,
    /// [`DropReason::SpoofedSource`].
    pub spoofed_source: u64,
    /// [`DropReason::UnknownSession`].
    pub unknown_session: u64,
    /// [`DropReason::UnknownContext`].
    pub unknown_context: u64,
    /// [`DropReason::Unsendable`].
    pub unsendable: u64,
    /// [`DropReason::WrongDestination`].
    pub wrong_destination: u64,
}

impl DropStats {
    /// Counts one drop.
    pub fn record(&mut self, reason: DropReason) {
        let slot = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::TooLarge => &mut self.too_large,
            DropReason::SpoofedSource => &mut self.spoofed_source,
            DropReason::UnknownSession => &mut self.unknown_session,
            DropReason::UnknownContext => &mut self.unknown_context,
            DropReason::Unsendable => &mut self.unsendable,
            DropReason::WrongDestination => &mut self.wrong_destination,
        };
        *slot += 1;
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.too_large
            + self.spoofed_source
            + self.unknown_session
            + self.unknown_context
            + self.unsendable
            + self.wrong_destination
    }

    /// Adds another set of counters.
    pub fn add(&mut self, o: &Self) {
        self.malformed += o.malformed;
        self.too_large += o.too_large;
        self.spoofed_source += o.spoofed_source;
        self.unknown_session += o.unknown_session;
        self.unknown_context += o.unknown_context;
        self.unsendable += o.unsendable;
        self.wrong_destination += o.wrong_destination;
    }
}

/// The addresses and protocol of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 protocol or IPv6 next header.
    pub protocol: u8,
}

/// Parses the fixed IPv4 or IPv6 header and checks its lengths against the buffer.
///
/// # Errors
/// [`DropReason::Malformed`] for a bad version, short header, bad IHL, or a total/payload
/// length that does not match the buffer.
pub fn parse(packet: &[u8]) -> Result<IpHeader, DropReason> {
    let first = *packet.first().ok_or(DropReason::Malformed)?;
    match first >> 4 {
        4 => {
            let h = packet.get(..20).ok_or(DropReason::Malformed)?;
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if ihl < 20 || total < ihl || total != packet.len() {
                return Err(DropReason::Malformed);
            }
            let addr = |i: usize| IpAddr::V4(Ipv4Addr::new(h[i], h[i + 1], h[i + 2], h[i + 3]));
            Ok(IpHeader {
                src: addr(12),
                dst: addr(16),
                protocol: h[9],
            })
        }
        6 => {
            let h = packet.get(..40).ok_or(DropReason::Malformed)?;
            let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
            if payload + 40 != packet.len() {
                return Err(DropReason::Malformed);
            }
            let addr = |i: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&h[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            Ok(IpHeader {
                src: addr(8),
                dst: addr(24),
                protocol: h[6],
            })
        }
        _ => Err(DropReason::Malformed),
    }
}

/// Checks a packet from a client before it goes to the internet: well-formed, at most
/// `max_len` bytes, and sent from the session's own address.
///
/// # Errors
/// The [`DropReason`] to count.
pub fn check_from_client(
    packet: &[u8],
    session: &Assignment,
    max_len: usize,
) -> Result<IpHeader, DropReason> {
    if packet.len() > max_len {
        return Err(DropReason::TooLarge);
    }
    let h = parse(packet)?;
    if !session.contains(h.src) {
        return Err(DropReason::SpoofedSource);
    }
    Ok(h)
}

/// The destination address of a packet headed to a client, for routing it to its session.
///
/// # Errors
/// [`DropReason::Malformed`] when the packet does not parse.
pub fn destination(packet: &[u8]) -> Result<IpAddr, DropReason> {
    parse(packet).map(|h| h.dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal IPv4/UDP packet for tests (checksums left zero).
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

    #[test]
    fn source_check() {
        let me = Assignment {
            v4: Ipv4Addr::new(10, 8, 0, 2),
            v6: None,
        };
        let dst = Ipv4Addr::new(192, 0, 2, 1);
        let ok = ipv4_udp(me.v4, dst, b"hi");
        assert_eq!(
            check_from_client(&ok, &me, 1500).map(|h| h.protocol),
            Ok(17)
        );
        let spoof = ipv4_udp(Ipv4Addr::new(10, 8, 0, 3), dst, b"hi");
        assert_eq!(
            check_from_client(&spoof, &me, 1500),
            Err(DropReason::SpoofedSource)
        );
        assert_eq!(check_from_client(&ok, &me, 20), Err(DropReason::TooLarge));
        assert_eq!(
            check_from_client(&ok[..25], &me, 1500),
            Err(DropReason::Malformed)
        );
        assert_eq!(destination(&ok), Ok(IpAddr::V4(dst)));
    }

    #[test]
    fn ipv6_header() {
        let mut p = vec![0x60, 0, 0, 0, 0, 4, 17, 64];
        let src: Ipv6Addr = "fd00::2".parse().expect("ip");
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&[1, 2, 3, 4]);
        let h = parse(&p).expect("valid");
        assert_eq!(h.src, IpAddr::V6(src));
        let me = Assignment {
            v4: Ipv4Addr::new(10, 8, 0, 2),
            v6: Some(src),
        };
        assert!(check_from_client(&p, &me, 1500).is_ok());
        p.push(0);
        assert_eq!(parse(&p), Err(DropReason::Malformed));
    }

    #[test]
    fn counters() {
        let mut s = DropStats::default();
        s.record(DropReason::SpoofedSource);
        s.record(DropReason::Malformed);
        assert_eq!((s.spoofed_source, s.total()), (1, 2));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&bytes);
        }
    }
}
