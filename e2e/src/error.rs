//! The test bed's error type.

use std::process::ExitStatus;

/// What went wrong while building or using the test bed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An external command (usually `ip`) exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// An external command could not be started at all.
    #[error("cannot run `{command}`: {source} (is iproute2 installed? run scripts/setup.sh)")]
    Spawn {
        /// The program that could not be started.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the test bed was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The environment asks for something the test bed cannot do (e.g. a malformed run id).
    #[error("{0}")]
    Config(String),
    /// Output of a command did not have the expected shape.
    #[error("unexpected output from `{command}`: {detail}")]
    Parse {
        /// The command whose output was read.
        command: String,
        /// What was wrong with it.
        detail: String,
    },
}

impl Error {
    /// Wraps an I/O error with what the caller was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for the test bed.
pub type Result<T, E = Error> = std::result::Result<T, E>;
