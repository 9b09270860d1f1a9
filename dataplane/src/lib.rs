//! The Oxidize dataplane.
//!
//! Module map (filled in by the tuner, AF_XDP and relay issues):
//! - [`relay`]: the relay server (config, AF_XDP/UDP workers, hand-off rings, health/metrics, signals).
//! - [`telemetry`]: the tracing subscriber shared by the binaries (text or JSON logs).
//! - [`tune`]: the node tuner (plan validation, apply, rollback, restore) against a root directory.

pub mod client;
pub mod egress;
pub mod relay;
pub mod telemetry;
pub mod tune;
