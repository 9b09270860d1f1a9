//! A minimal rtnetlink client: one link's facts (MAC, MTU, queue counts) and the neighbour table.
//!
//! Hand-written (about 200 lines) instead of the `rtnetlink` crate, which is async and would
//! pull a runtime into the AF_XDP edge for two read-only requests. Message building and parsing
//! are pure and unit-tested; the socket calls go through [`crate::syscall`].

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use crate::{syscall, Error, Result};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;

/// Neighbour states whose MAC can be used (`NUD_REACHABLE|STALE|DELAY|PROBE|NOARP|PERMANENT`).
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;

/// Facts about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address (empty for links without one).
    pub mac: Vec<u8>,
    /// MTU.
    pub mtu: u32,
    /// RX queues.
    pub rx_queues: u32,
    /// TX queues.
    pub tx_queues: u32,
}

/// One entry of the kernel's neighbour table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The link it is on.
    pub ifindex: u32,
    /// The neighbour's IP address.
    pub ip: IpAddr,
    /// Its MAC, if known.
    pub mac: Option<[u8; 6]>,
    /// `NUD_*` state bits.
    pub state: u16,
}

impl Neighbour {
    /// Whether the MAC can be used as a next hop now.
    pub fn usable(&self) -> bool {
        self.mac.is_some() && self.state & NUD_USABLE != 0
    }
}

fn header(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32) {
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by `finish`
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
}

fn finish(mut buf: Vec<u8>) -> Vec<u8> {
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf
}

/// `RTM_GETLINK` for one interface index.
pub fn getlink_request(seq: u32, ifindex: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    header(&mut buf, RTM_GETLINK, NLM_F_REQUEST, seq);
    buf.extend_from_slice(&[0, 0, 0, 0]); // family, pad, type
    buf.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    buf.extend_from_slice(&[0; 8]); // flags, change
    finish(buf)
}

/// `RTM_GETNEIGH` dump of both families.
pub fn getneigh_dump_request(seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(28);
    header(&mut buf, RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq);
    buf.extend_from_slice(&[0; 12]); // ndmsg: AF_UNSPEC
    finish(buf)
}

/// One netlink message: its type and payload (after the 16-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// The payload.
    pub payload: &'a [u8],
}

/// Splits a receive buffer into messages; stops at the first malformed header.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let hdr = buf.get(..NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let ty = u16::from_ne_bytes([hdr[4], hdr[5]]);
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        let msg = Message {
            ty,
            payload: &buf[NLMSG_HDRLEN..len],
        };
        buf = buf.get(align(len)..).unwrap_or(&[]);
        Some(msg)
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Route attributes (type, value) of a payload, from `offset`.
fn attrs(payload: &[u8], offset: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = payload.get(offset..).unwrap_or(&[]);
    std::iter::from_fn(move || {
        let hdr = rest.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let ty = u16::from_ne_bytes([hdr[2], hdr[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return None;
        }
        let value = &rest[4..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some((ty, value))
    })
}

fn u32_attr(value: &[u8]) -> Option<u32> {
    value
        .get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses an `RTM_NEWLINK` payload.
pub fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    let index = payload.get(4..8)?;
    let mut info = LinkInfo {
        ifindex: u32::from_ne_bytes([index[0], index[1], index[2], index[3]]),
        name: String::new(),
        mac: Vec::new(),
        mtu: 0,
        rx_queues: 1,
        tx_queues: 1,
    };
    for (ty, value) in attrs(payload, 16) {
        match ty {
            IFLA_ADDRESS => info.mac = value.to_vec(),
            IFLA_IFNAME => {
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                info.name = String::from_utf8_lossy(&value[..end]).into_owned();
            }
            IFLA_MTU => info.mtu = u32_attr(value)?,
            IFLA_NUM_RX_QUEUES => info.rx_queues = u32_attr(value)?,
            IFLA_NUM_TX_QUEUES => info.tx_queues = u32_attr(value)?,
            _ => {}
        }
    }
    Some(info)
}

/// Parses an `RTM_NEWNEIGH` payload.
pub fn parse_neigh(payload: &[u8]) -> Option<Neighbour> {
    let nd = payload.get(..12)?;
    let ifindex = u32::from_ne_bytes([nd[4], nd[5], nd[6], nd[7]]);
    let state = u16::from_ne_bytes([nd[8], nd[9]]);
    let mut ip = None;
    let mut mac = None;
    for (ty, value) in attrs(payload, 12) {
        match (ty, value.len()) {
            (NDA_DST, 4) => {
                ip = Some(IpAddr::V4(Ipv4Addr::new(
                    value[0], value[1], value[2], value[3],
                )))
            }
            (NDA_DST, 16) => {
                ip = <[u8; 16]>::try_from(value)
                    .ok()
                    .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
            }
            (NDA_LLADDR, 6) => mac = <[u8; 6]>::try_from(value).ok(),
            _ => {}
        }
    }
    Some(Neighbour {
        ifindex,
        ip: ip?,
        mac,
        state,
    })
}

fn error_code(payload: &[u8]) -> Option<i32> {
    payload
        .get(..4)
        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Sends `request` and feeds every reply message to `each` until the reply ends.
fn exchange(request: &[u8], dump: bool, mut each: impl FnMut(Message<'_>)) -> Result<()> {
    let sock =
        syscall::netlink_route_socket().map_err(|e| Error::syscall("socket(AF_NETLINK)", e))?;
    syscall::send_all(sock.as_fd(), request).map_err(|e| Error::syscall("send(netlink)", e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = syscall::recv(sock.as_fd(), &mut buf)
            .map_err(|e| Error::syscall("recv(netlink)", e))?;
        if n == 0 {
            return Err(Error::Netlink("socket closed mid-reply".into()));
        }
        for msg in messages(&buf[..n]) {
            match msg.ty {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let code = error_code(msg.payload).unwrap_or(0);
                    if code == 0 {
                        return Ok(());
                    }
                    return Err(Error::syscall(
                        "netlink request",
                        std::io::Error::from_raw_os_error(-code),
                    ));
                }
                _ => each(msg),
            }
        }
        if !dump {
            return Ok(());
        }
    }
}

/// Facts about `ifname` in the calling thread's network namespace.
pub fn link_info(ifname: &str) -> Result<LinkInfo> {
    let ifindex =
        syscall::if_nametoindex(ifname).map_err(|_| Error::InterfaceNotFound(ifname.to_owned()))?;
    let mut found = None;
    exchange(&getlink_request(1, ifindex), false, |msg| {
        if msg.ty == RTM_NEWLINK && found.is_none() {
            found = parse_link(msg.payload);
        }
    })?;
    found.ok_or_else(|| Error::Netlink(format!("no RTM_NEWLINK reply for `{ifname}`")))
}

/// The whole neighbour table (IPv4 and IPv6) of the calling thread's namespace.
pub fn neighbours() -> Result<Vec<Neighbour>> {
    let mut out = Vec::new();
    exchange(&getneigh_dump_request(1), true, |msg| {
        if msg.ty == RTM_NEWNEIGH {
            out.extend(parse_neigh(msg.payload));
        }
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(align(a.len()), 0);
        a
    }

    fn message(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        header(&mut m, ty, 0, 7);
        m.extend_from_slice(payload);
        finish(m)
    }

    #[test]
    fn requests_carry_their_length() {
        let r = getlink_request(3, 9);
        assert_eq!(r.len(), 32);
        assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 32);
        assert_eq!(getneigh_dump_request(1).len(), 28);
    }

    #[test]
    fn parses_a_link_reply() {
        let mut payload = vec![0u8; 16];
        payload[4..8].copy_from_slice(&5i32.to_ne_bytes());
        payload.extend(attr(IFLA_IFNAME, b"xr0\0"));
        payload.extend(attr(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9]));
        payload.extend(attr(IFLA_MTU, &1500u32.to_ne_bytes()));
        payload.extend(attr(IFLA_NUM_RX_QUEUES, &4u32.to_ne_bytes()));
        payload.extend(attr(IFLA_NUM_TX_QUEUES, &4u32.to_ne_bytes()));
        let buf = message(RTM_NEWLINK, &payload);
        let msgs: Vec<_> = messages(&buf).collect();
        assert_eq!(msgs.len(), 1);
        let link = parse_link(msgs[0].payload).expect("link");
        assert_eq!(
            (link.ifindex, link.name.as_str(), link.mtu, link.rx_queues),
            (5, "xr0", 1500, 4)
        );
        assert_eq!(link.mac, vec![2, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn parses_neighbours_and_rejects_garbage() {
        let mut payload = vec![0u8; 12];
        payload[4..8].copy_from_slice(&3i32.to_ne_bytes());
        payload[8..10].copy_from_slice(&0x02u16.to_ne_bytes());
        payload.extend(attr(NDA_DST, &[10, 0, 0, 9]));
        payload.extend(attr(NDA_LLADDR, &[2, 0, 0, 0, 0, 9]));
        let n = parse_neigh(&payload).expect("neighbour");
        assert!(n.usable());
        assert_eq!(n.ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)));
        assert_eq!(parse_neigh(&payload[..5]), None);
        // A header claiming more bytes than there are ends the iteration instead of panicking.
        let mut bad = message(RTM_NEWNEIGH, &payload);
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(messages(&bad).count(), 0);
    }
}
