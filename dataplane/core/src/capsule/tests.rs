use super::*;
use proptest::prelude::*;

fn decode_all(bytes: &[u8]) -> Result<Vec<Capsule>, CodecError> {
    let mut d = CapsuleDecoder::default();
    d.handle_bytes(bytes);
    let mut out = Vec::new();
    while let Some(c) = d.poll_capsule()? {
        out.push(c);
    }
    Ok(out)
}

#[test]
fn address_assign_wire_form() {
    let c = Capsule::AddressAssign(vec![AddressEntry {
        request_id: 1,
        prefix: IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::new(10, 8, 0, 2)),
            len: 32,
        },
    }]);
    let mut out = Vec::new();
    c.encode(&mut out);
    assert_eq!(out, [0x01, 0x07, 0x01, 0x04, 10, 8, 0, 2, 32]);
    assert_eq!(decode_all(&out), Ok(vec![c]));
}

#[test]
fn unknown_capsules_are_skipped_across_chunks() {
    let mut bytes = vec![0x40, 0x40, 0x03, 0xaa]; // type 0x40, 3 bytes, only 1 here
    let route = Capsule::RouteAdvertisement(vec![IpRange::V4_ALL, IpRange::V6_ALL]);
    let mut tail = vec![0xbb, 0xcc];
    route.encode(&mut tail);
    let mut d = CapsuleDecoder::default();
    d.handle_bytes(&bytes);
    assert_eq!(d.poll_capsule(), Ok(None));
    d.handle_bytes(&tail);
    assert_eq!(d.poll_capsule(), Ok(Some(route)));
    assert!(d.is_at_capsule_boundary());
    bytes.clear();
}

#[test]
fn malformed_capsules() {
    // Request ID 0 in a request.
    assert!(decode_all(&[0x02, 0x07, 0x00, 0x04, 0, 0, 0, 0, 32]).is_err());
    // Empty request.
    assert!(decode_all(&[0x02, 0x00]).is_err());
    // IP version 5.
    assert!(decode_all(&[0x01, 0x07, 0x01, 0x05, 0, 0, 0, 0, 32]).is_err());
    // Prefix longer than the address.
    assert!(decode_all(&[0x01, 0x07, 0x01, 0x04, 0, 0, 0, 0, 33]).is_err());
    // Host bits set past a /24.
    assert!(decode_all(&[0x01, 0x07, 0x01, 0x04, 10, 0, 0, 1, 24]).is_err());
    // Range that starts after it ends.
    assert!(decode_all(&[0x03, 0x0a, 0x04, 10, 0, 0, 2, 10, 0, 0, 1, 0]).is_err());
    // Truncated entry.
    assert!(decode_all(&[0x01, 0x03, 0x01, 0x04, 10]).is_err());
    // Oversized known capsule.
    let mut d = CapsuleDecoder::new(4);
    d.handle_bytes(&[0x01, 0x05]);
    assert!(d.poll_capsule().is_err());
}

fn prefix() -> impl Strategy<Value = IpPrefix> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpPrefix {
                addr: IpAddr::V4((a & mask).into()),
                len,
            }
        }),
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpPrefix {
                addr: IpAddr::V6((a & mask).into()),
                len,
            }
        }),
    ]
}

fn capsule() -> impl Strategy<Value = Capsule> {
    let entries = |min| proptest::collection::vec((1..varint::MAX, prefix()), min..4);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Capsule::Datagram(v.into())),
        entries(0).prop_map(|e| Capsule::AddressAssign(
            e.into_iter()
                .map(|(request_id, prefix)| AddressEntry { request_id, prefix })
                .collect()
        )),
        entries(1).prop_map(|e| Capsule::AddressRequest(
            e.into_iter()
                .map(|(request_id, prefix)| AddressEntry { request_id, prefix })
                .collect()
        )),
        (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(a, b, p)| {
            let (s, e) = (a.min(b), a.max(b));
            Capsule::RouteAdvertisement(vec![
                IpRange {
                    start: IpAddr::V4(s.into()),
                    end: IpAddr::V4(e.into()),
                    ip_protocol: p,
                },
                IpRange::V6_ALL,
            ])
        }),
    ]
}

proptest! {
    #[test]
    fn round_trip(caps in proptest::collection::vec(capsule(), 0..5), split in any::<prop::sample::Index>()) {
        let mut bytes = Vec::new();
        for c in &caps {
            c.encode(&mut bytes);
        }
        let at = split.index(bytes.len() + 1);
        let mut d = CapsuleDecoder::default();
        let mut got = Vec::new();
        for part in [&bytes[..at], &bytes[at..]] {
            d.handle_bytes(part);
            while let Some(c) = d.poll_capsule().expect("valid input") {
                got.push(c);
            }
        }
        prop_assert!(d.is_at_capsule_boundary());
        prop_assert_eq!(got, caps);
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = decode_all(&bytes);
    }
}
