//! HTTP Datagrams in QUIC DATAGRAM frames (RFC 9297 section 2.1) with the CONNECT-IP context
//! ID (RFC 9484 section 6): `quarter-stream-id | context-id | payload`.

use crate::error::CodecError;
use crate::varint::{self, Reader};

/// Context ID 0 carries a full IP packet (RFC 9484 section 6).
pub const CONTEXT_IP_PACKET: u64 = 0;

/// A parsed HTTP Datagram that borrows its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpDatagram<'a> {
    /// The request stream the datagram belongs to (quarter stream ID times 4).
    pub stream_id: u64,
    /// The CONNECT-IP context ID; only [`CONTEXT_IP_PACKET`] is used by this relay.
    pub context_id: u64,
    /// The rest of the datagram (an IP packet for context 0).
    pub payload: &'a [u8],
}

impl<'a> HttpDatagram<'a> {
    /// Parses a QUIC DATAGRAM payload.
    ///
    /// # Errors
    /// [`CodecError::DatagramMalformed`] when either varint is missing, or the quarter stream
    /// ID names a stream that cannot exist (above 2^60 - 1, RFC 9297 section 2.1).
    pub fn decode(buf: &'a [u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(buf);
        let quarter = r
            .varint()
            .map_err(|_| CodecError::DatagramMalformed("missing quarter stream ID"))?;
        if quarter >= 1 << 60 {
            return Err(CodecError::DatagramMalformed(
                "quarter stream ID above 2^60 - 1",
            ));
        }
        let context_id = r
            .varint()
            .map_err(|_| CodecError::DatagramMalformed("missing context ID"))?;
        Ok(Self {
            stream_id: quarter * 4,
            context_id,
            payload: r.remaining(),
        })
    }

    /// Bytes that [`encode_header`] writes for this stream and context.
    pub fn header_len(stream_id: u64, context_id: u64) -> usize {
        varint::encoded_len(stream_id / 4) + varint::encoded_len(context_id)
    }
}

/// Writes the datagram header for a client-initiated bidirectional `stream_id` (a multiple of 4);
/// the caller appends the payload.
///
/// # Errors
/// [`CodecError::DatagramMalformed`] when `stream_id` is not a client bidirectional stream, and
/// [`CodecError::VarIntRange`] when the context ID is out of range.
pub fn encode_header(stream_id: u64, context_id: u64, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if stream_id % 4 != 0 {
        return Err(CodecError::DatagramMalformed(
            "stream is not client-initiated bidirectional",
        ));
    }
    varint::encode(stream_id / 4, out)?;
    varint::encode(context_id, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ip_packet_on_stream_4() {
        let mut out = Vec::new();
        encode_header(4, CONTEXT_IP_PACKET, &mut out).expect("valid");
        out.extend_from_slice(&[0x45, 0x00]);
        assert_eq!(out, [0x01, 0x00, 0x45, 0x00]);
        let d = HttpDatagram::decode(&out).expect("valid");
        assert_eq!(
            (d.stream_id, d.context_id, d.payload),
            (4, 0, &[0x45, 0x00][..])
        );
        assert_eq!(HttpDatagram::header_len(4, 0), 2);
    }

    #[test]
    fn malformed() {
        assert!(HttpDatagram::decode(&[]).is_err());
        assert!(HttpDatagram::decode(&[0x01]).is_err());
        assert!(HttpDatagram::decode(&[0xd0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(encode_header(2, 0, &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(q in 0u64..(1 << 60), ctx in 0..varint::MAX, payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut out = Vec::new();
            encode_header(q * 4, ctx, &mut out).expect("valid");
            out.extend_from_slice(&payload);
            let d = HttpDatagram::decode(&out).expect("valid");
            prop_assert_eq!((d.stream_id, d.context_id, d.payload), (q * 4, ctx, &payload[..]));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = HttpDatagram::decode(&bytes);
        }
    }
}
