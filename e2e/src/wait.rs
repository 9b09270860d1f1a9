//! Waiting for a condition that another thread or process makes true, with a deadline.
//!
//! A test that checks a counter, a metric or a status right after the event it follows races
//! with whoever updates it (a server thread that counts after replying, a relay that publishes
//! its counters every 250 ms, a process that handles a signal). Poll the value until it holds
//! instead, and fail with the last value seen:
//!
//! ```no_run
//! # use std::time::Duration;
//! # let server = oxidize_testbed::servers::udp_echo(0).unwrap();
//! oxidize_testbed::wait::until("20 echoes counted", Duration::from_secs(5), || server.served(), |n| *n == 20);
//! ```

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// The condition did not hold within the time allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout<T> {
    /// What was awaited (for the message).
    pub what: String,
    /// The time allowed.
    pub within: Duration,
    /// The last value the probe returned.
    pub last: T,
}

impl<T: Debug> std::fmt::Display for Timeout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}; last value: {:?}",
            self.within, self.what, self.last
        )
    }
}

impl<T: Debug> std::error::Error for Timeout<T> {}

/// Calls `probe` until `done` accepts its value and returns that value; after `within`, returns
/// the last value in a [`Timeout`]. The probe runs at least once, at first every 10 ms, then
/// less often (up to every 200 ms).
pub fn try_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> T,
    mut done: impl FnMut(&T) -> bool,
) -> Result<T, Timeout<T>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let value = probe();
        if done(&value) {
            return Ok(value);
        }
        if start.elapsed() >= within {
            return Err(Timeout {
                what: what.to_owned(),
                within,
                last: value,
            });
        }
        std::thread::sleep(pause.min(within.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Like [`try_until`], but panics (at the caller's line) with what was awaited and the last
/// value seen.
#[track_caller]
pub fn until<T: Debug>(
    what: &str,
    within: Duration,
    probe: impl FnMut() -> T,
    done: impl FnMut(&T) -> bool,
) -> T {
    match try_until(what, within, probe, done) {
        Ok(value) => value,
        Err(timeout) => panic!("{timeout}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn returns_as_soon_as_another_thread_makes_it_true() {
        let n = Arc::new(AtomicU32::new(0));
        let n2 = n.clone();
        let bump = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            n2.store(3, Ordering::SeqCst);
        });
        let got = until(
            "n to reach 3",
            Duration::from_secs(10),
            || n.load(Ordering::SeqCst),
            |v| *v == 3,
        );
        assert_eq!(got, 3);
        bump.join().expect("thread");
    }

    #[test]
    fn timeout_names_what_and_the_last_value() {
        let mut calls = 0;
        let err = try_until(
            "the impossible",
            Duration::from_millis(30),
            || {
                calls += 1;
                calls
            },
            |_| false,
        )
        .expect_err("never true");
        assert_eq!(err.last, calls, "the last value probed is reported");
        let text = err.to_string();
        assert!(text.contains("waiting for the impossible"), "{text}");
        assert!(text.contains(&format!("last value: {calls}")), "{text}");
    }

    #[test]
    #[should_panic(expected = "waiting for five; last value: 4")]
    fn until_panics_with_the_message() {
        until("five", Duration::ZERO, || 4, |v| *v == 5);
    }
}
