//! HTTP/3 unidirectional stream types (RFC 9114 section 6.2, RFC 9204 section 4.2).

/// Control stream.
pub const CONTROL: u64 = 0x00;
/// Server push stream.
pub const PUSH: u64 = 0x01;
/// QPACK encoder stream.
pub const QPACK_ENCODER: u64 = 0x02;
/// QPACK decoder stream.
pub const QPACK_DECODER: u64 = 0x03;

/// The type that opens a unidirectional stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniStreamType {
    /// The peer's control stream (exactly one, starts with SETTINGS).
    Control,
    /// A push stream (the relay never enables push).
    Push,
    /// The peer's QPACK encoder stream.
    QpackEncoder,
    /// The peer's QPACK decoder stream.
    QpackDecoder,
    /// Any other type, including GREASE: the receiver must ignore the stream.
    Unknown(u64),
}

impl From<u64> for UniStreamType {
    fn from(v: u64) -> Self {
        match v {
            CONTROL => Self::Control,
            PUSH => Self::Push,
            QPACK_ENCODER => Self::QpackEncoder,
            QPACK_DECODER => Self::QpackDecoder,
            other => Self::Unknown(other),
        }
    }
}

impl UniStreamType {
    /// The type's wire value.
    pub fn value(self) -> u64 {
        match self {
            Self::Control => CONTROL,
            Self::Push => PUSH,
            Self::QpackEncoder => QPACK_ENCODER,
            Self::QpackDecoder => QPACK_DECODER,
            Self::Unknown(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_types() {
        for v in [0u64, 1, 2, 3, 0x21, 0x1f * 7 + 0x21] {
            assert_eq!(UniStreamType::from(v).value(), v);
        }
        assert_eq!(UniStreamType::from(0x21), UniStreamType::Unknown(0x21));
    }
}
