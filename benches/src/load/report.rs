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
