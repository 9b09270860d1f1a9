//! The dataplane config document: what the relay container reads (YAML, in the ConfigMap the
//! operator writes), versioned like the tuning plan (`apiVersion`, `kind: DataplaneConfig`).

use serde::{Deserialize, Serialize};

use crate::relaynode::{EgressMode, ZeroCopyMode};

/// `kind` of a dataplane config document.
pub const DATAPLANE_CONFIG_KIND: &str = "DataplaneConfig";

/// Where the relay pod mounts the ConfigMap.
pub const CONFIG_DIR: &str = "/etc/oxidize/config";
/// The ConfigMap key (and file name in [`CONFIG_DIR`]) of the dataplane config.
pub const DATAPLANE_CONFIG_KEY: &str = "dataplane.yaml";
/// The ConfigMap key (and file name in [`CONFIG_DIR`]) of the tuning plan.
pub const TUNING_PLAN_KEY: &str = "tuning-plan.yaml";
/// Where the relay pod mounts the TLS Secret (`tls.crt`, `tls.key`).
pub const TLS_DIR: &str = "/etc/oxidize/tls";
/// Where the relay pod mounts the token Secret (one file per key).
pub const TOKENS_DIR: &str = "/etc/oxidize/tokens";

fn default_api_version() -> String {
    crate::api_version()
}

fn default_kind() -> String {
    DATAPLANE_CONFIG_KIND.to_owned()
}

/// Everything the relay needs to start on one node. Unknown fields are rejected so that a typo
/// or a newer operator's field is an error, not a silently ignored setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Always `relay.oxidize.dev/v1alpha1` for this version of the document.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Always `DataplaneConfig`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The NIC to attach XDP and AF_XDP to.
    pub interface: String,
    /// NIC queues served, queue `i` by the worker on `worker_cores[i]`.
    pub queues: u32,
    /// The worker cores, one per queue, in queue order.
    pub worker_cores: Vec<u32>,
    /// UDP port for QUIC.
    pub port: u16,
    /// `host:port` of the metrics and health HTTP endpoint.
    pub metrics_addr: String,
    /// TLS certificate chain (PEM).
    pub tls_cert_file: String,
    /// TLS private key (PEM).
    pub tls_key_file: String,
    /// Directory whose files each hold one accepted client bearer token.
    pub tokens_dir: String,
    /// Client address pool, IPv4 CIDR.
    pub client_pool_ipv4: String,
    /// Client address pool, optional IPv6 CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_pool_ipv6: Option<String>,
    /// How client traffic leaves the node.
    pub egress: EgressMode,
    /// AF_XDP zero-copy policy.
    pub zero_copy: ZeroCopyMode,
    /// Busy-poll the AF_XDP sockets.
    pub busy_poll: bool,
    /// Back the UMEM with hugepages of this size (`2Mi`/`1Gi`), when the node has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umem_hugepages: Option<crate::tuning::HugepageSize>,
    /// Relay options with defaults (egress interface, timeouts, URI template, Retry threshold).
    #[serde(default, skip_serializing_if = "RelayOptions::is_default")]
    pub relay: RelayOptions,
}

/// Relay options that have sensible defaults; every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelayOptions {
    /// Where tunnelled traffic leaves the node (default: `interface`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_interface: Option<String>,
    /// QUIC idle timeout in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<u32>,
    /// How long SIGTERM waits for clients to leave after GOAWAY, in seconds (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout_seconds: Option<u32>,
    /// The CONNECT-IP URI template (default `/.well-known/masque/ip/{target}/{ipproto}/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_template: Option<String>,
    /// Send Retry to new clients while this many handshakes are in progress per worker
    /// (default 64; 0 turns Retry off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_above_handshakes: Option<u32>,
}

impl RelayOptions {
    /// Whether every option is left at its default (then the document omits the section).
    pub fn is_default(&self) -> bool {
        *self == RelayOptions::default()
    }
}

impl DataplaneConfig {
    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(self)
    }

    /// Parses a document, refusing other kinds and versions with a message naming both.
    pub fn from_yaml(text: &str) -> Result<Self, crate::convert::DocumentError> {
        let doc: DataplaneConfig = serde_yaml_ng::from_str(text)?;
        if doc.api_version != crate::api_version() || doc.kind != DATAPLANE_CONFIG_KIND {
            return Err(crate::convert::DocumentError::WrongVersion {
                found: format!("{}/{}", doc.api_version, doc.kind),
                want: format!("{}/{DATAPLANE_CONFIG_KIND}", crate::api_version()),
            });
        }
        Ok(doc)
    }
}
