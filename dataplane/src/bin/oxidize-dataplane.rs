//! `oxidize-dataplane`: the relay and the node tuner in one image. Wiring only.

use anyhow::Result;
use clap::{Parser, Subcommand};
use oxidize_dataplane::telemetry::{self, LogFormat};

/// Oxidize dataplane: the AF_XDP QUIC relay and the node tuner.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "OXIDIZE_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the QUIC / MASQUE CONNECT-IP relay on AF_XDP workers.
    Relay(oxidize_relay::RelayArgs),
    /// Tune this node for packet processing from a tuning plan (or restore it).
    Tune(oxidize_tune::cli::TuneArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Relay(args) => Ok(oxidize_relay::run(&args)?),
        Command::Tune(args) => Ok(oxidize_tune::cli::run(&args)?),
    }
}
