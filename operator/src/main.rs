//! `oxidize-operator`: wiring only. The controller lives in the library.

use clap::Parser;

/// Oxidize operator: reconciles RelayNode resources into tuned, relay-running nodes.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "OXIDIZE_OPERATOR_HTTP", default_value = "0.0.0.0:8080")]
    http_addr: std::net::SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "the controller for {} is not wired yet; would serve HTTP on {}",
        oxidize_crds::api_version(),
        args.http_addr
    )
}
