//! The Oxidize dataplane.
//!
//! Module map (filled in by the tuner, AF_XDP and relay issues):
//! - [`telemetry`]: the tracing subscriber shared by the binaries (text or JSON logs).

pub mod telemetry;
