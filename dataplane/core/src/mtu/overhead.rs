//! The inner MTU rule: how large an IP packet a client can tunnel in one QUIC DATAGRAM.
//!
//! The TUN device's MTU is set to this value, so the kernel fragments (or sends ICMP "packet too
//! big") on the inner side and nothing is ever fragmented on the outer path. Pure arithmetic.

/// Bytes that one encrypted QUIC 1-RTT packet carrying one HTTP datagram adds around the inner
/// IP packet, given the outer path and our connection-ID length.
///
/// The DATAGRAM frame bound follows quinn-proto (`Datagram::SIZE_BOUND`: type byte plus the
/// largest length varint) so that a packet of the inner MTU always fits what
/// `Connection::datagrams().max_size()` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramOverhead {
    /// Whether the outer path is IPv6 (40-byte header) rather than IPv4 (20 bytes, no options).
    pub outer_ipv6: bool,
    /// Length of the destination connection ID in the short header (the relay's CIDs
    /// towards the client are the client's choice; 20 is the QUIC v1 maximum).
    pub dcid_len: usize,
    /// The largest quarter-stream-id that must fit (request stream id / 4).
    pub max_quarter_stream_id: u64,
}

/// IPv4 header without options.
pub const IPV4_HEADER: usize = 20;
/// IPv6 fixed header.
pub const IPV6_HEADER: usize = 40;
/// UDP header.
pub const UDP_HEADER: usize = 8;
/// Short-header first byte.
pub const SHORT_HEADER_FLAGS: usize = 1;
/// The largest packet number encoding (quinn reserves it for every packet).
pub const PACKET_NUMBER_MAX: usize = 4;
/// The AEAD tag of every QUIC v1 cipher suite.
pub const AEAD_TAG: usize = 16;
/// DATAGRAM frame type (0x31) plus an 8-byte length varint: quinn-proto's bound.
pub const DATAGRAM_FRAME_BOUND: usize = 1 + 8;
/// Context ID 0 (the only one CONNECT-IP uses for IP packets) is a 1-byte varint.
pub const CONTEXT_ID_LEN: usize = 1;
/// The smallest MTU an IPv6 link may have (RFC 8200); CONNECT-IP needs it for IPv6 (RFC 9484 §10.1).
pub const IPV6_MIN_MTU: u32 = 1280;
/// The smallest MTU an IPv4 host must accept unfragmented (RFC 791).
pub const IPV4_MIN_MTU: u32 = 576;

impl Default for DatagramOverhead {
    fn default() -> Self {
        DatagramOverhead {
            outer_ipv6: false,
            dcid_len: 20,
            // Up to 2^30 - 1 request streams per connection: a 4-byte varint.
            max_quarter_stream_id: (1 << 30) - 1,
        }
    }
}

impl DatagramOverhead {
    /// Total bytes added to the inner IP packet on the wire (outer IP header included).
    pub fn total(&self) -> usize {
        let ip = if self.outer_ipv6 {
            IPV6_HEADER
        } else {
            IPV4_HEADER
        };
        ip + UDP_HEADER
            + SHORT_HEADER_FLAGS
            + self.dcid_len
            + PACKET_NUMBER_MAX
            + AEAD_TAG
            + DATAGRAM_FRAME_BOUND
            + varint_len(self.max_quarter_stream_id)
            + CONTEXT_ID_LEN
    }
}

/// The inner MTU for an outer path MTU, or `None` when the outer MTU cannot even carry the
/// overhead.
pub fn inner_mtu(outer_mtu: u32, overhead: &DatagramOverhead) -> Option<u32> {
    let overhead = u32::try_from(overhead.total()).ok()?;
    outer_mtu.checked_sub(overhead).filter(|&mtu| mtu > 0)
}

/// Length of a QUIC variable-length integer (RFC 9000 §16). Values above 2^62 - 1 cannot be
/// encoded; they are reported as 8 bytes, the largest form.
pub fn varint_len(value: u64) -> usize {
    match value {
        0..=63 => 1,
        64..=16_383 => 2,
        16_384..=1_073_741_823 => 4,
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(63), 1);
        assert_eq!(varint_len(64), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 4);
        assert_eq!(varint_len(1_073_741_823), 4);
        assert_eq!(varint_len(1_073_741_824), 8);
    }

    #[test]
    fn ipv4_outer_1500_with_8_byte_cids() {
        // 1500 - 20 - 8 - (1 + 8 + 4 + 16) - 9 - 1 (qsid 0) - 1 (ctx) = 1432
        let o = DatagramOverhead {
            outer_ipv6: false,
            dcid_len: 8,
            max_quarter_stream_id: 0,
        };
        assert_eq!(o.total(), 68);
        assert_eq!(inner_mtu(1500, &o), Some(1432));
    }

    #[test]
    fn default_overhead_is_worst_case() {
        // 20 + 8 + 1 + 20 + 4 + 16 + 9 + 4 + 1 = 83 for IPv4; IPv6 adds 20.
        let v4 = DatagramOverhead::default();
        assert_eq!(v4.total(), 83);
        assert_eq!(inner_mtu(1500, &v4), Some(1417));
        let v6 = DatagramOverhead {
            outer_ipv6: true,
            ..v4
        };
        assert_eq!(inner_mtu(1500, &v6), Some(1397));
    }

    #[test]
    fn matches_quinn_datagram_budget() {
        // quinn: max_size = udp_payload - (1 + dcid + 4 + 16) - 9; the HTTP datagram then
        // spends qsid + ctx varints. The inner MTU is exactly what is left.
        let o = DatagramOverhead {
            outer_ipv6: true,
            dcid_len: 8,
            max_quarter_stream_id: 100,
        };
        let udp_payload = 9000 - 40 - 8;
        let quinn_max = udp_payload - (1 + 8 + 4 + 16) - 9;
        let inner = quinn_max - 2 - 1;
        assert_eq!(inner_mtu(9000, &o), Some(inner as u32));
    }

    #[test]
    fn too_small_outer_mtu() {
        let o = DatagramOverhead::default();
        assert_eq!(inner_mtu(83, &o), None);
        assert_eq!(inner_mtu(10, &o), None);
        assert_eq!(inner_mtu(84, &o), Some(1));
    }
}
