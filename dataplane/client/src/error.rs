//! The client's error type.

use std::path::PathBuf;

/// Everything that stops the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The relay refused the token (HTTP 401 or 403). Retrying would not help.
    #[error("the relay refused the tunnel with HTTP {status} ({}): {hint}", reason(*status))]
    Auth {
        /// 401 or 403.
        status: u16,
        /// What to check.
        hint: &'static str,
    },
    /// The token file could not be read or is empty.
    #[error("cannot read the token from {path}: {message}")]
    Token {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("cannot load the CA certificates from {path}: {message}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The system trust store could not be used.
    #[error("no usable system root certificates ({0}); pass --ca-file with the relay's CA")]
    SystemRoots(String),
    /// TLS/QUIC configuration was refused.
    #[error(transparent)]
    Tls(#[from] oxidize_relay_core::tls::TlsError),
    /// The relay address does not resolve.
    #[error("cannot resolve the relay address {addr}: {message}")]
    Resolve {
        /// What was given.
        addr: String,
        /// Why.
        message: String,
    },
    /// An `ip` command failed.
    #[error("`ip {command}` failed: {message}")]
    Ip {
        /// The arguments.
        command: String,
        /// iproute2's message.
        message: String,
    },
    /// The MTU towards the relay cannot carry QUIC.
    #[error(transparent)]
    Mtu(#[from] oxidize_relay_core::mtu::MtuError),
    /// The TUN device could not be created or configured.
    #[error("cannot create the TUN device {name}: {source} (the client needs CAP_NET_ADMIN and /dev/net/tun)")]
    Tun {
        /// Device name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A socket or signal handler could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What the client was doing.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn reason(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized: no token was sent",
        403 => "Forbidden: the token is not accepted",
        _ => "refused",
    }
}

impl ClientError {
    /// The auth error for a refused request, or `None` for statuses worth retrying.
    pub fn from_status(status: u16) -> Option<Self> {
        let hint = match status {
            401 => "pass --token-file FILE or set OXIDIZE_TOKEN",
            403 => {
                "check the token in --token-file / OXIDIZE_TOKEN against the relay's token Secret"
            }
            _ => return None,
        };
        Some(ClientError::Auth { status, hint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_statuses_stop_the_client_with_a_hint() {
        let e = ClientError::from_status(403).map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the relay refused the tunnel with HTTP 403 (Forbidden: the token is not accepted): check the token in --token-file / OXIDIZE_TOKEN against the relay's token Secret")
        );
        let e = ClientError::from_status(401).map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("401") && m.contains("OXIDIZE_TOKEN")));
    }

    #[test]
    fn other_statuses_are_retried() {
        for s in [0, 400, 404, 500, 503] {
            assert!(ClientError::from_status(s).is_none(), "{s}");
        }
    }
}
