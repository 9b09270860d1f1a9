//! QPACK field sections (RFC 9204) without a dynamic table: the static table, literals and
//! Huffman-coded strings. A reference to the dynamic table is an error, because the relay
//! advertises `QPACK_MAX_TABLE_CAPACITY = 0` and `QPACK_BLOCKED_STREAMS = 0`.
//!
//! With no dynamic table, the encoder and decoder streams carry nothing the relay must act on:
//! their bytes are read and discarded (RFC 9204 section 4.2 lets an endpoint with capacity 0
//! ignore them apart from errors on instructions that need a table, which cannot be valid).

pub mod huffman;
pub mod static_table;

use crate::error::CodecError;
use crate::varint::Reader;

/// One header or trailer field: lowercase name and value, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field name.
    pub name: Vec<u8>,
    /// Field value.
    pub value: Vec<u8>,
}

impl Field {
    /// A field from anything byte-like.
    pub fn new(name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.as_ref().to_vec(),
            value: value.as_ref().to_vec(),
        }
    }

    /// Size of the field for SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 section 4.2.2).
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + 32
    }
}

/// Appends an integer with an N-bit prefix (RFC 7541 section 5.1); `flags` are the bits above
/// the prefix in the first byte.
pub fn encode_int(flags: u8, prefix_bits: u8, v: u64, out: &mut Vec<u8>) {
    let max = (1u64 << prefix_bits) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = v - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Reads an N-bit-prefix integer; returns the whole first byte (for its flag bits) and the value.
///
/// # Errors
/// [`CodecError::Qpack`] when the input is truncated or the value exceeds 2^62.
pub fn decode_int(r: &mut Reader<'_>, prefix_bits: u8) -> Result<(u8, u64), CodecError> {
    let first = r.u8().map_err(|_| CodecError::Qpack("truncated integer"))?;
    let max = (1u64 << prefix_bits) - 1;
    let mut v = u64::from(first) & max;
    if v < max {
        return Ok((first, v));
    }
    let mut shift = 0u32;
    loop {
        let b = r.u8().map_err(|_| CodecError::Qpack("truncated integer"))?;
        if shift > 56 {
            return Err(CodecError::Qpack("integer too large"));
        }
        v += u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok((first, v));
        }
    }
}

/// Appends a string literal whose H bit sits just above an N-bit length prefix, Huffman-coding
/// it when that is shorter.
fn encode_string(flags: u8, prefix_bits: u8, s: &[u8], out: &mut Vec<u8>) {
    let huff_len = huffman::encoded_len(s);
    if huff_len < s.len() {
        encode_int(
            flags | (1 << prefix_bits),
            prefix_bits,
            huff_len as u64,
            out,
        );
        huffman::encode(s, out);
    } else {
        encode_int(flags, prefix_bits, s.len() as u64, out);
        out.extend_from_slice(s);
    }
}

fn decode_string(r: &mut Reader<'_>, prefix_bits: u8) -> Result<Vec<u8>, CodecError> {
    let (first, len) = decode_int(r, prefix_bits)?;
    let len = usize::try_from(len).map_err(|_| CodecError::Qpack("string too long"))?;
    let raw = r
        .bytes(len)
        .map_err(|_| CodecError::Qpack("truncated string"))?;
    if first & (1 << prefix_bits) != 0 {
        huffman::decode(raw)
    } else {
        Ok(raw.to_vec())
    }
}

/// Encodes a field section using only the static table and literals.
pub fn encode_field_section(fields: &[Field], out: &mut Vec<u8>) {
    // Required Insert Count 0, Delta Base 0 (RFC 9204 section 4.5.1).
    out.extend_from_slice(&[0x00, 0x00]);
    for f in fields {
        match static_table::find(&f.name, &f.value) {
            // Indexed field line, static (T=1): 11xxxxxx.
            Some((i, true)) => encode_int(0xc0, 6, i as u64, out),
            // Literal with static name reference (N=0, T=1): 0101xxxx.
            Some((i, false)) => {
                encode_int(0x50, 4, i as u64, out);
                encode_string(0x00, 7, &f.value, out);
            }
            // Literal with literal name (N=0): 001Hxxx.
            None => {
                encode_string(0x20, 3, &f.name, out);
                encode_string(0x00, 7, &f.value, out);
            }
        }
    }
}

/// Decodes a field section.
///
/// `max_size` bounds the decoded size (sum of [`Field::size`]); a larger section is an error
/// rather than unbounded memory.
///
/// # Errors
/// [`CodecError::QpackDynamicReference`] for any reference to the dynamic table (non-zero
/// Required Insert Count, dynamic or post-base index), [`CodecError::Qpack`] for truncation,
/// static indices past the table or a section that is too large, [`CodecError::Huffman`] for a
/// bad Huffman string.
pub fn decode_field_section(block: &[u8], max_size: usize) -> Result<Vec<Field>, CodecError> {
    let mut r = Reader::new(block);
    let (_, required_insert_count) = decode_int(&mut r, 8)?;
    if required_insert_count != 0 {
        return Err(CodecError::QpackDynamicReference);
    }
    // Sign bit and Delta Base: meaningless without a dynamic table, but must be well-formed.
    decode_int(&mut r, 7)?;
    let mut fields = Vec::new();
    let mut size = 0usize;
    while !r.is_empty() {
        let first = *r
            .remaining()
            .first()
            .ok_or(CodecError::Qpack("truncated"))?;
        let field = if first & 0x80 != 0 {
            // Indexed field line: 1Txxxxxx.
            let (b, index) = decode_int(&mut r, 6)?;
            if b & 0x40 == 0 {
                return Err(CodecError::QpackDynamicReference);
            }
            let (n, v) =
                static_table::get(index).ok_or(CodecError::Qpack("static index out of range"))?;
            Field::new(n, v)
        } else if first & 0x40 != 0 {
            // Literal with name reference: 01NTxxxx.
            let (b, index) = decode_int(&mut r, 4)?;
            if b & 0x10 == 0 {
                return Err(CodecError::QpackDynamicReference);
            }
            let (n, _) =
                static_table::get(index).ok_or(CodecError::Qpack("static index out of range"))?;
            Field {
                name: n.to_vec(),
                value: decode_string(&mut r, 7)?,
            }
        } else if first & 0x20 != 0 {
            // Literal with literal name: 001NHxxx.
            let name = decode_string(&mut r, 3)?;
            Field {
                name,
                value: decode_string(&mut r, 7)?,
            }
        } else {
            // 0001xxxx indexed post-base, 0000Nxxx literal with post-base name reference.
            return Err(CodecError::QpackDynamicReference);
        };
        size = size.saturating_add(field.size());
        if size > max_size {
            return Err(CodecError::Qpack("field section larger than the limit"));
        }
        fields.push(field);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests;
