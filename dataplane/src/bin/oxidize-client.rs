//! `oxidize-client`: the Linux MASQUE CONNECT-IP client. Wiring only.

use anyhow::Result;
use clap::Parser;
use oxidize_dataplane::telemetry::{self, LogFormat};

/// Oxidize client: tunnels this host's IP traffic to an Oxidize relay over MASQUE CONNECT-IP.
#[derive(Debug, Parser)]
#[command(name = "oxidize-client", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t, env = "OXIDIZE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Relay address, `host:port`.
    relay: Option<String>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    anyhow::bail!(
        "the client is not built yet (client issue); relay = {:?}",
        cli.relay
    )
}
