//! A once-a-second progress line on stderr, and the peak of the server's resident memory; and
//! [`RssSampler`], the peak alone at a finer interval, for phases that last a second or two.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Errors;
use super::stats::Shared;
use crate::procfs;

/// The running monitor of one run.
pub struct Monitor {
    /// The server's VmRSS when the monitor started (KiB).
    pub first_rss: Option<u64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Option<u64>>>,
}

impl Monitor {
    /// Starts sampling (and printing unless `quiet`).
    pub fn start(
        shared: Arc<Shared>,
        errors: Arc<Errors>,
        server_pid: Option<u32>,
        quiet: bool,
    ) -> Self {
        let first_rss = server_pid.and_then(procfs::rss_kib);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut peak = first_rss;
            let mut last = shared.total.read();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                let rss = server_pid.and_then(procfs::rss_kib);
                peak = peak.max(rss);
                if quiet {
                    continue;
                }
                let now = shared.total.read();
                eprintln!(
                    "{:>5.0}s  open {:>6}  sent/s {:>7}  acked/s {:>7}  delivered/s {:>7}  in flight {:>7}  errors {:>5}{}",
                    start.elapsed().as_secs_f64(),
                    shared.open.load(Relaxed),
                    now.sent - last.sent,
                    now.acked - last.acked,
                    now.delivered - last.delivered,
                    now.sent.saturating_sub(now.acked),
                    errors.total(),
                    rss.map(|k| format!("  server rss {:.1} MiB", k as f64 / 1024.0))
                        .unwrap_or_default()
                );
                last = now;
            }
            peak
        });
        Self {
            first_rss,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the monitor; returns the peak server VmRSS it saw (KiB).
    pub async fn stop(mut self) -> Option<u64> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.ok().flatten(),
            None => None,
        }
    }
}

/// The highest of a process's VmRSS readings over a phase.
#[derive(Debug, Default, Clone, Copy)]
pub struct RssPeak {
    /// The highest reading (KiB), `None` when none could be taken.
    pub peak_kib: Option<u64>,
    /// Readings taken.
    pub samples: u64,
}

/// Reads a process's VmRSS every `every` until stopped, and keeps the highest reading. For
/// phases too short for [`Monitor`]'s once a second (a file upload lasts a fraction of one).
pub struct RssSampler {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<RssPeak>>,
}

impl RssSampler {
    /// Starts sampling `pid` (nothing is read without one); the first reading is taken now.
    pub fn start(pid: Option<u32>, every: Duration) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut peak = RssPeak::default();
            let Some(pid) = pid else {
                return peak;
            };
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            tick.tick().await; // the first tick is immediate
            loop {
                if let Some(rss) = procfs::rss_kib(pid) {
                    peak.peak_kib = peak.peak_kib.max(Some(rss));
                    peak.samples += 1;
                }
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
            }
            // One last reading, at the moment the phase ended.
            if let Some(rss) = procfs::rss_kib(pid) {
                peak.peak_kib = peak.peak_kib.max(Some(rss));
                peak.samples += 1;
            }
            peak
        });
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops sampling; the highest reading and how many were taken.
    pub async fn stop(mut self) -> RssPeak {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => RssPeak::default(),
        }
    }
}
