//! The HPACK/QPACK Huffman code (RFC 7541 Appendix B), through the `httlib-huffman` crate.
//!
//! The crate's decoder accepts padding of zero bits, which RFC 7541 section 5.2 forbids (padding
//! is the most significant bits of EOS, all ones, at most 7 bits). Since the code is canonical,
//! a string is valid exactly when re-encoding what it decodes to gives the same bytes back, so
//! [`decode`] checks that.

use httlib_huffman::DecoderSpeed;

use crate::error::CodecError;

/// Huffman-encodes `src` onto `out`.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    // The encoder only fails for symbols above 255, which a byte cannot be.
    let _ = httlib_huffman::encode(src, out);
}

/// The Huffman-coded length of `src` in bytes.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|b| usize::from(code_len(*b))).sum();
    bits.div_ceil(8)
}

fn code_len(b: u8) -> u8 {
    httlib_huffman::encoder::table::ENCODE_TABLE
        .get(usize::from(b))
        .map(|(len, _)| *len)
        .unwrap_or(30)
}

/// Decodes a Huffman-coded string strictly.
///
/// # Errors
/// [`CodecError::Huffman`] for an invalid code, EOS inside the string, or padding that is not
/// 0 to 7 one bits.
pub fn decode(src: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(src.len() * 8 / 5 + 1);
    httlib_huffman::decode(src, &mut out, DecoderSpeed::FourBits)
        .map_err(|_| CodecError::Huffman)?;
    let mut again = Vec::with_capacity(src.len());
    encode(&out, &mut again);
    if again != src {
        return Err(CodecError::Huffman);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 7541 C.4.1: "www.example.com".
    #[test]
    fn rfc7541_example() {
        let coded = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&coded).as_deref(), Ok(&b"www.example.com"[..]));
        let mut out = Vec::new();
        encode(b"www.example.com", &mut out);
        assert_eq!(out, coded);
        assert_eq!(encoded_len(b"www.example.com"), coded.len());
    }

    #[test]
    fn bad_padding_is_rejected() {
        // "0" is 00000 (5 bits): padding with zeros instead of ones.
        assert_eq!(decode(&[0x00]), Err(CodecError::Huffman));
        assert_eq!(decode(&[0x07]).as_deref(), Ok(&b"0"[..]));
        // A full byte of padding (8 one bits) is too long.
        assert_eq!(decode(&[0x07, 0xff]), Err(CodecError::Huffman));
    }

    proptest! {
        #[test]
        fn round_trip(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            encode(&s, &mut out);
            prop_assert_eq!(out.len(), encoded_len(&s));
            prop_assert_eq!(decode(&out), Ok(s));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
