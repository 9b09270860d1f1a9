//! What a worker needs from its packet I/O (AF_XDP queue or UDP socket), and the types that
//! cross between the two.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;

use oxidize_xdp::frame::Ecn;
use quinn_proto::EcnCodepoint;

use super::state::IoStats;

/// Largest batch a worker moves at once.
pub const BATCH: usize = 64;

/// How to reach a peer at layer 2: learned from the frame it sent (reply to the MAC it came
/// from, from the address it wrote to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPath {
    /// Our MAC (the frame's destination).
    pub our_mac: [u8; 6],
    /// The next hop towards the peer (the frame's source MAC).
    pub peer_mac: [u8; 6],
    /// The frame's VLAN tag.
    pub vlan: Option<u16>,
    /// Our address and port the peer wrote to.
    pub local: SocketAddr,
}

/// One received UDP datagram.
#[derive(Debug)]
pub struct Received<'a> {
    /// The peer.
    pub remote: SocketAddr,
    /// The outer ECN codepoint, mapped for quinn-proto.
    pub ecn: Option<EcnCodepoint>,
    /// The UDP payload (a QUIC packet, or several coalesced).
    pub payload: &'a [u8],
    /// The layer-2 path back to the peer (AF_XDP only).
    pub path: Option<PeerPath>,
}

/// A worker's packet I/O.
pub trait PacketIo {
    /// Receives up to [`BATCH`] datagrams, calling `each` for every one; returns how many.
    fn recv_batch(&mut self, each: &mut dyn FnMut(Received<'_>)) -> std::io::Result<usize>;
    /// Queues one datagram for sending (sent at the latest by [`PacketIo::flush`]); failures
    /// are counted, not returned.
    fn send(&mut self, dst: SocketAddr, ecn: Option<EcnCodepoint>, payload: &[u8]);
    /// Sends everything queued.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Remembers the path to a peer whose packet another worker received.
    fn learn(&mut self, remote: IpAddr, path: PeerPath);
    /// The descriptor to `poll()` for readability when idle.
    fn poll_fd(&self) -> BorrowedFd<'_>;
    /// Counters.
    fn stats(&self) -> IoStats;
    /// The kernel's AF_XDP socket statistics (one `getsockopt`; AF_XDP only).
    fn xsk_statistics(&self) -> Option<oxidize_xdp::stats::XskStatistics> {
        None
    }
    /// Completes outstanding sends before the worker exits.
    fn finish(&mut self) {}
}

/// Outer ECN bits -> quinn-proto.
pub fn ecn_to_quinn(ecn: Ecn) -> Option<EcnCodepoint> {
    match ecn {
        Ecn::NotEct => None,
        Ecn::Ect0 => Some(EcnCodepoint::Ect0),
        Ecn::Ect1 => Some(EcnCodepoint::Ect1),
        Ecn::Ce => Some(EcnCodepoint::Ce),
    }
}

/// quinn-proto -> outer ECN bits.
pub fn ecn_from_quinn(ecn: Option<EcnCodepoint>) -> Ecn {
    match ecn {
        None => Ecn::NotEct,
        Some(EcnCodepoint::Ect0) => Ecn::Ect0,
        Some(EcnCodepoint::Ect1) => Ecn::Ect1,
        Some(EcnCodepoint::Ce) => Ecn::Ce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecn_maps_both_ways() {
        for e in [Ecn::NotEct, Ecn::Ect0, Ecn::Ect1, Ecn::Ce] {
            assert_eq!(ecn_from_quinn(ecn_to_quinn(e)), e);
        }
        assert_eq!(ecn_to_quinn(Ecn::from_bits(0b10)), Some(EcnCodepoint::Ect0));
    }
}
