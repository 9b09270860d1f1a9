//! The TLS certificate/key and the bearer tokens: loading, and noticing when the mounted
//! Secrets change (mtime/size poll off the hot path; Kubernetes swaps Secret volumes
//! atomically through a `..data` symlink, so a changed file shows up as a new mtime).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oxidize_relay_core::auth::TokenSet;
use quinn_proto::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{Error, Result};

/// Reads the PEM certificate chain and key and builds the QUIC server configuration.
///
/// # Errors
/// [`Error::Tls`] naming the file that is missing or wrong.
pub fn load_tls(cert: &Path, key: &Path, idle_timeout: Duration) -> Result<Arc<ServerConfig>> {
    let tls_err = |what, path: &Path, detail: String| Error::Tls {
        what,
        path: path.to_owned(),
        detail,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_err("certificate", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(tls_err(
            "certificate",
            cert,
            "no PEM CERTIFICATE block found".to_owned(),
        ));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err("key", key, e.to_string()))?;
    oxidize_relay_core::tls::server_config(chain, private, idle_timeout)
        .map_err(|e| tls_err("certificate and key", cert, e.to_string()))
}

/// Reads every token file of `dir` (one token per file, surrounding whitespace trimmed;
/// hidden entries such as Kubernetes' `..data` are skipped).
///
/// # Errors
/// [`Error::Tokens`] when the directory cannot be read.
pub fn load_tokens(dir: &Path) -> Result<TokenSet> {
    let err = |source| Error::Tokens {
        path: dir.to_owned(),
        source,
    };
    let mut tokens = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read(&path).map_err(err)?;
        let token = text.trim_ascii();
        if !token.is_empty() {
            tokens.push(token.to_vec());
        }
    }
    if tokens.is_empty() {
        tracing::warn!(dir = %dir.display(), "no tokens found: every CONNECT-IP request will be refused");
    }
    Ok(TokenSet::new(tokens))
}

/// A fingerprint of files: (path, mtime, size) of each, in a fixed order.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    paths
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(m) => (p.clone(), m.modified().ok(), m.len()),
            Err(_) => (p.clone(), None, 0),
        })
        .collect()
}

fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What changed since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// The certificate or key file.
    pub tls: bool,
    /// A token file (added, removed or changed).
    pub tokens: bool,
}

/// Watches the TLS files and the token directory by polling their metadata.
#[derive(Debug)]
pub struct SecretWatch {
    tls_files: Vec<PathBuf>,
    tokens_dir: PathBuf,
    tls_seen: Fingerprint,
    tokens_seen: Fingerprint,
}

impl SecretWatch {
    /// Starts watching; the current state counts as seen.
    pub fn new(cert: &Path, key: &Path, tokens_dir: &Path) -> Self {
        let tls_files = vec![cert.to_owned(), key.to_owned()];
        SecretWatch {
            tls_seen: fingerprint(&tls_files),
            tokens_seen: fingerprint(&dir_files(tokens_dir)),
            tls_files,
            tokens_dir: tokens_dir.to_owned(),
        }
    }

    /// Looks again (a few `stat` calls) and says what changed.
    pub fn poll_changes(&mut self) -> Changes {
        let tls = fingerprint(&self.tls_files);
        let tokens = fingerprint(&dir_files(&self.tokens_dir));
        let changes = Changes {
            tls: tls != self.tls_seen,
            tokens: tokens != self.tokens_seen,
        };
        self.tls_seen = tls;
        self.tokens_seen = tokens;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cert(dir: &Path) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec!["relay.test".to_owned()]).expect("rcgen");
        let cert = dir.join("tls.crt");
        let key = dir.join("tls.key");
        std::fs::write(&cert, ck.cert.pem()).expect("write cert");
        std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
        (cert, key)
    }

    #[test]
    fn loads_pem_and_names_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_cert(dir.path());
        load_tls(&cert, &key, Duration::from_secs(30)).expect("valid pair");
        let e = load_tls(&dir.path().join("none.crt"), &key, Duration::from_secs(30))
            .expect_err("missing");
        assert!(e.to_string().contains("none.crt"), "{e}");
        std::fs::write(&key, "garbage").expect("write");
        let e = load_tls(&cert, &key, Duration::from_secs(30)).expect_err("bad key");
        assert!(e.to_string().contains("TLS key"), "{e}");
    }

    #[test]
    fn tokens_skip_hidden_entries_and_trim() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alice"), "secret-a\n").expect("write");
        std::fs::write(dir.path().join(".hidden"), "nope").expect("write");
        let t = load_tokens(dir.path()).expect("tokens");
        assert_eq!(t.len(), 1);
        assert!(t.contains(b"secret-a"));
        assert!(load_tokens(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn watch_notices_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = write_cert(dir.path());
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("mkdir");
        let mut w = SecretWatch::new(&cert, &key, &tokens);
        assert_eq!(w.poll_changes(), Changes::default());
        std::fs::write(tokens.join("bob"), "b").expect("write");
        assert_eq!(
            w.poll_changes(),
            Changes {
                tls: false,
                tokens: true
            }
        );
        std::fs::write(&cert, "x").expect("write");
        assert!(w.poll_changes().tls);
        assert_eq!(w.poll_changes(), Changes::default());
    }
}
