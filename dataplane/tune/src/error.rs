//! The tuner's error type.

use std::path::PathBuf;

/// What can stop the tuner before or outside the per-step report.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The plan is invalid; nothing was written. Each entry names the item that is wrong.
    #[error("invalid tuning plan, nothing was changed:\n  {}", .0.join("\n  "))]
    InvalidPlan(Vec<String>),
    /// The plan document could not be read or parsed.
    #[error("cannot read the tuning plan {source_name}: {detail}")]
    PlanDocument {
        /// File path or `stdin`.
        source_name: String,
        /// What went wrong.
        detail: String,
    },
    /// The state file (the record of original values) could not be read or written.
    #[error("state file {path:?}: {detail}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What went wrong and what to do.
        detail: String,
    },
    /// The NIC backend (ethtool netlink) could not start or failed outside a step.
    #[error(transparent)]
    Nic(#[from] crate::nic::NicError),
    /// The report could not be written to the termination log.
    #[error("cannot write the report to {path}: {source}")]
    TerminationLog {
        /// The termination-log file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The run finished and its report says it failed (the report has the details).
    #[error("{0}")]
    Failed(String),
}

/// The tuner's result type.
pub type Result<T, E = TuneError> = std::result::Result<T, E>;
