//! Counters and latency histograms shared by the connection tasks of one run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::msgid::Clock;

/// Phases of a run. Connection tasks watch it: they send only in `WARMUP` and `MEASURE`, and
/// count and record latency only in `MEASURE`.
pub mod phase {
    /// Connecting; nothing is sent yet.
    pub const SETUP: u8 = 0;
    /// Sending, not counted (caches, JIT of the allocator, TCP windows settle).
    pub const WARMUP: u8 = 1;
    /// Sending and counting.
    pub const MEASURE: u8 = 2;
    /// No new sends; answers to what is in flight still arrive.
    pub const DRAIN: u8 = 3;
    /// Close everything.
    pub const STOP: u8 = 4;
}

/// One set of event counts.
#[derive(Debug, Default)]
pub struct Counts {
    /// `send_message` frames written.
    pub sent: AtomicU64,
    /// `message_sent` received (the single tick).
    pub acked: AtomicU64,
    /// `receive_message` received by the receiver.
    pub delivered: AtomicU64,
    /// Message ids acknowledged back to senders by `message_delivered` (the double tick).
    pub receipts: AtomicU64,
    /// Sends skipped because a connection hit `--max-inflight` (rate mode: the server fell behind).
    pub skipped: AtomicU64,
}

impl Counts {
    /// A plain copy.
    pub fn read(&self) -> CountsSnapshot {
        CountsSnapshot {
            sent: self.sent.load(Relaxed),
            acked: self.acked.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            receipts: self.receipts.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
        }
    }
}

/// A copy of [`Counts`].
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CountsSnapshot {
    /// See [`Counts::sent`].
    pub sent: u64,
    /// See [`Counts::acked`].
    pub acked: u64,
    /// See [`Counts::delivered`].
    pub delivered: u64,
    /// See [`Counts::receipts`].
    pub receipts: u64,
    /// See [`Counts::skipped`].
    pub skipped: u64,
}

/// State shared by every connection task of a run.
#[derive(Debug)]
pub struct Shared {
    /// The run's time base (message ids carry times from it).
    pub clock: Clock,
    /// The current [`phase`].
    pub phase: AtomicU8,
    /// Counts over the whole run.
    pub total: Counts,
    /// Counts during the measured phase only.
    pub measured: Counts,
    /// Sockets that finished their handshake and initial sync.
    pub ready: AtomicUsize,
    /// Sockets open now.
    pub open: AtomicUsize,
    /// Connection tasks that gave up before becoming ready.
    pub failed: AtomicUsize,
    e2e: Mutex<Histogram<u64>>,
    ack: Mutex<Histogram<u64>>,
    lag: Mutex<Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits; auto-resize covers anything longer.
    let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            clock: Clock::start(),
            phase: AtomicU8::new(phase::SETUP),
            total: Counts::default(),
            measured: Counts::default(),
            ready: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            e2e: Mutex::new(histogram()),
            ack: Mutex::new(histogram()),
            lag: Mutex::new(histogram()),
        }
    }
}

impl Shared {
    /// The current phase.
    pub fn phase(&self) -> u8 {
        self.phase.load(Relaxed)
    }

    /// Summary of end-to-end latency (send → `receive_message`).
    pub fn e2e_summary(&self) -> LatencySummary {
        self.e2e
            .lock()
            .map(|h| LatencySummary::of(&h))
            .unwrap_or_default()
    }

    /// Summary of ack latency (send → `message_sent`).
    pub fn ack_summary(&self) -> LatencySummary {
        self.ack
            .lock()
            .map(|h| LatencySummary::of(&h))
            .unwrap_or_default()
    }

    /// Summary of send lag in rate mode (how late sends left against their schedule): when it is
    /// small, the latencies measured from the actual send time are free of coordinated omission.
    pub fn lag_summary(&self) -> LatencySummary {
        self.lag
            .lock()
            .map(|h| LatencySummary::of(&h))
            .unwrap_or_default()
    }
}

/// Latencies gathered by one connection and merged into the shared histograms in batches, so
/// connections do not fight over one lock for every message.
#[derive(Debug, Default)]
pub struct LocalLatencies {
    e2e: Vec<u64>,
    ack: Vec<u64>,
    lag: Vec<u64>,
}

const BATCH: usize = 256;

impl LocalLatencies {
    /// Records one end-to-end latency in microseconds.
    pub fn e2e(&mut self, shared: &Shared, micros: u64) {
        self.e2e.push(micros);
        if self.e2e.len() >= BATCH {
            merge(&shared.e2e, &mut self.e2e);
        }
    }

    /// Records one ack latency in microseconds.
    pub fn ack(&mut self, shared: &Shared, micros: u64) {
        self.ack.push(micros);
        if self.ack.len() >= BATCH {
            merge(&shared.ack, &mut self.ack);
        }
    }

    /// Records how late one send left against its schedule, in microseconds.
    pub fn lag(&mut self, shared: &Shared, micros: u64) {
        self.lag.push(micros);
        if self.lag.len() >= BATCH {
            merge(&shared.lag, &mut self.lag);
        }
    }

    /// Merges what is left.
    pub fn flush(&mut self, shared: &Shared) {
        merge(&shared.e2e, &mut self.e2e);
        merge(&shared.ack, &mut self.ack);
        merge(&shared.lag, &mut self.lag);
    }
}

fn merge(into: &Mutex<Histogram<u64>>, values: &mut Vec<u64>) {
    if values.is_empty() {
        return;
    }
    if let Ok(mut h) = into.lock() {
        for &v in values.iter() {
            h.saturating_record(v.max(1));
        }
    }
    values.clear();
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}
