//! The relay's error type.

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
