//! Logging: JSON (one object per line) or text on stderr, with a filter that can be changed
//! while running.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Changes the log filter of the running process.
#[derive(Clone)]
pub struct FilterHandle(reload::Handle<EnvFilter, Registry>);

impl FilterHandle {
    /// Replaces the filter with `directives` (EnvFilter syntax, e.g. `info,kube=debug`).
    pub fn set(&self, directives: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directives)
            .map_err(|e| format!("bad log filter {directives:?}: {e}"))?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// Installs the global subscriber with `directives` (EnvFilter syntax) as the initial filter.
pub fn init(format: LogFormat, directives: &str) -> Result<FilterHandle, String> {
    let filter = EnvFilter::try_new(directives)
        .map_err(|e| format!("bad log filter {directives:?}: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
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
    result.map_err(|e| e.to_string())?;
    Ok(FilterHandle(handle))
}
