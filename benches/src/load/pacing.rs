//! How a connection paces its sends, shared by the workloads: either a window of messages in
//! flight, refilled as acknowledgements come, or a fixed schedule (open loop) that starts at a
//! random point of its first interval and skips, and counts, sends past `max_inflight`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::stats::{Shared, phase};

/// A fixed-rate schedule: send `n` is due at `start_us + n * interval_us`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    start_us: f64,
    interval_us: f64,
    scheduled: u64,
}

/// A connection that sends paced messages: what it must say about itself, and the pacing
/// built on it.
pub(super) trait Paced {
    /// The run's shared counters and clock.
    fn shared(&self) -> &Shared;
    /// Messages sent and not yet acknowledged.
    fn inflight(&self) -> usize;
    /// The window to keep in flight (window mode).
    fn window(&self) -> usize;
    /// The most in flight before a scheduled send is skipped (rate mode).
    fn max_inflight(&self) -> usize;
    /// The schedule, once rate mode started.
    fn schedule(&self) -> Option<Schedule>;
    /// Keeps the schedule.
    fn set_schedule(&mut self, schedule: Schedule);
    /// Sends one message; `lag_us` is how late it leaves against its schedule.
    fn send(&mut self, lag_us: Option<u64>);

    /// Whether the run is measuring now.
    fn measuring(&self) -> bool {
        self.shared().phase() == phase::MEASURE
    }

    /// Whether the run is in a sending phase now (read from the shared phase, not a task's
    /// copy, so no send slips in after the drain began).
    fn may_send(&self) -> bool {
        matches!(self.shared().phase(), phase::WARMUP | phase::MEASURE)
    }

    /// Sends until the window is full.
    fn fill_window(&mut self) {
        if !self.may_send() {
            return;
        }
        while self.inflight() < self.window() {
            self.send(None);
        }
    }

    /// Starts the schedule at a random point within the first interval (so connections do not
    /// send in lockstep); returns how far from now the first send is.
    fn start_rate(&mut self, per_sec: f64) -> Duration {
        let interval_us = 1e6 / per_sec;
        let offset_us = rand::random::<f64>() * interval_us;
        let start_us = self.shared().clock.now_micros() as f64 + offset_us;
        self.set_schedule(Schedule {
            start_us,
            interval_us,
            scheduled: 0,
        });
        Duration::from_secs_f64(offset_us / 1e6)
    }

    /// Sends every message whose scheduled time has come.
    fn send_due(&mut self) {
        let now = self.shared().clock.now_micros() as f64;
        let Some(mut s) = self.schedule() else { return };
        if now < s.start_us || !self.may_send() {
            return;
        }
        let due = ((now - s.start_us) / s.interval_us).floor() as u64 + 1;
        while s.scheduled < due {
            let planned = s.start_us + s.scheduled as f64 * s.interval_us;
            if self.inflight() < self.max_inflight() {
                self.send(Some((now - planned).max(0.0) as u64));
            } else {
                self.shared().total.skipped.fetch_add(1, Relaxed);
                if self.measuring() {
                    self.shared().measured.skipped.fetch_add(1, Relaxed);
                }
            }
            s.scheduled += 1;
        }
        self.set_schedule(s);
    }
}
