//! What a run reports: a human-readable table and one JSON line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Target;
use super::stats::{CountsSnapshot, LatencySummary};

/// Resident memory of a process (KiB) at the moments a run looks.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Memory {
    /// Before the run's sockets were opened (after REST setup).
    pub before_kib: Option<u64>,
    /// Once every socket was open and synced.
    pub connected_kib: Option<u64>,
    /// The highest reading during the run (sampled every second).
    pub peak_kib: Option<u64>,
    /// At the end of the measured phase.
    pub end_kib: Option<u64>,
}

/// The result of a messages run.
#[derive(Debug, Clone, Serialize)]
pub struct MessagesReport {
    /// Always `nexchat-load`.
    pub tool: &'static str,
    /// Always `messages`.
    pub mode: &'static str,
    /// The kind of server driven.
    pub target: Target,
    /// The server URL.
    pub url: String,
    /// Users asked for (paired as friends).
    pub users: usize,
    /// Users that sent (both of each pair, or one with `--one-way`).
    pub senders: usize,
    /// `rate` (total msg/s) or `window`.
    pub pacing: String,
    /// Ciphertext bytes before base64.
    pub size_bytes: usize,
    /// How receivers acknowledged.
    pub delivered_ack: String,
    /// Seconds spent on REST setup (register, login, friends).
    pub setup_secs: f64,
    /// Seconds from the first connect to the last socket synced.
    pub connect_secs: f64,
    /// Measured seconds.
    pub measured_secs: f64,
    /// Sockets open and synced at the start of the measured phase.
    pub connections_held: usize,
    /// Sockets still open at the end of the measured phase.
    pub connections_at_end: usize,
    /// `send_message` per second written during the measured phase.
    pub sent_per_sec: f64,
    /// `message_sent` per second (acknowledged: stored by the server).
    pub acked_per_sec: f64,
    /// `receive_message` per second at receivers (delivered).
    pub delivered_per_sec: f64,
    /// `message_delivered` receipts per second back at senders.
    pub receipts_per_sec: f64,
    /// Send → `receive_message` at the receiver.
    pub e2e_latency: LatencySummary,
    /// Send → `message_sent` at the sender.
    pub ack_latency: LatencySummary,
    /// Rate mode: how late sends left against their schedule.
    pub send_lag: Option<LatencySummary>,
    /// Counts during the measured phase.
    pub measured: CountsSnapshot,
    /// Counts over the whole run (warm-up and drain included).
    pub total: CountsSnapshot,
    /// Errors by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// The server's resident memory (with `--server-pid`).
    pub server_rss: Memory,
    /// The server's CPU use during the measured phase, in % of one core (with `--server-pid`;
    /// with `--node-pid` too, the sum over the nodes).
    pub server_cpu_percent: Option<f64>,
    /// The load generator's own CPU use during the measured phase, in % of one core.
    pub loadgen_cpu_percent: Option<f64>,
    /// RLIMIT_NOFILE of the load generator.
    pub nofile_limit: u64,
}

/// The result of a group run.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// Always `nexchat-load`.
    pub tool: &'static str,
    /// Always `group`.
    pub mode: &'static str,
    /// The server URL.
    pub url: String,
    /// The group's id.
    pub group: String,
    /// Members in the group (the admin included).
    pub members: usize,
    /// Members that sent.
    pub senders: usize,
    /// `rate` (total msg/s into the group) or `window` (per sender).
    pub pacing: String,
    /// Ciphertext bytes before base64.
    pub size_bytes: usize,
    /// How members acknowledged (`group_delivered`).
    pub delivered_ack: String,
    /// Seconds spent on REST setup (register, login, friends, the group).
    pub setup_secs: f64,
    /// Seconds from the first connect to the last socket synced.
    pub connect_secs: f64,
    /// Measured seconds.
    pub measured_secs: f64,
    /// Sockets open and synced at the start of the measured phase.
    pub connections_held: usize,
    /// Sockets still open at the end of the measured phase.
    pub connections_at_end: usize,
    /// `send_group_message` per second written during the measured phase.
    pub sent_per_sec: f64,
    /// `group_message_sent` per second (stored by the server).
    pub acked_per_sec: f64,
    /// `receive_group_message` per second over all receiving members.
    pub deliveries_per_sec: f64,
    /// Message ids per second that came back to senders in `group_delivered` (delivered to
    /// every member).
    pub receipts_per_sec: f64,
    /// `group_delivered` frames per second written by members.
    pub ticks_sent_per_sec: f64,
    /// `receive_group_message` over the whole run / messages sent (members − 1 when complete).
    pub deliveries_per_message: Option<f64>,
    /// Send → `receive_group_message` at each receiving member.
    pub e2e_latency: LatencySummary,
    /// Send → `group_message_sent` at the sender.
    pub ack_latency: LatencySummary,
    /// Rate mode: how late sends left against their schedule.
    pub send_lag: Option<LatencySummary>,
    /// Counts during the measured phase (`delivered`: receipts at members; `receipts`: ids in
    /// `group_delivered` at senders).
    pub measured: CountsSnapshot,
    /// Counts over the whole run (warm-up and drain included).
    pub total: CountsSnapshot,
    /// `group_delivered` frames written by members over the whole run.
    pub ticks_sent_total: u64,
    /// Errors by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// The server's resident memory (with `--server-pid`).
    pub server_rss: Memory,
    /// The server's CPU use during the measured phase, in % of one core (with `--server-pid`).
    pub server_cpu_percent: Option<f64>,
    /// The load generator's own CPU use during the measured phase, in % of one core.
    pub loadgen_cpu_percent: Option<f64>,
    /// RLIMIT_NOFILE of the load generator.
    pub nofile_limit: u64,
}

/// The result of a connections-only run.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    /// Always `nexchat-load`.
    pub tool: &'static str,
    /// Always `connections`.
    pub mode: &'static str,
    /// The kind of server driven.
    pub target: Target,
    /// The server URL.
    pub url: String,
    /// Connections asked for.
    pub requested: usize,
    /// Users they belong to.
    pub users: usize,
    /// Source addresses used (0 = the kernel's choice).
    pub source_ips: u8,
    /// Seconds spent on REST setup.
    pub setup_secs: f64,
    /// Seconds to open and sync every connection.
    pub connect_secs: f64,
    /// Connections open and synced once connecting finished.
    pub connections_held: usize,
    /// Connections still open at the end of the hold.
    pub connections_at_end: usize,
    /// Seconds held.
    pub hold_secs: f64,
    /// The server's resident memory.
    pub server_rss: Memory,
    /// (connected − before) / connections held, in bytes: the server's memory per idle connection.
    pub server_bytes_per_connection: Option<f64>,
    /// The load generator's resident memory.
    pub loadgen_rss: Memory,
    /// The same per connection for the load generator's side.
    pub loadgen_bytes_per_connection: Option<f64>,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// RLIMIT_NOFILE of the load generator.
    pub nofile_limit: u64,
}

/// Rates of transfers, in MiB/s (1 MiB = 1,048,576 bytes).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Rates {
    /// Transfers that finished (and, for downloads, matched the upload).
    pub count: usize,
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The fastest.
    pub best: f64,
    /// The slowest.
    pub worst: f64,
    /// Every transfer's rate, in the order they ran (or finished, at once).
    pub each: Vec<f64>,
}

impl Rates {
    /// The summary of `each` (all zero when empty).
    pub fn of(each: Vec<f64>) -> Self {
        let mut sorted = each.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            count: n,
            median,
            best: sorted.last().copied().unwrap_or(0.0),
            worst: sorted.first().copied().unwrap_or(0.0),
            each,
        }
    }
}

/// The server's resident memory around one phase of an attachments run (KiB).
#[derive(Debug, Default, Clone, Serialize)]
pub struct PhaseMemory {
    /// VmRSS just before the phase.
    pub before_kib: Option<u64>,
    /// The highest VmRSS sampled during it.
    pub peak_kib: Option<u64>,
    /// VmRSS once it ended.
    pub end_kib: Option<u64>,
    /// VmRSS readings taken during it.
    pub samples: u64,
    /// VmHWM (the process's highest VmRSS since it started) before the phase ...
    pub hwm_before_kib: Option<u64>,
    /// ... and after: higher when the phase set a new high, whether or not a sample caught it.
    pub hwm_after_kib: Option<u64>,
}

/// One phase of an attachments run: its transfers, time, memory and CPU.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TransferPhase {
    /// Transfers started.
    pub started: usize,
    /// Seconds from the first start to the last end.
    pub secs: f64,
    /// Bytes of the transfers that finished / `secs`, in MiB/s.
    pub aggregate_mib_per_sec: f64,
    /// Each transfer's own rate.
    pub rates: Rates,
    /// The server's memory (with `--server-pid`).
    pub server_rss: PhaseMemory,
    /// The server's CPU use during the phase, in % of one core (with `--server-pid`).
    pub server_cpu_percent: Option<f64>,
    /// The load generator's own CPU use during the phase, in % of one core.
    pub loadgen_cpu_percent: Option<f64>,
}

/// The result of an attachments run.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentsReport {
    /// Always `nexchat-load`.
    pub tool: &'static str,
    /// Always `attachments`.
    pub mode: &'static str,
    /// The server URL.
    pub url: String,
    /// Bytes of each file.
    pub size_bytes: u64,
    /// Bytes per chunk of the streamed upload body.
    pub chunk_bytes: usize,
    /// Whether uploads declared their `Content-Length` (else chunked transfer encoding).
    pub content_length: bool,
    /// The server's largest attachment (`maxBytes` of `GET /attachments`).
    pub server_max_bytes: Option<u64>,
    /// Users registered (the first one does the rounds).
    pub users: usize,
    /// Seconds spent on REST setup (register, login).
    pub setup_secs: f64,
    /// One user, one transfer at a time: the uploads of the rounds.
    pub uploads: TransferPhase,
    /// The downloads of the rounds, each of the upload just before it.
    pub downloads: TransferPhase,
    /// `--concurrent` uploads at once, one per user.
    pub concurrent_uploads: TransferPhase,
    /// The same files downloaded at once, each by its uploader.
    pub concurrent_downloads: TransferPhase,
    /// Downloads whose every byte matched what was uploaded (all phases).
    pub verified: usize,
    /// Errors by kind over the whole run.
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "-".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.0}{unit}"))
}

fn errors_lines(out: &mut String, errors: &BTreeMap<String, u64>) {
    for (k, v) in errors {
        let _ = writeln!(out, "    {v:>10}  {k}");
    }
}

impl MessagesReport {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let lat = |o: &mut String, name: &str, l: &LatencySummary| {
            let _ = writeln!(
                o,
                "  {name:<22} p50 {:>8.2} ms   p99 {:>8.2} ms   p99.9 {:>8.2} ms   max {:>8.2} ms   (n={})",
                l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
            );
        };
        let _ = writeln!(
            o,
            "nexchat-load messages against {:?} at {}",
            self.target, self.url
        );
        let _ = writeln!(
            o,
            "  users {} (senders {}), pacing {}, ciphertext {} B, delivered-ack {}",
            self.users, self.senders, self.pacing, self.size_bytes, self.delivered_ack
        );
        let _ = writeln!(
            o,
            "  setup {:.1} s, connect {:.1} s, measured {:.1} s",
            self.setup_secs, self.connect_secs, self.measured_secs
        );
        let _ = writeln!(
            o,
            "  connections held       {} (at end {})",
            self.connections_held, self.connections_at_end
        );
        let _ = writeln!(
            o,
            "  sent                   {:>10.0} msg/s",
            self.sent_per_sec
        );
        let _ = writeln!(
            o,
            "  acknowledged           {:>10.0} msg/s   (message_sent)",
            self.acked_per_sec
        );
        let _ = writeln!(
            o,
            "  delivered              {:>10.0} msg/s   (receive_message)",
            self.delivered_per_sec
        );
        let _ = writeln!(
            o,
            "  receipts               {:>10.0} msg/s   (message_delivered back)",
            self.receipts_per_sec
        );
        lat(&mut o, "end-to-end latency", &self.e2e_latency);
        lat(&mut o, "ack latency", &self.ack_latency);
        if let Some(l) = &self.send_lag {
            lat(&mut o, "send lag (rate mode)", l);
        }
        if self.measured.skipped > 0 {
            let _ = writeln!(
                o,
                "  skipped sends          {} (connections at --max-inflight)",
                self.measured.skipped
            );
        }
        let _ = writeln!(
            o,
            "  server rss             before {}, connected {}, peak {}, end {}",
            mib(self.server_rss.before_kib),
            mib(self.server_rss.connected_kib),
            mib(self.server_rss.peak_kib),
            mib(self.server_rss.end_kib)
        );
        let _ = writeln!(
            o,
            "  cpu (% of one core)    server {}, load generator {}",
            opt(self.server_cpu_percent, "%"),
            opt(self.loadgen_cpu_percent, "%")
        );
        let _ = writeln!(o, "  errors                 {}", self.errors_total);
        errors_lines(&mut o, &self.errors);
        o
    }
}

impl GroupReport {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let lat = |o: &mut String, name: &str, l: &LatencySummary| {
            let _ = writeln!(
                o,
                "  {name:<22} p50 {:>8.2} ms   p99 {:>8.2} ms   p99.9 {:>8.2} ms   max {:>8.2} ms   (n={})",
                l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
            );
        };
        let _ = writeln!(o, "nexchat-load group {} at {}", self.group, self.url);
        let _ = writeln!(
            o,
            "  members {} (senders {}), pacing {}, ciphertext {} B, delivered-ack {}",
            self.members, self.senders, self.pacing, self.size_bytes, self.delivered_ack
        );
        let _ = writeln!(
            o,
            "  setup {:.1} s, connect {:.1} s, measured {:.1} s",
            self.setup_secs, self.connect_secs, self.measured_secs
        );
        let _ = writeln!(
            o,
            "  connections held       {} (at end {})",
            self.connections_held, self.connections_at_end
        );
        let _ = writeln!(
            o,
            "  sent                   {:>10.1} msg/s   (send_group_message)",
            self.sent_per_sec
        );
        let _ = writeln!(
            o,
            "  acknowledged           {:>10.1} msg/s   (group_message_sent)",
            self.acked_per_sec
        );
        let _ = writeln!(
            o,
            "  deliveries             {:>10.0} /s      (receive_group_message at members)",
            self.deliveries_per_sec
        );
        let _ = writeln!(
            o,
            "  delivered to all       {:>10.1} msg/s   (group_delivered back at senders)",
            self.receipts_per_sec
        );
        let _ = writeln!(
            o,
            "  ticks written          {:>10.0} /s      (group_delivered frames from members)",
            self.ticks_sent_per_sec
        );
        if let Some(d) = self.deliveries_per_message {
            let _ = writeln!(
                o,
                "  deliveries per message {d:>10.1}        (whole run; {} when complete)",
                self.members.saturating_sub(1)
            );
        }
        lat(&mut o, "end-to-end latency", &self.e2e_latency);
        lat(&mut o, "ack latency", &self.ack_latency);
        if let Some(l) = &self.send_lag {
            lat(&mut o, "send lag (rate mode)", l);
        }
        if self.measured.skipped > 0 {
            let _ = writeln!(
                o,
                "  skipped sends          {} (senders at --max-inflight)",
                self.measured.skipped
            );
        }
        let _ = writeln!(
            o,
            "  server rss             before {}, connected {}, peak {}, end {}",
            mib(self.server_rss.before_kib),
            mib(self.server_rss.connected_kib),
            mib(self.server_rss.peak_kib),
            mib(self.server_rss.end_kib)
        );
        let _ = writeln!(
            o,
            "  cpu (% of one core)    server {}, load generator {}",
            opt(self.server_cpu_percent, "%"),
            opt(self.loadgen_cpu_percent, "%")
        );
        let _ = writeln!(o, "  errors                 {}", self.errors_total);
        errors_lines(&mut o, &self.errors);
        o
    }
}

impl ConnectionsReport {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "nexchat-load connections against {:?} at {}",
            self.target, self.url
        );
        let _ = writeln!(
            o,
            "  requested {} over {} users, source addresses {}",
            self.requested, self.users, self.source_ips
        );
        let _ = writeln!(
            o,
            "  setup {:.1} s, connect {:.1} s, hold {:.1} s",
            self.setup_secs, self.connect_secs, self.hold_secs
        );
        let _ = writeln!(
            o,
            "  connections held       {} (at end {})",
            self.connections_held, self.connections_at_end
        );
        let _ = writeln!(
            o,
            "  server rss             before {}, connected {}, peak {}, end {}",
            mib(self.server_rss.before_kib),
            mib(self.server_rss.connected_kib),
            mib(self.server_rss.peak_kib),
            mib(self.server_rss.end_kib)
        );
        let _ = writeln!(
            o,
            "  server per connection  {}",
            opt(self.server_bytes_per_connection, " B")
        );
        let _ = writeln!(
            o,
            "  load generator rss     before {}, connected {} ({} per connection)",
            mib(self.loadgen_rss.before_kib),
            mib(self.loadgen_rss.connected_kib),
            opt(self.loadgen_bytes_per_connection, " B")
        );
        let _ = writeln!(o, "  errors                 {}", self.errors_total);
        errors_lines(&mut o, &self.errors);
        o
    }
}

impl AttachmentsReport {
    /// The table for people.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let mib_of = |bytes: u64| bytes as f64 / 1_048_576.0;
        let _ = writeln!(o, "nexchat-load attachments at {}", self.url);
        let _ = writeln!(
            o,
            "  file {:.1} MiB ({} B) of random bytes, streamed in {} KiB chunks{}; server limit {}",
            mib_of(self.size_bytes),
            self.size_bytes,
            self.chunk_bytes / 1024,
            if self.content_length {
                " with Content-Length"
            } else {
                ", chunked (no Content-Length)"
            },
            self.server_max_bytes
                .map_or_else(|| "-".to_owned(), |b| format!("{:.1} MiB", mib_of(b)))
        );
        let _ = writeln!(
            o,
            "  setup {:.1} s ({} users); downloads compared byte for byte: {} matched",
            self.setup_secs, self.users, self.verified
        );
        let phases = [
            ("uploads, one at a time", &self.uploads),
            ("downloads, one at a time", &self.downloads),
            ("uploads at once", &self.concurrent_uploads),
            ("downloads at once", &self.concurrent_downloads),
        ];
        for (name, p) in phases {
            if p.started == 0 {
                continue;
            }
            let _ = writeln!(
                o,
                "  {} {name}: {} finished in {:.2} s, {:.1} MiB/s in all",
                p.started, p.rates.count, p.secs, p.aggregate_mib_per_sec
            );
            let _ = writeln!(
                o,
                "    each                 median {:>7.1} MiB/s   best {:>7.1} MiB/s   worst {:>7.1} MiB/s",
                p.rates.median, p.rates.best, p.rates.worst
            );
            let m = &p.server_rss;
            let grew = match (m.before_kib, m.peak_kib) {
                (Some(b), Some(p)) => format!(" (+{:.1} MiB)", p.saturating_sub(b) as f64 / 1024.0),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "    server rss           before {}, peak {}{grew} ({} samples), end {}; VmHWM {} -> {}",
                mib(m.before_kib),
                mib(m.peak_kib),
                m.samples,
                mib(m.end_kib),
                mib(m.hwm_before_kib),
                mib(m.hwm_after_kib)
            );
            let _ = writeln!(
                o,
                "    cpu (% of one core)  server {}, load generator {}",
                opt(p.server_cpu_percent, "%"),
                opt(p.loadgen_cpu_percent, "%")
            );
        }
        let _ = writeln!(o, "  errors                 {}", self.errors_total);
        errors_lines(&mut o, &self.errors);
        o
    }
}
