//! Reconnect delays: exponential backoff with jitter, reset once a connection worked.
//!
//! Pure: the caller passes the jitter sample, so tests are deterministic.

use std::time::Duration;

/// Exponential backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `initial`, doubles per failed attempt, never above `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Forgets failures (call once a tunnel was open).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt. `jitter` in `[0, 1)` takes up to a quarter off the
    /// delay so that many clients cut off together do not reconnect in lock step.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let base = self.initial.saturating_mul(factor).min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 - 0.25 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let d: Vec<u128> = (0..6).map(|_| b.next_delay(0.0).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_takes_at_most_a_quarter_off() {
        let mut b = Backoff::new(Duration::from_millis(400), Duration::from_secs(10));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(300));
        assert_eq!(b.next_delay(0.5), Duration::from_millis(700));
        // Out-of-range samples are clamped rather than producing negative or longer delays.
        assert_eq!(b.next_delay(7.0), Duration::from_millis(1200));
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            assert!(b.next_delay(0.0) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn max_below_initial_is_raised_to_initial() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.next_delay(0.0), Duration::from_secs(2));
    }
}
