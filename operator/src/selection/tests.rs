use super::*;
use crate::fixtures::{node, relaynode_named};
use k8s_openapi::api::core::v1::{NodeSpec, Taint};

#[test]
fn selector_labels_must_all_match() {
    let rn = relaynode_named("edge", 1);
    assert!(selects(&rn, &node("a", &[("oxidize.dev/relay", "true")])));
    assert!(!selects(&rn, &node("b", &[("oxidize.dev/relay", "false")])));
    assert!(!selects(&rn, &node("c", &[])));
}

#[test]
fn taints_need_tolerations() {
    let rn = relaynode_named("edge", 1);
    let mut n = node("a", &[("oxidize.dev/relay", "true")]);
    n.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "oxidize.dev/dedicated".into(),
            value: Some("relay".into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }]),
        ..NodeSpec::default()
    });
    assert!(!selects(&rn, &n));
    let mut tolerant = rn.clone();
    tolerant.spec.tolerations = vec![Toleration {
        key: Some("oxidize.dev/dedicated".into()),
        operator: Some("Equal".into()),
        value: Some("relay".into()),
        effect: Some("NoSchedule".into()),
        ..Toleration::default()
    }];
    assert!(selects(&tolerant, &n));
    let mut exists_all = rn.clone();
    exists_all.spec.tolerations = vec![Toleration {
        operator: Some("Exists".into()),
        ..Toleration::default()
    }];
    assert!(selects(&exists_all, &n));
}

#[test]
fn the_younger_of_two_relaynodes_on_one_node_yields() {
    let old = relaynode_named("old", 100);
    let young = relaynode_named("young", 200);
    let nodes = vec![
        node("a", &[("oxidize.dev/relay", "true")]),
        node("b", &[("oxidize.dev/relay", "true")]),
    ];
    let all = vec![old.clone(), young.clone()];
    assert_eq!(conflict(&old, &all, &nodes), None);
    assert_eq!(
        conflict(&young, &all, &nodes),
        Some(Conflict {
            other: "relays/old".into(),
            nodes: vec!["a".into(), "b".into()],
        })
    );
}

#[test]
fn disjoint_pools_do_not_conflict() {
    let old = relaynode_named("old", 100);
    let mut young = relaynode_named("young", 200);
    young.spec.node_selector = [("pool".to_owned(), "b".to_owned())].into();
    let nodes = vec![
        node("a", &[("oxidize.dev/relay", "true")]),
        node("b", &[("pool", "b")]),
    ];
    assert_eq!(conflict(&young, &[old, young.clone()], &nodes), None);
}

#[test]
fn a_relaynode_being_deleted_no_longer_blocks() {
    let mut old = relaynode_named("old", 100);
    old.metadata.deletion_timestamp = old.metadata.creation_timestamp.clone();
    let young = relaynode_named("young", 200);
    let nodes = vec![node("a", &[("oxidize.dev/relay", "true")])];
    assert_eq!(conflict(&young, &[old, young.clone()], &nodes), None);
}
