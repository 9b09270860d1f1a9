//! QPACK field-section decoder (with Huffman); never panics, and what decodes re-encodes to
//! something that decodes to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxidize_relay_core::qpack::{decode_field_section, encode_field_section};

fuzz_target!(|data: &[u8]| {
    if let Ok(fields) = decode_field_section(data, 64 * 1024) {
        let mut again = Vec::new();
        encode_field_section(&fields, &mut again);
        assert_eq!(decode_field_section(&again, usize::MAX), Ok(fields));
    }
    let _ = oxidize_relay_core::qpack::huffman::decode(data);
});
