//! `oxidize-operator`: wiring only. Builds the client, the HTTP server, leader election and the
//! controller from the library, and exits non-zero when any of them fails. SIGTERM or SIGINT
//! stops it within two seconds, releasing the leader Lease ([`oxidize_operator::lifecycle`]).

use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use futures::FutureExt as _;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use oxidize_operator::controller::{self, Config, State};
use oxidize_operator::lifecycle::{self, Exit};
use oxidize_operator::telemetry::{self, LogFormat};
use tracing::{info, warn};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

/// Oxidize operator: reconciles RelayNode resources into tuned, relay-running nodes.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address for /metrics, /healthz and /readyz.
    #[arg(long, env = "OXIDIZE_OPERATOR_HTTP", default_value = "0.0.0.0:8080")]
    http_addr: std::net::SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    log_format: Format,
    /// Log filter (EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log_level: String,
    /// Only watch RelayNodes in this namespace (default: all).
    #[arg(long)]
    namespace: Option<String>,
    /// Elect one active replica through a Lease.
    #[arg(long)]
    leader_election: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "oxidize-operator")]
    lease_name: String,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "oxidize-system")]
    lease_namespace: String,
    /// Seconds a leader holds the Lease without renewing.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// This replica's identity in the Lease and in Events.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds deletion waits for restore Jobs.
    #[arg(long, default_value_t = 180)]
    restore_timeout_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // First, so that a SIGTERM from here on stops the operator cleanly.
    let termination = lifecycle::termination().context("cannot install the signal handlers")?;
    let shutdown = async move {
        let signal = termination.await;
        info!(signal, "shutting down");
    };
    let args = Args::parse();
    let format = match args.log_format {
        Format::Json => LogFormat::Json,
        Format::Text => LogFormat::Text,
    };
    telemetry::init(format, &args.log_level).map_err(anyhow::Error::msg)?;
    let client = Client::try_default()
        .await
        .context("cannot build a Kubernetes client (in-cluster config or KUBECONFIG)")?;
    let state = State::default();
    let http_state = state.clone();
    let addr = args.http_addr;
    let http = tokio::spawn(async move { oxidize_operator::http::serve(addr, http_state).await });
    let config = Config {
        restore_timeout: Duration::from_secs(args.restore_timeout_seconds),
        ..Config::default()
    };
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("oxidize-operator-{}", std::process::id()));
    let (namespace, ctrl_state, ctrl_client) = (args.namespace, state.clone(), client.clone());
    let ctrl_identity = identity.clone();
    // Fn, not FnOnce: a replica that loses the Lease campaigns again and may lead again.
    let controller = move |stop| {
        controller::run(
            ctrl_state.clone(),
            ctrl_client.clone(),
            namespace.clone(),
            config.clone(),
            Some(ctrl_identity.clone()),
            stop,
        )
    };

    if !args.leader_election {
        tokio::select! {
            () = lifecycle::run_alone(&state, shutdown, controller) => return Ok(()),
            r = http => anyhow::bail!("the HTTP server stopped: {r:?}"),
        }
    }

    // A lost Lease (e.g. the apiserver was away longer than the renew deadline) stops the
    // controller at once, then this replica campaigns again instead of exiting: a restart would
    // only add the kubelet's crash-loop back-off to the time without a leader.
    let shutdown = shutdown.boxed().shared();
    let mut http = http;
    loop {
        let lease = match LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(&args.lease_namespace)
            .with_identity(&identity)
            .with_duration(args.lease_duration_seconds)
            .with_grace(args.lease_duration_seconds.div_ceil(3).max(2))
            .build()
            .await
        {
            Ok(lease) => lease,
            Err(e) => {
                warn!(error = %e, "cannot set up leader election; retrying in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.clone() => return Ok(()),
                }
            }
        };
        info!(lease = %args.lease_name, %identity, "campaigning for the leader Lease");
        let exit = tokio::select! {
            exit = lifecycle::run_elected(lease, &state, shutdown.clone(), &controller) => exit,
            r = &mut http => anyhow::bail!("the HTTP server stopped: {r:?}"),
        };
        match exit {
            Exit::Shutdown => return Ok(()),
            Exit::LostLease => {
                warn!("lost the leader Lease; reconciling stopped, campaigning again")
            }
            Exit::ElectionFailed => warn!("leader election stopped; campaigning again in 1 s"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.clone() => return Ok(()),
        }
    }
}
