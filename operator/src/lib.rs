//! The Oxidize operator: reconciles `RelayNode` resources into a ConfigMap, a DaemonSet, a metrics
//! Service (and ServiceMonitor), fills their status from Pods and Nodes, and restores tuned nodes
//! through a finalizer. `main.rs` only wires these together.
#![forbid(unsafe_code)]

/// Per-object exponential backoff.
pub mod backoff;
/// The RelayNode controller.
pub mod controller;
mod error;
/// The HTTP endpoints.
pub mod http;
/// Signals, leader election and shutdown around the controller.
pub mod lifecycle;
/// Prometheus metrics.
pub mod metrics;
/// Whether this replica is Ready.
pub mod readiness;
/// Pure rendering of the owned objects.
pub mod render;
/// Node selection and conflicts between RelayNodes.
pub mod selection;
/// Pure status computation.
pub mod status;
/// Logging setup.
pub mod telemetry;

#[cfg(test)]
pub(crate) mod fixtures;

pub use error::{Error, ErrorKind, Result};
