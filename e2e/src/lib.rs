//! The Oxidize test bed: real network namespaces, veth pairs and servers for root tests.
//!
//! Every object it creates is owned by a guard that removes it on drop, panics included:
//! [`Netns`] deletes its namespace (and with it every link inside), [`NsChild`] kills its process
//! group. Names carry the test run's id and are unique per process and per call, so tests and
//! whole runs go on in parallel; namespaces left by a killed test process are removed by the
//! next [`Netns::new`].
//!
//! - [`cluster`]: the local Kubernetes (up/down, kubectl, test images, host snapshots).
//! - [`privilege`]: the skip-or-fail policy for tests that need root.
//! - [`netns`]: namespace guards, running closures and child processes inside them.
//! - [`link`]: veth pairs with N queues, addresses, routes, queue counts.
//! - [`servers`]: the UDP echo and checksummed TCP stream servers, and their clients.
//! - [`topology`]: the standard `client <-> relay <-> internet` three-host bed.
//! - [`wait`]: wait with a deadline for a counter or state that another thread or process
//!   updates (never assert on it right after the event it follows).

pub mod cluster;
pub mod cmd;
pub mod error;
pub mod link;
pub mod netns;
pub mod privilege;
pub mod servers;
pub mod topology;
pub mod wait;

pub use error::{Error, Result};
pub use netns::{Netns, NsChild};
pub use privilege::require_root;
pub use topology::{Topology, TopologyOptions};
