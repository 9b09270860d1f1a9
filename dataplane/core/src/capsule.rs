//! Capsules (RFC 9297 section 3) and the CONNECT-IP capsules of RFC 9484 section 4.7.
//!
//! A capsule stream is the concatenation of the DATA frame payloads on the request stream.
//! [`CapsuleDecoder`] buffers known capsules whole (up to a limit) and skips unknown types as
//! they arrive, without buffering them (RFC 9297 section 3.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Buf, Bytes, BytesMut};

use crate::error::CodecError;
use crate::varint::{self, Reader};

/// DATAGRAM capsule (RFC 9297 section 3.5).
pub const DATAGRAM: u64 = 0x00;
/// ADDRESS_ASSIGN (RFC 9484 section 4.7.1).
pub const ADDRESS_ASSIGN: u64 = 0x01;
/// ADDRESS_REQUEST (RFC 9484 section 4.7.2).
pub const ADDRESS_REQUEST: u64 = 0x02;
/// ROUTE_ADVERTISEMENT (RFC 9484 section 4.7.3).
pub const ROUTE_ADVERTISEMENT: u64 = 0x03;

/// Default cap on a known capsule's length.
pub const DEFAULT_MAX_CAPSULE: u64 = 64 * 1024;

/// An address with a prefix length, as in ADDRESS_ASSIGN and ADDRESS_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    /// The address (for a request, all-zero means "any address of this family").
    pub addr: IpAddr,
    /// Prefix length: up to 32 for IPv4, 128 for IPv6.
    pub len: u8,
}

/// One entry of ADDRESS_ASSIGN or ADDRESS_REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEntry {
    /// Request ID: non-zero in a request; in an assignment, the request it answers or 0.
    pub request_id: u64,
    /// The address or prefix.
    pub prefix: IpPrefix,
}

/// One entry of ROUTE_ADVERTISEMENT: an inclusive address range and an IP protocol (0 = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range (same family, not below `start`).
    pub end: IpAddr,
    /// IP protocol number; 0 means all protocols.
    pub ip_protocol: u8,
}

impl IpRange {
    /// The IPv4 default route, all protocols.
    pub const V4_ALL: Self = Self {
        start: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        end: IpAddr::V4(Ipv4Addr::BROADCAST),
        ip_protocol: 0,
    };
    /// The IPv6 default route, all protocols.
    pub const V6_ALL: Self = Self {
        start: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        end: IpAddr::V6(Ipv6Addr::new(
            0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        )),
        ip_protocol: 0,
    };
}

/// A decoded capsule. Unknown types never appear: the decoder skips them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capsule {
    /// An HTTP Datagram payload sent on the stream (RFC 9297 section 3.5).
    Datagram(Bytes),
    /// Addresses the peer assigns to this side.
    AddressAssign(Vec<AddressEntry>),
    /// Addresses this side's peer asks for (at least one entry).
    AddressRequest(Vec<AddressEntry>),
    /// Routes reachable through the tunnel.
    RouteAdvertisement(Vec<IpRange>),
}

fn family_len(version: u8) -> Result<usize, CodecError> {
    match version {
        4 => Ok(4),
        6 => Ok(16),
        _ => Err(CodecError::CapsuleMalformed("IP version is not 4 or 6")),
    }
}

fn read_addr(r: &mut Reader<'_>, version: u8) -> Result<IpAddr, CodecError> {
    let raw = r
        .bytes(family_len(version)?)
        .map_err(|_| CodecError::CapsuleMalformed("truncated address"))?;
    Ok(match <[u8; 4]>::try_from(raw) {
        Ok(v4) => IpAddr::V4(v4.into()),
        Err(_) => {
            let v6: [u8; 16] = raw
                .try_into()
                .map_err(|_| CodecError::CapsuleMalformed("bad address"))?;
            IpAddr::V6(v6.into())
        }
    })
}

fn write_addr(addr: IpAddr, out: &mut Vec<u8>) {
    match addr {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

fn version(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        4
    } else {
        6
    }
}

fn addr_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn decode_entries(value: &[u8], is_request: bool) -> Result<Vec<AddressEntry>, CodecError> {
    let mut r = Reader::new(value);
    let mut out = Vec::new();
    while !r.is_empty() {
        let request_id = r
            .varint()
            .map_err(|_| CodecError::CapsuleMalformed("truncated request ID"))?;
        if is_request && request_id == 0 {
            return Err(CodecError::CapsuleMalformed(
                "ADDRESS_REQUEST with request ID 0",
            ));
        }
        let ver = r
            .u8()
            .map_err(|_| CodecError::CapsuleMalformed("truncated IP version"))?;
        let addr = read_addr(&mut r, ver)?;
        let len = r
            .u8()
            .map_err(|_| CodecError::CapsuleMalformed("truncated prefix length"))?;
        let max = if ver == 4 { 32 } else { 128 };
        if len > max {
            return Err(CodecError::CapsuleMalformed(
                "prefix length longer than the address",
            ));
        }
        let host_bits = u32::from(max - len);
        let host_mask = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        if addr_bits(addr) & host_mask != 0 {
            return Err(CodecError::CapsuleMalformed(
                "address has bits set past its prefix",
            ));
        }
        out.push(AddressEntry {
            request_id,
            prefix: IpPrefix { addr, len },
        });
    }
    if is_request && out.is_empty() {
        return Err(CodecError::CapsuleMalformed("empty ADDRESS_REQUEST"));
    }
    Ok(out)
}

fn decode_ranges(value: &[u8]) -> Result<Vec<IpRange>, CodecError> {
    let mut r = Reader::new(value);
    let mut out: Vec<IpRange> = Vec::new();
    while !r.is_empty() {
        let ver = r
            .u8()
            .map_err(|_| CodecError::CapsuleMalformed("truncated IP version"))?;
        let start = read_addr(&mut r, ver)?;
        let end = read_addr(&mut r, ver)?;
        let ip_protocol = r
            .u8()
            .map_err(|_| CodecError::CapsuleMalformed("truncated IP protocol"))?;
        if addr_bits(start) > addr_bits(end) {
            return Err(CodecError::CapsuleMalformed(
                "route range starts after it ends",
            ));
        }
        if let Some(prev) = out.last() {
            let key = |x: &IpRange| (version(x.start), addr_bits(x.start));
            if key(prev)
                > key(&IpRange {
                    start,
                    end,
                    ip_protocol,
                })
            {
                return Err(CodecError::CapsuleMalformed("route ranges out of order"));
            }
        }
        out.push(IpRange {
            start,
            end,
            ip_protocol,
        });
    }
    Ok(out)
}

impl Capsule {
    /// The capsule type.
    pub fn ty(&self) -> u64 {
        match self {
            Self::Datagram(_) => DATAGRAM,
            Self::AddressAssign(_) => ADDRESS_ASSIGN,
            Self::AddressRequest(_) => ADDRESS_REQUEST,
            Self::RouteAdvertisement(_) => ROUTE_ADVERTISEMENT,
        }
    }

    /// Parses a capsule value of a known type; `Ok(None)` for unknown types.
    ///
    /// # Errors
    /// [`CodecError::CapsuleMalformed`] when the value breaks RFC 9484 section 4.7.
    pub fn decode_value(ty: u64, value: Bytes) -> Result<Option<Self>, CodecError> {
        Ok(Some(match ty {
            DATAGRAM => Self::Datagram(value),
            ADDRESS_ASSIGN => Self::AddressAssign(decode_entries(&value, false)?),
            ADDRESS_REQUEST => Self::AddressRequest(decode_entries(&value, true)?),
            ROUTE_ADVERTISEMENT => Self::RouteAdvertisement(decode_ranges(&value)?),
            _ => return Ok(None),
        }))
    }

    /// Appends the capsule (type, length, value).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut value = Vec::new();
        match self {
            Self::Datagram(d) => value.extend_from_slice(d),
            Self::AddressAssign(entries) | Self::AddressRequest(entries) => {
                for e in entries {
                    let _ = varint::encode(e.request_id.min(varint::MAX), &mut value);
                    value.push(version(e.prefix.addr));
                    write_addr(e.prefix.addr, &mut value);
                    value.push(e.prefix.len);
                }
            }
            Self::RouteAdvertisement(ranges) => {
                for r in ranges {
                    value.push(version(r.start));
                    write_addr(r.start, &mut value);
                    write_addr(r.end, &mut value);
                    value.push(r.ip_protocol);
                }
            }
        }
        let _ = varint::encode(self.ty(), out);
        let _ = varint::encode(value.len() as u64, out);
        out.extend_from_slice(&value);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Skip { remaining: u64 },
}

/// Incremental capsule decoder for the capsule stream of one request.
#[derive(Debug)]
pub struct CapsuleDecoder {
    buf: BytesMut,
    state: State,
    max_capsule: u64,
}

impl Default for CapsuleDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CAPSULE)
    }
}

impl CapsuleDecoder {
    /// A decoder that refuses known capsules longer than `max_capsule` bytes.
    pub fn new(max_capsule: u64) -> Self {
        Self {
            buf: BytesMut::new(),
            state: State::Header,
            max_capsule,
        }
    }

    /// Appends capsule-stream bytes (DATA frame payloads).
    pub fn handle_bytes(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True between capsules with nothing buffered (a stream may end cleanly here).
    pub fn is_at_capsule_boundary(&self) -> bool {
        self.state == State::Header && self.buf.is_empty()
    }

    /// The next known capsule, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A malformed or oversized known capsule; the request stream must then be aborted
    /// with H3_DATAGRAM_ERROR (RFC 9297 section 3.3).
    pub fn poll_capsule(&mut self) -> Result<Option<Capsule>, CodecError> {
        loop {
            match self.state {
                State::Skip { remaining: 0 } => self.state = State::Header,
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
                    if ty > ROUTE_ADVERTISEMENT {
                        self.buf.advance(header_len);
                        self.state = State::Skip { remaining: len };
                        continue;
                    }
                    if len > self.max_capsule {
                        return Err(CodecError::CapsuleMalformed(
                            "capsule longer than the limit",
                        ));
                    }
                    if self.buf.len() < header_len + len as usize {
                        return Ok(None);
                    }
                    self.buf.advance(header_len);
                    let value = self.buf.split_to(len as usize).freeze();
                    if let Some(c) = Capsule::decode_value(ty, value)? {
                        return Ok(Some(c));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
