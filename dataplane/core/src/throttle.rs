//! Slowing down repeated authentication failures from one source address: after
//! `max_failures` failures within `window`, the address is blocked for `block_for` (new
//! connections refused, new requests answered 429 without looking at the token).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Throttle settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures that trigger a block (0 disables throttling).
    pub max_failures: u32,
    /// Window in which failures are counted.
    pub window: Duration,
    /// How long a block lasts.
    pub block_for: Duration,
}

impl Default for ThrottleConfig {
    /// 5 failures in a minute block the address for a minute.
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
            block_for: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

/// Most source addresses tracked at once; the oldest windows are forgotten first beyond it.
const MAX_TRACKED: usize = 16 * 1024;

/// Per-address failure counters.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    entries: HashMap<IpAddr, Entry>,
}

impl AuthThrottle {
    /// A throttle with these settings.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            entries: HashMap::new(),
        }
    }

    /// Counts a failed authentication; returns true when the address is now blocked.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.config.max_failures == 0 {
            return false;
        }
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(&ip) {
            self.forget_expired(now);
            if self.entries.len() >= MAX_TRACKED {
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(ip, _)| *ip)
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        let cfg = self.config;
        let e = self.entries.entry(ip).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(e.window_start) > cfg.window {
            *e = Entry {
                failures: 0,
                window_start: now,
                blocked_until: e.blocked_until,
            };
        }
        e.failures += 1;
        if e.failures >= cfg.max_failures {
            e.blocked_until = Some(now + cfg.block_for);
            e.failures = 0;
            e.window_start = now;
        }
        e.blocked_until.is_some_and(|t| t > now)
    }

    /// True while the address is blocked.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.entries
            .get(&ip)
            .and_then(|e| e.blocked_until)
            .is_some_and(|t| t > now)
    }

    /// Drops entries whose window and block are over.
    pub fn forget_expired(&mut self, now: Instant) {
        let cfg = self.config;
        self.entries.retain(|_, e| {
            let window_live = now.saturating_duration_since(e.window_start) <= cfg.window;
            window_live || e.blocked_until.is_some_and(|t| t > now)
        });
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_repeated_failures_then_lets_go() {
        let cfg = ThrottleConfig {
            max_failures: 3,
            window: Duration::from_secs(10),
            block_for: Duration::from_secs(30),
        };
        let mut t = AuthThrottle::new(cfg);
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        let other: IpAddr = "198.51.100.8".parse().expect("ip");
        let t0 = Instant::now();
        assert!(!t.record_failure(ip, t0));
        assert!(!t.record_failure(ip, t0 + Duration::from_secs(1)));
        assert!(t.record_failure(ip, t0 + Duration::from_secs(2)));
        assert!(t.is_blocked(ip, t0 + Duration::from_secs(3)));
        assert!(!t.is_blocked(other, t0 + Duration::from_secs(3)));
        assert!(!t.is_blocked(ip, t0 + Duration::from_secs(33)));
        // Failures spread wider than the window never block.
        assert!(!t.record_failure(other, t0));
        assert!(!t.record_failure(other, t0 + Duration::from_secs(11)));
        assert!(!t.record_failure(other, t0 + Duration::from_secs(22)));
        t.forget_expired(t0 + Duration::from_secs(100));
        assert_eq!(t.tracked(), 0);
        let mut off = AuthThrottle::new(ThrottleConfig {
            max_failures: 0,
            ..cfg
        });
        assert!(!off.record_failure(ip, t0));
    }
}
