//! The MTUs of a path to the relay: what QUIC may put in one UDP datagram, and the TUN MTU derived
//! from the QUIC DATAGRAM size so that a full-size inner packet is never fragmented on the outer path.
//!
//! Same rule as the relay's egress ([`super::overhead`]): the TUN MTU is the QUIC packet size
//! minus every header a DATAGRAM-carrying QUIC packet adds. The QUIC packet size is the outer
//! link's, capped at quinn's path-MTU-discovery upper bound ([`QUIC_MAX_UDP_PAYLOAD`]): the
//! relay (quinn-proto with default MTU discovery) never sends larger packets, so an inner
//! packet above that cap could go out but its reply of the same size could not come back.

use super::overhead::{inner_mtu, DatagramOverhead, IPV4_HEADER, IPV6_HEADER, UDP_HEADER};

/// The MTUs of one path to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathMtu {
    /// Largest UDP payload QUIC sends (quinn's `initial_mtu`).
    pub udp_payload: u16,
    /// MTU of the TUN device: the largest inner IP packet.
    pub tun: u16,
}

/// Errors deriving the MTUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MtuError {
    /// The outer MTU cannot carry QUIC's minimum packet.
    #[error("outer MTU {0} is too small for QUIC (needs at least 1200 bytes of UDP payload plus IP and UDP headers); raise the interface MTU or pass a larger --outer-mtu")]
    TooSmall(u32),
}

/// The smallest UDP payload QUIC v1 allows (RFC 9000 section 14).
pub const QUIC_MIN_UDP_PAYLOAD: u32 = 1200;
/// The largest UDP payload either side uses: quinn-proto's default MTU discovery upper bound
/// (`MtuDiscoveryConfig::upper_bound`, 1452 = 1500 - IPv6 - UDP).
pub const QUIC_MAX_UDP_PAYLOAD: u32 = 1452;

/// MTUs for an outer link MTU (`outer_mtu`, e.g. 1500) towards the relay.
///
/// # Errors
/// [`MtuError::TooSmall`] when QUIC cannot run on that link.
pub fn path_mtu(outer_mtu: u32, outer_ipv6: bool) -> Result<PathMtu, MtuError> {
    let ip = if outer_ipv6 { IPV6_HEADER } else { IPV4_HEADER } as u32;
    let udp_payload = outer_mtu
        .checked_sub(ip + UDP_HEADER as u32)
        .filter(|&p| p >= QUIC_MIN_UDP_PAYLOAD)
        .ok_or(MtuError::TooSmall(outer_mtu))?
        .min(QUIC_MAX_UDP_PAYLOAD);
    let overhead = DatagramOverhead {
        outer_ipv6,
        ..DatagramOverhead::default()
    };
    let tun = inner_mtu(udp_payload + ip + UDP_HEADER as u32, &overhead)
        .ok_or(MtuError::TooSmall(outer_mtu))?;
    Ok(PathMtu {
        udp_payload: u16::try_from(udp_payload).unwrap_or(u16::MAX),
        tun: u16::try_from(tun).unwrap_or(u16::MAX),
    })
}

/// Whether inner IPv6 can be carried: IPv6 needs a link MTU of at least 1280 (RFC 8200).
pub fn carries_ipv6(path: &PathMtu) -> bool {
    u32::from(path.tun) >= super::overhead::IPV6_MIN_MTU
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_is_capped_at_quinns_discovery_bound() -> Result<(), MtuError> {
        // 1452 - (1 flags + 20 DCID + 4 PN + 16 tag + 9 frame + 4 qsid + 1 ctx) = 1397,
        // the same over an IPv4 and an IPv6 outer path (and over jumbo frames).
        for (outer, v6) in [(1500, false), (1500, true), (9000, false)] {
            let p = path_mtu(outer, v6)?;
            assert_eq!((p.udp_payload, p.tun), (1452, 1397), "{outer} v6={v6}");
            assert!(carries_ipv6(&p));
        }
        Ok(())
    }

    #[test]
    fn small_links_follow_the_link() -> Result<(), MtuError> {
        let p = path_mtu(1400, false)?;
        assert_eq!((p.udp_payload, p.tun), (1372, 1317));
        let p = path_mtu(1400, true)?;
        assert_eq!((p.udp_payload, p.tun), (1352, 1297));
        Ok(())
    }

    #[test]
    fn the_inner_packet_plus_headers_fits_the_relays_datagram_limit() -> Result<(), MtuError> {
        // quinn-proto's Datagram max_size on the relay with 8-byte client CIDs and the 1452
        // bound: 1452 - 1 - 8 - 4 - 16 - 9 = 1414, minus the 1-byte quarter stream id and
        // context id of a first request stream.
        let p = path_mtu(1500, false)?;
        assert!(u32::from(p.tun) + 2 <= 1414, "{p:?}");
        Ok(())
    }

    #[test]
    fn inner_packet_fits_in_the_udp_payload() -> Result<(), MtuError> {
        for outer in [1280, 1400, 1500, 9000] {
            let p = path_mtu(outer, false)?;
            assert!(p.tun < p.udp_payload, "{outer}: {p:?}");
        }
        Ok(())
    }

    #[test]
    fn too_small_links_are_refused() {
        assert_eq!(path_mtu(1227, false), Err(MtuError::TooSmall(1227)));
        assert!(path_mtu(1228, false).is_ok());
        assert_eq!(path_mtu(0, true), Err(MtuError::TooSmall(0)));
    }

    #[test]
    fn small_links_carry_no_inner_ipv6() -> Result<(), MtuError> {
        assert!(!carries_ipv6(&path_mtu(1300, false)?));
        Ok(())
    }
}
