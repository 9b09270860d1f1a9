//! Building Ethernet + IP + UDP headers in place in a (UMEM) buffer.

use std::net::{IpAddr, SocketAddr};

use super::checksum::{ipv4_header_checksum, udp_checksum};
use super::{Ecn, UdpFrame, ETH_HLEN, IPV4_HLEN, IPV6_HLEN, UDP_HLEN, VLAN_HLEN};

/// Default IPv4 TTL / IPv6 hop limit of what we send.
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Source and destination are of different address families.
    #[error("source and destination address families differ")]
    FamilyMismatch,
    /// The buffer cannot hold headers plus payload.
    #[error("buffer of {have} bytes cannot hold a {need}-byte frame")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The payload does not fit one UDP datagram.
    #[error("payload of {0} bytes is too large for UDP")]
    PayloadTooLarge(usize),
}

/// Everything needed to frame an outgoing UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeaders {
    /// Our MAC.
    pub src_mac: [u8; 6],
    /// The next hop's MAC.
    pub dst_mac: [u8; 6],
    /// One 802.1Q tag (TCI), if the link needs it.
    pub vlan: Option<u16>,
    /// Our address and port.
    pub src: SocketAddr,
    /// The peer's address and port.
    pub dst: SocketAddr,
    /// ECN codepoint to send.
    pub ecn: Ecn,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
}

impl UdpHeaders {
    /// Headers for a reply to `frame`: addresses, ports and MACs swapped, same VLAN, not ECT,
    /// default hop limit.
    pub fn reply_to(frame: &UdpFrame<'_>) -> Self {
        UdpHeaders {
            src_mac: frame.dst_mac,
            dst_mac: frame.src_mac,
            vlan: frame.vlan,
            src: frame.dst,
            dst: frame.src,
            ecn: Ecn::NotEct,
            hop_limit: DEFAULT_HOP_LIMIT,
        }
    }

    /// Length of the headers (Ethernet, VLAN, IP, UDP): where the payload starts.
    pub fn header_len(&self) -> usize {
        let ip = if self.src.is_ipv4() {
            IPV4_HLEN
        } else {
            IPV6_HLEN
        };
        ETH_HLEN + self.vlan.map_or(0, |_| VLAN_HLEN) + ip + UDP_HLEN
    }

    /// Copies `payload` after the headers and writes the headers; returns the frame length.
    pub fn write(&self, buf: &mut [u8], payload: &[u8]) -> Result<usize, BuildError> {
        let start = self.header_len();
        let need = start + payload.len();
        let have = buf.len();
        let dst = buf
            .get_mut(start..need)
            .ok_or(BuildError::BufferTooSmall { need, have })?;
        dst.copy_from_slice(payload);
        self.write_headers(buf, payload.len())
    }

    /// Moves a payload that already sits in `buf` at `payload_at` (e.g. a received frame being
    /// turned into its reply) to where these headers end, then writes the headers. Returns the
    /// frame length.
    pub fn write_in_place(
        &self,
        buf: &mut [u8],
        payload_at: usize,
        payload_len: usize,
    ) -> Result<usize, BuildError> {
        let start = self.header_len();
        let need = start.max(payload_at) + payload_len;
        if need > buf.len() {
            return Err(BuildError::BufferTooSmall {
                need,
                have: buf.len(),
            });
        }
        if payload_at != start {
            buf.copy_within(payload_at..payload_at + payload_len, start);
        }
        self.write_headers(buf, payload_len)
    }

    /// Writes the headers for a payload of `payload_len` bytes that is already at
    /// `buf[self.header_len()..]`, computing the checksums; returns the frame length.
    pub fn write_headers(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, BuildError> {
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(BuildError::FamilyMismatch);
        }
        let ip_hlen = if self.src.is_ipv4() {
            IPV4_HLEN
        } else {
            IPV6_HLEN
        };
        let udp_len = UDP_HLEN + payload_len;
        let ip_total = ip_hlen + udp_len;
        if ip_total > usize::from(u16::MAX) {
            return Err(BuildError::PayloadTooLarge(payload_len));
        }
        let total = self.header_len() + payload_len;
        if total > buf.len() {
            return Err(BuildError::BufferTooSmall {
                need: total,
                have: buf.len(),
            });
        }
        let ethertype: u16 = if self.src.is_ipv4() { 0x0800 } else { 0x86dd };
        buf[0..6].copy_from_slice(&self.dst_mac);
        buf[6..12].copy_from_slice(&self.src_mac);
        let mut at = 12;
        if let Some(tci) = self.vlan {
            buf[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            buf[14..16].copy_from_slice(&tci.to_be_bytes());
            at = 16;
        }
        buf[at..at + 2].copy_from_slice(&ethertype.to_be_bytes());
        let ip_at = at + 2;
        let udp_at = ip_at + ip_hlen;
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let ip = &mut buf[ip_at..udp_at];
                ip[0] = 0x45;
                ip[1] = self.ecn.bits();
                ip[2..4].copy_from_slice(&(ip_total as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&[0, 0]); // identification: unused with DF
                ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
                ip[8] = self.hop_limit;
                ip[9] = 17;
                ip[10..12].copy_from_slice(&[0, 0]);
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = ipv4_header_checksum(ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let ip = &mut buf[ip_at..udp_at];
                let tclass = self.ecn.bits();
                ip[0] = 0x60 | (tclass >> 4);
                ip[1] = tclass << 4;
                ip[2..4].copy_from_slice(&[0, 0]);
                ip[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
                ip[6] = 17;
                ip[7] = self.hop_limit;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
            }
            _ => return Err(BuildError::FamilyMismatch),
        }
        let udp = &mut buf[udp_at..udp_at + udp_len];
        udp[0..2].copy_from_slice(&self.src.port().to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        udp[6..8].copy_from_slice(&[0, 0]);
        let sum = udp_checksum(self.src.ip(), self.dst.ip(), udp);
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(total)
    }
}
