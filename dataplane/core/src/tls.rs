//! QUIC endpoint configurations: rustls (TLS 1.3, ring), ALPN `h3`, DATAGRAM on, 0-RTT.

use std::sync::Arc;
use std::time::Duration;

use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn_proto::{ClientConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocol id of HTTP/3.
pub const ALPN_H3: &[u8] = b"h3";

/// Errors building a TLS/QUIC configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the certificate, key or settings.
    #[error("TLS configuration refused: {0} (check that the certificate chain and key match and are PEM/DER X.509 + PKCS#8/SEC1/PKCS#1)")]
    Rustls(#[from] rustls::Error),
    /// quinn-proto refused the rustls configuration.
    #[error("QUIC crypto configuration refused: {0}")]
    Quic(String),
    /// The idle timeout is out of range.
    #[error("idle timeout {0:?} is out of range (must be below 2^62 ms)")]
    IdleTimeout(Duration),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Transport settings shared by both sides: DATAGRAM receive buffer, idle timeout, and room
/// for the HTTP/3 unidirectional streams.
pub fn transport(idle_timeout: Duration) -> Result<TransportConfig, TlsError> {
    let mut t = TransportConfig::default();
    let idle =
        IdleTimeout::try_from(idle_timeout).map_err(|_| TlsError::IdleTimeout(idle_timeout))?;
    t.max_idle_timeout(Some(idle))
        .datagram_receive_buffer_size(Some(1 << 20))
        .datagram_send_buffer_size(1 << 20)
        .max_concurrent_uni_streams(VarInt::from_u32(16))
        .max_concurrent_bidi_streams(VarInt::from_u32(16));
    Ok(t)
}

/// The relay's server configuration: TLS 1.3 only, ALPN `h3`, 0-RTT accepted.
///
/// # Errors
/// [`TlsError`] when the certificate or key is refused.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    idle_timeout: Duration,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    tls.max_early_data_size = u32::MAX; // 0-RTT (quinn-proto requires 0 or u32::MAX)
    let quic = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(Arc::new(transport(idle_timeout)?));
    Ok(Arc::new(cfg))
}

/// A client configuration trusting `roots`, ALPN `h3`, 0-RTT on when resuming.
///
/// # Errors
/// [`TlsError`] when a root certificate is refused.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    idle_timeout: Duration,
) -> Result<ClientConfig, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add(r.clone())?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(store)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_H3.to_vec()];
    tls.enable_early_data = true;
    let quic = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Quic(e.to_string()))?;
    let mut cfg = ClientConfig::new(Arc::new(quic));
    cfg.transport_config(Arc::new(transport(idle_timeout)?));
    Ok(cfg)
}
