use super::*;
use crate::sample;
use crate::tuning::HugepageSize;

#[test]
fn sample_spec_becomes_both_documents() {
    let docs = documents(&sample::spec()).expect("sample converts");
    let plan = &docs.tuning_plan;
    assert_eq!(plan.api_version, "relay.oxidize.dev/v1alpha1");
    assert_eq!(plan.kind, "TuningPlan");
    assert_eq!(plan.interface.as_deref(), Some("eth1"));
    assert_eq!(plan.queues, Some(4));
    assert_eq!(plan.worker_cores.as_deref(), Some("2-5"));
    assert_eq!(plan.isolated_cores.as_deref(), Some("2-5"));
    let hp = plan.hugepages.as_ref().expect("hugepages");
    assert_eq!((hp.size, hp.count_per_node), (HugepageSize::TwoMi, 512));
    assert_eq!(
        plan.sysctls.get("net.core.busy_poll").map(String::as_str),
        Some("50")
    );
    let nic = plan.nic.as_ref().expect("nic");
    assert_eq!(nic.channels.as_ref().and_then(|c| c.combined), Some(4));
    assert_eq!(nic.rings.as_ref().and_then(|r| r.rx), Some(4096));
    assert_eq!(nic.rings.as_ref().and_then(|r| r.tx), None);
    assert_eq!((nic.gro, nic.lro), (Some(false), Some(false)));
    assert!(plan.pin_irqs);

    let dp = &docs.dataplane;
    assert_eq!(dp.kind, "DataplaneConfig");
    assert_eq!(dp.worker_cores, vec![2, 3, 4, 5]);
    assert_eq!(dp.port, 443);
    assert_eq!(dp.metrics_addr, "0.0.0.0:9460");
    assert_eq!(dp.tls_cert_file, "/etc/oxidize/tls/tls.crt");
    assert_eq!(dp.tokens_dir, "/etc/oxidize/tokens");
    assert_eq!(dp.client_pool_ipv6.as_deref(), Some("fd00:64::/64"));
    assert_eq!(dp.umem_hugepages, Some(HugepageSize::TwoMi));
}

#[test]
fn documents_round_trip_through_yaml() {
    let docs = documents(&sample::spec()).expect("sample converts");
    let yaml = docs.dataplane.to_yaml().expect("yaml");
    assert!(yaml.contains("kind: DataplaneConfig"), "{yaml}");
    assert_eq!(
        DataplaneConfig::from_yaml(&yaml).expect("parses"),
        docs.dataplane
    );
    let plan_yaml = serde_yaml_ng::to_string(&docs.tuning_plan).expect("yaml");
    let back: TuningPlan = serde_yaml_ng::from_str(&plan_yaml).expect("plan parses");
    assert_eq!(back, docs.tuning_plan);
}

#[test]
fn other_document_versions_are_refused() {
    let docs = documents(&sample::spec()).expect("sample converts");
    let yaml = docs
        .dataplane
        .to_yaml()
        .expect("yaml")
        .replace("relay.oxidize.dev/v1alpha1", "relay.oxidize.dev/v9");
    let err = DataplaneConfig::from_yaml(&yaml).expect_err("v9 refused");
    assert!(
        err.to_string()
            .contains("relay.oxidize.dev/v9/DataplaneConfig"),
        "{err}"
    );
}

#[test]
fn worker_cores_default_to_the_first_isolated_cores() {
    let mut spec = sample::spec();
    spec.tuning.isolated_cores = "2-9".into();
    spec.dataplane.queues = 2;
    assert_eq!(worker_cores(&spec), Ok(vec![2, 3]));
}

#[test]
fn spec_errors_name_the_field() {
    let mut spec = sample::spec();
    spec.dataplane.worker_cores = Some("2,3,4,9".into());
    let err = documents(&spec).expect_err("9 is not isolated");
    assert!(
        err.to_string()
            .contains("core 9, which is not in tuning.isolatedCores"),
        "{err}"
    );

    let mut spec = sample::spec();
    spec.dataplane.worker_cores = Some("2,2,3,4".into());
    assert_eq!(
        documents(&spec),
        Err(SpecError::WorkerCount {
            cores: 3,
            queues: 4
        }),
        "a repeated core counts once"
    );

    let mut spec = sample::spec();
    spec.dataplane.worker_cores = Some("2-3".into());
    assert_eq!(
        documents(&spec),
        Err(SpecError::WorkerCount {
            cores: 2,
            queues: 4
        })
    );

    let mut spec = sample::spec();
    spec.tuning.isolated_cores = "5-2".into();
    let err = documents(&spec).expect_err("reversed");
    assert!(
        err.to_string().starts_with("tuning.isolatedCores: "),
        "{err}"
    );
}

#[test]
fn without_nic_settings_gro_and_lro_are_still_turned_off() {
    let mut spec = sample::spec();
    spec.tuning.nic = None;
    spec.tuning.hugepages = None;
    let docs = documents(&spec).expect("converts");
    let nic = docs.tuning_plan.nic.expect("nic plan");
    assert_eq!(
        (nic.gro, nic.lro, nic.rings),
        (Some(false), Some(false), None)
    );
    assert_eq!(docs.dataplane.umem_hugepages, None);
}

#[test]
fn forwarding_is_part_of_the_plan_and_cannot_be_turned_off() {
    let mut spec = sample::spec();
    spec.dataplane.client_pool.ipv6 = None;
    let plan = documents(&spec).expect("converts").tuning_plan;
    assert_eq!(
        plan.sysctls.get(FORWARDING_V4).map(String::as_str),
        Some("1")
    );
    assert_eq!(
        plan.sysctls.get(FORWARDING_V6),
        None,
        "no IPv6 pool, no IPv6 forwarding"
    );

    let plan = documents(&sample::spec()).expect("converts").tuning_plan;
    assert_eq!(
        plan.sysctls.get(FORWARDING_V6).map(String::as_str),
        Some("1")
    );

    let mut spec = sample::spec();
    spec.tuning.sysctls.insert(FORWARDING_V4.into(), "0".into());
    let err = documents(&spec).expect_err("forwarding off is refused");
    assert!(
        err.to_string()
            .contains("tuning.sysctls.net.ipv4.ip_forward is \"0\""),
        "{err}"
    );
    assert!(err.to_string().contains("needs \"1\""), "{err}");
}

#[test]
fn the_egress_interface_reaches_the_relay_config() {
    let mut spec = sample::spec();
    assert_eq!(
        documents(&spec)
            .expect("converts")
            .dataplane
            .relay
            .egress_interface,
        None
    );
    spec.dataplane.egress_interface = Some("eth0".into());
    let dp = documents(&spec).expect("converts").dataplane;
    assert_eq!(dp.relay.egress_interface.as_deref(), Some("eth0"));
}
