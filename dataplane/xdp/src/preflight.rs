//! Fail-fast checks before the AF_XDP edge starts, with messages that say what to do:
//! missing capability (which one, CAP_PERFMON included), interface not found, fewer queues than configured,
//! locked-memory limit too small without IPC_LOCK. An XDP attach that the kernel refuses is
//! reported by [`crate::XdpProgram::attach`] with the reason.
//!
//! [`evaluate`] is pure (tested on made-up facts); [`check`] gathers the facts from
//! `/proc/self/status`, rtnetlink and `getrlimit`.

#![forbid(unsafe_code)]

use std::path::Path;

use crate::{netlink, syscall, Error, Result};

/// `CAP_NET_ADMIN`: attach XDP programs.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`: create AF_XDP sockets.
pub const CAP_NET_RAW: u32 = 13;
/// `CAP_IPC_LOCK`: lock UMEM beyond RLIMIT_MEMLOCK.
pub const CAP_IPC_LOCK: u32 = 14;
/// `CAP_SYS_ADMIN`: an older superset of `CAP_BPF`.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`: the verifier lets only loaders with it (or CAP_SYS_ADMIN) do pointer
/// arithmetic with a variable offset on packet pointers (Spectre v1 rules), which the XDP
/// program needs to skip IPv4 options.
pub const CAP_PERFMON: u32 = 38;
/// `CAP_BPF`: load BPF programs and create maps.
pub const CAP_BPF: u32 = 39;

/// What the edge is about to do.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The interface to attach to.
    pub ifname: &'a str,
    /// How many queues (workers) are configured.
    pub queues: u32,
    /// Bytes of UMEM over all queues.
    pub umem_bytes: u64,
}

/// What the machine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Effective capability set (`CapEff` bits).
    pub cap_eff: u64,
    /// RX queue count of the interface, `None` if it was not found.
    pub rx_queues: Option<u32>,
    /// RLIMIT_MEMLOCK soft limit in bytes.
    pub memlock: u64,
}

/// What a successful preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The interface's RX queues.
    pub rx_queues: u32,
    /// The driver name (ethtool), if the ioctl answered.
    pub driver: Option<String>,
}

fn has(facts: &Facts, cap: u32) -> bool {
    facts.cap_eff & (1u64 << cap) != 0
}

/// Checks `facts` against `request`; the first problem found is the error.
pub fn evaluate(request: &Request<'_>, facts: &Facts) -> Result<u32> {
    if !has(facts, CAP_NET_ADMIN) {
        return Err(Error::MissingCapability {
            cap: "CAP_NET_ADMIN",
            short: "NET_ADMIN",
            why: "attaching the XDP program",
        });
    }
    if !has(facts, CAP_NET_RAW) {
        return Err(Error::MissingCapability {
            cap: "CAP_NET_RAW",
            short: "NET_RAW",
            why: "creating AF_XDP sockets",
        });
    }
    if !has(facts, CAP_BPF) && !has(facts, CAP_SYS_ADMIN) {
        return Err(Error::MissingCapability {
            cap: "CAP_BPF",
            short: "BPF",
            why: "loading the XDP program and its maps",
        });
    }
    if !has(facts, CAP_PERFMON) && !has(facts, CAP_SYS_ADMIN) {
        return Err(Error::MissingCapability {
            cap: "CAP_PERFMON",
            short: "PERFMON",
            why: "loading the XDP program (the verifier allows its variable-offset packet \
                  pointer arithmetic only to loaders with CAP_PERFMON)",
        });
    }
    let Some(available) = facts.rx_queues else {
        return Err(Error::InterfaceNotFound(request.ifname.to_owned()));
    };
    if request.queues == 0 {
        return Err(Error::Config(
            "at least one queue must be configured".into(),
        ));
    }
    if available < request.queues {
        return Err(Error::NotEnoughQueues {
            ifname: request.ifname.to_owned(),
            wanted: request.queues,
            available,
        });
    }
    if request.umem_bytes > facts.memlock && !has(facts, CAP_IPC_LOCK) {
        return Err(Error::Memlock {
            needed: request.umem_bytes,
            limit: facts.memlock,
        });
    }
    Ok(available)
}

/// The effective capabilities from a `/proc/<pid>/status` text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Gathers the facts: capabilities from `<proc_root>/self/status`, the interface over
/// rtnetlink (in the calling thread's namespace), the memlock limit from `getrlimit`.
pub fn gather(proc_root: &Path, ifname: &str) -> Result<Facts> {
    let status_path = proc_root.join("self/status");
    let status = std::fs::read_to_string(&status_path)
        .map_err(|e| Error::syscall(format!("read {}", status_path.display()), e))?;
    let cap_eff = parse_cap_eff(&status)
        .ok_or_else(|| Error::Config(format!("no CapEff line in {}", status_path.display())))?;
    let rx_queues = match netlink::link_info(ifname) {
        Ok(link) => Some(link.rx_queues),
        Err(Error::InterfaceNotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let memlock =
        syscall::memlock_limit().map_err(|e| Error::syscall("getrlimit(RLIMIT_MEMLOCK)", e))?;
    Ok(Facts {
        cap_eff,
        rx_queues,
        memlock,
    })
}

/// Runs the whole preflight against this process and machine.
pub fn check(request: &Request<'_>) -> Result<Report> {
    let facts = gather(Path::new("/proc"), request.ifname)?;
    let rx_queues = evaluate(request, &facts)?;
    let driver = syscall::ethtool_driver(request.ifname).ok();
    tracing::info!(
        ifname = request.ifname,
        queues = request.queues,
        rx_queues,
        driver = driver.as_deref().unwrap_or("unknown"),
        "AF_XDP preflight passed"
    );
    Ok(Report { rx_queues, driver })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = (1 << CAP_NET_ADMIN)
        | (1 << CAP_NET_RAW)
        | (1 << CAP_BPF)
        | (1 << CAP_PERFMON)
        | (1 << CAP_IPC_LOCK);

    fn req() -> Request<'static> {
        Request {
            ifname: "eth1",
            queues: 4,
            umem_bytes: 32 << 20,
        }
    }

    fn facts() -> Facts {
        Facts {
            cap_eff: ALL,
            rx_queues: Some(4),
            memlock: 8 << 20,
        }
    }

    fn message(cap_eff: u64, rx: Option<u32>, memlock: u64) -> String {
        let f = Facts {
            cap_eff,
            rx_queues: rx,
            memlock,
        };
        evaluate(&req(), &f).map_or_else(|e| e.to_string(), |n| format!("ok {n}"))
    }

    #[test]
    fn passes_with_everything() {
        assert_eq!(evaluate(&req(), &facts()).ok(), Some(4));
    }

    #[test]
    fn names_each_missing_capability() {
        assert!(message(ALL & !(1 << CAP_NET_ADMIN), Some(4), 0).contains("CAP_NET_ADMIN"));
        assert!(message(ALL & !(1 << CAP_NET_RAW), Some(4), 0).contains("CAP_NET_RAW"));
        assert!(message(ALL & !(1 << CAP_BPF), Some(4), 0).contains("CAP_BPF"));
        assert!(message(ALL & !(1 << CAP_PERFMON), Some(4), 0).contains("CAP_PERFMON"));
        // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (older kernels, or root).
        let sys_admin = (ALL & !(1 << CAP_BPF) & !(1 << CAP_PERFMON)) | (1 << CAP_SYS_ADMIN);
        assert_eq!(message(sys_admin, Some(4), u64::MAX), "ok 4");
    }

    #[test]
    fn interface_queues_and_memlock() {
        assert!(message(ALL, None, 0).contains("interface `eth1` not found"));
        let few = message(ALL, Some(2), 0);
        assert!(
            few.contains("has 2 RX queues but 4 are configured"),
            "{few}"
        );
        let memlock = message(ALL & !(1 << CAP_IPC_LOCK), Some(4), 8 << 20);
        assert!(memlock.contains("CAP_IPC_LOCK"), "{memlock}");
        assert_eq!(
            message(ALL & !(1 << CAP_IPC_LOCK), Some(4), u64::MAX),
            "ok 4"
        );
    }

    #[test]
    fn parses_cap_eff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }
}
