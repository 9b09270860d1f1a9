//! The relay's error type: one enum for the crate, with the egress's errors as a category
//! ([`Error::Egress`]) and the AF_XDP edge's as another ([`Error::Xdp`]).

use std::path::PathBuf;

/// Why the relay could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config document could not be read.
    #[error("cannot read the config file {path}: {source} (pass --config FILE with a DataplaneConfig document)")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config document did not parse.
    #[error("config file {path} is not a valid DataplaneConfig document: {detail}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// A setting (from the file or an environment override) is invalid.
    #[error("invalid relay setting `{field}`: {detail}")]
    Invalid {
        /// The setting, as the document or environment names it.
        field: &'static str,
        /// What is wrong and what to do.
        detail: String,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load TLS {what} from {path}: {detail}")]
    Tls {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The token directory could not be read.
    #[error("cannot read tokens from {path}: {source} (mount the token Secret there)")]
    Tokens {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An I/O set-up step failed.
    #[error("{step}: {source}")]
    Io {
        /// What was being done.
        step: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The egress (forwarding check, TUN device, routes, masquerade) could not be planned, set up or
    /// torn down.
    #[error(transparent)]
    Egress(#[from] crate::egress::Error),
    /// The AF_XDP edge (preflight, XDP program, sockets) failed.
    #[error(transparent)]
    Xdp(#[from] oxidize_xdp::Error),
    /// The relay's interface could not be inspected.
    #[error("interface {interface} (config `interface`): {source}")]
    Interface {
        /// The interface.
        interface: String,
        /// Why.
        source: oxidize_xdp::Error,
    },
    /// The interface's MTU cannot carry tunnelled packets.
    #[error("MTU {mtu} of {interface} is too small to carry tunnelled packets: {source}")]
    Mtu {
        /// The interface.
        interface: String,
        /// Its MTU.
        mtu: u32,
        /// The rule it breaks.
        source: oxidize_relay_core::mtu::MtuError,
    },
    /// A worker's relay core could not be built from its part of the client pool.
    #[error("client pool of worker {worker}: {detail}")]
    WorkerPool {
        /// The worker.
        worker: usize,
        /// Why.
        detail: String,
    },
    /// One or more workers stopped with an error or panicked.
    #[error("relay workers failed: {}", .0.join("; "))]
    Workers(Vec<String>),
}

/// Result alias of the relay.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            detail: detail.into(),
        }
    }

    pub(crate) fn io(step: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            step: step.into(),
            source,
        }
    }
}
