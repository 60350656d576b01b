//! The connections-only workload: open N idle sockets, hold them, report memory per connection.
//!
//! Every socket is a real client: it finishes the handshake, waits for `sync_done`, then keeps
//! reading (so the server's pings are answered) until the hold is over. The server's VmRSS is read
//! after setup and again once all sockets are open; the difference divided by the sockets held is
//! the server's memory per idle connection.
//!
//! Limits to raise first, on both sides: open files (`ulimit -n`, one fd per socket; this tool
//! raises its own soft limit to the hard limit) and local ports (one source address has about
//! 28k ephemeral ports towards one server address: use `--source-ips`).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

use super::monitor::Monitor;
use super::report::{ConnectionsReport, Memory};
use super::stats::{Shared, phase};
use super::{Common, Endpoint, Errors, Target, conn, raise_nofile_limit, setup};
use crate::procfs;

/// Settings of the connections workload.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionsArgs {
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Connections per user (nexchat allows 10 sockets per user by default).
    #[arg(long, default_value_t = 1)]
    pub conns_per_user: usize,
    /// Seconds to hold the connections once all are open.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    /// Seconds to wait after the last connect before reading memory.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
}

impl Default for ConnectionsArgs {
    fn default() -> Self {
        Self {
            conns: 1000,
            conns_per_user: 1,
            hold: 10.0,
            settle: 2.0,
        }
    }
}

/// Read buffer of each idle client socket: small, so the load generator itself stays light.
const READ_BUFFER: usize = 4 * 1024;

/// Give up waiting for connects when none finished for this long.
const STALL: Duration = Duration::from_secs(60);

/// Runs the workload against the server at `common.url` and returns what it measured.
pub async fn run(common: &Common, args: &ConnectionsArgs) -> Result<ConnectionsReport, String> {
    let ep = Endpoint::resolve(&common.url).await?;
    let nofile_limit = raise_nofile_limit();
    let quiet = common.json_only;
    if (args.conns as u64) + 64 > nofile_limit && !quiet {
        eprintln!(
            "warning: {} connections need more open files than RLIMIT_NOFILE {nofile_limit} (raise `ulimit -Hn` as root)",
            args.conns
        );
    }
    let per_user = args.conns_per_user.max(1);
    let users = args.conns.div_ceil(per_user);
    let prefix = common.prefix();
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}_{i}")).collect();
    let errors = Arc::new(Errors::default());

    let setup_start = Instant::now();
    let tokens = match common.target {
        Target::Nexchat => {
            if !quiet {
                eprintln!("setup: registering and logging in {users} users ...");
            }
            let http = setup::client();
            setup::register_and_login(
                &http,
                &ep,
                &names,
                &common.password,
                common.setup_concurrency,
                &errors,
            )
            .await
        }
        Target::Bare => vec![None; users],
    };
    let setup_secs = setup_start.elapsed().as_secs_f64();

    let shared = Arc::new(Shared::default());
    let me = std::process::id();
    let pid = common.server_pid;
    // Let connections from setup (REST keep-alive) close before the baseline reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loadgen_before = procfs::rss_kib(me);
    let monitor = Monitor::start(Arc::clone(&shared), Arc::clone(&errors), pid, quiet);
    let (phase_tx, phase_rx) = watch::channel(phase::SETUP);
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));

    let connect_start = Instant::now();
    let mut tasks = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let u = i / per_user;
        let Some(path) = (match common.target {
            Target::Nexchat => tokens[u]
                .as_deref()
                .map(|t| conn::ws_path(Target::Nexchat, &names[u], Some(t))),
            Target::Bare => Some(conn::ws_path(
                Target::Bare,
                &format!("{}_{i}", names[u]),
                None,
            )),
        }) else {
            shared.failed.fetch_add(1, Relaxed);
            continue;
        };
        let (ep, shared, errors, sem, rx) = (
            ep.clone(),
            Arc::clone(&shared),
            Arc::clone(&errors),
            Arc::clone(&sem),
            phase_rx.clone(),
        );
        tasks.push(tokio::spawn(idle(
            ep,
            path,
            common.source_for(i),
            shared,
            errors,
            sem,
            rx,
        )));
    }
    let mut last_progress = (0, Instant::now());
    loop {
        let done = shared.ready.load(Relaxed) + shared.failed.load(Relaxed);
        if done >= args.conns {
            break;
        }
        if done != last_progress.0 {
            last_progress = (done, Instant::now());
        } else if last_progress.1.elapsed() > STALL {
            errors.add("connect:stalled (gave up waiting)");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.settle.max(0.0))).await;
    let held = shared.open.load(Relaxed);
    let server_connected = pid.and_then(procfs::rss_kib);
    let loadgen_connected = procfs::rss_kib(me);
    if !quiet {
        eprintln!("holding {held} connections for {:.0} s ...", args.hold);
    }
    tokio::time::sleep(Duration::from_secs_f64(args.hold.max(0.0))).await;
    let at_end = shared.open.load(Relaxed);
    let server_end = pid.and_then(procfs::rss_kib);

    shared.phase.store(phase::STOP, Relaxed);
    let _ = phase_tx.send(phase::STOP);
    let join_deadline = Instant::now() + Duration::from_secs(30);
    for t in tasks {
        let left = join_deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, t).await.is_err() {
            break;
        }
    }
    let server_before = monitor.first_rss;
    let peak = monitor.stop().await;

    let per_conn = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) if held > 0 => Some(a.saturating_sub(b) as f64 * 1024.0 / held as f64),
        _ => None,
    };
    let errors_map = errors.snapshot();
    let server_rss = Memory {
        before_kib: server_before,
        connected_kib: server_connected,
        peak_kib: peak,
        end_kib: server_end,
    };
    Ok(ConnectionsReport {
        tool: "nexchat-load",
        mode: "connections",
        target: common.target,
        url: ep.base.clone(),
        requested: args.conns,
        users,
        source_ips: common.source_ips,
        setup_secs,
        connect_secs,
        connections_held: held,
        connections_at_end: at_end,
        hold_secs: args.hold,
        server_bytes_per_connection: per_conn(server_before, server_connected),
        server_rss,
        loadgen_bytes_per_connection: per_conn(loadgen_before, loadgen_connected),
        loadgen_rss: Memory {
            before_kib: loadgen_before,
            connected_kib: loadgen_connected,
            peak_kib: None,
            end_kib: None,
        },
        errors_total: errors_map.values().sum(),
        errors: errors_map,
        nofile_limit,
    })
}

async fn idle(
    ep: Endpoint,
    path: String,
    source: Option<Ipv4Addr>,
    shared: Arc<Shared>,
    errors: Arc<Errors>,
    sem: Arc<Semaphore>,
    mut phase_rx: watch::Receiver<u8>,
) {
    let permit = sem.acquire_owned().await;
    let mut ws = match conn::open(&ep, &path, source, READ_BUFFER).await {
        Ok((ws, _replayed)) => ws,
        Err(kind) => {
            errors.add(kind);
            shared.failed.fetch_add(1, Relaxed);
            return;
        }
    };
    drop(permit);
    shared.open.fetch_add(1, Relaxed);
    shared.ready.fetch_add(1, Relaxed);
    let closed_by_server = loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Close(_))) | None => break true,
                Some(Err(e)) => {
                    errors.add(format!("ws:{}", conn::short(&e)));
                    break true;
                }
                Some(Ok(_)) => {}
            },
            changed = phase_rx.changed() => {
                if changed.is_err() || *phase_rx.borrow_and_update() >= phase::STOP {
                    break false;
                }
            }
        }
    };
    shared.open.fetch_sub(1, Relaxed);
    if closed_by_server {
        if shared.phase() < phase::STOP {
            errors.add("ws:closed by server");
        }
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
}
