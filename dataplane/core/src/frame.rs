//! HTTP/3 frames (RFC 9114 section 7): an incremental decoder for a stream and the encoders.
//!
//! The decoder yields DATA payloads as they arrive (possibly in pieces), whole HEADERS, SETTINGS
//! and GOAWAY frames, and skips every other frame type (CANCEL_PUSH, PUSH_PROMISE, MAX_PUSH_ID,
//! unknown and reserved types), as section 9 requires. The HTTP/2-only types are an error.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::CodecError;
use crate::settings::Settings;
use crate::varint::{self, Reader};

/// DATA frame type.
pub const DATA: u64 = 0x00;
/// HEADERS frame type.
pub const HEADERS: u64 = 0x01;
/// SETTINGS frame type.
pub const SETTINGS: u64 = 0x04;
/// GOAWAY frame type.
pub const GOAWAY: u64 = 0x07;

/// The default cap on the payload of a frame the decoder buffers whole (HEADERS, SETTINGS, GOAWAY).
pub const DEFAULT_MAX_FRAME: u64 = 64 * 1024;

/// One decoded frame (or DATA chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A piece of a DATA frame's payload, in order; a frame may arrive as several pieces.
    Data(Bytes),
    /// A HEADERS frame: an encoded QPACK field section.
    Headers(Bytes),
    /// A SETTINGS frame.
    Settings(Settings),
    /// A GOAWAY frame with its stream (server) or push (client) ID.
    Goaway(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data { remaining: u64 },
    Skip { remaining: u64 },
}

/// Incremental frame decoder for one stream: feed bytes with [`FrameDecoder::handle_bytes`],
/// then call [`FrameDecoder::poll_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    state: State,
    max_frame: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder that refuses buffered frames longer than `max_frame` bytes.
    pub fn new(max_frame: u64) -> Self {
        Self {
            buf: BytesMut::new(),
            state: State::Header,
            max_frame,
        }
    }

    /// Appends bytes read from the stream.
    pub fn handle_bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True when the decoder sits between frames with nothing buffered: a stream that ends
    /// here ended cleanly; anywhere else it was truncated (FRAME_ERROR).
    pub fn is_at_frame_boundary(&self) -> bool {
        self.state == State::Header && self.buf.is_empty()
    }

    /// The next frame or DATA chunk, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A frame that is malformed, too large, or of an HTTP/2-only type. The stream (or, on the
    /// control stream, the connection) must then be closed with [`CodecError::h3_code`].
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, CodecError> {
        loop {
            match self.state {
                State::Data { remaining: 0 } | State::Skip { remaining: 0 } => {
                    self.state = State::Header;
                }
                State::Data { remaining } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    self.state = State::Data {
                        remaining: remaining - n as u64,
                    };
                    return Ok(Some(Frame::Data(self.buf.split_to(n).freeze())));
                }
                State::Skip { remaining } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    self.buf.advance(n);
                    self.state = State::Skip {
                        remaining: remaining - n as u64,
                    };
                }
                State::Header => {
                    let mut r = Reader::new(&self.buf);
                    let (ty, len) = match (r.varint(), r.varint()) {
                        (Ok(ty), Ok(len)) => (ty, len),
                        _ => return Ok(None),
                    };
                    let header_len = r.position();
                    match ty {
                        DATA => {
                            self.buf.advance(header_len);
                            self.state = State::Data { remaining: len };
                        }
                        HEADERS | SETTINGS | GOAWAY => {
                            if len > self.max_frame {
                                return Err(CodecError::FrameTooLarge {
                                    ty,
                                    len,
                                    max: self.max_frame,
                                });
                            }
                            let total = header_len + len as usize;
                            if self.buf.len() < total {
                                return Ok(None);
                            }
                            self.buf.advance(header_len);
                            let payload = self.buf.split_to(len as usize).freeze();
                            return decode_whole(ty, payload).map(Some);
                        }
                        0x02 | 0x06 | 0x08 | 0x09 => {
                            return Err(CodecError::FrameUnexpected("HTTP/2-only frame type"))
                        }
                        _ => {
                            self.buf.advance(header_len);
                            self.state = State::Skip { remaining: len };
                        }
                    }
                }
            }
        }
    }
}

fn decode_whole(ty: u64, payload: Bytes) -> Result<Frame, CodecError> {
    match ty {
        HEADERS => Ok(Frame::Headers(payload)),
        SETTINGS => Settings::decode_payload(&payload).map(Frame::Settings),
        _ => {
            let mut r = Reader::new(&payload);
            let id = r
                .varint()
                .map_err(|_| CodecError::FrameMalformed("GOAWAY without an ID"))?;
            if !r.is_empty() {
                return Err(CodecError::FrameMalformed("GOAWAY longer than its ID"));
            }
            Ok(Frame::Goaway(id))
        }
    }
}

/// Writes a frame header (type and length).
pub fn encode_header(ty: u64, len: usize, out: &mut Vec<u8>) {
    // The type is a constant below 2^62 and a slice length always fits.
    let _ = varint::encode(ty, out);
    let _ = varint::encode(len as u64, out);
}

impl Frame {
    /// Appends the frame's wire form (a `Data` value becomes one whole DATA frame).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Data(payload) => {
                encode_header(DATA, payload.len(), out);
                out.extend_from_slice(payload);
            }
            Self::Headers(block) => {
                encode_header(HEADERS, block.len(), out);
                out.extend_from_slice(block);
            }
            Self::Settings(s) => {
                let mut payload = Vec::new();
                s.encode_payload(&mut payload);
                encode_header(SETTINGS, payload.len(), out);
                out.extend_from_slice(&payload);
            }
            Self::Goaway(id) => {
                encode_header(GOAWAY, varint::encoded_len(*id), out);
                let _ = varint::encode((*id).min(varint::MAX), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, CodecError> {
        let mut d = FrameDecoder::default();
        d.handle_bytes(bytes);
        let mut out = Vec::new();
        while let Some(f) = d.poll_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn skips_unknown_and_push_frames() {
        let mut bytes = vec![0x21, 0x03, 1, 2, 3]; // reserved type 0x21, 3 bytes
        bytes.extend_from_slice(&[0x0d, 0x01, 0x00]); // MAX_PUSH_ID
        Frame::Goaway(4).encode(&mut bytes);
        assert_eq!(decode_all(&bytes), Ok(vec![Frame::Goaway(4)]));
    }

    #[test]
    fn http2_types_are_errors() {
        assert!(matches!(
            decode_all(&[0x06, 0x00]),
            Err(CodecError::FrameUnexpected(_))
        ));
    }

    #[test]
    fn data_arrives_in_pieces() {
        let mut d = FrameDecoder::default();
        d.handle_bytes(&[0x00, 0x04, b'a', b'b']);
        assert_eq!(
            d.poll_frame(),
            Ok(Some(Frame::Data(Bytes::from_static(b"ab"))))
        );
        assert_eq!(d.poll_frame(), Ok(None));
        assert!(!d.is_at_frame_boundary());
        d.handle_bytes(b"cd");
        assert_eq!(
            d.poll_frame(),
            Ok(Some(Frame::Data(Bytes::from_static(b"cd"))))
        );
        assert_eq!(d.poll_frame(), Ok(None));
        assert!(d.is_at_frame_boundary());
    }

    #[test]
    fn oversized_and_malformed_goaway() {
        let mut d = FrameDecoder::new(8);
        d.handle_bytes(&[0x01, 0x09]);
        assert!(matches!(
            d.poll_frame(),
            Err(CodecError::FrameTooLarge { .. })
        ));
        assert!(decode_all(&[0x07, 0x02, 0x04, 0x00]).is_err());
        assert!(decode_all(&[0x07, 0x00]).is_err());
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..40).prop_map(|v| Frame::Data(v.into())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Frame::Headers(v.into())),
            (0..varint::MAX).prop_map(Frame::Goaway),
            Just(Frame::Settings(Settings::masque())),
        ]
    }

    /// Joins neighbouring DATA pieces so that different chunkings compare equal.
    fn merged(frames: Vec<Frame>) -> Vec<Frame> {
        let mut out: Vec<Frame> = Vec::new();
        for f in frames {
            match (out.last_mut(), f) {
                (Some(Frame::Data(prev)), Frame::Data(more)) => {
                    let mut joined = prev.to_vec();
                    joined.extend_from_slice(&more);
                    *prev = joined.into();
                }
                (_, f) => out.push(f),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn round_trip_any_split(frames in proptest::collection::vec(frame(), 0..6), split in any::<prop::sample::Index>()) {
            let mut bytes = Vec::new();
            for f in &frames {
                f.encode(&mut bytes);
            }
            prop_assert_eq!(decode_all(&bytes).expect("valid input"), frames.clone());
            let at = split.index(bytes.len() + 1);
            let mut d = FrameDecoder::default();
            let mut got = Vec::new();
            for part in [&bytes[..at], &bytes[at..]] {
                d.handle_bytes(part);
                while let Some(f) = d.poll_frame().expect("valid input") {
                    got.push(f);
                }
            }
            prop_assert!(d.is_at_frame_boundary());
            prop_assert_eq!(merged(got), merged(frames));
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_all(&bytes);
        }
    }
}
