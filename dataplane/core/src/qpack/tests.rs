use super::*;
use proptest::prelude::*;

const MAX: usize = 64 * 1024;

/// RFC 9204 Appendix B.1: a literal with a static name reference, `:path /index.html`.
#[test]
fn rfc9204_b1_literal_with_name_reference() {
    let block = [
        0x00, 0x00, 0x51, 0x0b, 0x2f, 0x69, 0x6e, 0x64, 0x65, 0x78, 0x2e, 0x68, 0x74, 0x6d, 0x6c,
    ];
    assert_eq!(
        decode_field_section(&block, MAX),
        Ok(vec![Field::new(":path", "/index.html")])
    );
}

/// RFC 9204 Appendix B.2 onwards use the dynamic table: a field section with a non-zero
/// Required Insert Count must be refused.
#[test]
fn dynamic_references_are_errors() {
    // B.2 stream 4: Required Insert Count 4, Base 0, post-base indexed 0 and 1.
    let b2 = [0x03, 0x81, 0x10, 0x11];
    assert_eq!(
        decode_field_section(&b2, MAX),
        Err(CodecError::QpackDynamicReference)
    );
    // Dynamic indexed line (T=0) with RIC 0.
    assert_eq!(
        decode_field_section(&[0x00, 0x00, 0x80], MAX),
        Err(CodecError::QpackDynamicReference)
    );
    // Literal with dynamic name reference.
    assert_eq!(
        decode_field_section(&[0x00, 0x00, 0x40, 0x00], MAX),
        Err(CodecError::QpackDynamicReference)
    );
    // Post-base forms.
    assert_eq!(
        decode_field_section(&[0x00, 0x00, 0x10], MAX),
        Err(CodecError::QpackDynamicReference)
    );
    assert_eq!(
        decode_field_section(&[0x00, 0x00, 0x00, 0x00], MAX),
        Err(CodecError::QpackDynamicReference)
    );
}

/// RFC 7541 C.1: integer examples (5-bit prefix 10 and 1337, 8-bit prefix 42).
#[test]
fn prefix_integers() {
    let mut out = Vec::new();
    encode_int(0, 5, 10, &mut out);
    encode_int(0, 5, 1337, &mut out);
    encode_int(0, 8, 42, &mut out);
    assert_eq!(out, [0x0a, 0x1f, 0x9a, 0x0a, 0x2a]);
    let mut r = Reader::new(&out);
    assert_eq!(decode_int(&mut r, 5).map(|x| x.1), Ok(10));
    assert_eq!(decode_int(&mut r, 5).map(|x| x.1), Ok(1337));
    assert_eq!(decode_int(&mut r, 8).map(|x| x.1), Ok(42));
    let mut huge = Reader::new(&[
        0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ]);
    assert!(decode_int(&mut huge, 5).is_err());
}

#[test]
fn static_indexed_and_huffman_literals() {
    let fields = vec![
        Field::new(":method", "CONNECT"),
        Field::new(":protocol", "connect-ip"),
        Field::new(":scheme", "https"),
        Field::new(":authority", "relay.example.com"),
        Field::new(":path", "/.well-known/masque/ip/*/*/"),
        Field::new("capsule-protocol", "?1"),
        Field::new("authorization", "Bearer secret"),
    ];
    let mut block = Vec::new();
    encode_field_section(&fields, &mut block);
    // `:method CONNECT` is static index 15: 0xc0 | 15.
    assert_eq!(block[2], 0xcf);
    assert_eq!(decode_field_section(&block, MAX), Ok(fields));
}

#[test]
fn malformed_sections() {
    assert!(decode_field_section(&[], MAX).is_err());
    assert!(decode_field_section(&[0x00], MAX).is_err());
    // Static index 99 is past the table.
    assert!(matches!(
        decode_field_section(&[0x00, 0x00, 0xff, 0x24], MAX),
        Err(CodecError::Qpack(_))
    ));
    // Truncated value string.
    assert!(decode_field_section(&[0x00, 0x00, 0x51, 0x0b, 0x2f], MAX).is_err());
    // Over the size limit.
    let mut block = Vec::new();
    encode_field_section(&[Field::new("x", vec![b'a'; 100])], &mut block);
    assert!(decode_field_section(&block, 64).is_err());
}

fn field() -> impl Strategy<Value = Field> {
    let static_entry = (0usize..99).prop_map(|i| {
        let (n, v) = static_table::STATIC_TABLE[i];
        Field::new(n, v)
    });
    let static_name = (0usize..99, proptest::collection::vec(any::<u8>(), 0..30))
        .prop_map(|(i, v)| Field::new(static_table::STATIC_TABLE[i].0, v));
    let literal = (
        proptest::collection::vec(any::<u8>(), 0..30),
        proptest::collection::vec(any::<u8>(), 0..30),
    )
        .prop_map(|(n, v)| Field::new(n, v));
    prop_oneof![static_entry, static_name, literal]
}

proptest! {
    #[test]
    fn round_trip(fields in proptest::collection::vec(field(), 0..12)) {
        let mut block = Vec::new();
        encode_field_section(&fields, &mut block);
        prop_assert_eq!(decode_field_section(&block, MAX), Ok(fields));
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = decode_field_section(&bytes, MAX);
    }

    #[test]
    fn int_round_trip(prefix in 1u8..=8, v in 0u64..(1 << 62)) {
        let mut out = Vec::new();
        encode_int(0, prefix, v, &mut out);
        let mut r = Reader::new(&out);
        prop_assert_eq!(decode_int(&mut r, prefix).map(|x| x.1), Ok(v));
        prop_assert!(r.is_empty());
    }
}
