//! Pure Ethernet + VLAN + IPv4/IPv6 + UDP framing: [`parse`] a received frame into a borrowed
//! [`UdpFrame`] without copying, and build outgoing frames in place with [`UdpHeaders`]
//! (IPv4 header checksum and UDP checksum computed, DF set, ECN bits carried).
//!
//! No I/O and no unsafe: the AF_XDP layer hands in UMEM frame slices.

#![forbid(unsafe_code)]

mod build;
mod checksum;
mod parse;
pub mod testing;
#[cfg(test)]
mod tests;

pub use build::{BuildError, UdpHeaders, DEFAULT_HOP_LIMIT};
pub use checksum::{ipv4_header_checksum, udp_checksum};
pub use parse::{parse, ParseError, UdpFrame};

/// Ethernet header length without a VLAN tag.
pub const ETH_HLEN: usize = 14;
/// Length of one 802.1Q tag.
pub const VLAN_HLEN: usize = 4;
/// IPv4 header length without options.
pub const IPV4_HLEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HLEN: usize = 40;
/// UDP header length.
pub const UDP_HLEN: usize = 8;

/// An ECN codepoint (the low two bits of the IPv4 TOS / IPv6 traffic class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecn {
    /// 0b00: not ECN-capable.
    #[default]
    NotEct,
    /// 0b10: ECT(0).
    Ect0,
    /// 0b01: ECT(1).
    Ect1,
    /// 0b11: congestion experienced.
    Ce,
}

impl Ecn {
    /// From the low two bits of a TOS / traffic-class byte.
    pub fn from_bits(tos: u8) -> Self {
        match tos & 0b11 {
            0b10 => Ecn::Ect0,
            0b01 => Ecn::Ect1,
            0b11 => Ecn::Ce,
            _ => Ecn::NotEct,
        }
    }

    /// The two ECN bits.
    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0b00,
            Ecn::Ect0 => 0b10,
            Ecn::Ect1 => 0b01,
            Ecn::Ce => 0b11,
        }
    }
}
