//! Egress, `nat` mode: the relay's TUN device, routes, kernel masquerade, and a check that the
//! node forwards (the tune step turns forwarding on; the relay never writes sysctls).
//!
//! Client packets that a worker has unwrapped are written into the worker's [`TunQueue`]; the
//! kernel routes them out of the egress interface, masquerading the client pool behind the
//! interface's address. Replies come back through conntrack, are routed to the TUN device and
//! read by a worker from its queue.
//!
//! - [`plan`]: pure planning and validation ([`EgressConfig`] -> [`EgressPlan`]).
//! - [`Egress`]: the guard that carries a plan out and undoes it (I/O: TUN, rtnetlink, nftables,
//!   a read of procfs).
//! - [`TunQueue`]: the per-worker packet API with plain counters ([`QueueStats`]).
//!
//! Only set-up and teardown use netlink and a (private, current-thread) tokio runtime; the
//! packet path is a non-blocking read or write on the queue's descriptor.

pub mod error;
mod lifecycle;
mod netlink;
mod nft;
pub mod plan;
mod sysctl;
mod tun;

pub use error::{Error, PlanError, Result};
pub use lifecycle::Egress;
pub use plan::{EgressConfig, EgressPlan, Forwarding, NftRule, NftSpec, TunSpec};
pub use sysctl::PROC_SYS;
pub use tun::{QueueErrors, QueueStats, TunQueue};
