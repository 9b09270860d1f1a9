//! The Linux client: one CONNECT-IP tunnel to a relay, brought up as a TUN device.
//!
//! - [`config`]: relay address, TLS roots, token, the QUIC transport (keepalives, MTU, 0-RTT).
//! - [`session`]: one connection, a tokio loop around the relay core's sans-IO `ClientCore`.
//! - [`tun`]: the TUN device with separate reader and writer threads.
//! - [`routes`]: full tunnel or prefixes (plan + `ip` commands), removed on exit and at start.
//! - [`backoff`], [`status`]: the pure parts (MTUs: `oxidize_relay_core::mtu`).
//!
//! [`run`] ties them together: connect, reconnect with backoff until SIGINT/SIGTERM, and
//! give up only on an auth failure (401/403).

pub mod backoff;
pub mod config;
pub mod error;
pub mod routes;
pub mod session;
pub mod signals;
pub mod status;
pub mod tun;

use std::time::{Duration, Instant};

use oxidize_relay_core::client::TunnelConfig;
use oxidize_relay_core::template::DEFAULT_TEMPLATE;

pub use config::ClientOptions;
pub use error::ClientError;

use backoff::Backoff;
use session::{Context, Outcome};
use signals::{Signal, Signals};
use status::State;

/// Packets queued from the TUN reader to the connection loop.
const READ_QUEUE: usize = 4096;

/// The request path for a full tunnel on the default URI template (`*` target and protocol).
pub fn full_tunnel_path() -> String {
    DEFAULT_TEMPLATE
        .replace("{target}", "*")
        .replace("{ipproto}", "*")
}

fn outer_mtu(dev: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}

/// Runs the client until SIGINT/SIGTERM (Ok) or an auth failure / setup error (Err).
/// Removes its TUN device and routes on the way out, whatever the outcome.
///
/// # Errors
/// [`ClientError`]; [`ClientError::Auth`] when the relay refuses the token.
pub async fn run(opts: ClientOptions) -> Result<(), ClientError> {
    let relay = config::resolve(&opts.relay)?;
    let token = config::load_token(
        opts.token_file.as_deref(),
        std::env::var(config::TOKEN_ENV).ok(),
    )?;
    let roots = config::load_roots(opts.ca_file.as_deref())?;
    // Leftovers of a killed run first: they would swallow the route to the relay.
    routes::flush();
    tun::remove_stale(&opts.tun_name);
    let original = routes::original_route(relay.ip())?;
    let outer = opts
        .outer_mtu
        .or_else(|| outer_mtu(&original.dev))
        .unwrap_or(1500);
    let mtu = oxidize_relay_core::mtu::path_mtu(outer, relay.is_ipv6())?;
    tracing::info!(%relay, via = %original.dev, outer_mtu = outer, tun_mtu = mtu.tun, "starting");
    let quic = config::quic_config(&roots, opts.idle_timeout, opts.keepalive, mtu.udp_payload)?;
    let host = config::host_part(&opts.relay);
    let server_name = opts.server_name.clone().unwrap_or_else(|| host.to_owned());
    let (to_relay, from_tun) = tokio::sync::mpsc::channel(READ_QUEUE);
    let mut ctx = Context {
        relay,
        tunnel: TunnelConfig {
            quic,
            server: relay,
            authority: format!("{server_name}:{}", relay.port()),
            server_name,
            path: full_tunnel_path(),
            token,
            seed: [0; 32],
        },
        tun_name: opts.tun_name.clone(),
        mtu,
        routes: opts.routes.clone(),
        original: Some(original),
        connect_timeout: opts.connect_timeout,
        tun_offload: opts.tun_offload,
        tun: None,
        from_tun,
        to_relay,
        status: status::Status::default(),
        routed: None,
        lost_at: None,
    };
    let mut signals = Signals::new(opts.status_interval)?;
    let result = reconnect_loop(&mut ctx, &mut signals, &opts).await;
    routes::flush();
    if let Some(tun) = ctx.tun.take() {
        tun.remove();
    }
    session::print_status(&ctx);
    tracing::info!("routes and TUN device removed");
    result
}

async fn reconnect_loop(
    ctx: &mut Context,
    signals: &mut Signals,
    opts: &ClientOptions,
) -> Result<(), ClientError> {
    let mut backoff = Backoff::new(opts.backoff_initial, opts.backoff_max);
    loop {
        match session::run(ctx, signals).await? {
            Outcome::Shutdown => return Ok(()),
            Outcome::Lost { was_open, reason } => {
                if was_open {
                    backoff.reset();
                    ctx.lost_at = Some(Instant::now());
                }
                let delay = backoff.next_delay(jitter());
                tracing::warn!(
                    %reason,
                    retry_in_ms = delay.as_millis() as u64,
                    attempt = backoff.attempts(),
                    "connection lost; reconnecting"
                );
                ctx.status.state = Some(State::Reconnecting);
                // Packets read while down are dropped, not held for later.
                while ctx.from_tun.try_recv().is_ok() {
                    ctx.status.dropped += 1;
                }
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = &mut sleep => break,
                        s = signals.next() => match s {
                            Signal::Status => session::print_status(ctx),
                            Signal::Stop => return Ok(()),
                        },
                    }
                }
            }
        }
    }
}

/// Default timings, for the command line.
pub mod defaults {
    use super::Duration;
    /// QUIC idle timeout.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
    /// QUIC keepalive.
    pub const KEEPALIVE: Duration = Duration::from_secs(10);
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_tunnel_path_uses_wildcards() {
        assert_eq!(super::full_tunnel_path(), "/.well-known/masque/ip/*/*/");
    }
}
