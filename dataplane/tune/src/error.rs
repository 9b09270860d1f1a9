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
}

/// The tuner's result type.
pub type Result<T, E = TuneError> = std::result::Result<T, E>;
