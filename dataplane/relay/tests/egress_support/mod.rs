//! Test helpers for the egress root tests: a tiny IPv4/IPv6 + UDP/ICMP packet builder and
//! checker (checksums included), TUN polling and log capture.

#![allow(dead_code, reason = "each test binary uses a subset")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxidize_relay::egress::TunQueue;

/// IP protocol numbers.
pub(crate) const PROTO_ICMP: u8 = 1;
/// UDP.
pub(crate) const PROTO_UDP: u8 = 17;

/// The Internet checksum (RFC 1071) of `data`.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, proto]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, proto]);
        }
        _ => panic!("mixed address families"),
    }
    p
}

fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut sum_input = pseudo_header(src, dst, PROTO_UDP, len);
    sum_input.extend_from_slice(&u);
    let mut sum = checksum(&sum_input);
    if sum == 0 {
        sum = 0xffff;
    }
    u[6..8].copy_from_slice(&sum.to_be_bytes());
    u
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34, 0x40, 0]); // id, DF
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(l4);
    p
}

/// An IPv4 or IPv6 UDP packet with valid checksums.
pub(crate) fn udp_packet(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let l4 = udp(src, dst, sport, dport, payload);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, PROTO_UDP, &l4),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, PROTO_UDP, &l4),
        _ => panic!("mixed address families"),
    }
}

/// An IPv4 ICMP echo request with a valid checksum.
pub(crate) fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    ipv4(src, dst, PROTO_ICMP, &icmp)
}

/// A packet read back from the TUN, with its checksums verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet {
    /// Source address.
    pub(crate) src: IpAddr,
    /// Destination address.
    pub(crate) dst: IpAddr,
    /// IP protocol / next header.
    pub(crate) proto: u8,
    /// The L4 bytes (header and payload).
    pub(crate) l4: Vec<u8>,
}

impl Packet {
    /// Parses an IPv4 or IPv6 packet; panics on a bad IPv4 header checksum or length.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Packet> {
        match bytes.first()? >> 4 {
            4 => {
                let ihl = usize::from(bytes[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                assert_eq!(total, bytes.len(), "IPv4 total length");
                assert_eq!(checksum(&bytes[..ihl]), 0, "IPv4 header checksum");
                let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
                let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
                Some(Packet {
                    src: src.into(),
                    dst: dst.into(),
                    proto: bytes[9],
                    l4: bytes[ihl..].to_vec(),
                })
            }
            6 => {
                let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
                assert_eq!(len + 40, bytes.len(), "IPv6 payload length");
                let src: [u8; 16] = bytes[8..24].try_into().ok()?;
                let dst: [u8; 16] = bytes[24..40].try_into().ok()?;
                Some(Packet {
                    src: Ipv6Addr::from(src).into(),
                    dst: Ipv6Addr::from(dst).into(),
                    proto: bytes[6],
                    l4: bytes[40..].to_vec(),
                })
            }
            _ => None,
        }
    }

    /// For UDP: (source port, destination port, payload), after checking the UDP checksum.
    pub(crate) fn udp(&self) -> Option<(u16, u16, &[u8])> {
        if self.proto != PROTO_UDP || self.l4.len() < 8 {
            return None;
        }
        let mut sum_input = pseudo_header(self.src, self.dst, PROTO_UDP, self.l4.len());
        sum_input.extend_from_slice(&self.l4);
        assert_eq!(checksum(&sum_input), 0, "UDP checksum of {self:?}");
        let sport = u16::from_be_bytes([self.l4[0], self.l4[1]]);
        let dport = u16::from_be_bytes([self.l4[2], self.l4[3]]);
        Some((sport, dport, &self.l4[8..]))
    }

    /// For an ICMP echo reply: (id, seq, payload), after checking the ICMP checksum.
    pub(crate) fn icmp_echo_reply(&self) -> Option<(u16, u16, &[u8])> {
        if self.proto != PROTO_ICMP || self.l4.len() < 8 || self.l4[0] != 0 {
            return None;
        }
        assert_eq!(checksum(&self.l4), 0, "ICMP checksum");
        let id = u16::from_be_bytes([self.l4[4], self.l4[5]]);
        let seq = u16::from_be_bytes([self.l4[6], self.l4[7]]);
        Some((id, seq, &self.l4[8..]))
    }
}

/// Reads every queue until `matches` accepts a packet or `timeout` passes; other packets (the
/// kernel's own IPv6 router solicitations and the like) are skipped.
pub(crate) fn wait_for_packet(
    queues: &mut [TunQueue],
    timeout: Duration,
    mut matches: impl FnMut(&Packet) -> bool,
) -> Option<(usize, Packet)> {
    let deadline = Instant::now() + timeout;
    let mut bufs = vec![vec![0u8; 2048]; 8];
    let mut lens = [0usize; 8];
    while Instant::now() < deadline {
        for (q, queue) in queues.iter_mut().enumerate() {
            let n = queue.read_batch(&mut bufs, &mut lens).expect("read_batch");
            for i in 0..n {
                if let Some(packet) = Packet::parse(&bufs[i][..lens[i]]) {
                    if matches(&packet) {
                        return Some((q, packet));
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Log lines captured from a thread-local subscriber.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
