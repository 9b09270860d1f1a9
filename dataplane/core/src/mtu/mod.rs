//! QUIC datagram and MTU arithmetic, shared by the relay (its TUN MTU) and the client (its QUIC
//! packet size and TUN MTU). Pure arithmetic, no I/O.
//!
//! - [`overhead`]: the bytes one DATAGRAM-carrying QUIC packet adds around an inner IP packet,
//!   and the inner MTU an outer MTU leaves ([`inner_mtu`]).
//! - [`path`]: the MTUs of one path to a relay ([`path_mtu`]): QUIC's UDP payload, capped at
//!   quinn's path-MTU-discovery bound, and the TUN MTU under it.

pub mod overhead;
pub mod path;

pub use overhead::{inner_mtu, DatagramOverhead, IPV4_MIN_MTU, IPV6_MIN_MTU};
pub use path::{carries_ipv6, path_mtu, MtuError, PathMtu};
