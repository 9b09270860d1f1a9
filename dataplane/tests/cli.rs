//! The dataplane binaries start, describe themselves and report their version.

use std::process::Command;

fn run(bin: &str, arg: &str) -> String {
    let out = Command::new(bin).arg(arg).output().expect("run binary");
    assert!(out.status.success(), "{bin} {arg}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn binaries_report_their_version() {
    let version = env!("CARGO_PKG_VERSION");
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_oxidize-dataplane"), "oxidize-dataplane"),
        (env!("CARGO_BIN_EXE_oxidize-client"), "oxidize-client"),
    ] {
        assert_eq!(run(bin, "--version").trim(), format!("{name} {version}"));
    }
}

#[test]
fn dataplane_help_lists_relay_and_tune() {
    let help = run(env!("CARGO_BIN_EXE_oxidize-dataplane"), "--help");
    assert!(help.contains("relay"), "{help}");
    assert!(help.contains("tune"), "{help}");
}

/// Logs to a pipe (what `kubectl logs` reads) are plain text: no ANSI escape anywhere.
#[test]
fn logs_to_a_pipe_have_no_colour_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("relay.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: relay.oxidize.dev/v1alpha1
kind: DataplaneConfig
interface: lo
queues: 1
workerCores: [0]
port: 4433
metricsAddr: 127.0.0.1:0
tlsCertFile: {d}/missing.crt
tlsKeyFile: {d}/missing.key
tokensDir: {d}/tokens
clientPoolIpv4: 10.99.0.0/24
egress: nat
zeroCopy: auto
busyPoll: false
",
            d = dir.path().display()
        ),
    )
    .expect("write config");
    // The relay logs its start, then fails on the missing certificate: both go to the pipe.
    let out = Command::new(env!("CARGO_BIN_EXE_oxidize-dataplane"))
        .args(["relay", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .expect("run the relay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("relay: starting"), "no log line:\n{stderr}");
    assert!(
        !out.stderr.contains(&0x1b),
        "ANSI escapes in logs written to a pipe:\n{stderr:?}"
    );
}
