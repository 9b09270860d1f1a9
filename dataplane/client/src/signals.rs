//! The signals the client reacts to: SIGINT/SIGTERM stop it, SIGUSR1 prints the status, and
//! the status interval ticks like a SIGUSR1.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use super::error::ClientError;

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Print the status line.
    Status,
    /// Close and exit.
    Stop,
}

/// The signal streams and the status timer.
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
    tick: Option<tokio::time::Interval>,
}

impl Signals {
    /// Installs the handlers (inside a tokio runtime).
    ///
    /// # Errors
    /// [`ClientError::Io`] when a handler cannot be installed.
    pub fn new(status_interval: Option<Duration>) -> Result<Self, ClientError> {
        let io = |source| ClientError::Io {
            what: "install a signal handler",
            source,
        };
        let tick = status_interval.map(|d| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        Ok(Signals {
            int: signal(SignalKind::interrupt()).map_err(io)?,
            term: signal(SignalKind::terminate()).map_err(io)?,
            usr1: signal(SignalKind::user_defined1()).map_err(io)?,
            tick,
        })
    }

    /// The next signal (or status tick).
    pub async fn next(&mut self) -> Signal {
        let Signals {
            int,
            term,
            usr1,
            tick,
        } = self;
        let tick = async {
            match tick.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = int.recv() => Signal::Stop,
            _ = term.recv() => Signal::Stop,
            _ = usr1.recv() => Signal::Status,
            () = tick => Signal::Status,
        }
    }
}
