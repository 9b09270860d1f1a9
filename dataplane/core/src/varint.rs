//! QUIC variable-length integers (RFC 9000 section 16).

use crate::error::CodecError;

/// The largest value a varint can carry, 2^62 - 1.
pub const MAX: u64 = (1 << 62) - 1;

/// How many bytes `v` takes as a varint (1, 2, 4 or 8); values above [`MAX`] report 8.
pub fn encoded_len(v: u64) -> usize {
    if v < 1 << 6 {
        1
    } else if v < 1 << 14 {
        2
    } else if v < 1 << 30 {
        4
    } else {
        8
    }
}

/// Appends `v` in the shortest encoding.
///
/// # Errors
/// [`CodecError::VarIntRange`] when `v` is above [`MAX`]; nothing is written then.
pub fn encode(v: u64, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match encoded_len(v) {
        1 => out.push(v as u8),
        2 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        4 => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ if v <= MAX => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
        _ => return Err(CodecError::VarIntRange(v)),
    }
    Ok(())
}

/// Reads one varint from the front of `buf`: the value and the number of bytes it used.
///
/// Non-shortest encodings are accepted, as RFC 9000 allows.
///
/// # Errors
/// [`CodecError::Incomplete`] when `buf` ends inside the integer.
pub fn decode(buf: &[u8]) -> Result<(u64, usize), CodecError> {
    let first = *buf.first().ok_or(CodecError::Incomplete)?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len).ok_or(CodecError::Incomplete)?;
    let mut v = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        v = (v << 8) | u64::from(*b);
    }
    Ok((v, len))
}

/// A cursor over a byte slice for the codecs: reads varints and byte runs, never panics.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// True when everything was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining().is_empty()
    }

    /// Reads one varint.
    ///
    /// # Errors
    /// [`CodecError::Incomplete`] when the input ends inside it.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let (v, n) = decode(self.remaining())?;
        self.pos += n;
        Ok(v)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`CodecError::Incomplete`] at the end of the input.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.remaining().first().ok_or(CodecError::Incomplete)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads `n` bytes.
    ///
    /// # Errors
    /// [`CodecError::Incomplete`] when fewer than `n` remain.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let out = self.remaining().get(..n).ok_or(CodecError::Incomplete)?;
        self.pos += n;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9000 Appendix A.1 examples.
    #[test]
    fn rfc9000_examples() {
        let cases: &[(&[u8], u64)] = &[
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
            (&[0x40, 0x25], 37),
        ];
        for (bytes, value) in cases {
            assert_eq!(decode(bytes), Ok((*value, bytes.len())));
        }
        let mut out = Vec::new();
        encode(15_293, &mut out).expect("in range");
        assert_eq!(out, [0x7b, 0xbd]);
    }

    #[test]
    fn too_large_and_truncated() {
        assert_eq!(
            encode(MAX + 1, &mut Vec::new()),
            Err(CodecError::VarIntRange(MAX + 1))
        );
        assert_eq!(decode(&[]), Err(CodecError::Incomplete));
        assert_eq!(decode(&[0x9d, 0x7f]), Err(CodecError::Incomplete));
    }

    proptest! {
        #[test]
        fn round_trip(v in 0..=MAX) {
            let mut out = Vec::new();
            encode(v, &mut out).expect("in range");
            prop_assert_eq!(out.len(), encoded_len(v));
            prop_assert_eq!(decode(&out), Ok((v, out.len())));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = decode(&bytes);
        }
    }
}
