use super::*;

const PLAN_YAML: &str = r#"
apiVersion: relay.oxidize.dev/v1alpha1
kind: TuningPlan
interface: ens5f0
queues: 4
workerCores: "2-5"
isolatedCores: "2-5"
hugepages:
  size: 2Mi
  countPerNode: 512
sysctls:
  net.core.busy_poll: "50"
  net.core.rmem_max: "16777216"
nic:
  channels:
    combined: 4
  rings:
    rx: 4096
    tx: 4096
  coalescing:
    rxUsecs: 8
    adaptiveRx: false
  gro: false
  lro: false
"#;

#[test]
fn plan_parses_from_yaml_with_every_kind_of_setting() {
    let plan: TuningPlan = serde_yaml_ng::from_str(PLAN_YAML).expect("plan parses");
    assert_eq!(plan.kind, TUNING_PLAN_KIND);
    assert_eq!(plan.interface.as_deref(), Some("ens5f0"));
    assert_eq!(plan.queues, Some(4));
    let huge = plan.hugepages.as_ref().expect("hugepages");
    assert_eq!(huge.size, HugepageSize::TwoMi);
    assert_eq!(huge.count_per_node, 512);
    assert!(huge.nodes.is_empty());
    assert_eq!(plan.sysctls["net.core.busy_poll"], "50");
    let nic = plan.nic.as_ref().expect("nic");
    assert_eq!(nic.channels.as_ref().and_then(|c| c.combined), Some(4));
    assert_eq!(nic.rings.as_ref().and_then(|r| r.rx), Some(4096));
    assert_eq!(
        nic.coalescing.as_ref().and_then(|c| c.adaptive_rx),
        Some(false)
    );
    assert_eq!(nic.gro, Some(false));
    assert!(plan.pin_irqs, "pinIrqs defaults to true");
}

#[test]
fn plan_round_trips_through_yaml_and_json() {
    let plan: TuningPlan = serde_yaml_ng::from_str(PLAN_YAML).expect("plan parses");
    let yaml = serde_yaml_ng::to_string(&plan).expect("yaml");
    let back: TuningPlan = serde_yaml_ng::from_str(&yaml).expect("yaml back");
    assert_eq!(back, plan);
    let json = serde_json::to_string(&plan).expect("json");
    let back: TuningPlan = serde_json::from_str(&json).expect("json back");
    assert_eq!(back, plan);
}

#[test]
fn empty_plan_gets_version_and_kind() {
    let plan: TuningPlan = serde_yaml_ng::from_str("{}").expect("empty plan");
    assert_eq!(plan, TuningPlan::default());
    assert_eq!(plan.api_version, "relay.oxidize.dev/v1alpha1");
}

#[test]
fn plan_rejects_unknown_fields_and_bad_page_size() {
    let typo = serde_yaml_ng::from_str::<TuningPlan>("sysctl: {}\n");
    assert!(typo.is_err(), "a misspelt field must not be ignored");
    let size = serde_yaml_ng::from_str::<TuningPlan>("hugepages: {size: 4Mi, countPerNode: 1}\n");
    assert!(size.is_err());
    let one_gi: TuningPlan =
        serde_yaml_ng::from_str("hugepages: {size: 1Gi, countPerNode: 1, nodes: [1]}\n")
            .expect("1Gi parses");
    let huge = one_gi.hugepages.expect("hugepages");
    assert_eq!(huge.size.kib(), 1_048_576);
    assert_eq!(huge.nodes, vec![1]);
}

fn sample_report() -> TuningReport {
    TuningReport {
        node: Some("worker-1".into()),
        changes: vec![Change {
            item: "sysctl net.core.busy_poll".into(),
            from: "0".into(),
            to: "50".into(),
        }],
        warnings: vec!["isolated cores 2-5 missing: add isolcpus=2-5 nohz_full=2-5".into()],
        kubelet_restart_needed: true,
        reboot_needed: true,
        hugepages: vec![HugepagesOutcome {
            node: 0,
            size: HugepageSize::TwoMi,
            planned: 512,
            obtained: 300,
        }],
        ..TuningReport::new(TuneMode::Apply)
    }
}

#[test]
fn report_round_trips_through_json_and_yaml() {
    let report = sample_report();
    let json = report.to_json();
    assert!(json.contains("\"kubeletRestartNeeded\":true"), "{json}");
    let back: TuningReport = serde_json::from_str(&json).expect("json back");
    assert_eq!(back, report);
    let yaml = serde_yaml_ng::to_string(&report).expect("yaml");
    let back: TuningReport = serde_yaml_ng::from_str(&yaml).expect("yaml back");
    assert_eq!(back, report);
    assert!(!back.hugepages_met());
    assert!(!back.no_changes());
}

#[test]
fn report_ignores_fields_it_does_not_know() {
    let json = r#"{"success":false,"errors":["x"],"futureField":1}"#;
    let report: TuningReport = serde_json::from_str(json).expect("lenient");
    assert!(!report.success);
    assert_eq!(report.kind, TUNING_REPORT_KIND);
}

#[test]
fn summarise_keeps_a_short_report_whole() {
    let report = sample_report();
    assert_eq!(
        report.summarise(TERMINATION_MESSAGE_LIMIT),
        report.to_json()
    );
}

#[test]
fn summarise_fits_a_long_report_into_the_limit_and_counts_what_it_dropped() {
    let mut report = sample_report();
    for irq in 0..200 {
        report.changes.push(Change {
            item: format!("irq {irq} smp_affinity_list"),
            from: "0-63".into(),
            to: format!("{}", irq % 64),
        });
    }
    report.warnings.push("w".repeat(10_000));
    report.errors.push("failed: ".to_owned() + &"e".repeat(500));
    let summary = report.summarise(TERMINATION_MESSAGE_LIMIT);
    assert!(
        summary.len() <= TERMINATION_MESSAGE_LIMIT,
        "{}",
        summary.len()
    );
    let back: TuningReport = serde_json::from_str(&summary).expect("summary parses");
    let omitted = back.omitted.clone().expect("omitted is set");
    assert_eq!(back.changes.len() + omitted.changes, report.changes.len());
    assert!(omitted.changes > 0);
    assert_eq!(back.errors.len(), 1, "the error is kept");
    assert!(back.kubelet_restart_needed && back.reboot_needed);
    assert_eq!(back.hugepages, report.hugepages);
    assert!(back.warnings.iter().all(|w| w.chars().count() <= 161));
}

#[test]
fn summarise_falls_back_to_flags_only_when_nothing_else_fits() {
    let mut report = sample_report();
    report.success = false;
    report.errors.push("x".repeat(1000));
    let summary = report.summarise(300);
    assert!(summary.len() <= 300, "{summary}");
    let back: TuningReport = serde_json::from_str(&summary).expect("parses");
    assert!(!back.success);
    assert_eq!(back.omitted.map(|o| o.errors), Some(1));
}

#[test]
fn core_list_parses_ranges_and_singles() {
    assert_eq!(parse_core_list("2-5,8"), Ok(vec![2, 3, 4, 5, 8]));
    assert_eq!(parse_core_list("0\n"), Ok(vec![0]));
    assert_eq!(parse_core_list(""), Ok(vec![]));
    assert_eq!(parse_core_list(" \n"), Ok(vec![]));
    assert_eq!(parse_core_list("8,2-3,3"), Ok(vec![2, 3, 8]));
}

#[test]
fn core_list_errors_name_the_bad_element() {
    assert!(matches!(
        parse_core_list("1,,2"),
        Err(CoreListError::EmptyElement { .. })
    ));
    assert!(matches!(
        parse_core_list("5-2"),
        Err(CoreListError::ReversedRange { element, .. }) if element == "5-2"
    ));
    for bad in ["a", "1-", "-1", "1-2-3", "+1", "0-4:2/4"] {
        let err = parse_core_list(bad).expect_err(bad);
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[test]
fn core_list_formats_back() {
    assert_eq!(format_core_list(&[8, 2, 3, 4, 5]), "2-5,8");
    assert_eq!(format_core_list(&[]), "");
    assert_eq!(format_core_list(&[1, 3]), "1,3");
    for list in ["0-3", "1,5-7,9"] {
        let cores = parse_core_list(list).expect("parses");
        assert_eq!(format_core_list(&cores), list);
    }
}
