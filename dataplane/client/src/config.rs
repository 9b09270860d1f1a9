//! What the client connects with: relay address, TLS roots, token, QUIC transport.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oxidize_relay_core::tls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::error::ClientError;
use super::routes::RouteSpec;

/// The environment variable that may hold the bearer token.
pub const TOKEN_ENV: &str = "OXIDIZE_TOKEN";

/// Everything the client needs, as parsed from the command line.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Relay `host:port`.
    pub relay: String,
    /// TLS server name (defaults to the host part of `relay`).
    pub server_name: Option<String>,
    /// PEM file with the CA(s) to trust; `None` uses the system roots.
    pub ca_file: Option<PathBuf>,
    /// File holding the bearer token (first line); overrides [`TOKEN_ENV`].
    pub token_file: Option<PathBuf>,
    /// TUN device name.
    pub tun_name: String,
    /// Routes through the tunnel.
    pub routes: RouteSpec,
    /// Batch TUN reads and writes with GSO/GRO (virtio-net header) where the kernel allows it.
    pub tun_offload: bool,
    /// Outer link MTU towards the relay; `None` reads the outgoing interface's MTU.
    pub outer_mtu: Option<u32>,
    /// QUIC idle timeout (the relay's may be shorter).
    pub idle_timeout: Duration,
    /// QUIC keepalive interval.
    pub keepalive: Duration,
    /// How long one connection attempt may take until the tunnel is open.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Status line interval; `None` prints only on SIGUSR1 and state changes.
    pub status_interval: Option<Duration>,
}

/// Resolves `host:port` to the first address.
///
/// # Errors
/// [`ClientError::Resolve`].
pub fn resolve(relay: &str) -> Result<SocketAddr, ClientError> {
    let err = |message: String| ClientError::Resolve {
        addr: relay.to_owned(),
        message,
    };
    relay
        .to_socket_addrs()
        .map_err(|e| err(format!("{e} (expected host:port)")))?
        .next()
        .ok_or_else(|| err("no address".into()))
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_part(relay: &str) -> &str {
    let host = relay.rsplit_once(':').map_or(relay, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The token: the first line of `file` if given, else `env` (the value of [`TOKEN_ENV`]).
///
/// # Errors
/// [`ClientError::Token`] when the file cannot be read or its first line is empty.
pub fn load_token(file: Option<&Path>, env: Option<String>) -> Result<Option<String>, ClientError> {
    let Some(path) = file else {
        return Ok(env.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()));
    };
    let err = |message: String| ClientError::Token {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(err("the file is empty".into()));
    }
    Ok(Some(token.to_owned()))
}

/// Root certificates: the PEM `ca_file`, or the system trust store.
///
/// # Errors
/// [`ClientError::Ca`] / [`ClientError::SystemRoots`].
pub fn load_roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    match ca_file {
        Some(path) => {
            let err = |message: String| ClientError::Ca {
                path: path.to_owned(),
                message,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no PEM CERTIFICATE block in the file".into()));
            }
            Ok(certs)
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "the store is empty".to_owned(), ToString::to_string);
                return Err(ClientError::SystemRoots(why));
            }
            Ok(found.certs)
        }
    }
}

/// The QUIC client configuration: the relay core's (TLS 1.3, ALPN h3, DATAGRAM, 0-RTT) with
/// our idle timeout, keepalives and initial MTU. Build it once and reuse it for every
/// reconnect: its TLS session cache holds the tickets that make 0-RTT possible.
///
/// # Errors
/// [`ClientError::Tls`].
pub fn quic_config(
    roots: &[CertificateDer<'static>],
    idle_timeout: Duration,
    keepalive: Duration,
    udp_payload: u16,
) -> Result<quinn_proto::ClientConfig, ClientError> {
    let mut cfg = tls::client_config(roots, idle_timeout)?;
    let mut transport = tls::transport(idle_timeout)?;
    let mut discovery = quinn_proto::MtuDiscoveryConfig::default();
    discovery.upper_bound(udp_payload.max(1200));
    transport
        .keep_alive_interval(Some(keepalive))
        .initial_mtu(udp_payload.max(1200))
        .mtu_discovery_config(Some(discovery));
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_part_of_relay_addresses() {
        assert_eq!(host_part("relay.example:443"), "relay.example");
        assert_eq!(host_part("10.77.1.1:4433"), "10.77.1.1");
        assert_eq!(host_part("[fd77:1::1]:4433"), "fd77:1::1");
    }

    #[test]
    fn token_from_file_wins_over_env() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("token");
        std::fs::write(&f, "s3cret\n")?;
        let t = load_token(Some(&f), Some("env".into()))?;
        assert_eq!(t.as_deref(), Some("s3cret"));
        assert_eq!(
            load_token(None, Some(" env \n".into()))?.as_deref(),
            Some("env")
        );
        assert_eq!(load_token(None, Some(String::new()))?, None);
        assert_eq!(load_token(None, None)?, None);
        Ok(())
    }

    #[test]
    fn empty_or_missing_token_file_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("token");
        std::fs::write(&f, "\n")?;
        let e = load_token(Some(&f), None).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("empty")));
        let e = load_token(Some(&dir.path().join("nope")), None).err();
        assert!(matches!(e, Some(ClientError::Token { .. })));
        Ok(())
    }

    #[test]
    fn ca_file_without_certificates_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a pem\n")?;
        let e = load_roots(Some(&f)).err().map(|e| e.to_string());
        assert!(e.is_some_and(|m| m.contains("no PEM CERTIFICATE")), "{f:?}");
        Ok(())
    }

    #[test]
    fn ca_file_with_a_certificate_builds_a_quic_config() -> Result<(), Box<dyn std::error::Error>> {
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["relay.test".to_owned()])?.self_signed(&key)?;
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, cert.pem())?;
        let roots = load_roots(Some(&f))?;
        assert_eq!(roots.len(), 1);
        quic_config(
            &roots,
            Duration::from_secs(30),
            Duration::from_secs(10),
            1452,
        )?;
        Ok(())
    }

    #[test]
    fn resolve_rejects_missing_port() {
        assert!(matches!(
            resolve("10.77.1.1"),
            Err(ClientError::Resolve { .. })
        ));
        assert_eq!(
            resolve("10.77.1.1:4433").ok(),
            "10.77.1.1:4433".parse().ok()
        );
    }
}
