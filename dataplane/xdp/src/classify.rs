//! The XDP program's decision, mirrored in pure Rust.
//!
//! [`classify`] must agree with `bpf/relay_xdp.bpf.c` on every input; the root test
//! `tests/bpf_test_run.rs` runs both on the same crafted and random frames. Today it is the test
//! oracle for the BPF program; no production path calls it yet.

#![forbid(unsafe_code)]

use crate::stats::XdpCounter;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_AH: u8 = 51;
const IPPROTO_NONE: u8 = 59;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_MOBILITY: u8 = 135;
const IPPROTO_HIP: u8 = 139;
const IPPROTO_SHIM6: u8 = 140;
/// Extension headers the program walks before giving up.
pub const MAX_EXT_HDRS: usize = 4;

/// What the program does with a frame, and which counter it bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// UDP to a relay port: redirect to the queue's socket (or pass, counted as
    /// [`XdpCounter::PassNoSocket`], when the slot is empty).
    Redirect,
    /// Passed to the kernel for the given reason.
    Pass(XdpCounter),
}

impl Verdict {
    /// The counter the program bumps, given whether the queue's XSKMAP slot holds a socket.
    pub fn counter(self, socket_present: bool) -> XdpCounter {
        match self {
            Verdict::Redirect if socket_present => XdpCounter::Redirected,
            Verdict::Redirect => XdpCounter::PassNoSocket,
            Verdict::Pass(c) => c,
        }
    }
}

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    let bytes = frame.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Decides like the XDP program does for a frame arriving with `ports` as the relay ports.
pub fn classify(frame: &[u8], ports: &[u16]) -> Verdict {
    use XdpCounter::*;
    let malformed = Verdict::Pass(ErrMalformed);
    if frame.len() < 14 {
        return malformed;
    }
    let mut proto = be16(frame, 12).unwrap_or(0);
    let mut at = 14usize;
    if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
        match be16(frame, 16) {
            Some(p) => proto = p,
            None => return malformed,
        }
        at = 18;
    }
    let udp_at = match proto {
        ETH_P_IP => {
            let Some(ip) = frame.get(at..at + 20) else {
                return malformed;
            };
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            if ip[0] >> 4 != 4 || ihl < 20 {
                return malformed;
            }
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                return Verdict::Pass(PassFragment);
            }
            if ip[9] != IPPROTO_UDP {
                return Verdict::Pass(PassNotUdp);
            }
            at + ihl
        }
        ETH_P_IPV6 => {
            let Some(ip) = frame.get(at..at + 40) else {
                return malformed;
            };
            if ip[0] >> 4 != 6 {
                return malformed;
            }
            let mut next = ip[6];
            let mut cursor = at + 40;
            for _ in 0..MAX_EXT_HDRS {
                if !matches!(next, IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS) {
                    break;
                }
                let Some(ext) = frame.get(cursor..cursor + 2) else {
                    return malformed;
                };
                next = ext[0];
                cursor += (usize::from(ext[1]) + 1) * 8;
            }
            match next {
                IPPROTO_FRAGMENT => return Verdict::Pass(PassFragment),
                IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_AH | IPPROTO_ESP
                | IPPROTO_NONE | IPPROTO_MOBILITY | IPPROTO_HIP | IPPROTO_SHIM6 => {
                    return Verdict::Pass(PassIpv6Ext)
                }
                IPPROTO_UDP => cursor,
                _ => return Verdict::Pass(PassNotUdp),
            }
        }
        _ => return Verdict::Pass(PassNotIp),
    };
    if frame.len() < udp_at.saturating_add(8) {
        return malformed;
    }
    match be16(frame, udp_at + 2) {
        Some(port) if ports.contains(&port) => Verdict::Redirect,
        Some(_) => Verdict::Pass(PassOtherPort),
        None => malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::testing;

    #[test]
    fn relay_port_is_redirected_and_others_pass() {
        let v4 = testing::udp4(&[1, 2, 3], 4433);
        assert_eq!(classify(&v4, &[4433]), Verdict::Redirect);
        assert_eq!(
            classify(&v4, &[53]),
            Verdict::Pass(XdpCounter::PassOtherPort)
        );
        let v6 = testing::udp6(&[1, 2, 3], 4433);
        assert_eq!(classify(&v6, &[4433]), Verdict::Redirect);
    }

    #[test]
    fn truncated_frames_are_malformed() {
        let v4 = testing::udp4(&[], 4433);
        for len in 0..v4.len() {
            let verdict = classify(&v4[..len], &[4433]);
            assert!(
                matches!(verdict, Verdict::Pass(XdpCounter::ErrMalformed)),
                "len {len}: {verdict:?}"
            );
        }
    }

    #[test]
    fn verdict_counter_depends_on_socket() {
        assert_eq!(Verdict::Redirect.counter(true), XdpCounter::Redirected);
        assert_eq!(Verdict::Redirect.counter(false), XdpCounter::PassNoSocket);
    }
}
