//! The crate's error type.

#![forbid(unsafe_code)]

use std::io;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the AF_XDP edge. Messages say what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed; `call` names it and what it was for.
    #[error("{call}: {source}")]
    Syscall {
        /// The call and its object, e.g. `bpf_link_create(xdp, veth0)`.
        call: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// libbpf refused to open or load the XDP program.
    #[error("loading the XDP program failed: {0}")]
    Load(String),
    /// The interface does not exist in this network namespace.
    #[error("interface `{0}` not found in this network namespace (check the name with `ip link`)")]
    InterfaceNotFound(String),
    /// The kernel refused to attach the XDP program; the message says why and what to do.
    #[error("attaching XDP to `{ifname}` in {mode} mode was refused: {reason}")]
    AttachRefused {
        /// The interface.
        ifname: String,
        /// `native` or `generic`.
        mode: &'static str,
        /// Why, in words (derived from the errno).
        reason: String,
    },
    /// A capability the AF_XDP edge needs is missing.
    #[error("missing capability {cap}: {why} (grant it, e.g. `securityContext.capabilities.add: [{short}]`)")]
    MissingCapability {
        /// e.g. `CAP_NET_ADMIN`.
        cap: &'static str,
        /// The short name for a pod spec, e.g. `NET_ADMIN`.
        short: &'static str,
        /// What needs it.
        why: &'static str,
    },
    /// The interface has fewer queues than the configuration asks for.
    #[error("interface `{ifname}` has {available} RX queues but {wanted} are configured (lower `queues` or raise the NIC's channels with `ethtool -L`)")]
    NotEnoughQueues {
        /// The interface.
        ifname: String,
        /// Configured queue count.
        wanted: u32,
        /// What the kernel reports.
        available: u32,
    },
    /// The locked-memory limit is too small for the UMEM and IPC_LOCK is missing.
    #[error("UMEM needs {needed} bytes of locked memory but RLIMIT_MEMLOCK is {limit} and CAP_IPC_LOCK is missing (grant IPC_LOCK or raise `ulimit -l`)")]
    Memlock {
        /// Bytes the UMEMs need.
        needed: u64,
        /// The soft limit.
        limit: u64,
    },
    /// Zero-copy was required but the driver cannot do it.
    #[error("zero-copy AF_XDP was required on `{ifname}` but driver `{driver}` does not support it ({source}); set zero_copy to `auto` or `off`")]
    ZeroCopyUnsupported {
        /// The interface.
        ifname: String,
        /// The driver name from ethtool.
        driver: String,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// Creating the UMEM or the socket failed.
    #[error("AF_XDP socket on `{ifname}` queue {queue}: {detail}")]
    Socket {
        /// The interface.
        ifname: String,
        /// The queue.
        queue: u32,
        /// What failed, with the OS error.
        detail: String,
    },
    /// A configuration value is out of range.
    #[error("invalid AF_XDP configuration: {0}")]
    Config(String),
    /// A netlink reply could not be understood.
    #[error("netlink: {0}")]
    Netlink(String),
}

impl Error {
    /// Builds [`Error::Syscall`].
    pub fn syscall(call: impl Into<String>, source: io::Error) -> Self {
        Error::Syscall {
            call: call.into(),
            source,
        }
    }
}
