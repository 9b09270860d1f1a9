//! The HTTP/3 layer of one QUIC connection (RFC 9114), for both sides, on top of a borrowed
//! `quinn_proto::Connection`: control streams and SETTINGS, request streams carrying one
//! HEADERS frame and then a capsule stream in DATA frames, GOAWAY.
//!
//! Call order: after the QUIC handshake call [`H3Conn::open`]; feed every `Event::Stream` from
//! `Connection::poll` to [`H3Conn::handle_stream_event`]; take results with
//! [`H3Conn::poll_event`]; after writing (headers, capsules, GOAWAY) and on `Writable` events the
//! queued bytes are flushed by [`H3Conn::flush`] (called by the other methods too).

mod streams;

pub use streams::OutQueue;

use std::collections::{HashMap, VecDeque};

use quinn_proto::{Connection, Dir, Side, StreamEvent, StreamId, VarInt};
use tracing::{debug, trace};

use crate::capsule::{Capsule, CapsuleDecoder};
use crate::error::{h3_code, CodecError};
use crate::frame::{Frame, FrameDecoder};
use crate::qpack::{self, Field};
use crate::settings::Settings;
use crate::stream_type::{self, UniStreamType};
use crate::varint;

/// Something the peer did that the owner of the connection must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H3Event {
    /// The peer's SETTINGS arrived.
    Settings(Settings),
    /// A request (server side) or response (client side) field section on a request stream.
    Headers {
        /// The request stream.
        stream: StreamId,
        /// The decoded fields.
        fields: Vec<Field>,
    },
    /// A capsule on a request stream.
    Capsule {
        /// The request stream.
        stream: StreamId,
        /// The capsule.
        capsule: Capsule,
    },
    /// A request stream ended (finished, reset or aborted); its tunnel is gone.
    StreamEnded {
        /// The request stream.
        stream: StreamId,
    },
    /// The peer sent GOAWAY with this ID.
    Goaway(u64),
}

/// A connection-level HTTP/3 error: close the QUIC connection with this code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP/3 connection error {code:#x}: {reason}")]
pub struct H3Error {
    /// HTTP/3 error code.
    pub code: u64,
    /// What happened.
    pub reason: String,
}

impl H3Error {
    fn new(code: u64, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl From<CodecError> for H3Error {
    fn from(e: CodecError) -> Self {
        Self::new(e.h3_code(), e.to_string())
    }
}

enum UniIn {
    /// Type varint not complete yet.
    Pending(Vec<u8>),
    Control(FrameDecoder),
    /// QPACK streams (nothing to do with no dynamic table) and unknown types.
    Discard,
}

struct RequestIn {
    frames: FrameDecoder,
    capsules: CapsuleDecoder,
    headers_seen: bool,
}

/// Per-connection HTTP/3 state.
pub struct H3Conn {
    side: Side,
    local_settings: Settings,
    control_out: Option<StreamId>,
    out: OutQueue,
    uni_in: HashMap<StreamId, UniIn>,
    peer_control: Option<StreamId>,
    peer_settings: Option<Settings>,
    requests: HashMap<StreamId, RequestIn>,
    events: VecDeque<H3Event>,
    goaway_sent: Option<u64>,
    max_request_seen: Option<StreamId>,
    max_field_section: usize,
}

impl std::fmt::Debug for H3Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H3Conn")
            .field("side", &self.side)
            .field("requests", &self.requests.len())
            .field("peer_settings", &self.peer_settings)
            .finish()
    }
}

impl H3Conn {
    /// State for one side of a connection, announcing `settings`.
    pub fn new(side: Side, settings: Settings) -> Self {
        Self {
            side,
            max_field_section: settings.max_field_section_size.unwrap_or(64 * 1024) as usize,
            local_settings: settings,
            control_out: None,
            out: OutQueue::default(),
            uni_in: HashMap::new(),
            peer_control: None,
            peer_settings: None,
            requests: HashMap::new(),
            events: VecDeque::new(),
            goaway_sent: None,
            max_request_seen: None,
        }
    }

    /// The peer's SETTINGS, once received.
    pub fn peer_settings(&self) -> Option<&Settings> {
        self.peer_settings.as_ref()
    }

    /// Opens the control stream and sends SETTINGS (call once, when the connection is up or,
    /// for 0-RTT, as soon as streams can be opened).
    ///
    /// # Errors
    /// [`H3Error`] when no unidirectional stream can be opened (the peer allows none).
    pub fn open(&mut self, conn: &mut Connection) -> Result<(), H3Error> {
        if self.control_out.is_some() {
            return Ok(());
        }
        let id = conn.streams().open(Dir::Uni).ok_or_else(|| {
            H3Error::new(
                h3_code::CLOSED_CRITICAL_STREAM,
                "peer allows no unidirectional stream",
            )
        })?;
        let mut bytes = Vec::new();
        let _ = varint::encode(stream_type::CONTROL, &mut bytes);
        Frame::Settings(self.local_settings).encode(&mut bytes);
        self.control_out = Some(id);
        self.out.push(id, &bytes, false);
        self.flush(conn);
        Ok(())
    }

    /// Opens a request stream (client side).
    pub fn open_request(&mut self, conn: &mut Connection) -> Option<StreamId> {
        let id = conn.streams().open(Dir::Bi)?;
        self.requests.insert(id, self.new_request());
        Some(id)
    }

    fn new_request(&self) -> RequestIn {
        RequestIn {
            frames: FrameDecoder::new(self.max_field_section as u64),
            capsules: CapsuleDecoder::default(),
            headers_seen: false,
        }
    }

    /// Queues a HEADERS frame on a request stream; `fin` ends the stream after it.
    pub fn send_headers(
        &mut self,
        conn: &mut Connection,
        stream: StreamId,
        fields: &[Field],
        fin: bool,
    ) {
        let mut block = Vec::new();
        qpack::encode_field_section(fields, &mut block);
        let mut bytes = Vec::new();
        Frame::Headers(block.into()).encode(&mut bytes);
        self.out.push(stream, &bytes, fin);
        if fin {
            self.requests.remove(&stream);
        }
        self.flush(conn);
    }

    /// Queues a capsule (in a DATA frame) on a request stream.
    pub fn send_capsule(&mut self, conn: &mut Connection, stream: StreamId, capsule: &Capsule) {
        let mut payload = Vec::new();
        capsule.encode(&mut payload);
        let mut bytes = Vec::new();
        Frame::Data(payload.into()).encode(&mut bytes);
        self.out.push(stream, &bytes, false);
        self.flush(conn);
    }

    /// Ends a request stream in both directions with an HTTP/3 error code.
    pub fn abort_request(&mut self, conn: &mut Connection, stream: StreamId, code: u64) {
        let code = VarInt::from_u64(code).unwrap_or(VarInt::from_u32(0x102));
        self.out.drop_stream(stream);
        let _ = conn.send_stream(stream).reset(code);
        let _ = conn.recv_stream(stream).stop(code);
        if self.requests.remove(&stream).is_some() {
            self.events.push_back(H3Event::StreamEnded { stream });
        }
    }

    /// Sends GOAWAY on the control stream: the server names the first request stream it will
    /// not process; a client sends 0 (no push IDs). Returns false if already sent.
    pub fn send_goaway(&mut self, conn: &mut Connection) -> bool {
        let Some(control) = self.control_out else {
            return false;
        };
        if self.goaway_sent.is_some() {
            return false;
        }
        let id = match (self.side, self.max_request_seen) {
            (Side::Server, Some(s)) => u64::from(VarInt::from(s)) + 4,
            _ => 0,
        };
        let mut bytes = Vec::new();
        Frame::Goaway(id).encode(&mut bytes);
        self.out.push(control, &bytes, false);
        self.goaway_sent = Some(id);
        self.flush(conn);
        true
    }

    /// Writes queued bytes as far as flow control allows.
    pub fn flush(&mut self, conn: &mut Connection) {
        self.out.flush(conn);
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<H3Event> {
        self.events.pop_front()
    }

    /// Handles one stream event from `Connection::poll`.
    ///
    /// # Errors
    /// A connection-level [`H3Error`]: close the connection with its code.
    pub fn handle_stream_event(
        &mut self,
        conn: &mut Connection,
        ev: StreamEvent,
    ) -> Result<(), H3Error> {
        match ev {
            StreamEvent::Opened { dir: Dir::Uni } => {
                while let Some(id) = conn.streams().accept(Dir::Uni) {
                    self.uni_in.insert(id, UniIn::Pending(Vec::new()));
                    self.read_uni(conn, id)?;
                }
            }
            StreamEvent::Opened { dir: Dir::Bi } => {
                while let Some(id) = conn.streams().accept(Dir::Bi) {
                    if self.side == Side::Client {
                        return Err(H3Error::new(
                            h3_code::ID_ERROR,
                            "server opened a bidirectional stream",
                        ));
                    }
                    if self.goaway_sent.is_some() {
                        // Past GOAWAY: refuse without processing (RFC 9114 section 5.2).
                        let code = VarInt::from_u32(h3_code::REQUEST_REJECTED as u32);
                        let _ = conn.recv_stream(id).stop(code);
                        let _ = conn.send_stream(id).reset(code);
                        continue;
                    }
                    self.max_request_seen = Some(self.max_request_seen.map_or(id, |m| m.max(id)));
                    self.requests.insert(id, self.new_request());
                    self.read_request(conn, id)?;
                }
            }
            StreamEvent::Readable { id } => {
                if self.uni_in.contains_key(&id) {
                    self.read_uni(conn, id)?;
                } else if self.requests.contains_key(&id) {
                    self.read_request(conn, id)?;
                }
            }
            StreamEvent::Writable { .. } => self.flush(conn),
            StreamEvent::Stopped { id, .. } => {
                // Only our sending half is gone; the request ends when its receiving half does.
                self.out.drop_stream(id);
                if Some(id) == self.control_out {
                    return Err(H3Error::new(
                        h3_code::CLOSED_CRITICAL_STREAM,
                        "peer stopped our control stream",
                    ));
                }
            }
            StreamEvent::Finished { .. } | StreamEvent::Available { .. } => {}
        }
        Ok(())
    }

    fn read_uni(&mut self, conn: &mut Connection, id: StreamId) -> Result<(), H3Error> {
        let (data, ended) = streams::read_all(conn, id);
        let Some(state) = self.uni_in.get_mut(&id) else {
            return Ok(());
        };
        let mut data = data.as_slice();
        if let UniIn::Pending(buf) = state {
            buf.extend_from_slice(data);
            let Ok((ty, n)) = varint::decode(buf) else {
                if ended {
                    self.uni_in.remove(&id);
                }
                return Ok(());
            };
            let rest = buf.split_off(n);
            trace!(stream = %id, ty, "peer unidirectional stream");
            *state = match UniStreamType::from(ty) {
                UniStreamType::Control => {
                    if self.peer_control.replace(id).is_some() {
                        return Err(H3Error::new(h3_code::ID_ERROR, "second control stream"));
                    }
                    UniIn::Control(FrameDecoder::default())
                }
                UniStreamType::Push => {
                    return Err(H3Error::new(
                        h3_code::ID_ERROR,
                        "push stream without MAX_PUSH_ID",
                    ));
                }
                UniStreamType::QpackEncoder
                | UniStreamType::QpackDecoder
                | UniStreamType::Unknown(_) => UniIn::Discard,
            };
            if let UniIn::Control(dec) = state {
                dec.handle_bytes(&rest);
            }
            data = &[];
        }
        match state {
            UniIn::Control(dec) => {
                dec.handle_bytes(data);
                while let Some(frame) = dec.poll_frame()? {
                    match (frame, self.peer_settings.is_some()) {
                        (Frame::Settings(s), false) => {
                            self.peer_settings = Some(s);
                            self.events.push_back(H3Event::Settings(s));
                        }
                        (_, false) => {
                            return Err(H3Error::new(
                                h3_code::MISSING_SETTINGS,
                                "control stream does not start with SETTINGS",
                            ));
                        }
                        (Frame::Settings(_), true) => {
                            return Err(H3Error::new(
                                h3_code::FRAME_UNEXPECTED,
                                "second SETTINGS frame",
                            ));
                        }
                        (Frame::Goaway(gid), true) => self.events.push_back(H3Event::Goaway(gid)),
                        (Frame::Data(_) | Frame::Headers(_), true) => {
                            return Err(H3Error::new(
                                h3_code::FRAME_UNEXPECTED,
                                "DATA or HEADERS on the control stream",
                            ));
                        }
                    }
                }
                if ended {
                    return Err(H3Error::new(
                        h3_code::CLOSED_CRITICAL_STREAM,
                        "peer closed its control stream",
                    ));
                }
            }
            UniIn::Discard | UniIn::Pending(_) => {
                if ended {
                    // Forget finished streams we ignore, so that a peer opening many cannot
                    // grow this map.
                    self.uni_in.remove(&id);
                }
            }
        }
        Ok(())
    }

    fn read_request(&mut self, conn: &mut Connection, id: StreamId) -> Result<(), H3Error> {
        let (data, ended) = streams::read_all(conn, id);
        let Some(req) = self.requests.get_mut(&id) else {
            return Ok(());
        };
        req.frames.handle_bytes(&data);
        let mut failure: Option<u64> = None;
        loop {
            match req.frames.poll_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Headers(block))) if !req.headers_seen => {
                    req.headers_seen = true;
                    match qpack::decode_field_section(&block, self.max_field_section) {
                        Ok(fields) => self
                            .events
                            .push_back(H3Event::Headers { stream: id, fields }),
                        Err(
                            e @ (CodecError::QpackDynamicReference
                            | CodecError::Huffman
                            | CodecError::Qpack(_)),
                        ) => {
                            return Err(e.into());
                        }
                        Err(e) => {
                            failure = Some(e.h3_code());
                            break;
                        }
                    }
                }
                // Trailers and interim responses are not used by CONNECT-IP: ignore them.
                Ok(Some(Frame::Headers(_))) => {}
                Ok(Some(Frame::Data(chunk))) if req.headers_seen => {
                    req.capsules.handle_bytes(&chunk);
                    loop {
                        match req.capsules.poll_capsule() {
                            Ok(Some(capsule)) => self.events.push_back(H3Event::Capsule {
                                stream: id,
                                capsule,
                            }),
                            Ok(None) => break,
                            Err(e) => {
                                debug!(stream = %id, error = %e, "bad capsule; aborting the request stream");
                                failure = Some(e.h3_code());
                                break;
                            }
                        }
                    }
                    if failure.is_some() {
                        break;
                    }
                }
                Ok(Some(Frame::Data(_))) => {
                    failure = Some(h3_code::FRAME_UNEXPECTED);
                    break;
                }
                Ok(Some(Frame::Settings(_) | Frame::Goaway(_))) => {
                    return Err(H3Error::new(
                        h3_code::FRAME_UNEXPECTED,
                        "control frame on a request stream",
                    ));
                }
                Err(e) => {
                    failure = Some(e.h3_code());
                    break;
                }
            }
        }
        if let Some(code) = failure {
            self.abort_request(conn, id, code);
        } else if ended {
            self.requests.remove(&id);
            self.events.push_back(H3Event::StreamEnded { stream: id });
        }
        Ok(())
    }
}
