//! Per-object exponential backoff: each failure of the same RelayNode doubles its retry delay
//! (starting from the error kind's base delay) up to a cap; a success resets it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Consecutive failures per object key (`namespace/name`).
#[derive(Debug)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(300))
    }
}

impl Backoff {
    /// Delays never exceed `cap`.
    pub fn new(cap: Duration) -> Self {
        Backoff {
            failures: Mutex::new(HashMap::new()),
            cap,
        }
    }

    /// Records a failure of `key` and returns the delay before its next attempt:
    /// `base * 2^(n-1)` for the n-th consecutive failure, at most the cap.
    pub fn failure(&self, key: &str, base: Duration) -> Duration {
        let n = match self.failures.lock() {
            Ok(mut m) => {
                let n = m.entry(key.to_owned()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(20));
        base.saturating_mul(factor).min(self.cap)
    }

    /// Records a success of `key` (the next failure starts from the base delay again).
    pub fn success(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_failure_caps_and_resets() {
        let b = Backoff::new(Duration::from_secs(10));
        let base = Duration::from_secs(1);
        let delays: Vec<u64> = (0..6).map(|_| b.failure("ns/a", base).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.failure("ns/b", base).as_secs(), 1, "per object");
        b.success("ns/a");
        assert_eq!(b.failure("ns/a", base).as_secs(), 1);
    }
}
