//! The `RelayNode` API (group `relay.oxidize.dev`, version `v1alpha1`) and the config documents
//! that the operator writes into a ConfigMap and the dataplane reads.
//!
//! This crate does no I/O: it holds types, defaults and validation only, so that the operator,
//! the tuner and the relay agree on one definition.
#![forbid(unsafe_code)]

pub mod config;
pub mod contract;
pub mod convert;
/// The CustomResourceDefinition YAML that `crdgen` writes.
pub mod crd;
pub mod limits;
pub mod relaynode;
pub mod sample;
/// The node-tuning plan and report documents, and the core-list syntax.
pub mod tuning;

pub use relaynode::{RelayNode, RelayNodeSpec, RelayNodeStatus};

/// The API group of every Oxidize custom resource.
pub const API_GROUP: &str = "relay.oxidize.dev";

/// The served and stored version of the API.
pub const API_VERSION: &str = "v1alpha1";

/// `group/version`, as written in `apiVersion:` fields.
pub fn api_version() -> String {
    format!("{API_GROUP}/{API_VERSION}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_joins_group_and_version() {
        assert_eq!(api_version(), "relay.oxidize.dev/v1alpha1");
    }
}
