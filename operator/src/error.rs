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

/// Defines [`ErrorKind`], its [`ErrorKind::ALL`] and its [`ErrorKind::label`] from one list, so
/// that a new kind is in `ALL` (and so pre-registered in the metrics at zero) by construction.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $label:literal,)+) => {
        /// The kind of a failure: the one place that maps errors to metric labels and requeue
        /// delays.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorKind {
            /// Every kind, in declaration order: for tests and for pre-registering the metric
            /// series at zero.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)+];

            /// The fixed `error` label of the failure metric (names used by the chart's alerts).
            pub fn label(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $label,)+
                }
            }
        }
    };
}

error_kinds! {
    /// The apiserver answered 409: someone else wrote first.
    Conflict => "conflict",
    /// The apiserver answered 429: too many requests.
    Throttled => "throttled",
    /// The apiserver answered 5xx.
    ApiServer => "api_server",
    /// The apiserver refused the request (another 4xx).
    ApiClient => "api_client",
    /// The request did not get an answer (connection, TLS, decoding).
    ApiTransport => "api_transport",
    /// The spec cannot be turned into config documents.
    InvalidSpec => "invalid_spec",
    /// A document could not be serialised.
    Serialize => "serialize",
    /// The finalizer helper failed.
    Finalizer => "finalizer",
    /// The object has no namespace or name.
    MissingField => "missing_field",
    /// Deletion waits for restore Jobs.
    RestorePending => "restore_pending",
}

impl ErrorKind {
    /// The first retry delay for this kind; [`crate::backoff::Backoff`] doubles it per
    /// consecutive failure up to its cap. Conflicts retry fast (someone else wrote first),
    /// server and transport errors a little slower, a spec that cannot work slowly (a person
    /// must change it; the spec change itself triggers a reconcile).
    pub fn base_delay(self) -> Duration {
        match self {
            ErrorKind::Conflict => Duration::from_millis(500),
            ErrorKind::ApiServer | ErrorKind::ApiTransport => Duration::from_secs(2),
            ErrorKind::RestorePending => Duration::from_secs(3),
            ErrorKind::Throttled
            | ErrorKind::ApiClient
            | ErrorKind::Serialize
            | ErrorKind::Finalizer => Duration::from_secs(5),
            ErrorKind::InvalidSpec | ErrorKind::MissingField => Duration::from_secs(60),
        }
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => ErrorKind::Conflict,
            Error::Kube(kube::Error::Api(s)) if s.code == 429 => ErrorKind::Throttled,
            Error::Kube(kube::Error::Api(s)) if s.code >= 500 => ErrorKind::ApiServer,
            Error::Kube(kube::Error::Api(_)) => ErrorKind::ApiClient,
            Error::Kube(_) => ErrorKind::ApiTransport,
            Error::Spec(_) => ErrorKind::InvalidSpec,
            Error::Serialize(_) => ErrorKind::Serialize,
            Error::Finalizer(_) => ErrorKind::Finalizer,
            Error::MissingField(_) => ErrorKind::MissingField,
            Error::RestorePending(_) => ErrorKind::RestorePending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> Error {
        Error::Kube(kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "y").with_code(code),
        )))
    }

    #[test]
    fn each_kind_has_its_own_label_and_a_delay() {
        let labels: std::collections::BTreeSet<&str> =
            ErrorKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), ErrorKind::ALL.len(), "labels are distinct");
        for &k in ErrorKind::ALL {
            assert!(
                k.label()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{k:?}"
            );
            assert!(k.base_delay() > Duration::ZERO, "{k:?}");
        }
    }

    #[test]
    fn errors_map_to_kinds_and_delays() {
        assert_eq!(api(409).kind(), ErrorKind::Conflict);
        assert_eq!(api(409).kind().base_delay(), Duration::from_millis(500));
        assert_eq!(api(429).kind().label(), "throttled");
        assert_eq!(api(503).kind().label(), "api_server");
        assert_eq!(api(503).kind().base_delay(), Duration::from_secs(2));
        assert_eq!(api(404).kind().label(), "api_client");
        assert_eq!(
            Error::MissingField("name").kind().base_delay(),
            Duration::from_secs(60)
        );
        assert_eq!(Error::RestorePending(1).kind().label(), "restore_pending");
        assert_eq!(
            Error::RestorePending(1).kind().base_delay(),
            Duration::from_secs(3)
        );
    }
}
