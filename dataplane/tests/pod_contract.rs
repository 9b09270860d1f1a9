//! The command lines the operator renders into pods (`oxidize_crds::contract`) parse with the
//! dataplane's real argument definitions, so a renamed or value-less flag fails here instead of
//! crash-looping an init container on every node.

use clap::{Parser, Subcommand};
use oxidize_crds::contract;
use oxidize_tune::cli::TuneArgs;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Tune(TuneArgs),
}

fn parse(args: Vec<String>) -> TuneArgs {
    let argv = std::iter::once(contract::DATAPLANE_BINARY.to_owned()).chain(args);
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Tune(args),
        }) => args,
        Err(e) => panic!("the operator's tune arguments do not parse: {e}"),
    }
}

#[test]
fn tune_init_container_arguments_parse() {
    let args = parse(contract::tune_apply_args(
        "/etc/oxidize/config/plan.yaml",
        "/s.json",
    ));
    assert_eq!(args.plan, "/etc/oxidize/config/plan.yaml");
    assert!(!args.restore);
    assert_eq!(args.state_file.to_str(), Some("/s.json"));
    assert_eq!(
        args.termination_log.as_deref().and_then(|p| p.to_str()),
        Some(contract::TERMINATION_LOG)
    );
}

#[test]
fn restore_job_arguments_parse() {
    let args = parse(contract::tune_restore_args("/s.json"));
    assert!(args.restore);
    assert_eq!(args.state_file.to_str(), Some("/s.json"));
}

#[test]
fn relay_arguments_are_accepted_by_the_binary() {
    // The relay's flags belong to the binary; `--help` after them proves clap accepts them all.
    let mut args = contract::relay_args("/etc/oxidize/config/dataplane.yaml");
    args.push("--help".into());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oxidize-dataplane"))
        .args(&args)
        .output()
        .expect("run oxidize-dataplane");
    assert!(
        out.status.success(),
        "oxidize-dataplane {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
