//! The operator's error type, grouped by kind for metrics labels and requeue delays.

use std::time::Duration;

/// Everything a reconcile can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("kubernetes api call failed: {0}")]
    Kube(#[from] kube::Error),
    /// The spec passed admission but cannot be turned into config documents.
    #[error("the RelayNode spec cannot be used: {0}")]
    Spec(#[from] oxidize_crds::convert::SpecError),
    /// A document could not be serialised.
    #[error("could not serialise a config document: {0}")]
    Serialize(String),
    /// The finalizer helper failed (wraps apply or cleanup errors).
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The object has no namespace or name (never for a RelayNode from the API).
    #[error("the RelayNode has no {0}")]
    MissingField(&'static str),
    /// Deletion waits for restore Jobs that have not finished yet (not a failure; retried soon).
    #[error("waiting for the restore Jobs on {0} node(s) before removing the finalizer")]
    RestorePending(usize),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A fixed label per variant, for the `error` label of the failure metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 429 => "throttled",
            Error::Kube(kube::Error::Api(s)) if s.code >= 500 => "api_server",
            Error::Kube(kube::Error::Api(_)) => "api_client",
            Error::Kube(_) => "api_transport",
            Error::Spec(_) => "invalid_spec",
            Error::Serialize(_) => "serialize",
            Error::Finalizer(_) => "finalizer",
            Error::MissingField(_) => "missing_field",
            Error::RestorePending(_) => "restore_pending",
        }
    }

    /// The first retry delay for this kind of error; [`crate::backoff::Backoff`] doubles it per
    /// consecutive failure up to its cap. Conflicts retry fast (someone else wrote first),
    /// server and transport errors a little slower, a spec that cannot work slowly (a person
    /// must change it; the spec change itself triggers a reconcile).
    pub fn base_delay(&self) -> Duration {
        match self.metric_label() {
            "conflict" => Duration::from_millis(500),
            "throttled" => Duration::from_secs(5),
            "api_server" | "api_transport" => Duration::from_secs(2),
            "invalid_spec" | "missing_field" => Duration::from_secs(60),
            "restore_pending" => Duration::from_secs(3),
            _ => Duration::from_secs(5),
        }
    }
}
