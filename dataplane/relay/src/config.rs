//! Relay settings: the DataplaneConfig document, environment overrides, validation (pure
//! except for [`load`], which reads the file and the environment).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use oxidize_crds::config::DataplaneConfig;
use oxidize_crds::relaynode::ZeroCopyMode;

use super::error::{Error, Result};
use super::pool_split::PoolSplit;

/// Environment override of `interface`.
pub const ENV_INTERFACE: &str = "OXIDIZE_INTERFACE";
/// Environment override of the number of workers (= queues).
pub const ENV_WORKERS: &str = "OXIDIZE_WORKERS";
/// Environment override of `workerCores` (`2,3` or `2-3`).
pub const ENV_CPU_CORES: &str = "OXIDIZE_CPU_CORES";

/// Default QUIC idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default drain time after GOAWAY on SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default Retry threshold (handshakes in progress per worker).
pub const DEFAULT_RETRY_ABOVE: usize = 64;
/// The most workers a relay runs: the RelayNode's queue limit, which admission enforces too
/// (the worker id is one CID byte; the pool split needs bits).
pub const MAX_WORKERS: usize = oxidize_crds::limits::MAX_QUEUES as usize;

/// Everything the relay runs with, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// NIC for XDP/AF_XDP (or the UDP socket's address source in `--io udp`).
    pub interface: String,
    /// Where tunnelled traffic leaves the node.
    pub egress_interface: String,
    /// Workers, one per NIC queue.
    pub workers: usize,
    /// Core of each worker.
    pub cores: Vec<usize>,
    /// QUIC UDP port.
    pub port: u16,
    /// HTTP endpoint for health and metrics.
    pub metrics_addr: SocketAddr,
    /// TLS certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// TLS key (PEM).
    pub tls_key: PathBuf,
    /// Token directory.
    pub tokens_dir: PathBuf,
    /// The client pools and their per-worker parts.
    pub pools: PoolSplit,
    /// Zero-copy policy.
    pub zero_copy: ZeroCopyMode,
    /// Busy polling.
    pub busy_poll: bool,
    /// Hugepage-backed UMEM wanted.
    pub hugepages: bool,
    /// QUIC idle timeout.
    pub idle_timeout: Duration,
    /// Drain time after GOAWAY.
    pub drain_timeout: Duration,
    /// CONNECT-IP URI template.
    pub uri_template: String,
    /// Retry threshold; `None` = never.
    pub retry_above_handshakes: Option<usize>,
}

/// Environment overrides (read by [`load`], passed in for tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `OXIDIZE_INTERFACE`.
    pub interface: Option<String>,
    /// `OXIDIZE_WORKERS`.
    pub workers: Option<String>,
    /// `OXIDIZE_CPU_CORES`.
    pub cpu_cores: Option<String>,
}

impl Overrides {
    /// The overrides set in this process's environment (empty values count as unset).
    pub fn from_env() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Overrides {
            interface: get(ENV_INTERFACE),
            workers: get(ENV_WORKERS),
            cpu_cores: get(ENV_CPU_CORES),
        }
    }
}

/// Reads `path`, applies the environment's overrides and validates.
///
/// # Errors
/// [`Error`] naming the file or the setting that is wrong.
pub fn load(path: &Path) -> Result<RelaySettings> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
        path: path.to_owned(),
        source,
    })?;
    let doc = DataplaneConfig::from_yaml(&text).map_err(|e| Error::ParseConfig {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    settings(&doc, &Overrides::from_env())
}

/// Parses a core list: `2,3`, `2-5`, `0,2-3`.
///
/// # Errors
/// A message saying which part is not a core number or range.
pub fn parse_core_list(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{part}` is not a core number or range like 2-3"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range `{part}` runs backwards"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    if out.is_empty() {
        return Err("the core list is empty".to_owned());
    }
    Ok(out)
}

/// Builds validated settings from a document and overrides.
///
/// # Errors
/// [`Error::Invalid`] naming the setting and saying what to do.
pub fn settings(doc: &DataplaneConfig, env: &Overrides) -> Result<RelaySettings> {
    let interface = env
        .interface
        .clone()
        .unwrap_or_else(|| doc.interface.clone());
    check_ifname("interface", &interface)?;
    let egress_interface = doc
        .relay
        .egress_interface
        .clone()
        .unwrap_or_else(|| interface.clone());
    check_ifname("relay.egressInterface", &egress_interface)?;
    let mut cores: Vec<usize> = match &env.cpu_cores {
        Some(list) => {
            parse_core_list(list).map_err(|d| Error::invalid(ENV_CPU_CORES, d.to_string()))?
        }
        None => doc.worker_cores.iter().map(|c| *c as usize).collect(),
    };
    let workers = match &env.workers {
        Some(w) => w.trim().parse::<usize>().map_err(|_| {
            Error::invalid(ENV_WORKERS, format!("`{w}` is not a number of workers"))
        })?,
        None => doc.queues as usize,
    };
    if workers == 0 || workers > MAX_WORKERS {
        return Err(Error::invalid(
            "queues",
            format!("{workers} workers: run between 1 and {MAX_WORKERS} (one per NIC queue)"),
        ));
    }
    if cores.len() < workers {
        return Err(Error::invalid(
            "workerCores",
            format!(
                "{} cores for {workers} workers: give one core per worker ({ENV_CPU_CORES} or workerCores)",
                cores.len()
            ),
        ));
    }
    cores.truncate(workers);
    let mut seen = cores.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != cores.len() {
        return Err(Error::invalid(
            "workerCores",
            format!("{cores:?} names a core twice: each worker needs its own core"),
        ));
    }
    if doc.port == 0 {
        return Err(Error::invalid("port", "port 0: give the QUIC UDP port"));
    }
    let metrics_addr: SocketAddr = doc.metrics_addr.parse().map_err(|_| {
        Error::invalid(
            "metricsAddr",
            format!("`{}` is not host:port like 0.0.0.0:9100", doc.metrics_addr),
        )
    })?;
    let pool_v4: Ipv4Net = doc.client_pool_ipv4.parse().map_err(|_| {
        Error::invalid(
            "clientPoolIpv4",
            format!("`{}` is not an IPv4 CIDR", doc.client_pool_ipv4),
        )
    })?;
    let pool_v6: Option<Ipv6Net> =
        match &doc.client_pool_ipv6 {
            None => None,
            Some(p) => Some(p.parse().map_err(|_| {
                Error::invalid("clientPoolIpv6", format!("`{p}` is not an IPv6 CIDR"))
            })?),
        };
    let pools = PoolSplit::new(pool_v4.trunc(), pool_v6.map(|p| p.trunc()), workers)?;
    let secs = |v: Option<u32>, d: Duration| v.map_or(d, |s| Duration::from_secs(u64::from(s)));
    let idle_timeout = secs(doc.relay.idle_timeout_seconds, DEFAULT_IDLE_TIMEOUT);
    if idle_timeout.is_zero() {
        return Err(Error::invalid(
            "relay.idleTimeoutSeconds",
            "0: give a positive idle timeout",
        ));
    }
    let uri_template = doc
        .relay
        .uri_template
        .clone()
        .unwrap_or_else(|| "/.well-known/masque/ip/{target}/{ipproto}/".to_owned());
    oxidize_relay_core::template::UriTemplate::parse(&uri_template)
        .map_err(|e| Error::invalid("relay.uriTemplate", e.to_string()))?;
    let retry_above_handshakes = match doc.relay.retry_above_handshakes {
        Some(0) => None,
        Some(n) => Some(n as usize),
        None => Some(DEFAULT_RETRY_ABOVE),
    };
    Ok(RelaySettings {
        interface,
        egress_interface,
        workers,
        cores,
        port: doc.port,
        metrics_addr,
        tls_cert: PathBuf::from(&doc.tls_cert_file),
        tls_key: PathBuf::from(&doc.tls_key_file),
        tokens_dir: PathBuf::from(&doc.tokens_dir),
        pools,
        zero_copy: doc.zero_copy,
        busy_poll: doc.busy_poll,
        hugepages: doc.umem_hugepages.is_some(),
        idle_timeout,
        drain_timeout: secs(doc.relay.drain_timeout_seconds, DEFAULT_DRAIN_TIMEOUT),
        uri_template,
        retry_above_handshakes,
    })
}

fn check_ifname(field: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
        return Err(Error::invalid(
            field,
            format!("`{name}` is not an interface name (1 to 15 characters, no `/` or spaces)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
