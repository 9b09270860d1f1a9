//! Egress errors: invalid plans, and set-up/teardown steps that failed, each with what to do.

use std::io;

/// Result of the egress module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A configuration that cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// An interface name the kernel would refuse.
    #[error(
        "invalid {what} name {name:?}: use 1 to 15 printable characters without '/', ':' or spaces"
    )]
    InterfaceName {
        /// Which name (TUN device or egress interface).
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The TUN device and the egress interface have the same name.
    #[error(
        "the TUN device and the egress interface are both named {0:?}: give the TUN its own name"
    )]
    SameInterface(String),
    /// Queue count outside 1..=256.
    #[error("invalid TUN queue count {0}: use one queue per worker, 1 to 256")]
    Queues(u16),
    /// A pool with host bits set (e.g. `10.99.0.1/24`).
    #[error("client pool {pool} has host bits set: did you mean {network}?")]
    PoolHostBits {
        /// The pool given.
        pool: String,
        /// The network it probably meant.
        network: String,
    },
    /// Inner MTU outside the allowed range.
    #[error("inner MTU {mtu} is outside {min}..=65535{}: raise the outer path MTU or use shorter connection IDs", if *ipv6 { " (an IPv6 pool needs at least 1280)" } else { "" })]
    Mtu {
        /// The MTU given.
        mtu: u32,
        /// The smallest allowed.
        min: u32,
        /// Whether an IPv6 pool raised the minimum.
        ipv6: bool,
    },
    /// An nftables table name that `nft` would not accept.
    #[error("invalid nftables table name {0:?}: use letters, digits, '_' and '-', starting with a letter")]
    TableName(String),
}

/// A failure while setting up or tearing down the egress.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid egress configuration: {0}")]
    Plan(#[from] PlanError),
    /// A forwarding sysctl is off. The relay never writes sysctls (its `/proc/sys` is read-only
    /// in a container): the tune step sets forwarding.
    #[error(
        "{key} is {value} in this network namespace; the tune step sets it (RelayNode tuning), \
         or run `sysctl -w {key}=1` before starting the relay"
    )]
    ForwardingOff {
        /// The sysctl, e.g. `net.ipv4.ip_forward`.
        key: &'static str,
        /// The value found.
        value: String,
    },
    /// A step failed; the message names it and says what to do.
    #[error("egress step `{step}` failed: {source}{}", hint_suffix(hint))]
    Step {
        /// The step, e.g. `create TUN queue 0 of oxz0`.
        step: String,
        /// The underlying error.
        #[source]
        source: io::Error,
        /// What the operator can do about it (empty when nothing specific is known).
        hint: &'static str,
    },
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" ({hint})")
    }
}

impl Error {
    /// Wraps an I/O error from `step`, with a hint chosen from the errno.
    pub(crate) fn step(step: impl Into<String>, source: io::Error) -> Self {
        let hint = hint_for(&source);
        Error::Step {
            step: step.into(),
            source,
            hint,
        }
    }

    /// Wraps an I/O error from `step` with an explicit hint.
    pub(crate) fn step_hint(
        step: impl Into<String>,
        source: io::Error,
        hint: &'static str,
    ) -> Self {
        Error::Step {
            step: step.into(),
            source,
            hint,
        }
    }

    /// The errno behind the failure, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Plan(_) | Error::ForwardingOff { .. } => None,
            Error::Step { source, .. } => source.raw_os_error(),
        }
    }
}

/// Turns an rtnetlink error into an `io::Error` that keeps the errno when there is one.
pub(crate) fn rtnetlink_to_io(error: rtnetlink::Error) -> io::Error {
    match error {
        rtnetlink::Error::NetlinkError(message) => message.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// What to do about common errnos in network set-up.
pub(crate) fn hint_for(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc_errno::EPERM) | Some(libc_errno::EACCES) => {
            "the relay needs CAP_NET_ADMIN: run it as root or grant NET_ADMIN to the container"
        }
        Some(libc_errno::ENOENT) => "something it needs is missing (see the step)",
        Some(libc_errno::ENODEV) => "no such network device: check the interface name",
        Some(libc_errno::EBUSY) => "the device is in use by another process",
        Some(libc_errno::EEXIST) => "it already exists: another relay may be running",
        Some(libc_errno::EPROTONOSUPPORT) | Some(libc_errno::EAFNOSUPPORT) => {
            "the kernel lacks nf_tables or the needed protocol family"
        }
        _ => "",
    }
}

/// The few errno values the hints need (Linux), without a libc dependency.
pub(crate) mod libc_errno {
    /// Operation not permitted.
    pub(crate) const EPERM: i32 = 1;
    /// No such file or directory.
    pub(crate) const ENOENT: i32 = 2;
    /// No such process (netlink: no such route).
    pub(crate) const ESRCH: i32 = 3;
    /// Permission denied.
    pub(crate) const EACCES: i32 = 13;
    /// Device or resource busy.
    pub(crate) const EBUSY: i32 = 16;
    /// File exists.
    pub(crate) const EEXIST: i32 = 17;
    /// No such device.
    pub(crate) const ENODEV: i32 = 19;
    /// Invalid argument.
    pub(crate) const EINVAL: i32 = 22;
    /// Protocol not supported.
    pub(crate) const EPROTONOSUPPORT: i32 = 93;
    /// Address family not supported.
    pub(crate) const EAFNOSUPPORT: i32 = 97;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_errors_name_the_step_and_the_fix() {
        let e = Error::step(
            "create TUN",
            io::Error::from_raw_os_error(libc_errno::EPERM),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("egress step `create TUN` failed: "),
            "{text}"
        );
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
        assert_eq!(e.raw_os_error(), Some(libc_errno::EPERM));
    }

    #[test]
    fn unknown_errnos_get_no_hint() {
        let e = Error::step("x", io::Error::from_raw_os_error(libc_errno::EINVAL));
        let io = io::Error::from_raw_os_error(libc_errno::EINVAL);
        assert_eq!(e.to_string(), format!("egress step `x` failed: {io}"));
        let plan: Error = PlanError::Queues(0).into();
        assert_eq!(plan.raw_os_error(), None);
        assert!(plan
            .to_string()
            .starts_with("invalid egress configuration: "));
    }

    #[test]
    fn forwarding_off_names_the_sysctl_and_what_sets_it() {
        let e = Error::ForwardingOff {
            key: "net.ipv4.ip_forward",
            value: "0".into(),
        };
        assert_eq!(
            e.to_string(),
            "net.ipv4.ip_forward is 0 in this network namespace; the tune step sets it \
             (RelayNode tuning), or run `sysctl -w net.ipv4.ip_forward=1` before starting the relay"
        );
        assert_eq!(e.raw_os_error(), None);
    }

    #[test]
    fn netlink_errors_keep_their_errno() {
        let message = {
            let mut m = netlink_packet_core::ErrorMessage::default();
            m.code = std::num::NonZeroI32::new(-libc_errno::EEXIST);
            m
        };
        let io = rtnetlink_to_io(rtnetlink::Error::NetlinkError(message));
        assert_eq!(io.raw_os_error(), Some(libc_errno::EEXIST));
    }
}
