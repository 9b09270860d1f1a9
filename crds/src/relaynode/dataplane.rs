//! `spec.dataplane`: the relay each node runs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tuning::default_true;
use crate::limits::max_queues;

/// The relay that runs on each selected node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataplaneSpec {
    /// The `oxidize-dataplane` container image; it runs both `tune` (init) and `relay`.
    #[schemars(length(min = 1, max = 512))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "!self.contains(' ')", "message": "dataplane.image must be an image reference without spaces, such as ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0"}
    ]))]
    pub image: String,

    /// When the kubelet pulls the image (defaults to the Kubernetes rule for the tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// The host network interface the relay attaches XDP and AF_XDP to (e.g. `eth1`).
    #[schemars(length(min = 1, max = 15))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[A-Za-z0-9_.:-]{1,15}$')", "message": "dataplane.interface must be a Linux interface name: 1 to 15 letters, digits, '.', '_', ':' or '-', such as eth1"}
    ]))]
    pub interface: String,

    /// Where client traffic leaves the node (the `nat` egress masquerades to it), when that is
    /// not `interface`: e.g. a separate uplink `eth0` beside a client-facing `eth1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[A-Za-z0-9_.:-]{1,15}$')", "message": "dataplane.egressInterface must be a Linux interface name: 1 to 15 letters, digits, '.', '_', ':' or '-', such as eth0"}
    ]))]
    pub egress_interface: Option<String>,

    /// NIC queues to serve, one worker (one core) per queue, up to the relay's worker limit (the
    /// schema's maximum).
    #[schemars(range(min = 1, max = crate::limits::MAX_QUEUES))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": concat!("self >= 1 && self <= ", max_queues!()),
            "message": concat!("dataplane.queues must be between 1 and ", max_queues!(), ": the relay runs one worker per queue and at most ", max_queues!(), " workers")
        }
    ]))]
    pub queues: i32,

    /// UDP port the relay listens on for QUIC.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 65535", "message": "dataplane.port must be a UDP port between 1 and 65535"}
    ]))]
    pub port: i32,

    /// TCP port of the relay's metrics and health endpoints (`/metrics`, `/readyz`).
    #[serde(default = "default_metrics_port")]
    #[schemars(range(min = 1, max = 65535))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self >= 1 && self <= 65535", "message": "dataplane.metricsPort must be a TCP port between 1 and 65535"}
    ]))]
    pub metrics_port: i32,

    /// The cores the workers are pinned to, one per queue, as a core list (`2-5`). Defaults to
    /// the first `queues` cores of `tuning.isolatedCores`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "self.matches('^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$')",
            "message": "dataplane.workerCores must be a core list: comma-separated CPU numbers and ranges, such as \"2-5\" or \"2,3,8-11\""
        },
        {
            "rule": "!self.matches('^[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?)*$') || self.split(',').all(r, !r.contains('-') || int(r.split('-')[0]) <= int(r.split('-')[1]))",
            "message": "dataplane.workerCores has a range whose start is above its end: write ranges low-high, such as \"2-5\""
        }
    ]))]
    pub worker_cores: Option<String>,

    /// Name of a `kubernetes.io/tls` Secret in this namespace with the relay's certificate
    /// (`tls.crt`) and key (`tls.key`).
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')", "message": "dataplane.tlsSecretName must be a Secret name: lowercase letters, digits, '-' and '.'"}
    ]))]
    pub tls_secret_name: String,

    /// Name of a Secret in this namespace whose keys hold the client bearer tokens.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')", "message": "dataplane.tokenSecretName must be a Secret name: lowercase letters, digits, '-' and '.'"}
    ]))]
    pub token_secret_name: String,

    /// The addresses handed to clients (ADDRESS_ASSIGN); routed to the relay's TUN device.
    pub client_pool: ClientPool,

    /// How client traffic leaves the node. `nat`: a TUN device and kernel masquerading.
    #[serde(default)]
    pub egress: EgressMode,

    /// AF_XDP zero-copy: `auto` uses it where the driver supports it, `required` fails the relay
    /// where it does not, `off` always uses copy mode.
    #[serde(default)]
    pub zero_copy: ZeroCopyMode,

    /// Busy-poll the AF_XDP sockets from the pinned workers (lowest latency, a full core each).
    /// Default true.
    #[serde(default = "default_true")]
    pub busy_poll: bool,
}

fn default_port() -> i32 {
    443
}

fn default_metrics_port() -> i32 {
    9460
}

/// The client address pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientPool {
    /// IPv4 CIDR clients get addresses from, such as `10.64.0.0/16`.
    #[schemars(length(min = 9, max = 18))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() <= 30",
            "message": "dataplane.clientPool.ipv4 must be an IPv4 CIDR with room for clients (prefix /30 or shorter), such as 10.64.0.0/16"
        }
    ]))]
    pub ipv4: String,
    /// Optional IPv6 CIDR clients also get an address from, such as `fd00:64::/64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 43))]
    #[schemars(extend("x-kubernetes-validations" = [
        {
            "rule": "isCIDR(self) && cidr(self).ip().family() == 6 && cidr(self).prefixLength() <= 126",
            "message": "dataplane.clientPool.ipv6 must be an IPv6 CIDR with room for clients (prefix /126 or shorter), such as fd00:64::/64"
        }
    ]))]
    pub ipv6: Option<String>,
}

/// How client traffic leaves the node.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EgressMode {
    /// A TUN device owned by the relay, the pool routed to it, kernel masquerading to the NIC.
    #[default]
    Nat,
}

/// AF_XDP zero-copy policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ZeroCopyMode {
    /// Zero-copy where the driver supports it, copy mode elsewhere (reported in status).
    #[default]
    Auto,
    /// Zero-copy or the relay refuses to start.
    Required,
    /// Always copy mode.
    Off,
}

/// Image pull policy for the relay and tuner containers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    /// Always pull.
    Always,
    /// Pull when not present on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl ImagePullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}
