//! The client pool split between workers: worker `i` hands out addresses from part `i` only,
//! so two workers never give out the same address and the owner of a return packet follows
//! from its destination address alone (no shared table, no lock).

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::error::{Error, Result};

/// The pools and their per-worker parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSplit {
    /// The whole IPv4 pool (routed to the TUN device).
    pub v4: Ipv4Net,
    /// The whole IPv6 pool, if any.
    pub v6: Option<Ipv6Net>,
    /// Part `i` of the IPv4 pool belongs to worker `i`.
    pub v4_parts: Vec<Ipv4Net>,
    /// Part `i` of the IPv6 pool belongs to worker `i`.
    pub v6_parts: Vec<Ipv6Net>,
    bits: u8,
}

fn split_bits(workers: usize) -> u8 {
    // ceil(log2(workers)); 1 worker -> 0 bits.
    (usize::BITS - (workers.max(1) - 1).leading_zeros()) as u8
}

impl PoolSplit {
    /// Splits `v4` (and `v6`) into `workers` equal parts (the next power of two; the rest of
    /// the prefix stays unused).
    ///
    /// # Errors
    /// [`Error::Invalid`] when a part would be too small to hold a client (IPv4 parts need /30
    /// or shorter, IPv6 parts /126 or shorter).
    pub fn new(v4: Ipv4Net, v6: Option<Ipv6Net>, workers: usize) -> Result<Self> {
        let bits = split_bits(workers);
        let len4 = v4.prefix_len() + bits;
        if len4 > 30 {
            return Err(Error::invalid(
                "clientPoolIpv4",
                format!(
                    "{v4} split between {workers} workers gives /{len4} parts; use a pool of /{} or shorter",
                    30 - bits
                ),
            ));
        }
        let v4_parts: Vec<Ipv4Net> = v4
            .subnets(len4)
            .map_err(|e| Error::invalid("clientPoolIpv4", e.to_string()))?
            .take(workers)
            .collect();
        let v6_parts = match v6 {
            None => Vec::new(),
            Some(p) => {
                let len6 = p.prefix_len() + bits;
                if len6 > 126 {
                    return Err(Error::invalid(
                        "clientPoolIpv6",
                        format!(
                            "{p} split between {workers} workers gives /{len6} parts; use /{} or shorter",
                            126 - bits
                        ),
                    ));
                }
                p.subnets(len6)
                    .map_err(|e| Error::invalid("clientPoolIpv6", e.to_string()))?
                    .take(workers)
                    .collect()
            }
        };
        Ok(PoolSplit {
            v4,
            v6,
            v4_parts,
            v6_parts,
            bits,
        })
    }

    /// Number of workers the pool is split for.
    pub fn workers(&self) -> usize {
        self.v4_parts.len()
    }

    /// The worker whose part holds `addr` (the owner of a packet from the internet).
    pub fn owner_of(&self, addr: IpAddr) -> Option<usize> {
        let index = match addr {
            IpAddr::V4(a) => {
                if !self.v4.contains(&a) {
                    return None;
                }
                let host_bits = 32 - u32::from(self.v4.prefix_len() + self.bits);
                let offset = u32::from(a) - u32::from(self.v4.network());
                offset.checked_shr(host_bits).unwrap_or(0) as usize
            }
            IpAddr::V6(a) => {
                let v6 = self.v6?;
                if !v6.contains(&a) {
                    return None;
                }
                let host_bits = 128 - u32::from(v6.prefix_len() + self.bits);
                let offset = u128::from(a) - u128::from(v6.network());
                offset.checked_shr(host_bits).unwrap_or(0) as usize
            }
        };
        (index < self.workers()).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(v4: &str, v6: Option<&str>, workers: usize) -> Result<PoolSplit> {
        PoolSplit::new(
            v4.parse().expect("v4"),
            v6.map(|p| p.parse().expect("v6")),
            workers,
        )
    }

    #[test]
    fn one_worker_keeps_the_whole_pool() {
        let s = split("10.99.0.0/24", None, 1).expect("split");
        assert_eq!(
            s.v4_parts,
            vec!["10.99.0.0/24".parse::<Ipv4Net>().expect("net")]
        );
        assert_eq!(s.owner_of("10.99.0.200".parse().expect("ip")), Some(0));
        assert_eq!(s.owner_of("10.98.0.1".parse().expect("ip")), None);
    }

    #[test]
    fn parts_do_not_overlap_and_owners_follow_the_address() {
        let s = split("10.99.0.0/24", Some("fd99::/64"), 3).expect("split");
        let parts: Vec<String> = s.v4_parts.iter().map(ToString::to_string).collect();
        assert_eq!(parts, ["10.99.0.0/26", "10.99.0.64/26", "10.99.0.128/26"]);
        assert_eq!(
            s.v6_parts[1],
            "fd99:0:0:0:4000::/66".parse::<Ipv6Net>().expect("net")
        );
        assert_eq!(s.owner_of("10.99.0.2".parse().expect("ip")), Some(0));
        assert_eq!(s.owner_of("10.99.0.66".parse().expect("ip")), Some(1));
        assert_eq!(s.owner_of("10.99.0.130".parse().expect("ip")), Some(2));
        // The fourth quarter is not handed out by anyone.
        assert_eq!(s.owner_of("10.99.0.200".parse().expect("ip")), None);
        assert_eq!(s.owner_of("fd99::4000:0:0:2".parse().expect("ip")), Some(1));
        assert_eq!(s.owner_of("fd98::2".parse().expect("ip")), None);
    }

    #[test]
    fn too_small_parts_are_refused_with_the_size_to_use() {
        let e = split("10.99.0.0/29", None, 4).expect_err("too small");
        assert!(e.to_string().contains("/28 or shorter"), "{e}");
        let e = split("10.99.0.0/24", Some("fd99::/126"), 2).expect_err("too small");
        assert!(e.to_string().contains("clientPoolIpv6"), "{e}");
    }
}
