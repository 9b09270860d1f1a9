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
