//! Next-hop MACs: the MAC a peer's packet came from, else the kernel's neighbour table.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::IpAddr;

use crate::frame::UdpFrame;
use crate::{netlink, Result};

/// Where a next-hop MAC came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Learned from a frame the peer sent us.
    Learned,
    /// The kernel's neighbour table.
    Kernel,
}

/// A per-worker next-hop table: replies go to the MAC the peer's frame came from; destinations
/// never heard from are looked up in the kernel's neighbour table (netlink).
#[derive(Debug)]
pub struct NextHops {
    ifindex: u32,
    learned: HashMap<IpAddr, [u8; 6]>,
}

impl NextHops {
    /// A table for the link `ifindex`.
    pub fn new(ifindex: u32) -> Self {
        NextHops {
            ifindex,
            learned: HashMap::new(),
        }
    }

    /// Remembers the source MAC of a received datagram.
    pub fn learn(&mut self, frame: &UdpFrame<'_>) {
        self.learned.insert(frame.src.ip(), frame.src_mac);
    }

    /// A learned MAC only (no syscall): the hot-path lookup.
    pub fn learned(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.learned.get(&ip).copied()
    }

    /// The MAC for `ip`: learned, else from the kernel's neighbour table (a netlink dump, so call
    /// it off the hot path and cache the answer with [`NextHops::insert`]). `None` when the
    /// kernel has no usable entry either: let the kernel resolve it (e.g. send one packet
    /// through a normal socket) and ask again.
    pub fn resolve(&self, ip: IpAddr) -> Result<Option<([u8; 6], Source)>> {
        if let Some(mac) = self.learned(ip) {
            return Ok(Some((mac, Source::Learned)));
        }
        Ok(netlink::neighbours()?
            .into_iter()
            .find(|n| n.ifindex == self.ifindex && n.ip == ip && n.usable())
            .and_then(|n| n.mac)
            .map(|mac| (mac, Source::Kernel)))
    }

    /// Stores a MAC (e.g. one [`NextHops::resolve`] found in the kernel).
    pub fn insert(&mut self, ip: IpAddr, mac: [u8; 6]) {
        self.learned.insert(ip, mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{parse, testing};

    #[test]
    fn learns_the_source_mac_of_a_peer() {
        let frame = testing::udp4(b"x", 9);
        let parsed = parse(&frame).expect("valid");
        let mut hops = NextHops::new(1);
        assert_eq!(hops.learned(parsed.src.ip()), None);
        hops.learn(&parsed);
        assert_eq!(hops.learned(parsed.src.ip()), Some(testing::SRC_MAC));
    }
}
