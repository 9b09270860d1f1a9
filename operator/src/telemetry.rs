//! Logging: JSON (one object per line) or text on stderr, filtered by `RUST_LOG`-style
//! directives fixed at start (changing them means restarting the pod: the image has no shell to
//! send a signal from, and an unauthenticated HTTP endpoint on the metrics port is not worth it).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global subscriber with `directives` (EnvFilter syntax) as the initial filter.
pub fn init(format: LogFormat, directives: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(directives)
        .map_err(|e| format!("bad log filter {directives:?}: {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    result.map_err(|e| e.to_string())
}
