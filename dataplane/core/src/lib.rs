//! Sans-IO relay core for Oxidize: the MASQUE CONNECT-IP protocol (RFC 9484 over HTTP/3) on
//! top of quinn-proto, shared by the relay and the Linux client.
//!
//! No sockets, syscalls, threads or clock reads: bytes come in through `handle_*` methods,
//! results go out through `poll_*` methods, and time is passed in as `now`. (rustls draws its
//! handshake randomness from `ring`, the one place where the OS is asked for anything.)
//!
//! Layers, bottom up:
//! - codecs, pure bytes in / values out: [`varint`], [`frame`] + [`settings`] +
//!   [`stream_type`] (HTTP/3), [`qpack`] (field sections, Huffman), [`capsule`], [`datagram`];
//! - request handling: [`template`], [`auth`], [`request`], [`throttle`];
//! - tunnel state: [`pool`], [`session`], [`packet`] (inner-packet checks, drop counters);
//! - QUIC datagram sizes: [`mtu`] (inner MTU and path MTUs, used by the relay and the client);
//! - QUIC: [`tls`], [`cid`] (worker-id connection IDs), [`h3`] (per-connection HTTP/3 on a
//!   `quinn_proto::Connection`), [`relay`] (the worker's `RelayCore`) and [`client`]
//!   (`ClientCore`).
//!
//! The wire behaviour is described in `docs/protocol.md`.
#![forbid(unsafe_code)]

pub mod auth;
pub mod capsule;
pub mod cid;
pub mod client;
pub mod datagram;
pub mod error;
pub mod frame;
pub mod h3;
pub mod mtu;
pub mod packet;
pub mod pool;
pub mod qpack;
pub mod relay;
pub mod request;
pub mod session;
pub mod settings;
pub mod stream_type;
pub mod template;
pub mod throttle;
pub mod tls;
pub mod varint;

pub use error::CodecError;
