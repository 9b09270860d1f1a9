//! Connection IDs that carry the worker id, so that a packet landing on the wrong NIC queue can
//! be handed to the worker that owns its connection.
//!
//! Layout of every CID the relay issues: `worker_id (1 byte) | 7 pseudo-random bytes`. The
//! random part is SHA-256(seed, worker, counter): unpredictable without the seed, no syscall.

use std::time::Duration;

use quinn_proto::{ConnectionId, ConnectionIdGenerator};
use sha2::{Digest, Sha256};

/// Length of the CIDs the relay issues.
pub const CID_LEN: usize = 8;

/// A [`ConnectionIdGenerator`] whose CIDs start with the worker id.
#[derive(Debug, Clone)]
pub struct WorkerCidGenerator {
    worker_id: u8,
    seed: [u8; 32],
    counter: u64,
    lifetime: Option<Duration>,
}

impl WorkerCidGenerator {
    /// A generator for `worker_id`, seeded with secret `seed` (distinct per process start).
    pub fn new(worker_id: u8, seed: [u8; 32]) -> Self {
        Self {
            worker_id,
            seed,
            counter: 0,
            lifetime: None,
        }
    }

    /// Retire CIDs after `lifetime` (quinn-proto then issues new ones).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }
}

impl ConnectionIdGenerator for WorkerCidGenerator {
    fn generate_cid(&mut self) -> ConnectionId {
        self.counter += 1;
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update([self.worker_id]);
        h.update(self.counter.to_be_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; CID_LEN];
        bytes[0] = self.worker_id;
        bytes[1..].copy_from_slice(&digest[..CID_LEN - 1]);
        ConnectionId::new(&bytes)
    }

    fn cid_len(&self) -> usize {
        CID_LEN
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        self.lifetime
    }
}

/// The worker that owns the connection a UDP payload (a QUIC packet) belongs to, read from its
/// destination CID; `None` when the DCID was not issued by the relay (Initial and 0-RTT packets
/// carry the client's random DCID: route those by the 4-tuple hash instead) or the packet is
/// not QUIC.
pub fn worker_of(packet: &[u8]) -> Option<u8> {
    let first = *packet.first()?;
    // The fixed bit (0x40) is not checked: quinn-proto greases it (RFC 9287).
    if first & 0x80 == 0 {
        // Short header: DCID follows the first byte.
        return packet.get(1).copied();
    }
    // Long header: only Handshake packets (type 2) carry a relay-issued DCID.
    let version = packet.get(1..5)?;
    if version != [0, 0, 0, 1] || (first >> 4) & 0x03 != 2 {
        return None;
    }
    let dcid_len = usize::from(*packet.get(5)?);
    if dcid_len != CID_LEN {
        return None;
    }
    packet.get(6).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cids_carry_the_worker_and_differ() {
        let mut g = WorkerCidGenerator::new(7, [1; 32]);
        let a = g.generate_cid();
        let b = g.generate_cid();
        assert_ne!(a, b);
        assert_eq!(a.len(), CID_LEN);
        assert_eq!(a[0], 7);
        let mut short = vec![0x41];
        short.extend_from_slice(&a);
        assert_eq!(worker_of(&short), Some(7));
        let mut handshake = vec![0xe0, 0, 0, 0, 1, CID_LEN as u8];
        handshake.extend_from_slice(&b);
        assert_eq!(worker_of(&handshake), Some(7));
        let initial = [0xc0, 0, 0, 0, 1, 8, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(worker_of(&initial), None);
        assert_eq!(worker_of(&[]), None);
        assert_eq!(worker_of(&[0x00, 1]), Some(1));
        assert_eq!(worker_of(&[0x80, 0, 0, 0, 2, 8, 1]), None);
    }
}
