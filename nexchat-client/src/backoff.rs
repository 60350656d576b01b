//! How long to wait before connecting again: exponential, capped, with jitter so that clients
//! cut off together (a server restart) do not all come back in the same instant.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with "equal jitter": attempt `n` waits a random time between half and
/// all of `min(cap, base · 2ⁿ)`, so a wait is never near zero and never above the cap.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The wait before the next attempt; each call doubles the ceiling up to the cap.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(self.attempt))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// Starts over after a connection that worked.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_jittered_and_start_over_after_a_reset() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        let mut backoff = Backoff::new(base, cap);
        let mut ceiling = base;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(cap);
        }
        assert!(backoff.next_delay() >= cap / 2);
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn the_jitter_spreads_clients_apart() {
        let delays: std::collections::HashSet<Duration> = (0..50)
            .map(|_| Backoff::new(Duration::from_secs(8), Duration::from_secs(30)).next_delay())
            .collect();
        assert!(delays.len() > 40, "only {} distinct waits", delays.len());
    }
}
