//! How the relay treats peers that stretch or break HTTP/3 rules (hand-made bytes).

mod util;

use oxidize_relay_core::capsule::{
    AddressEntry, Capsule, CapsuleDecoder, IpPrefix, ADDRESS_ASSIGN,
};
use oxidize_relay_core::frame::{self, Frame, FrameDecoder};
use oxidize_relay_core::qpack::{decode_field_section, encode_field_section};
use oxidize_relay_core::request::{request_fields, response_status};
use oxidize_relay_core::settings::Settings;
use quinn_proto::Dir;
use util::raw::RawPair;
use util::TOKEN;

const PATH: &str = "/.well-known/masque/ip/*/*/";

fn control_stream() -> Vec<u8> {
    let mut b = vec![0x00];
    Frame::Settings(Settings::masque()).encode(&mut b);
    b
}

fn headers(token: Option<&str>) -> Vec<u8> {
    let mut block = Vec::new();
    encode_field_section(&request_fields("relay.test", PATH, token), &mut block);
    let mut b = Vec::new();
    Frame::Headers(block.into()).encode(&mut b);
    b
}

/// Decodes a response stream into (status, capsules).
fn response(bytes: &[u8]) -> (Option<u16>, Vec<Capsule>) {
    let mut frames = FrameDecoder::default();
    frames.handle_bytes(bytes);
    let mut caps = CapsuleDecoder::default();
    let mut status = None;
    while let Some(f) = frames.poll_frame().expect("valid frames") {
        match f {
            Frame::Headers(block) => {
                status = response_status(&decode_field_section(&block, 1 << 16).expect("qpack"));
            }
            Frame::Data(d) => caps.handle_bytes(&d),
            _ => {}
        }
    }
    let mut out = Vec::new();
    while let Some(c) = caps.poll_capsule().expect("valid capsules") {
        out.push(c);
    }
    (status, out)
}

#[test]
fn grease_and_unknown_things_are_ignored() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    p.open(Dir::Uni, &[0x21, 0xde, 0xad], false); // GREASE stream type
    p.open(Dir::Uni, &[0x02], false); // QPACK encoder stream, nothing on it
    let mut req = vec![0x21, 0x02, 0xaa, 0xbb]; // reserved frame type before HEADERS
    req.extend_from_slice(&headers(Some(TOKEN)));
    let mut caps = vec![0x40, 0x50, 0x01, 0x00]; // unknown capsule type 0x50
    Capsule::AddressRequest(vec![AddressEntry {
        request_id: 7,
        prefix: IpPrefix {
            addr: "0.0.0.0".parse().expect("ip"),
            len: 32,
        },
    }])
    .encode(&mut caps);
    Frame::Data(caps.into()).encode(&mut req);
    let id = p.open(Dir::Bi, &req, false);
    assert_eq!(p.lost, None);
    let (status, capsules) = response(&p.received[&id].0);
    assert_eq!(status, Some(200));
    let answered = capsules
        .iter()
        .any(|c| matches!(c, Capsule::AddressAssign(a) if a.iter().any(|e| e.request_id == 7)));
    assert!(answered, "{capsules:?}");
    assert_eq!(capsules[0].ty(), ADDRESS_ASSIGN);
    assert_eq!(p.relay.sessions().len(), 1);
}

#[test]
fn control_stream_must_start_with_settings() {
    let mut p = RawPair::new();
    let mut b = vec![0x00];
    Frame::Goaway(0).encode(&mut b);
    p.open(Dir::Uni, &b, false);
    assert_eq!(p.close_code(), Some(0x10a)); // H3_MISSING_SETTINGS
    assert_eq!(p.relay.stats().h3_errors, 1);
}

#[test]
fn second_settings_and_http2_frames_close_the_connection() {
    let mut p = RawPair::new();
    let mut b = control_stream();
    Frame::Settings(Settings::masque()).encode(&mut b);
    p.open(Dir::Uni, &b, false);
    assert_eq!(p.close_code(), Some(0x105)); // H3_FRAME_UNEXPECTED

    let mut p = RawPair::new();
    let mut b = control_stream();
    b.extend_from_slice(&[0x06, 0x00]); // HTTP/2 PING type
    p.open(Dir::Uni, &b, false);
    assert_eq!(p.close_code(), Some(0x105));
}

#[test]
fn closing_the_control_stream_is_fatal() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), true);
    assert_eq!(p.close_code(), Some(0x104)); // H3_CLOSED_CRITICAL_STREAM
}

#[test]
fn dynamic_table_reference_fails_decompression() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    let mut b = Vec::new();
    frame::encode_header(frame::HEADERS, 3, &mut b);
    b.extend_from_slice(&[0x00, 0x00, 0x80]); // indexed field line, dynamic table
    p.open(Dir::Bi, &b, false);
    assert_eq!(p.close_code(), Some(0x200)); // QPACK_DECOMPRESSION_FAILED
}

#[test]
fn data_before_headers_resets_only_that_stream() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    let mut b = Vec::new();
    Frame::Data(vec![1, 2, 3].into()).encode(&mut b);
    let bad = p.open(Dir::Bi, &b, false);
    assert_eq!(p.lost, None, "the connection survives");
    let reset = p.received.get(&bad).and_then(|r| r.1.clone());
    assert_eq!(
        reset,
        Some(quinn_proto::ReadError::Reset(
            quinn_proto::VarInt::from_u32(0x105)
        ))
    );
    // A good request on the same connection still works.
    let good = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    assert_eq!(response(&p.received[&good].0).0, Some(200));
}

#[test]
fn malformed_capsule_ends_the_tunnel_and_frees_the_address() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    let id = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    assert_eq!(p.relay.pool().in_use(), 1);
    let mut b = Vec::new();
    Frame::Data(vec![0x02, 0x00].into()).encode(&mut b); // empty ADDRESS_REQUEST
    p.write(id, &b, false);
    assert_eq!(p.relay.pool().in_use(), 0);
    assert_eq!(p.relay.sessions().len(), 0);
    assert_eq!(p.lost, None);
}

#[test]
fn datagrams_for_no_tunnel_or_other_contexts_are_counted() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    let id = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    p.send_datagram(&[0x03, 0x00, 0x45]); // stream 12: no tunnel
    let q = (u64::from(quinn_proto::VarInt::from(id)) / 4) as u8;
    p.send_datagram(&[q, 0x05, 0x45]); // context 5
    p.send_datagram(&[0xc0]); // truncated varint
    let d = p.relay.stats().drops;
    assert_eq!(
        (d.unknown_session, d.unknown_context, d.malformed),
        (1, 1, 1)
    );
}

#[test]
fn request_streams_after_goaway_are_rejected() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    let now = p.now;
    p.relay.shutdown(now);
    p.drive();
    let id = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    let reset = p.received.get(&id).and_then(|r| r.1.clone());
    assert_eq!(
        reset,
        Some(quinn_proto::ReadError::Reset(
            quinn_proto::VarInt::from_u32(0x10b)
        ))
    );
    assert_eq!(p.relay.sessions().len(), 0);
}

#[test]
fn many_short_ignored_streams_are_forgotten() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    // Far more than the 16 concurrent unidirectional streams the relay allows: the ignored
    // streams must be read to their end so that their credit comes back.
    for _ in 0..64 {
        p.open(Dir::Uni, &[0x21, 1, 2, 3], true);
    }
    assert_eq!(p.lost, None);
    let id = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    assert_eq!(response(&p.received[&id].0).0, Some(200));
}

#[test]
fn guessing_tokens_on_one_connection_gets_429() {
    let mut p = RawPair::new();
    p.open(Dir::Uni, &control_stream(), false);
    for i in 0..5 {
        let id = p.open(Dir::Bi, &headers(Some(&format!("guess-{i}"))), false);
        assert_eq!(response(&p.received[&id].0).0, Some(403));
    }
    let id = p.open(Dir::Bi, &headers(Some(TOKEN)), false);
    assert_eq!(response(&p.received[&id].0).0, Some(429));
    let r = p.relay.stats().rejected;
    assert_eq!((r.forbidden, r.throttled), (5, 1));
}
