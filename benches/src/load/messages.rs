//! The messages workload: friend pairs sending each other messages, at a fixed total rate or as
//! fast as acknowledgements allow.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio::sync::{Semaphore, watch};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use super::conn::{self, Ws};
use super::monitor::Monitor;
use super::pacing::{Paced, Schedule};
use super::report::MessagesReport;
use super::stats::{LocalLatencies, Shared, phase};
use super::{Common, Endpoint, Errors, Target, raise_nofile_limit, setup};
use crate::msgid::{IdGen, send_micros};
use crate::procfs;
use crate::wire::{Incoming, MessageDelivered, SendMessage, random_base64};

/// How a receiver acknowledges what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AckMode {
    /// One `message_delivered {to, ids: [id]}` per message, as a simple client does.
    Each,
    /// One `message_delivered` per burst of frames read together.
    Batch,
    /// Never (the server keeps every message as undelivered).
    Off,
}

/// Settings of the messages workload.
#[derive(Debug, Clone, clap::Args)]
pub struct MessagesArgs {
    /// Users (rounded up to even): paired as friends, each sends to its partner.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Total send rate in messages/s over all senders. 0 = as fast as acknowledgements allow,
    /// keeping `--window` messages in flight per connection.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Messages in flight (sent, no `message_sent` yet) per connection when `--rate 0`.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// At most this many seconds to wait for answers to messages still in flight at the end.
    #[arg(long, default_value_t = 3.0)]
    pub drain: f64,
    /// Ciphertext size in bytes before base64 (the JSON carries 4/3 as many characters).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// How receivers acknowledge with `message_delivered`.
    #[arg(long, value_enum, default_value = "each")]
    pub delivered_ack: AckMode,
    /// Rate mode: unacknowledged messages one connection may have before it skips (and counts)
    /// sends instead of piling more onto a server that is behind.
    #[arg(long, default_value_t = 1000)]
    pub max_inflight: usize,
    /// Only the first user of each pair sends; the second only receives.
    #[arg(long)]
    pub one_way: bool,
}

impl Default for MessagesArgs {
    fn default() -> Self {
        Self {
            users: 100,
            rate: 0.0,
            window: 8,
            duration: 10.0,
            warmup: 2.0,
            drain: 3.0,
            size: 256,
            delivered_ack: AckMode::Each,
            max_inflight: 1000,
            one_way: false,
        }
    }
}

/// Read buffer of each client socket: a few messages' worth.
const READ_BUFFER: usize = 64 * 1024;

/// Runs the workload against the server at `common.url` and returns what it measured.
pub async fn run(common: &Common, args: &MessagesArgs) -> Result<MessagesReport, String> {
    let ep = Endpoint::resolve(&common.url).await?;
    // Every node the sockets are dealt over: `--url` first, then each `--node`.
    let mut endpoints = vec![ep.clone()];
    for url in &common.nodes {
        endpoints.push(Endpoint::resolve(url).await?);
    }
    let nofile_limit = raise_nofile_limit();
    let users = args.users.max(2).div_ceil(2) * 2;
    let prefix = common.prefix();
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}_{i}")).collect();
    let errors = Arc::new(Errors::default());
    let quiet = common.json_only;

    let setup_start = Instant::now();
    let (tokens, friends) = match common.target {
        Target::Nexchat => {
            let http = setup::client();
            if !quiet {
                eprintln!("setup: registering and logging in {users} users ...");
            }
            let tokens = setup::register_and_login(
                &http,
                &ep,
                &names,
                &common.password,
                common.setup_concurrency,
                &errors,
            )
            .await;
            let pairs: Vec<_> = (0..users / 2)
                .filter_map(|k| {
                    let (a, b) = (2 * k, 2 * k + 1);
                    Some((
                        (names[a].clone(), tokens[a].clone()?),
                        (names[b].clone(), tokens[b].clone()?),
                    ))
                })
                .collect();
            let paired: Vec<usize> = (0..users / 2)
                .filter(|&k| tokens[2 * k].is_some() && tokens[2 * k + 1].is_some())
                .collect();
            if !quiet {
                eprintln!("setup: pairing {} couples as friends ...", pairs.len());
            }
            let ok = setup::befriend(&http, &ep, pairs, common.setup_concurrency, &errors).await;
            let mut friends = vec![false; users / 2];
            for (k, ok) in paired.into_iter().zip(ok) {
                friends[k] = ok;
            }
            (tokens, friends)
        }
        Target::Bare => (vec![None; users], vec![true; users / 2]),
    };
    let setup_secs = setup_start.elapsed().as_secs_f64();
    let pairs_ok = friends.iter().filter(|&&f| f).count();
    if pairs_ok == 0 {
        return Err(format!(
            "setup failed for every pair: {:?}",
            errors.snapshot()
        ));
    }
    let senders = if args.one_way { pairs_ok } else { 2 * pairs_ok };

    let shared = Arc::new(Shared::default());
    let (phase_tx, phase_rx) = watch::channel(phase::SETUP);
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let template = Arc::new(Template {
        ciphertext: random_base64(args.size),
        window: args.window.max(1),
        rate_per_conn: (args.rate > 0.0).then(|| args.rate / senders as f64),
        max_inflight: args.max_inflight.max(1),
        ack_mode: args.delivered_ack,
    });

    let monitor = Monitor::start(
        Arc::clone(&shared),
        Arc::clone(&errors),
        common.server_pid,
        quiet,
    );
    let connect_start = Instant::now();
    let mut tasks = Vec::with_capacity(2 * pairs_ok);
    let mut conn_index = 0usize;
    for k in (0..users / 2).filter(|&k| friends[k]) {
        for (me, peer) in [(2 * k, 2 * k + 1), (2 * k + 1, 2 * k)] {
            let plan = Plan {
                me: names[me].clone(),
                peer: names[peer].clone(),
                path: conn::ws_path(common.target, &names[me], tokens[me].as_deref()),
                source: common.source_for(conn_index),
                sends: !args.one_way || me % 2 == 0,
            };
            // Partners are consecutive: with two nodes each pair is split over them.
            let node = &endpoints[conn_index % endpoints.len()];
            conn_index += 1;
            let (ep, shared, errors, template, sem, rx) = (
                node.clone(),
                Arc::clone(&shared),
                Arc::clone(&errors),
                Arc::clone(&template),
                Arc::clone(&sem),
                phase_rx.clone(),
            );
            tasks.push(tokio::spawn(connection(
                ep, plan, shared, errors, template, sem, rx,
            )));
        }
    }
    let expected = tasks.len();
    while shared.ready.load(Relaxed) + shared.failed.load(Relaxed) < expected {
        if connect_start.elapsed() > conn::SYNC_TIMEOUT * 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    let pid = common.server_pid;
    let rss_connected = pid.and_then(procfs::rss_kib);

    set_phase(&shared, &phase_tx, phase::WARMUP, quiet);
    tokio::time::sleep(Duration::from_secs_f64(args.warmup.max(0.0))).await;

    let held = shared.open.load(Relaxed);
    let cpu0 = (
        common.server_cpu_ticks(),
        procfs::cpu_ticks(std::process::id()),
    );
    let t0 = Instant::now();
    set_phase(&shared, &phase_tx, phase::MEASURE, quiet);
    tokio::time::sleep(Duration::from_secs_f64(args.duration.max(0.1))).await;
    set_phase(&shared, &phase_tx, phase::DRAIN, quiet);
    let measured_secs = t0.elapsed().as_secs_f64();
    let cpu1 = (
        common.server_cpu_ticks(),
        procfs::cpu_ticks(std::process::id()),
    );
    let rss_end = pid.and_then(procfs::rss_kib);
    let at_end = shared.open.load(Relaxed);
    let measured = shared.measured.read();

    // Drain: stop early once every message sent has been answered and delivered.
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain.max(0.0));
    // A send that read the phase just before it changed is counted a moment later: let it land.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while Instant::now() < drain_until {
        let t = shared.total.read();
        let receipts_done = args.delivered_ack == AckMode::Off || t.receipts >= t.sent;
        if t.acked >= t.sent && t.delivered >= t.sent && receipts_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_phase(&shared, &phase_tx, phase::STOP, quiet);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let server_before = monitor.first_rss;
    let peak = monitor.stop().await;

    let per_sec = |n: u64| n as f64 / measured_secs;
    let errors_map = errors.snapshot();
    Ok(MessagesReport {
        tool: "nexchat-load",
        mode: "messages",
        target: common.target,
        url: endpoints
            .iter()
            .map(|e| e.base.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        users,
        senders,
        pacing: if args.rate > 0.0 {
            format!("rate {} msg/s", args.rate)
        } else {
            format!("window {}", args.window)
        },
        size_bytes: args.size,
        delivered_ack: format!("{:?}", args.delivered_ack).to_lowercase(),
        setup_secs,
        connect_secs,
        measured_secs,
        connections_held: held,
        connections_at_end: at_end,
        sent_per_sec: per_sec(measured.sent),
        acked_per_sec: per_sec(measured.acked),
        delivered_per_sec: per_sec(measured.delivered),
        receipts_per_sec: per_sec(measured.receipts),
        e2e_latency: shared.e2e_summary(),
        ack_latency: shared.ack_summary(),
        send_lag: (args.rate > 0.0).then(|| shared.lag_summary()),
        measured,
        total: shared.total.read(),
        errors_total: errors_map.values().sum(),
        errors: errors_map,
        server_rss: super::report::Memory {
            before_kib: server_before,
            connected_kib: rss_connected,
            peak_kib: peak,
            end_kib: rss_end,
        },
        server_cpu_percent: procfs::cpu_percent(cpu0.0, cpu1.0, measured_secs),
        loadgen_cpu_percent: procfs::cpu_percent(cpu0.1, cpu1.1, measured_secs),
        nofile_limit,
    })
}

pub(super) fn set_phase(shared: &Shared, tx: &watch::Sender<u8>, p: u8, quiet: bool) {
    shared.phase.store(p, Relaxed);
    let _ = tx.send(p);
    if !quiet {
        let name = ["setup", "warm-up", "measure", "drain", "stop"]
            .get(usize::from(p))
            .copied()
            .unwrap_or("?");
        eprintln!("phase: {name}");
    }
}

/// What every connection of a run shares.
struct Template {
    ciphertext: String,
    window: usize,
    rate_per_conn: Option<f64>,
    max_inflight: usize,
    ack_mode: AckMode,
}

/// One connection's part.
struct Plan {
    me: String,
    peer: String,
    path: String,
    source: Option<Ipv4Addr>,
    sends: bool,
}

async fn connection(
    ep: Endpoint,
    plan: Plan,
    shared: Arc<Shared>,
    errors: Arc<Errors>,
    template: Arc<Template>,
    sem: Arc<Semaphore>,
    mut phase_rx: watch::Receiver<u8>,
) {
    let permit = sem.acquire_owned().await;
    let (mut ws, replayed) = match conn::open(&ep, &plan.path, plan.source, READ_BUFFER).await {
        Ok(x) => x,
        Err(kind) => {
            errors.add(kind);
            shared.failed.fetch_add(1, Relaxed);
            return;
        }
    };
    drop(permit);
    shared.open.fetch_add(1, Relaxed);
    shared.ready.fetch_add(1, Relaxed);

    let mut c = Conn {
        shared: &shared,
        errors: &errors,
        t: &template,
        plan: &plan,
        ids: IdGen::new(),
        inflight: 0,
        out: Vec::new(),
        batch: Vec::new(),
        lat: LocalLatencies::default(),
        rate: None,
    };
    for text in &replayed {
        c.on_text(text);
    }
    let tick = template
        .rate_per_conn
        .map_or(Duration::from_secs(3600), |r| {
            Duration::from_secs_f64((1.0 / r).max(0.001))
        });
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut current = *phase_rx.borrow_and_update();

    let closed_by_server = loop {
        let sending = plan.sends && (current == phase::WARMUP || current == phase::MEASURE);
        tokio::select! {
            frame = ws.next() => {
                let mut closed = !c.on_frame(frame);
                // Handle whatever else is already readable before writing: one write per burst.
                for _ in 0..64 {
                    if closed { break; }
                    match ws.next().now_or_never() {
                        Some(frame) => closed = !c.on_frame(frame),
                        None => break,
                    }
                }
                if closed { break true; }
            }
            _ = ticker.tick(), if sending && c.rate.is_some() => c.send_due(),
            changed = phase_rx.changed() => {
                if changed.is_err() { break false; }
                current = *phase_rx.borrow_and_update();
                if current == phase::WARMUP && plan.sends {
                    if let Some(r) = template.rate_per_conn {
                        // Ticks fall on the schedule itself, so a send leaves on time, not up to
                        // one interval late.
                        let first = c.start_rate(r);
                        ticker.reset_at(tokio::time::Instant::now() + first);
                    }
                }
                if current >= phase::STOP { break false; }
            }
        }
        if sending && c.rate.is_none() {
            c.fill_window();
        }
        c.flush_batch();
        if !c.out.is_empty() && !write_all(&mut ws, &mut c.out).await {
            c.errors.add("ws:write failed");
            break true;
        }
    };
    c.lat.flush(&shared);
    shared.open.fetch_sub(1, Relaxed);
    if closed_by_server {
        if shared.phase() < phase::STOP {
            errors.add("ws:closed by server");
        }
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
}

pub(super) async fn write_all(ws: &mut Ws, out: &mut Vec<String>) -> bool {
    for frame in out.drain(..) {
        if ws.feed(Message::text(frame)).await.is_err() {
            return false;
        }
    }
    ws.flush().await.is_ok()
}

/// The state of one connection while it runs.
struct Conn<'a> {
    shared: &'a Shared,
    errors: &'a Errors,
    t: &'a Template,
    plan: &'a Plan,
    ids: IdGen,
    inflight: usize,
    out: Vec<String>,
    /// `--delivered-ack batch`: (sender, id) waiting to be acknowledged.
    batch: Vec<(String, String)>,
    lat: LocalLatencies,
    rate: Option<Schedule>,
}

impl Paced for Conn<'_> {
    fn shared(&self) -> &Shared {
        self.shared
    }
    fn inflight(&self) -> usize {
        self.inflight
    }
    fn window(&self) -> usize {
        self.t.window
    }
    fn max_inflight(&self) -> usize {
        self.t.max_inflight
    }
    fn schedule(&self) -> Option<Schedule> {
        self.rate
    }
    fn set_schedule(&mut self, schedule: Schedule) {
        self.rate = Some(schedule);
    }
    fn send(&mut self, lag_us: Option<u64>) {
        Conn::send(self, lag_us);
    }
}

impl Conn<'_> {
    /// Handles one read result; false when the socket is done.
    fn on_frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> bool {
        match frame {
            Some(Ok(Message::Text(t))) => {
                self.on_text(t.as_str());
                true
            }
            Some(Ok(Message::Close(_))) | None => false,
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                self.errors.add(format!("ws:{}", conn::short(&e)));
                false
            }
        }
    }

    fn on_text(&mut self, text: &str) {
        let Ok(ev) = serde_json::from_str::<Incoming<'_>>(text) else {
            self.errors.add("ws:unreadable event");
            return;
        };
        let measuring = self.measuring();
        let now = self.shared.clock.now_micros();
        match ev.kind.as_ref() {
            "message_sent" => {
                let Some(sent_at) = ev.message_id().and_then(send_micros) else {
                    return;
                };
                self.inflight = self.inflight.saturating_sub(1);
                self.shared.total.acked.fetch_add(1, Relaxed);
                if measuring {
                    self.shared.measured.acked.fetch_add(1, Relaxed);
                    self.lat.ack(self.shared, now.saturating_sub(sent_at));
                }
            }
            "receive_message" => {
                let (Some(id), Some(sender)) = (ev.message_id(), ev.message_sender()) else {
                    self.errors.add("ws:receive_message without id or sender");
                    return;
                };
                if sender == self.plan.me {
                    return; // our own message echoed to another socket of ours
                }
                if let Some(sent_at) = send_micros(id) {
                    self.shared.total.delivered.fetch_add(1, Relaxed);
                    if measuring {
                        self.shared.measured.delivered.fetch_add(1, Relaxed);
                        self.lat.e2e(self.shared, now.saturating_sub(sent_at));
                    }
                }
                match self.t.ack_mode {
                    AckMode::Each => {
                        let ack = MessageDelivered {
                            to: sender,
                            ids: &[id],
                        };
                        if let Ok(s) = serde_json::to_string(&ack) {
                            self.out.push(s);
                        }
                    }
                    AckMode::Batch => self.batch.push((sender.to_owned(), id.to_owned())),
                    AckMode::Off => {}
                }
            }
            "message_delivered" => {
                let n = ev.ids.as_ref().map_or(1, Vec::len) as u64;
                self.shared.total.receipts.fetch_add(n, Relaxed);
                if measuring {
                    self.shared.measured.receipts.fetch_add(n, Relaxed);
                }
            }
            "error" => {
                let code = ev.code.as_deref().unwrap_or("unknown");
                self.errors.add(format!("ws:{code}"));
                if ev.reference.as_deref().and_then(send_micros).is_some() {
                    self.inflight = self.inflight.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    fn send(&mut self, lag_us: Option<u64>) {
        let now = self.shared.clock.now_micros();
        let id = self.ids.next(now).to_string();
        let iv = random_base64(12);
        let msg = SendMessage {
            receiver: &self.plan.peer,
            ciphertext: &self.t.ciphertext,
            iv: &iv,
            id: &id,
        };
        let Ok(json) = serde_json::to_string(&msg) else {
            return;
        };
        self.out.push(json);
        self.inflight += 1;
        self.shared.total.sent.fetch_add(1, Relaxed);
        if self.measuring() {
            self.shared.measured.sent.fetch_add(1, Relaxed);
            if let Some(lag) = lag_us {
                self.lat.lag(self.shared, lag);
            }
        }
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        for group in batch.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<&str> = group.iter().map(|(_, id)| id.as_str()).collect();
            if let Ok(s) = serde_json::to_string(&MessageDelivered {
                to: &group[0].0,
                ids: &ids,
            }) {
                self.out.push(s);
            }
        }
    }
}
