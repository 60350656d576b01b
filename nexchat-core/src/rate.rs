//! Token buckets keyed by user (message and typing rates) and a sliding window of failures
//! keyed by name (failed logins).
//!
//! Hand-rolled rather than taken from a rate-limiting crate because a message resend must be
//! able to hand its token back ([`RateLimiter::refund`]) and because time comes from the chat's
//! [`Clock`](crate::Clock), so tests move it instead of sleeping.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Keyed token buckets with one capacity and refill rate.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl RateLimiter {
    /// Buckets holding `capacity` tokens, refilled at `per_sec` tokens per second.
    pub fn new(capacity: u32, per_sec: f64) -> Self {
        Self {
            capacity: f64::from(capacity),
            per_ms: per_sec / 1000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn with_bucket<T>(&self, key: &str, now_ms: i64, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            at_ms: now_ms,
        });
        let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
        bucket.tokens = (bucket.tokens + elapsed * self.per_ms).min(self.capacity);
        bucket.at_ms = now_ms;
        let out = f(bucket);
        // A full bucket carries no information: forget it so the map only holds active keys.
        if bucket.tokens >= self.capacity {
            buckets.remove(key);
        }
        out
    }

    /// Forgets every bucket that has refilled by `now_ms`: a full bucket is the same as none,
    /// so the map holds only keys active within the last refill time.
    pub fn prune(&self, now_ms: i64) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.retain(|_, b| {
            let elapsed = (now_ms - b.at_ms).max(0) as f64;
            b.tokens + elapsed * self.per_ms < self.capacity
        });
    }

    /// How many keys have a bucket (not full).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Takes one token; on failure returns the seconds until one is available.
    pub fn take(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let per_ms = self.per_ms;
        self.with_bucket(key, now_ms, |b| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(retry_after_secs(1.0 - b.tokens, per_ms))
            }
        })
    }

    /// Whether a token is available, without taking it; `Err` carries the seconds to wait.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let per_ms = self.per_ms;
        self.with_bucket(key, now_ms, |b| {
            if b.tokens >= 1.0 {
                Ok(())
            } else {
                Err(retry_after_secs(1.0 - b.tokens, per_ms))
            }
        })
    }

    /// Gives back a token taken for work that turned out to be free.
    pub fn refund(&self, key: &str, now_ms: i64) {
        let capacity = self.capacity;
        self.with_bucket(key, now_ms, |b| b.tokens = (b.tokens + 1.0).min(capacity));
    }
}

fn retry_after_secs(missing: f64, per_ms: f64) -> u64 {
    if per_ms <= 0.0 {
        return u64::MAX;
    }
    ((missing / per_ms) / 1000.0).ceil().max(1.0) as u64
}

/// At most `max` failures per key within any sliding `window`: "10 failed logins per 15
/// minutes" means exactly that, with no trickle of extra attempts as a token bucket would allow.
///
/// An attempt is booked as a failure *before* it is checked and released when it succeeds, so
/// concurrent attempts cannot slip past the limit while their checks are in flight.
#[derive(Debug)]
pub struct FailureWindow {
    max: usize,
    window_ms: i64,
    keys: Mutex<FailureKeys>,
}

#[derive(Debug, Default)]
struct FailureKeys {
    failures: HashMap<String, VecDeque<i64>>,
    /// Map size at which expired keys are swept out, so names tried once do not pile up.
    sweep_at: usize,
}

impl FailureWindow {
    /// A window allowing `max` failures per key within `window`.
    pub fn new(max: u32, window: std::time::Duration) -> Self {
        Self {
            max: max as usize,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            keys: Mutex::new(FailureKeys {
                failures: HashMap::new(),
                sweep_at: 1024,
            }),
        }
    }

    /// Books an attempt at `now_ms` that counts as a failure until [`FailureWindow::release`]d;
    /// on refusal returns the seconds until the oldest failure leaves the window.
    pub fn book(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        let window_ms = self.window_ms;
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.failures.len() >= keys.sweep_at {
            keys.failures
                .retain(|_, times| times.back().is_some_and(|t| now_ms - t < window_ms));
            keys.sweep_at = (keys.failures.len() * 2).max(1024);
        }
        let times = keys.failures.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| now_ms - t >= window_ms) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now_ms);
            let wait_ms = u64::try_from(oldest + window_ms - now_ms)
                .unwrap_or(1)
                .max(1);
            return Err(wait_ms.div_ceil(1000));
        }
        times.push_back(now_ms);
        Ok(())
    }

    /// Takes back an attempt booked at `booked_ms` that did not fail.
    pub fn release(&self, key: &str, booked_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = keys.failures.get_mut(key) {
            if let Some(at) = times.iter().rposition(|t| *t == booked_ms) {
                times.remove(at);
            }
            if times.is_empty() {
                keys.failures.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn failures_lock_a_key_for_the_whole_window() {
        let window = FailureWindow::new(3, std::time::Duration::from_secs(15 * 60));
        for t in [0, MINUTE, 2 * MINUTE] {
            window.book("a", t).unwrap();
        }
        assert_eq!(window.book("a", 2 * MINUTE), Err(13 * 60));
        assert!(window.book("a", 15 * MINUTE - 1).is_err(), "no trickle");
        assert!(window.book("b", 0).is_ok(), "keys are independent");
        assert!(
            window.book("a", 15 * MINUTE).is_ok(),
            "the oldest left the window"
        );
        assert!(window.book("a", 15 * MINUTE).is_err());
    }

    #[test]
    fn released_attempts_do_not_count() {
        let window = FailureWindow::new(2, std::time::Duration::from_secs(60));
        window.book("a", 5).unwrap();
        window.book("a", 5).unwrap();
        assert!(window.book("a", 5).is_err());
        window.release("a", 5);
        assert!(window.book("a", 6).is_ok());
        assert!(window.book("a", 6).is_err());
    }

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(3, 1.0);
        for _ in 0..3 {
            assert!(rl.take("a", 0).is_ok());
        }
        assert_eq!(rl.take("a", 0), Err(1));
        assert!(rl.take("b", 0).is_ok(), "keys are independent");
        assert!(rl.take("a", 999).is_err());
        assert!(rl.take("a", 1000).is_ok());
    }

    #[test]
    fn refund_returns_a_token() {
        let rl = RateLimiter::new(1, 1.0);
        assert!(rl.take("a", 0).is_ok());
        rl.refund("a", 0);
        assert!(rl.check("a", 0).is_ok());
        assert!(rl.take("a", 0).is_ok());
        assert!(rl.check("a", 0).is_err());
    }

    #[test]
    fn prune_forgets_refilled_buckets_only() {
        let rl = RateLimiter::new(2, 1.0);
        rl.take("a", 0).unwrap();
        rl.take("b", 1500).unwrap();
        assert_eq!(rl.tracked(), 2);
        rl.prune(1000);
        assert_eq!(rl.tracked(), 1, "a refilled after one second");
        assert!(rl.check("b", 1500).is_ok());
        rl.prune(2500);
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn slow_refill_reports_long_wait() {
        let rl = RateLimiter::new(10, 10.0 / 900.0);
        for _ in 0..10 {
            rl.take("a", 0).unwrap();
        }
        assert_eq!(rl.check("a", 0), Err(90));
    }
}
