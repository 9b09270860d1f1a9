//! Internet checksums (RFC 1071) for IPv4 headers and UDP over IPv4/IPv6.

use std::net::IpAddr;

fn sum_words(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The IPv4 header checksum of `header` (whose checksum field must be zero, or the result is
/// zero when the stored checksum is right).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    !fold(sum_words(header, 0))
}

/// The UDP checksum of `udp` (header with a zero checksum field, then payload) between `src`
/// and `dst`. Returns `0xffff` for a computed zero, as RFC 768 asks. Mixed families give the
/// IPv6 form over the mapped addresses; callers never mix them.
pub fn udp_checksum(src: IpAddr, dst: IpAddr, udp: &[u8]) -> u16 {
    let mut acc = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum_words(&s.octets(), acc);
            acc = sum_words(&d.octets(), acc);
        }
        (s, d) => {
            acc = sum_words(&to_v6(s), acc);
            acc = sum_words(&to_v6(d), acc);
        }
    }
    acc += 17;
    acc += udp.len() as u64;
    let sum = !fold(sum_words(udp, acc));
    if sum == 0 {
        0xffff
    } else {
        sum
    }
}

fn to_v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example_header() {
        // A well-known IPv4 header (Wikipedia "IPv4 header checksum" example): checksum 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&header), 0xb861);
    }
}
