//! Errors of the pure codecs (varints, HTTP/3 frames, QPACK, capsules, datagrams).

/// What is wrong with bytes handed to one of the codecs.
///
/// `Incomplete` is not fatal on a stream: wait for more bytes. Every other variant means the
/// peer sent something the RFCs forbid; [`CodecError::h3_code`] maps it to the HTTP/3 error code
/// (RFC 9114 section 8.1, RFC 9204 section 6) that the connection or stream is closed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ends in the middle of an item; more bytes are needed.
    #[error("input ends in the middle of an item (need more bytes)")]
    Incomplete,
    /// A value does not fit in a QUIC variable-length integer (max 2^62 - 1).
    #[error("value {0} does not fit in a QUIC varint (max 2^62-1)")]
    VarIntRange(u64),
    /// An HTTP/3 frame is longer than this implementation accepts.
    #[error("HTTP/3 frame type {ty:#x} has length {len}, more than the limit {max}")]
    FrameTooLarge {
        /// Frame type.
        ty: u64,
        /// Declared payload length.
        len: u64,
        /// Accepted maximum.
        max: u64,
    },
    /// A frame's payload does not match its own length or syntax.
    #[error("malformed HTTP/3 frame: {0}")]
    FrameMalformed(&'static str),
    /// A frame that must not appear here (HTTP/2-only types, SETTINGS twice, DATA before HEADERS).
    #[error("unexpected HTTP/3 frame: {0}")]
    FrameUnexpected(&'static str),
    /// SETTINGS broke a rule of RFC 9114 section 7.2.4 (duplicate, HTTP/2 identifier, bad value).
    #[error("invalid HTTP/3 SETTINGS: {0}")]
    Settings(&'static str),
    /// A QPACK field section could not be decoded (RFC 9204 section 4.5).
    #[error("QPACK decompression failed: {0}")]
    Qpack(&'static str),
    /// A field section refers to the QPACK dynamic table, which this endpoint disabled.
    #[error("QPACK field section refers to the dynamic table, which is disabled (capacity 0)")]
    QpackDynamicReference,
    /// A Huffman-coded string literal is invalid (RFC 7541 section 5.2).
    #[error("invalid Huffman-coded string in a QPACK field section")]
    Huffman,
    /// A capsule's value does not match its type's syntax (RFC 9484 section 4.7).
    #[error("malformed capsule: {0}")]
    CapsuleMalformed(&'static str),
    /// An HTTP Datagram payload is malformed (RFC 9297 section 2.1).
    #[error("malformed HTTP datagram: {0}")]
    DatagramMalformed(&'static str),
}

/// HTTP/3 error codes used by this crate (RFC 9114 section 8.1, RFC 9204 section 6).
pub mod h3_code {
    /// No error; used for graceful close.
    pub const NO_ERROR: u64 = 0x100;
    /// Peer violated the protocol in a way not covered by a more specific code.
    pub const GENERAL_PROTOCOL_ERROR: u64 = 0x101;
    /// An internal error.
    pub const INTERNAL_ERROR: u64 = 0x102;
    /// A stream required by the connection was closed or reset.
    pub const CLOSED_CRITICAL_STREAM: u64 = 0x104;
    /// A frame was received that is not permitted in the current state or on this stream.
    pub const FRAME_UNEXPECTED: u64 = 0x105;
    /// A frame fails to satisfy layout requirements or has an invalid size.
    pub const FRAME_ERROR: u64 = 0x106;
    /// The endpoint detected that its peer is exhibiting behaviour that might generate excessive load.
    pub const EXCESSIVE_LOAD: u64 = 0x107;
    /// A stream ID or push ID was used incorrectly.
    pub const ID_ERROR: u64 = 0x108;
    /// An endpoint detected an error in the payload of a SETTINGS frame.
    pub const SETTINGS_ERROR: u64 = 0x109;
    /// No SETTINGS frame at the start of the control stream.
    pub const MISSING_SETTINGS: u64 = 0x10a;
    /// The request or response is malformed.
    pub const MESSAGE_ERROR: u64 = 0x10e;
    /// The requested operation cannot be served over HTTP/3.
    pub const REQUEST_REJECTED: u64 = 0x10b;
    /// The request or its response is cancelled.
    pub const REQUEST_CANCELLED: u64 = 0x10c;
    /// QPACK: the decoder failed to interpret an encoded field section.
    pub const QPACK_DECOMPRESSION_FAILED: u64 = 0x200;
    /// HTTP Datagram or capsule error (RFC 9297 section 5.2).
    pub const DATAGRAM_ERROR: u64 = 0x33;
}

impl CodecError {
    /// The HTTP/3 application error code that this error closes the connection or stream with.
    pub fn h3_code(&self) -> u64 {
        match self {
            Self::Incomplete | Self::FrameMalformed(_) | Self::FrameTooLarge { .. } => {
                h3_code::FRAME_ERROR
            }
            Self::VarIntRange(_) => h3_code::INTERNAL_ERROR,
            Self::FrameUnexpected(_) => h3_code::FRAME_UNEXPECTED,
            Self::Settings(_) => h3_code::SETTINGS_ERROR,
            Self::Qpack(_) | Self::QpackDynamicReference | Self::Huffman => {
                h3_code::QPACK_DECOMPRESSION_FAILED
            }
            Self::CapsuleMalformed(_) | Self::DatagramMalformed(_) => h3_code::DATAGRAM_ERROR,
        }
    }
}
