//! The Oxidize operator: reconciles `RelayNode` resources into a ConfigMap, a DaemonSet, a metrics
//! Service (and ServiceMonitor), fills their status from Pods and Nodes, and restores tuned nodes
//! through a finalizer. `main.rs` only wires these together.
#![forbid(unsafe_code)]

mod error;
pub mod render;

pub use error::{Error, Result};
