//! HTTP/3 SETTINGS (RFC 9114 section 7.2.4) with the identifiers the relay uses.

use crate::error::CodecError;
use crate::varint::{self, Reader};

/// SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 section 5).
pub const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
/// SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 section 7.2.4.1).
pub const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
/// SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 section 5).
pub const QPACK_BLOCKED_STREAMS: u64 = 0x07;
/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220 section 3).
pub const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
/// SETTINGS_H3_DATAGRAM (RFC 9297 section 2.1.1).
pub const H3_DATAGRAM: u64 = 0x33;

/// The settings one endpoint announces; unknown identifiers are ignored on decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// QPACK dynamic table capacity the sender's decoder allows (0 = no dynamic table).
    pub qpack_max_table_capacity: u64,
    /// QPACK streams that may be blocked (0 with no dynamic table).
    pub qpack_blocked_streams: u64,
    /// Largest field section the sender accepts; `None` = unlimited (not sent).
    pub max_field_section_size: Option<u64>,
    /// Extended CONNECT allowed (RFC 9220).
    pub enable_connect_protocol: bool,
    /// HTTP Datagrams allowed (RFC 9297).
    pub h3_datagram: bool,
}

impl Default for Settings {
    /// What the RFCs assume when a setting is absent: everything off, no dynamic table.
    fn default() -> Self {
        Self {
            qpack_max_table_capacity: 0,
            qpack_blocked_streams: 0,
            max_field_section_size: None,
            enable_connect_protocol: false,
            h3_datagram: false,
        }
    }
}

impl Settings {
    /// What both sides of a CONNECT-IP tunnel announce: Extended CONNECT and HTTP Datagrams on,
    /// no QPACK dynamic table (written out explicitly), field sections up to 16 KiB.
    pub fn masque() -> Self {
        Self {
            max_field_section_size: Some(16 * 1024),
            enable_connect_protocol: true,
            h3_datagram: true,
            ..Self::default()
        }
    }

    /// Writes the SETTINGS frame payload (identifier/value pairs).
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        let mut pairs = vec![
            (QPACK_MAX_TABLE_CAPACITY, self.qpack_max_table_capacity),
            (QPACK_BLOCKED_STREAMS, self.qpack_blocked_streams),
            (
                ENABLE_CONNECT_PROTOCOL,
                u64::from(self.enable_connect_protocol),
            ),
            (H3_DATAGRAM, u64::from(self.h3_datagram)),
        ];
        if let Some(max) = self.max_field_section_size {
            pairs.push((MAX_FIELD_SECTION_SIZE, max));
        }
        for (id, value) in pairs {
            // Identifiers are constants and values are clamped, so neither can be out of range.
            let _ = varint::encode(id, out);
            let _ = varint::encode(value.min(varint::MAX), out);
        }
    }

    /// Parses a SETTINGS frame payload.
    ///
    /// # Errors
    /// [`CodecError::Settings`] for a duplicate identifier, an HTTP/2-only identifier
    /// (0x00, 0x02 to 0x05), a boolean setting other than 0 or 1, or a truncated pair.
    pub fn decode_payload(payload: &[u8]) -> Result<Self, CodecError> {
        let mut s = Self::default();
        let mut seen: Vec<u64> = Vec::new();
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            let id = r
                .varint()
                .map_err(|_| CodecError::Settings("truncated identifier"))?;
            let value = r
                .varint()
                .map_err(|_| CodecError::Settings("truncated value"))?;
            if seen.contains(&id) {
                return Err(CodecError::Settings("duplicate setting identifier"));
            }
            if seen.len() < 64 {
                seen.push(id);
            }
            let flag = |v: u64| match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(CodecError::Settings("boolean setting not 0 or 1")),
            };
            match id {
                0x00 | 0x02..=0x05 => {
                    return Err(CodecError::Settings("HTTP/2 setting identifier in HTTP/3"))
                }
                QPACK_MAX_TABLE_CAPACITY => s.qpack_max_table_capacity = value,
                QPACK_BLOCKED_STREAMS => s.qpack_blocked_streams = value,
                MAX_FIELD_SECTION_SIZE => s.max_field_section_size = Some(value),
                ENABLE_CONNECT_PROTOCOL => s.enable_connect_protocol = flag(value)?,
                H3_DATAGRAM => s.h3_datagram = flag(value)?,
                _ => {} // unknown and GREASE identifiers are ignored (RFC 9114 section 7.2.4)
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masque_round_trip_and_unknown_ignored() {
        let mut out = Vec::new();
        Settings::masque().encode_payload(&mut out);
        // A GREASE identifier (0x1f * 1 + 0x21) must be ignored.
        out.extend_from_slice(&[0x40, 0x40, 0x05]);
        assert_eq!(Settings::decode_payload(&out), Ok(Settings::masque()));
    }

    #[test]
    fn rejects_duplicates_http2_ids_and_bad_flags() {
        assert!(Settings::decode_payload(&[0x08, 0x01, 0x08, 0x01]).is_err());
        assert!(Settings::decode_payload(&[0x02, 0x00]).is_err());
        assert!(Settings::decode_payload(&[0x33, 0x02]).is_err());
        assert!(Settings::decode_payload(&[0x33]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Settings::decode_payload(&bytes);
        }
    }
}
