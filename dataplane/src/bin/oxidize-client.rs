//! `oxidize-client`: the Linux MASQUE CONNECT-IP client. Wiring only.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;
use oxidize_client::routes::RouteSpec;
use oxidize_client::{defaults, ClientError, ClientOptions};
use oxidize_dataplane::telemetry::{self, LogFormat};

/// Oxidize client: tunnels this host's IP traffic to an Oxidize relay over MASQUE CONNECT-IP.
///
/// Brings up a TUN device with the address the relay assigns and routes everything (or the
/// --route prefixes) through it. Prints a status line every --status-interval and on SIGUSR1.
/// Exits 0 on SIGINT/SIGTERM (routes and device removed), 2 when the relay refuses the token.
#[derive(Debug, Parser)]
#[command(name = "oxidize-client", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t, env = "OXIDIZE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Relay address, `host:port`.
    relay: String,
    /// TLS server name (default: the host part of RELAY).
    #[arg(long)]
    server_name: Option<String>,
    /// PEM file with the CA certificate(s) to trust (default: the system roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// File whose first line is the bearer token (default: $OXIDIZE_TOKEN).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// TUN device name.
    #[arg(long, default_value = "oxc0")]
    tun: String,
    /// Route only this prefix through the tunnel (repeatable); without it: full tunnel.
    #[arg(long = "route", value_name = "CIDR")]
    routes: Vec<IpNet>,
    /// One packet per TUN read and write (no GSO/GRO batching through the virtio-net header).
    #[arg(long)]
    no_tun_offload: bool,
    /// Outer link MTU towards the relay (default: the outgoing interface's MTU).
    #[arg(long)]
    outer_mtu: Option<u32>,
    /// QUIC idle timeout in seconds (the relay's may be shorter).
    #[arg(long, default_value_t = defaults::IDLE_TIMEOUT.as_secs_f64())]
    idle_timeout: f64,
    /// QUIC keepalive interval in seconds.
    #[arg(long, default_value_t = defaults::KEEPALIVE.as_secs_f64())]
    keepalive: f64,
    /// Seconds one attempt may take until the tunnel is open.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// First reconnect delay in seconds (doubles per failure).
    #[arg(long, default_value_t = 0.2)]
    backoff_initial: f64,
    /// Longest reconnect delay in seconds.
    #[arg(long, default_value_t = 10.0)]
    backoff_max: f64,
    /// Seconds between status lines (0: only on SIGUSR1).
    #[arg(long, default_value_t = 30.0)]
    status_interval: f64,
}

fn secs(what: &str, s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("--{what} {s} is not a valid number of seconds"))
}

fn options(cli: Cli) -> anyhow::Result<ClientOptions> {
    let status = secs("status-interval", cli.status_interval)?;
    Ok(ClientOptions {
        relay: cli.relay,
        server_name: cli.server_name,
        ca_file: cli.ca_file,
        token_file: cli.token_file,
        tun_name: cli.tun,
        routes: if cli.routes.is_empty() {
            RouteSpec::FullTunnel
        } else {
            RouteSpec::Prefixes(cli.routes)
        },
        tun_offload: !cli.no_tun_offload,
        outer_mtu: cli.outer_mtu,
        idle_timeout: secs("idle-timeout", cli.idle_timeout)?,
        keepalive: secs("keepalive", cli.keepalive)?,
        connect_timeout: secs("connect-timeout", cli.connect_timeout)?,
        backoff_initial: secs("backoff-initial", cli.backoff_initial)?,
        backoff_max: secs("backoff-max", cli.backoff_max)?,
        status_interval: (!status.is_zero()).then_some(status),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let opts = match options(cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("oxidize-client: {e:#}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oxidize-client: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(oxidize_client::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ ClientError::Auth { .. }) => {
            eprintln!("oxidize-client: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("oxidize-client: {e}");
            ExitCode::from(1)
        }
    }
}
