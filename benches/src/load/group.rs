//! The group workload: one group of many members, all online, a few of them sending chat
//! messages into it; every other member receives each one (fan-out).
//!
//! Setup (nexchat only): registers the members, the first one (the admin) befriends every other
//! (`/friends/request` + `/friends/accept`), creates the group with all of them in one
//! `POST /groups`, then every member opens one socket. Senders are the first `--senders`
//! members (the admin first). Latency is read from the message ids as in the messages workload
//! ([`crate::msgid`]): send → `group_message_sent` at the sender (ack), send →
//! `receive_group_message` at each receiving member (end-to-end, one sample per member).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{Semaphore, watch};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use super::conn;
use super::messages::{AckMode, set_phase, write_all};
use super::monitor::Monitor;
use super::pacing::{Paced, Schedule};
use super::report::{GroupReport, Memory};
use super::stats::{LocalLatencies, Shared, phase};
use super::{Common, Endpoint, Errors, Target, raise_nofile_limit, setup};
use crate::msgid::{IdGen, send_micros};
use crate::procfs;
use crate::wire::{GroupDelivered, Incoming, SendGroupMessage, random_base64};

/// Settings of the group workload.
#[derive(Debug, Clone, clap::Args)]
pub struct GroupArgs {
    /// Members of the group, the admin included (the server's default limit is 256).
    #[arg(long, default_value_t = 256)]
    pub members: usize,
    /// Members that send (the first ones, the admin first); every member receives.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    /// Total send rate into the group in messages/s over all senders. 0 = as fast as
    /// acknowledgements allow, keeping `--window` messages in flight per sender.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Messages in flight (sent, no `group_message_sent` yet) per sender when `--rate 0`.
    #[arg(long, default_value_t = 8)]
    pub window: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of sending before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// At most this many seconds to wait for answers to messages still in flight at the end.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Ciphertext size in bytes before base64.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// How members acknowledge with `group_delivered`: one per message (`each`), one per burst
    /// of frames read together (`batch`), or never (`off`).
    #[arg(long, value_enum, default_value = "batch")]
    pub delivered_ack: AckMode,
    /// Rate mode: unacknowledged messages one sender may have before it skips (and counts)
    /// sends.
    #[arg(long, default_value_t = 1000)]
    pub max_inflight: usize,
}

impl Default for GroupArgs {
    fn default() -> Self {
        Self {
            members: 256,
            senders: 1,
            rate: 0.0,
            window: 8,
            duration: 10.0,
            warmup: 2.0,
            drain: 5.0,
            size: 256,
            delivered_ack: AckMode::Batch,
            max_inflight: 1000,
        }
    }
}

/// Read buffer of each client socket: a few messages' worth.
const READ_BUFFER: usize = 64 * 1024;

/// The sender key id every sender claims (the server only checks its shape).
const KEY_ID: &str = "k1";

/// Counts of this workload beyond [`Shared`]'s.
#[derive(Debug, Default)]
struct Ticks {
    /// `group_delivered` frames written by members, whole run.
    total: AtomicU64,
    /// The same, measured phase only.
    measured: AtomicU64,
}

/// Runs the workload against the server at `common.url` and returns what it measured.
pub async fn run(common: &Common, args: &GroupArgs) -> Result<GroupReport, String> {
    if common.target != Target::Nexchat {
        return Err(
            "the group workload needs --target nexchat (the bare relay has no groups)".into(),
        );
    }
    if !common.nodes.is_empty() {
        return Err("the group workload drives one node (no --node)".into());
    }
    let ep = Endpoint::resolve(&common.url).await?;
    let nofile_limit = raise_nofile_limit();
    let members = args.members.max(2);
    let senders_asked = args.senders.clamp(1, members);
    let prefix = common.prefix();
    let names: Vec<String> = (0..members).map(|i| format!("{prefix}_{i}")).collect();
    let errors = Arc::new(Errors::default());
    let quiet = common.json_only;

    let setup_start = Instant::now();
    let http = setup::client();
    if !quiet {
        eprintln!("setup: registering and logging in {members} users ...");
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
    let admin_token = tokens[0]
        .clone()
        .ok_or_else(|| format!("setup failed for the admin: {:?}", errors.snapshot()))?;
    let others: Vec<usize> = (1..members).filter(|&i| tokens[i].is_some()).collect();
    if !quiet {
        eprintln!("setup: the admin befriends {} members ...", others.len());
    }
    let pairs = others
        .iter()
        .filter_map(|&i| {
            Some((
                (names[0].clone(), admin_token.clone()),
                (names[i].clone(), tokens[i].clone()?),
            ))
        })
        .collect();
    let ok = setup::befriend(&http, &ep, pairs, common.setup_concurrency, &errors).await;
    let friends: Vec<usize> = others
        .into_iter()
        .zip(ok)
        .filter_map(|(i, ok)| ok.then_some(i))
        .collect();
    if !quiet {
        eprintln!("setup: creating the group of {} ...", friends.len() + 1);
    }
    let listed: Vec<String> = friends.iter().map(|&i| names[i].clone()).collect();
    let group = setup::create_group(&http, &ep, &admin_token, &listed, &errors).await?;
    let setup_secs = setup_start.elapsed().as_secs_f64();
    // Who is in: the admin and every friend listed.
    let in_group: Vec<usize> = std::iter::once(0).chain(friends).collect();
    let group_size = in_group.len();
    let senders = senders_asked.min(group_size);

    let shared = Arc::new(Shared::default());
    let ticks = Arc::new(Ticks::default());
    let (phase_tx, phase_rx) = watch::channel(phase::SETUP);
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let template = Arc::new(Template {
        group: group.clone(),
        ciphertext: random_base64(args.size),
        window: args.window.max(1),
        rate_per_conn: (args.rate > 0.0).then(|| args.rate / senders as f64),
        max_inflight: args.max_inflight.max(1),
        ack_mode: args.delivered_ack,
    });

    let pid = common.server_pid;
    let monitor = Monitor::start(Arc::clone(&shared), Arc::clone(&errors), pid, quiet);
    let connect_start = Instant::now();
    let mut tasks = Vec::with_capacity(group_size);
    for (k, &i) in in_group.iter().enumerate() {
        let plan = Plan {
            me: names[i].clone(),
            path: conn::ws_path(Target::Nexchat, &names[i], tokens[i].as_deref()),
            source: common.source_for(k),
            sends: k < senders,
        };
        tasks.push(tokio::spawn(connection(
            ep.clone(),
            plan,
            Arc::clone(&shared),
            Arc::clone(&ticks),
            Arc::clone(&errors),
            Arc::clone(&template),
            Arc::clone(&sem),
            phase_rx.clone(),
        )));
    }
    while shared.ready.load(Relaxed) + shared.failed.load(Relaxed) < group_size {
        if connect_start.elapsed() > conn::SYNC_TIMEOUT * 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
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
    let measured_ticks = ticks.measured.load(Relaxed);

    // Drain: stop early once every message sent was acknowledged and reached every receiver
    // still connected (and, with acknowledgements on, came back as delivered to all).
    let receivers = (held.saturating_sub(1)) as u64;
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain.max(0.0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    while Instant::now() < drain_until {
        let t = shared.total.read();
        let receipts_done = args.delivered_ack == AckMode::Off || t.receipts >= t.sent;
        if t.acked >= t.sent && t.delivered >= t.sent * receivers && receipts_done {
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
    let total = shared.total.read();
    Ok(GroupReport {
        tool: "nexchat-load",
        mode: "group",
        url: ep.base.clone(),
        group,
        members: group_size,
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
        deliveries_per_sec: per_sec(measured.delivered),
        receipts_per_sec: per_sec(measured.receipts),
        ticks_sent_per_sec: per_sec(measured_ticks),
        deliveries_per_message: (total.sent > 0)
            .then(|| total.delivered as f64 / total.sent as f64),
        e2e_latency: shared.e2e_summary(),
        ack_latency: shared.ack_summary(),
        send_lag: (args.rate > 0.0).then(|| shared.lag_summary()),
        measured,
        total,
        ticks_sent_total: ticks.total.load(Relaxed),
        errors_total: errors_map.values().sum(),
        errors: errors_map,
        server_rss: Memory {
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

/// What every connection of a run shares.
struct Template {
    group: String,
    ciphertext: String,
    window: usize,
    rate_per_conn: Option<f64>,
    max_inflight: usize,
    ack_mode: AckMode,
}

/// One member's part.
struct Plan {
    me: String,
    path: String,
    source: Option<std::net::Ipv4Addr>,
    sends: bool,
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    ep: Endpoint,
    plan: Plan,
    shared: Arc<Shared>,
    ticks: Arc<Ticks>,
    errors: Arc<Errors>,
    template: Arc<Template>,
    sem: Arc<Semaphore>,
    mut phase_rx: watch::Receiver<u8>,
) {
    let permit = sem.acquire_owned().await;
    let (mut ws, _replayed) = match conn::open(&ep, &plan.path, plan.source, READ_BUFFER).await {
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

    let mut c = Member {
        shared: &shared,
        ticks: &ticks,
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

/// The state of one member's socket while it runs.
struct Member<'a> {
    shared: &'a Shared,
    ticks: &'a Ticks,
    errors: &'a Errors,
    t: &'a Template,
    plan: &'a Plan,
    ids: IdGen,
    inflight: usize,
    out: Vec<String>,
    /// `--delivered-ack batch`: ids waiting to be acknowledged.
    batch: Vec<String>,
    lat: LocalLatencies,
    rate: Option<Schedule>,
}

impl Paced for Member<'_> {
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
        Member::send(self, lag_us);
    }
}

impl Member<'_> {
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
            "group_message_sent" => {
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
            "receive_group_message" => {
                let (Some(id), Some(sender)) = (ev.message_id(), ev.message_sender()) else {
                    self.errors
                        .add("ws:receive_group_message without id or sender");
                    return;
                };
                if sender == self.plan.me {
                    self.errors.add("ws:own group message pushed back");
                    return;
                }
                let Some(sent_at) = send_micros(id) else {
                    return;
                };
                self.shared.total.delivered.fetch_add(1, Relaxed);
                if measuring {
                    self.shared.measured.delivered.fetch_add(1, Relaxed);
                    self.lat.e2e(self.shared, now.saturating_sub(sent_at));
                }
                match self.t.ack_mode {
                    AckMode::Each => {
                        let ack = GroupDelivered {
                            group: &self.t.group,
                            ids: &[id],
                        };
                        if let Ok(s) = serde_json::to_string(&ack) {
                            self.push_tick(s);
                        }
                    }
                    AckMode::Batch => self.batch.push(id.to_owned()),
                    AckMode::Off => {}
                }
            }
            "group_delivered" => {
                // At a sender: these messages of ours reached every member.
                let n = ev.ids.as_ref().map_or(0, Vec::len) as u64;
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

    fn push_tick(&mut self, frame: String) {
        self.out.push(frame);
        self.ticks.total.fetch_add(1, Relaxed);
        if self.measuring() {
            self.ticks.measured.fetch_add(1, Relaxed);
        }
    }

    fn send(&mut self, lag_us: Option<u64>) {
        let now = self.shared.clock.now_micros();
        let id = self.ids.next(now).to_string();
        let iv = random_base64(12);
        let msg = SendGroupMessage {
            group: &self.t.group,
            ciphertext: &self.t.ciphertext,
            iv: &iv,
            key_id: KEY_ID,
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
        let batch = std::mem::take(&mut self.batch);
        if let Ok(s) = serde_json::to_string(&GroupDelivered {
            group: &self.t.group,
            ids: &batch,
        }) {
            self.push_tick(s);
        }
    }
}
