//! The ConfigMap holding the tuning plan and the dataplane config.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use oxidize_crds::config::{DATAPLANE_CONFIG_KEY, TUNING_PLAN_KEY};
use oxidize_crds::convert::Documents;
use oxidize_crds::RelayNode;
use sha2::{Digest, Sha256};

use super::{owned_meta, Names};
use crate::Error;

/// The ConfigMap with both documents as YAML.
pub fn configmap(rn: &RelayNode, docs: &Documents) -> Result<ConfigMap, Error> {
    let names = Names::for_relaynode(&kube::ResourceExt::name_any(rn));
    let plan =
        serde_yaml_ng::to_string(&docs.tuning_plan).map_err(|e| Error::Serialize(e.to_string()))?;
    let dataplane = docs
        .dataplane
        .to_yaml()
        .map_err(|e| Error::Serialize(e.to_string()))?;
    Ok(ConfigMap {
        metadata: owned_meta(rn, &names.configmap),
        data: Some(BTreeMap::from([
            (TUNING_PLAN_KEY.to_owned(), plan),
            (DATAPLANE_CONFIG_KEY.to_owned(), dataplane),
        ])),
        ..ConfigMap::default()
    })
}

/// SHA-256 over the ConfigMap data (keys and values, in key order), hex; changes whenever a
/// document changes, so the pod template changes and the DaemonSet rolls.
pub fn config_hash(cm: &ConfigMap) -> String {
    let mut h = Sha256::new();
    for (k, v) in cm.data.iter().flatten() {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::relaynode;

    #[test]
    fn configmap_carries_both_documents_and_an_owner() {
        let rn = relaynode();
        let docs = oxidize_crds::convert::documents(&rn.spec).expect("docs");
        let cm = configmap(&rn, &docs).expect("renders");
        assert_eq!(cm.metadata.name.as_deref(), Some("edge-config"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("relays"));
        let owner = &cm.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("RelayNode", "edge")
        );
        assert_eq!(owner.controller, Some(true));
        let data = cm.data.as_ref().expect("data");
        let plan: oxidize_crds::tuning::TuningPlan =
            serde_yaml_ng::from_str(&data[TUNING_PLAN_KEY]).expect("plan parses as YAML");
        assert_eq!(plan, docs.tuning_plan);
        let dp = oxidize_crds::config::DataplaneConfig::from_yaml(&data[DATAPLANE_CONFIG_KEY])
            .expect("config parses");
        assert_eq!(dp, docs.dataplane);
    }

    #[test]
    fn hash_changes_with_the_documents() {
        let rn = relaynode();
        let docs = oxidize_crds::convert::documents(&rn.spec).expect("docs");
        let a = config_hash(&configmap(&rn, &docs).expect("renders"));
        let mut rn2 = relaynode();
        rn2.spec.dataplane.port = 8443;
        let docs2 = oxidize_crds::convert::documents(&rn2.spec).expect("docs");
        let b = config_hash(&configmap(&rn2, &docs2).expect("renders"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(a, config_hash(&configmap(&rn, &docs).expect("renders")));
    }
}
