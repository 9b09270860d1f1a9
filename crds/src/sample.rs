//! A complete, valid RelayNode spec, for tests and documentation (the same values as
//! `deploy/examples/relaynode-basic.yaml`).

use std::collections::BTreeMap;

use crate::relaynode::{
    ClientPool, DataplaneSpec, EgressMode, HugepageSize, HugepagesSpec, NicSpec, RelayNodeSpec,
    RolloutSpec, TuningSpec, ZeroCopyMode,
};

/// A spec for 4 queues on `eth1`, workers on isolated cores 2-5, 2 MiB hugepages.
pub fn spec() -> RelayNodeSpec {
    RelayNodeSpec {
        node_selector: BTreeMap::from([("oxidize.dev/relay".to_owned(), "true".to_owned())]),
        tolerations: Vec::new(),
        tuning: TuningSpec {
            hugepages: Some(HugepagesSpec {
                size: HugepageSize::TwoMi,
                count_per_numa_node: 512,
            }),
            sysctls: BTreeMap::from([("net.core.busy_poll".to_owned(), "50".to_owned())]),
            nic: Some(NicSpec {
                rx_ring: Some(4096),
                tx_ring: None,
                channels: Some(4),
                coalescing: None,
                disable_gro: true,
                disable_lro: true,
            }),
            isolated_cores: "2-5".to_owned(),
            pin_irqs: true,
        },
        dataplane: DataplaneSpec {
            image: "ghcr.io/oxidize-dev/oxidize-dataplane:v0.1.0".to_owned(),
            image_pull_policy: None,
            interface: "eth1".to_owned(),
            egress_interface: None,
            queues: 4,
            port: 443,
            metrics_port: 9460,
            worker_cores: None,
            tls_secret_name: "relay-tls".to_owned(),
            token_secret_name: "relay-tokens".to_owned(),
            client_pool: ClientPool {
                ipv4: "10.64.0.0/16".to_owned(),
                ipv6: Some("fd00:64::/64".to_owned()),
            },
            egress: EgressMode::Nat,
            zero_copy: ZeroCopyMode::Auto,
            busy_poll: true,
        },
        rollout: RolloutSpec::default(),
    }
}
