//! Pure planning: from the egress configuration to the list of things set-up creates.
//!
//! No I/O here. [`EgressPlan::new`] validates the configuration and decides the TUN device, the
//! routes, the forwarding sysctls it checks and the nftables table; the I/O edge ([`super::Egress`])
//! carries the plan out and undoes it.

use std::fmt;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use oxidize_relay_core::mtu::{IPV4_MIN_MTU, IPV6_MIN_MTU};

use super::error::PlanError;

/// The default name of the TUN device.
pub const DEFAULT_TUN_NAME: &str = "oxz0";
/// The default name of our nftables table (family `inet`).
pub const DEFAULT_NFT_TABLE: &str = "oxidize";
/// The kernel's limit on TUN queues (`MAX_TAP_QUEUES`).
pub const MAX_QUEUES: u16 = 256;
/// Interface names are at most 15 bytes (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// What the operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// The client address pool (IPv4), e.g. `10.99.0.0/24`.
    pub pool_v4: Ipv4Net,
    /// The optional IPv6 client pool, e.g. `fd99::/64`.
    pub pool_v6: Option<Ipv6Net>,
    /// The TUN device name (e.g. `oxz0`).
    pub tun_name: String,
    /// One TUN queue per relay worker.
    pub queues: u16,
    /// The interface towards the internet; masqueraded packets leave through it.
    pub egress_interface: String,
    /// The inner MTU (see [`oxidize_relay_core::mtu::inner_mtu`]); the TUN device gets it.
    pub inner_mtu: u32,
    /// Name of our own nftables table (family `inet`).
    pub nft_table: String,
}

/// The TUN device to create: `IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`, one queue per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunSpec {
    /// Device name.
    pub name: String,
    /// Number of queues (file descriptors) to open.
    pub queues: u16,
    /// Device MTU.
    pub mtu: u32,
}

/// A forwarding sysctl that must be `1` (set by the tune step; the relay only reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding {
    /// `net.ipv4.ip_forward`.
    Ipv4,
    /// `net.ipv6.conf.all.forwarding`.
    Ipv6,
}

impl Forwarding {
    /// The sysctl key as `sysctl` prints it.
    pub fn key(self) -> &'static str {
        match self {
            Forwarding::Ipv4 => "net.ipv4.ip_forward",
            Forwarding::Ipv6 => "net.ipv6.conf.all.forwarding",
        }
    }

    /// The path below the procfs sysctl root (`/proc/sys`).
    pub fn relative_path(self) -> &'static str {
        match self {
            Forwarding::Ipv4 => "net/ipv4/ip_forward",
            Forwarding::Ipv6 => "net/ipv6/conf/all/forwarding",
        }
    }
}

/// One rule in our nftables table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NftRule {
    /// `postrouting`: `ip saddr <pool> oifname <egress> masquerade`.
    Masquerade {
        /// The client pool.
        source: IpNet,
        /// The egress interface.
        oifname: String,
    },
    /// `forward`: `iifname <tun> oifname <egress> ip saddr <pool> accept`.
    AcceptOutbound {
        /// The client pool.
        source: IpNet,
        /// The TUN device.
        iifname: String,
        /// The egress interface.
        oifname: String,
    },
    /// `forward`: `iifname <egress> oifname <tun> ip daddr <pool> ct state established,related
    /// accept` (replies only; nothing new is let in towards the clients).
    AcceptReturn {
        /// The client pool.
        destination: IpNet,
        /// The egress interface.
        iifname: String,
        /// The TUN device.
        oifname: String,
    },
}

/// Our nftables table: a `postrouting` nat chain and a `forward` filter chain, both with policy
/// accept, so that the table only ever adds NAT and never drops anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftSpec {
    /// Table name (family `inet`).
    pub table: String,
    /// Rules of the `postrouting` chain (`type nat hook postrouting priority srcnat`).
    pub postrouting: Vec<NftRule>,
    /// Rules of the `forward` chain (`type filter hook forward priority filter`).
    pub forward: Vec<NftRule>,
}

/// The complete set-up, in the order it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPlan {
    /// The TUN device.
    pub tun: TunSpec,
    /// Routes to the TUN device (the pools).
    pub routes: Vec<IpNet>,
    /// Forwarding sysctls that must be on (checked, never written).
    pub forwarding: Vec<Forwarding>,
    /// The nftables table.
    pub nft: NftSpec,
    /// The egress interface (must exist at set-up).
    pub egress_interface: String,
}

impl EgressConfig {
    /// A configuration with the default TUN and table names.
    pub fn new(pool_v4: Ipv4Net, queues: u16, egress_interface: &str, inner_mtu: u32) -> Self {
        EgressConfig {
            pool_v4,
            pool_v6: None,
            tun_name: DEFAULT_TUN_NAME.to_owned(),
            queues,
            egress_interface: egress_interface.to_owned(),
            inner_mtu,
            nft_table: DEFAULT_NFT_TABLE.to_owned(),
        }
    }
}

impl EgressPlan {
    /// Validates `config` and plans the set-up.
    pub fn new(config: &EgressConfig) -> Result<Self, PlanError> {
        check_ifname("TUN device", &config.tun_name)?;
        check_ifname("egress interface", &config.egress_interface)?;
        if config.tun_name == config.egress_interface {
            return Err(PlanError::SameInterface(config.tun_name.clone()));
        }
        if config.queues == 0 || config.queues > MAX_QUEUES {
            return Err(PlanError::Queues(config.queues));
        }
        if config.pool_v4 != config.pool_v4.trunc() {
            return Err(PlanError::PoolHostBits {
                pool: config.pool_v4.to_string(),
                network: config.pool_v4.trunc().to_string(),
            });
        }
        if let Some(v6) = config.pool_v6 {
            if v6 != v6.trunc() {
                return Err(PlanError::PoolHostBits {
                    pool: v6.to_string(),
                    network: v6.trunc().to_string(),
                });
            }
        }
        let min_mtu = if config.pool_v6.is_some() {
            IPV6_MIN_MTU
        } else {
            IPV4_MIN_MTU
        };
        if config.inner_mtu < min_mtu || config.inner_mtu > u32::from(u16::MAX) {
            return Err(PlanError::Mtu {
                mtu: config.inner_mtu,
                min: min_mtu,
                ipv6: config.pool_v6.is_some(),
            });
        }
        check_table(&config.nft_table)?;

        let mut pools = vec![IpNet::V4(config.pool_v4)];
        let mut forwarding = vec![Forwarding::Ipv4];
        if let Some(v6) = config.pool_v6 {
            pools.push(IpNet::V6(v6));
            forwarding.push(Forwarding::Ipv6);
        }
        let tun = &config.tun_name;
        let wan = &config.egress_interface;
        let postrouting = pools
            .iter()
            .map(|&source| NftRule::Masquerade {
                source,
                oifname: wan.clone(),
            })
            .collect();
        let forward = pools
            .iter()
            .flat_map(|&pool| {
                [
                    NftRule::AcceptOutbound {
                        source: pool,
                        iifname: tun.clone(),
                        oifname: wan.clone(),
                    },
                    NftRule::AcceptReturn {
                        destination: pool,
                        iifname: wan.clone(),
                        oifname: tun.clone(),
                    },
                ]
            })
            .collect();
        Ok(EgressPlan {
            tun: TunSpec {
                name: tun.clone(),
                queues: config.queues,
                mtu: config.inner_mtu,
            },
            routes: pools,
            forwarding,
            nft: NftSpec {
                table: config.nft_table.clone(),
                postrouting,
                forward,
            },
            egress_interface: wan.clone(),
        })
    }
}

fn check_ifname(what: &'static str, name: &str) -> Result<(), PlanError> {
    let bad = name.is_empty()
        || name.len() > MAX_IFNAME_LEN
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || !b.is_ascii_graphic());
    if bad {
        return Err(PlanError::InterfaceName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn check_table(name: &str) -> Result<(), PlanError> {
    let ok = !name.is_empty()
        && name.len() < 256
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(PlanError::TableName(name.to_owned()))
    }
}

fn family_keyword(net: &IpNet) -> &'static str {
    match net {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    }
}

impl fmt::Display for NftRule {
    /// The rule in `nft` syntax, as `nft list table` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NftRule::Masquerade { source, oifname } => write!(
                f,
                "{} saddr {source} oifname \"{oifname}\" masquerade",
                family_keyword(source)
            ),
            NftRule::AcceptOutbound {
                source,
                iifname,
                oifname,
            } => write!(
                f,
                "iifname \"{iifname}\" oifname \"{oifname}\" {} saddr {source} accept",
                family_keyword(source)
            ),
            NftRule::AcceptReturn {
                destination,
                iifname,
                oifname,
            } => write!(
                f,
                "iifname \"{iifname}\" oifname \"{oifname}\" {} daddr {destination} \
                 ct state established,related accept",
                family_keyword(destination)
            ),
        }
    }
}

impl fmt::Display for NftSpec {
    /// The table as an `nft -f` script (what set-up creates, for logs and docs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table inet {} {{", self.table)?;
        writeln!(f, "\tchain postrouting {{")?;
        writeln!(
            f,
            "\t\ttype nat hook postrouting priority srcnat; policy accept;"
        )?;
        for rule in &self.postrouting {
            writeln!(f, "\t\t{rule}")?;
        }
        writeln!(f, "\t}}")?;
        writeln!(f, "\tchain forward {{")?;
        writeln!(
            f,
            "\t\ttype filter hook forward priority filter; policy accept;"
        )?;
        for rule in &self.forward {
            writeln!(f, "\t\t{rule}")?;
        }
        writeln!(f, "\t}}")?;
        writeln!(f, "}}")
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
