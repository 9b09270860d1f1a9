//! The `tune` subcommand's flags and its run function (the binary only dispatches here).

use std::path::{Path, PathBuf};

use oxidize_crds::tuning::{TuningReport, TERMINATION_MESSAGE_LIMIT};

use super::ethtool_nl::NetlinkNic;
use super::{Env, Result, RootDir, TuneError, DEFAULT_STATE_FILE};

/// Kubernetes' default termination-message path.
pub const DEFAULT_TERMINATION_LOG: &str = oxidize_crds::contract::TERMINATION_LOG;

/// Flags of `oxidize-dataplane tune`.
#[derive(Debug, Clone, clap::Args)]
pub struct TuneArgs {
    /// The tuning plan (YAML or JSON) file, or `-` for stdin. Not needed with --restore.
    #[arg(long, default_value = "-")]
    pub plan: String,
    /// The NIC to tune; overrides the plan's `interface`.
    #[arg(long, env = "OXIDIZE_INTERFACE")]
    pub interface: Option<String>,
    /// Directory under which /proc and /sys are found (for tests and chroots).
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
    /// Record of original values on the host, for --restore.
    #[arg(long, default_value = DEFAULT_STATE_FILE)]
    pub state_file: PathBuf,
    /// Where to write the (size-limited) JSON report for Kubernetes; default
    /// /dev/termination-log when it exists.
    #[arg(long)]
    pub termination_log: Option<PathBuf>,
    /// Put back every recorded original value and remove the record.
    #[arg(long)]
    pub restore: bool,
    /// Node name for the report (the operator sets it from the downward API).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
}

/// Runs `tune` (or `tune --restore`): prints the JSON report on stdout, writes the summarised
/// report to the termination log, and fails when the report says so.
///
/// # Errors
/// [`TuneError`]: the NIC backend did not start, the termination log could not be written, or
/// the report says the run failed.
pub fn run(args: &TuneArgs) -> Result<()> {
    let fs = RootDir::new(&args.root);
    let nic = NetlinkNic::new()?;
    let env = Env { fs: &fs, nic: &nic };
    let mut report = if args.restore {
        super::restore(&args.state_file, env)
    } else {
        match super::load_plan(&args.plan) {
            Ok(plan) => super::apply(&plan, args.interface.as_deref(), &args.state_file, env),
            Err(e) => {
                let mut report = TuningReport::new(oxidize_crds::tuning::TuneMode::Apply);
                report.success = false;
                report.errors.push(e.to_string());
                report.message = Some("invalid plan: nothing was changed".into());
                report
            }
        }
    };
    report.node = args.node_name.clone();
    println!("{}", report.to_json());
    let termination_log = args.termination_log.clone().or_else(|| {
        Path::new(DEFAULT_TERMINATION_LOG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_TERMINATION_LOG))
    });
    if let Some(path) = termination_log {
        std::fs::write(&path, report.summarise(TERMINATION_MESSAGE_LIMIT))
            .map_err(|source| TuneError::TerminationLog { path, source })?;
    }
    if !report.success {
        return Err(TuneError::Failed(
            report
                .message
                .unwrap_or_else(|| "tuning failed; see the report".to_owned()),
        ));
    }
    Ok(())
}
