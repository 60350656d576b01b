//! Token buckets keyed by user (message and typing rates). Login and registration throttling
//! lives in `throttle`.
//!
//! Hand-rolled rather than taken from a rate-limiting crate because a message resend must be
//! able to hand its token back ([`RateLimiter::refund`]) and because time comes from the chat's
//! [`Clock`](crate::Clock), so tests move it instead of sleeping.

use parking_lot::Mutex;
use std::collections::HashMap;

/// Keyed token buckets with one capacity and refill rate.
#[derive(Debug)]
pub(crate) struct RateLimiter {
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
    pub(crate) fn new(capacity: u32, per_sec: f64) -> Self {
        Self {
            capacity: f64::from(capacity),
            per_ms: per_sec / 1000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn with_bucket<T>(&self, key: &str, now_ms: i64, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock();
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
    pub(crate) fn prune(&self, now_ms: i64) {
        let mut buckets = self.buckets.lock();
        buckets.retain(|_, b| {
            let elapsed = (now_ms - b.at_ms).max(0) as f64;
            b.tokens + elapsed * self.per_ms < self.capacity
        });
    }

    /// How many keys have a bucket (not full).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().len()
    }

    /// Takes one token; on failure returns the seconds until one is available.
    pub(crate) fn take(&self, key: &str, now_ms: i64) -> Result<(), u64> {
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
    #[cfg(test)]
    fn check(&self, key: &str, now_ms: i64) -> Result<(), u64> {
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
    pub(crate) fn refund(&self, key: &str, now_ms: i64) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
