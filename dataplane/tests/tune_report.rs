//! The `tune` binary on a fake tree: the JSON report on stdout and in the termination log, parsed
//! back by the operator's `TuningReport`; exit status follows the report.

// The fake node lives with the tuner's own tests; this test stays here because it runs the
// `oxidize-dataplane` binary.
#[path = "../tune/tests/tune_common/mod.rs"]
mod tune_common;

use std::process::{Command, Output};

use oxidize_crds::tuning::{TuneMode, TuningReport, TERMINATION_MESSAGE_LIMIT};
use tune_common::FakeNode;

fn tune(node: &FakeNode, plan: &str, extra: &[&str]) -> (Output, TuningReport, TuningReport) {
    let plan_path = node.root().join("plan.yaml");
    std::fs::write(&plan_path, plan).expect("write plan");
    let log = node.root().join("termination-log");
    let out = Command::new(env!("CARGO_BIN_EXE_oxidize-dataplane"))
        .arg("tune")
        .arg("--plan")
        .arg(&plan_path)
        .arg("--root")
        .arg(node.root())
        .arg("--state-file")
        .arg(node.state_file())
        .arg("--termination-log")
        .arg(&log)
        .args(extra)
        .env("NODE_NAME", "worker-7")
        .output()
        .expect("run tune");
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let report: TuningReport = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not a TuningReport ({e}): {stdout}"));
    let message = std::fs::read_to_string(&log).expect("termination log written");
    assert!(message.len() <= TERMINATION_MESSAGE_LIMIT);
    let summary: TuningReport = serde_json::from_str(&message).expect("termination log parses");
    (out, report, summary)
}

#[test]
fn a_successful_run_reports_on_stdout_and_in_the_termination_log() {
    let node = FakeNode::new();
    let (out, report, summary) = tune(
        &node,
        "sysctls: {net.core.busy_poll: \"50\"}\nisolatedCores: \"2-3\"\n",
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(report.success);
    assert_eq!(report.mode, TuneMode::Apply);
    assert_eq!(report.node.as_deref(), Some("worker-7"));
    assert_eq!(report.changes.len(), 1);
    assert!(report.reboot_needed);
    assert_eq!(summary, report, "a short report is not summarised");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("changed"), "human logs on stderr: {stderr}");

    let (out, restored, _) = tune(&node, "", &["--restore"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(restored.mode, TuneMode::Restore);
    assert_eq!(restored.changes[0].to, "0");
}

#[test]
fn an_invalid_plan_exits_non_zero_with_a_report() {
    let node = FakeNode::new();
    let (out, report, summary) = tune(&node, "sysctls: {net.core.nope: \"1\"}", &[]);
    assert!(!out.status.success());
    assert!(!report.success && !summary.success);
    assert!(report.errors[0].contains("net.core.nope"));
    let (out, report, _) = tune(&node, "sysctl: {}", &[]);
    assert!(!out.status.success());
    assert!(
        report.errors[0].contains("unknown field"),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_long_report_is_summarised_for_the_termination_log() {
    let node = FakeNode::new();
    // 300 sysctls -> a report far over 4 KiB.
    let mut plan = String::from("sysctls:\n");
    for i in 0..300 {
        node.put(
            &format!("/proc/sys/net/oxt/knob_with_a_long_name_{i}"),
            "0\n",
        );
        plan.push_str(&format!("  net.oxt.knob_with_a_long_name_{i}: \"{i}1\"\n"));
    }
    let (out, report, summary) = tune(&node, &plan, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(report.changes.len(), 300);
    let omitted = summary.omitted.expect("summarised");
    assert_eq!(summary.changes.len() + omitted.changes, 300);
    assert!(summary.success);
}
