//! The Oxidize dataplane binaries and what they share.
//!
//! The products are crates of their own; this package only wires them into binaries:
//! - `oxidize-dataplane` (`src/bin/oxidize-dataplane.rs`): the `relay` subcommand
//!   (`oxidize_relay`, with its egress) and the `tune` subcommand (`oxidize_tune`).
//! - `oxidize-client` (`src/bin/oxidize-client.rs`): the Linux client (`oxidize_client`).
//!
//! Module map:
//! - [`telemetry`]: the tracing subscriber shared by the binaries (text or JSON logs).

pub mod telemetry;
