//! The client address pool: one IPv4 address per session, plus one IPv6 address when an IPv6
//! prefix is configured.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Errors of pool configuration and allocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// A CIDR string could not be parsed.
    #[error("invalid CIDR {0:?}: expected ADDRESS/PREFIX-LENGTH like 10.8.0.0/24 or fd00::/64")]
    InvalidCidr(String),
    /// The IPv4 pool is too small to hold a gateway and at least one client.
    #[error("IPv4 pool {0} is too small: use a prefix of /30 or shorter")]
    TooSmall(String),
    /// The pool has no free address left.
    #[error("address pool exhausted: all {0} client addresses are in use")]
    Exhausted(u64),
}

/// An address prefix such as `10.8.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits cleared on parse).
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl FromStr for Cidr {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PoolError::InvalidCidr(s.to_owned());
        let (a, l) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        let addr = match addr {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
            _ => return Err(bad()),
        };
        Ok(Self { addr, len })
    }
}

impl Cidr {
    /// Splits the prefix into `parts` equal, disjoint prefixes (one pool per worker), in order.
    ///
    /// # Errors
    /// [`PoolError::InvalidCidr`] when `parts` is not a power of two or the pieces would be
    /// longer than the address.
    pub fn split(&self, parts: u32) -> Result<Vec<Cidr>, PoolError> {
        let bits = parts.checked_ilog2().filter(|_| parts.is_power_of_two());
        let full: u32 = if self.addr.is_ipv4() { 32 } else { 128 };
        let bad = || PoolError::InvalidCidr(format!("{self} split into {parts}"));
        let bits = bits.ok_or_else(bad)?;
        let len = u32::from(self.len) + bits;
        if len > full {
            return Err(bad());
        }
        let step_shift = full - len;
        Ok((0..u128::from(parts))
            .map(|i| {
                let offset = if step_shift >= 128 {
                    0
                } else {
                    i << step_shift
                };
                let addr = match self.addr {
                    IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) | offset as u32)),
                    IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) | offset)),
                };
                Cidr {
                    addr,
                    len: len as u8,
                }
            })
            .collect())
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The addresses given to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The client's IPv4 address (/32).
    pub v4: Ipv4Addr,
    /// The client's IPv6 address (/128), when the pool has IPv6.
    pub v6: Option<Ipv6Addr>,
}

impl Assignment {
    /// True when `addr` is one of the assigned addresses.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => a == self.v4,
            IpAddr::V6(a) => Some(a) == self.v6,
        }
    }
}

/// Offsets `first..=last` inside a prefix, handed out lowest-free-first with reuse.
#[derive(Debug)]
struct Range {
    next: u64,
    last: u64,
    free: Vec<u64>,
    used: HashSet<u64>,
}

impl Range {
    fn new(first: u64, last: u64) -> Self {
        Self {
            next: first,
            last,
            free: Vec::new(),
            used: HashSet::new(),
        }
    }

    fn allocate(&mut self) -> Option<u64> {
        let off = match self.free.pop() {
            Some(off) => off,
            None if self.next <= self.last => {
                self.next += 1;
                self.next - 1
            }
            None => return None,
        };
        self.used.insert(off);
        Some(off)
    }

    fn release(&mut self, off: u64) {
        if self.used.remove(&off) {
            self.free.push(off);
        }
    }
}

/// The pool. The IPv4 network address, the first host (the relay's own tunnel address,
/// [`AddressPool::gateway_v4`]) and the broadcast address are never handed out. IPv6 hands out
/// `prefix::2` onwards (at most 2^32 addresses).
#[derive(Debug)]
pub struct AddressPool {
    v4_net: u32,
    v4: Range,
    v6: Option<(u128, Range)>,
    capacity: u64,
}

impl AddressPool {
    /// A pool over an IPv4 prefix and an optional IPv6 prefix.
    ///
    /// # Errors
    /// [`PoolError::TooSmall`] for an IPv4 prefix longer than /30 or a non-IPv4 `v4`, and
    /// [`PoolError::InvalidCidr`] for a `v6` that is not IPv6 or longer than /126.
    pub fn new(v4: Cidr, v6: Option<Cidr>) -> Result<Self, PoolError> {
        let IpAddr::V4(net) = v4.addr else {
            return Err(PoolError::TooSmall(v4.to_string()));
        };
        if v4.len > 30 {
            return Err(PoolError::TooSmall(v4.to_string()));
        }
        let size = 1u64 << (32 - u32::from(v4.len));
        let capacity = size - 3;
        let v6 = match v6 {
            None => None,
            Some(Cidr {
                addr: IpAddr::V6(net6),
                len,
            }) if len <= 126 => {
                let host_bits = (128 - u32::from(len)).min(32);
                let last = (1u64 << host_bits) - 1;
                Some((u128::from(net6), Range::new(2, last)))
            }
            Some(c) => return Err(PoolError::InvalidCidr(c.to_string())),
        };
        Ok(Self {
            v4_net: u32::from(net),
            v4: Range::new(2, size - 2),
            v6,
            capacity,
        })
    }

    /// The relay's own address in the IPv4 prefix (first host), used as the tunnel gateway.
    pub fn gateway_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.v4_net + 1)
    }

    /// How many clients the pool can hold at once.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Addresses currently handed out.
    pub fn in_use(&self) -> u64 {
        self.v4.used.len() as u64
    }

    /// Hands out the addresses for a new session.
    ///
    /// # Errors
    /// [`PoolError::Exhausted`] when no IPv4 (or, with IPv6 on, no IPv6) address is free.
    pub fn allocate(&mut self) -> Result<Assignment, PoolError> {
        let off4 = self
            .v4
            .allocate()
            .ok_or(PoolError::Exhausted(self.capacity))?;
        let v6 = match &mut self.v6 {
            None => None,
            Some((net, range)) => match range.allocate() {
                Some(off) => Some(Ipv6Addr::from(*net + u128::from(off))),
                None => {
                    self.v4.release(off4);
                    return Err(PoolError::Exhausted(self.capacity));
                }
            },
        };
        Ok(Assignment {
            v4: Ipv4Addr::from(self.v4_net + off4 as u32),
            v6,
        })
    }

    /// Returns a session's addresses to the pool (unknown addresses are ignored).
    pub fn release(&mut self, a: Assignment) {
        let off4 = u64::from(u32::from(a.v4).wrapping_sub(self.v4_net));
        self.v4.release(off4);
        if let (Some((net, range)), Some(v6)) = (&mut self.v6, a.v6) {
            if let Ok(off) = u64::try_from(u128::from(v6).wrapping_sub(*net)) {
                range.release(off);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("valid cidr")
    }

    #[test]
    fn allocates_skips_reserved_and_reuses() {
        let mut pool =
            AddressPool::new(cidr("10.8.0.0/30"), Some(cidr("fd00::/64"))).expect("valid");
        assert_eq!(pool.capacity(), 1);
        assert_eq!(pool.gateway_v4(), Ipv4Addr::new(10, 8, 0, 1));
        let a = pool.allocate().expect("one free");
        assert_eq!(a.v4, Ipv4Addr::new(10, 8, 0, 2));
        assert_eq!(a.v6, Some("fd00::2".parse().expect("ip")));
        assert!(a.contains(IpAddr::V4(a.v4)));
        assert_eq!(pool.allocate(), Err(PoolError::Exhausted(1)));
        pool.release(a);
        pool.release(a); // double release is harmless
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.allocate(), Ok(a));
    }

    #[test]
    fn distinct_addresses() {
        let mut pool = AddressPool::new(cidr("10.9.0.7/24"), None).expect("valid");
        let all: HashSet<_> = (0..253)
            .map(|_| pool.allocate().expect("free").v4)
            .collect();
        assert_eq!(all.len(), 253);
        assert!(!all.contains(&Ipv4Addr::new(10, 9, 0, 255)));
        assert!(pool.allocate().is_err());
    }

    #[test]
    fn split_per_worker() {
        let parts = cidr("10.8.0.0/24").split(4).expect("valid");
        let text: Vec<String> = parts.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "10.8.0.0/26",
                "10.8.0.64/26",
                "10.8.0.128/26",
                "10.8.0.192/26"
            ]
        );
        let v6 = cidr("fd00::/64").split(2).expect("valid");
        assert_eq!(v6[1].to_string(), "fd00::8000:0:0:0/65");
        assert_eq!(
            cidr("10.8.0.0/24").split(1).expect("valid"),
            vec![cidr("10.8.0.0/24")]
        );
        assert!(cidr("10.8.0.0/24").split(3).is_err());
        assert!(cidr("10.8.0.0/31").split(4).is_err());
        assert!(cidr("10.8.0.0/24").split(0).is_err());
        // Pools built from the pieces never hand out the same address.
        let mut a = AddressPool::new(parts[0], None).expect("pool");
        let mut b = AddressPool::new(parts[1], None).expect("pool");
        assert_ne!(a.allocate().expect("a").v4, b.allocate().expect("b").v4);
    }

    #[test]
    fn bad_configs() {
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!(AddressPool::new(cidr("10.0.0.0/31"), None).is_err());
        assert!(AddressPool::new(cidr("fd00::/64"), None).is_err());
        assert!(AddressPool::new(cidr("10.0.0.0/24"), Some(cidr("10.1.0.0/24"))).is_err());
    }
}
