//! Lock-free single-producer single-consumer rings between every pair of workers (`rtrb`):
//! QUIC packets that arrived on the wrong queue, and packets from the TUN for another worker's
//! clients.

use std::net::SocketAddr;

use bytes::BytesMut;
use quinn_proto::EcnCodepoint;
use rtrb::{Consumer, Producer, RingBuffer};

use super::io::PeerPath;

/// Entries per ring.
pub const RING_CAPACITY: usize = 1024;

/// What one worker passes to another.
#[derive(Debug)]
pub enum Handoff {
    /// A QUIC packet for a connection the receiver owns (worker id in its DCID).
    Quic {
        /// The peer.
        remote: SocketAddr,
        /// Outer ECN.
        ecn: Option<EcnCodepoint>,
        /// How to reach the peer.
        path: Option<PeerPath>,
        /// The UDP payload.
        data: BytesMut,
    },
    /// An IP packet from the internet for one of the receiver's clients.
    Tunnel(Vec<u8>),
}

/// One worker's ends of the rings.
#[derive(Debug)]
pub struct Rings {
    /// `outbound[j]`: towards worker `j` (`None` for itself).
    pub outbound: Vec<Option<Producer<Handoff>>>,
    /// From every other worker.
    pub inbound: Vec<Consumer<Handoff>>,
}

/// The full mesh for `workers` workers: entry `i` belongs to worker `i`.
pub fn mesh(workers: usize, capacity: usize) -> Vec<Rings> {
    let mut rings: Vec<Rings> = (0..workers)
        .map(|_| Rings {
            outbound: (0..workers).map(|_| None).collect(),
            inbound: Vec::new(),
        })
        .collect();
    for from in 0..workers {
        for to in 0..workers {
            if from == to {
                continue;
            }
            let (p, c) = RingBuffer::new(capacity);
            rings[from].outbound[to] = Some(p);
            rings[to].inbound.push(c);
        }
    }
    rings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_connected_once() {
        let mut rings = mesh(3, 4);
        assert!(rings[1].outbound[1].is_none());
        assert_eq!(rings[2].inbound.len(), 2);
        let p = rings[0].outbound[2].as_mut().expect("0 -> 2");
        p.push(Handoff::Tunnel(vec![1, 2, 3])).expect("room");
        let got: Vec<_> = rings[2]
            .inbound
            .iter_mut()
            .filter_map(|c| c.pop().ok())
            .collect();
        assert!(matches!(got.as_slice(), [Handoff::Tunnel(v)] if v == &[1, 2, 3]));
    }
}
