//! The hostile workload: clients that try to make the server hold memory or connections. Run it
//! beside the messages workload for a soak (`benches/scripts/soak.sh`) and watch the server's
//! resident memory stay flat.
//!
//! Per friend pair `(a, b)`:
//! - `a` keeps a socket that never reads (a 4 KiB receive buffer), asks it for history pages
//!   again and again, and sends junk between them (text that is not JSON, frames past the size
//!   limit, invalid UTF-8); whenever the server drops it, it connects again;
//! - `b` sends `a` large messages (40 KiB of ciphertext) on a socket that reads its answers, so
//!   `a`'s backlog grows and each reconnect of `a` is greeted with it.
//!
//! Besides, `--slowloris` connections each send half a request head and wait; whenever the
//! server closes one, another is opened.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

use super::{Common, Endpoint, Errors, Target, conn, setup};
use crate::wire::random_base64;

/// Settings of the hostile workload.
#[derive(Debug, Clone, clap::Args)]
pub struct HostileArgs {
    /// Friend pairs, each with one never-reading socket and one flooding sender.
    #[arg(long, default_value_t = 4)]
    pub pairs: usize,
    /// Large messages per second each flooding sender sends.
    #[arg(long, default_value_t = 5.0)]
    pub flood_rate: f64,
    /// Connections that send half a request head and wait.
    #[arg(long, default_value_t = 20)]
    pub slowloris: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
}

/// What the hostile clients saw.
#[derive(Debug, Default, Serialize)]
pub struct HostileReport {
    /// Seconds run.
    pub seconds: f64,
    /// Sockets of never-reading clients the server dropped (and that reconnected).
    pub stalled_sockets_dropped: u64,
    /// History requests the never-reading clients managed to send.
    pub history_requests_sent: u64,
    /// Large messages the flooders got acknowledged.
    pub flood_messages_acknowledged: u64,
    /// Half-header HTTP connections the server closed.
    pub slowloris_closed: u64,
    /// Errors by kind.
    pub errors: std::collections::BTreeMap<String, u64>,
}

impl HostileReport {
    /// A human-readable summary.
    pub fn table(&self) -> String {
        format!(
            "hostile clients over {:.0} s\n  never-reading sockets dropped by the server: {}\n  \
             history requests sent without reading: {}\n  40 KiB messages acknowledged: {}\n  \
             half-header connections closed by the server: {}\n  errors: {:?}",
            self.seconds,
            self.stalled_sockets_dropped,
            self.history_requests_sent,
            self.flood_messages_acknowledged,
            self.slowloris_closed,
            self.errors
        )
    }
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    requests: AtomicU64,
    acknowledged: AtomicU64,
    slowloris: AtomicU64,
}

/// Runs the hostile clients against `common.url` for `args.duration` seconds.
///
/// # Errors
/// The server is not on loopback, is the bare relay, or setup failed for every pair.
pub async fn run(common: &Common, args: &HostileArgs) -> Result<HostileReport, String> {
    if common.target != Target::Nexchat {
        return Err("the hostile workload needs a nexchat server".into());
    }
    let ep = Arc::new(Endpoint::resolve(&common.url).await?);
    let errors = Arc::new(Errors::default());
    let http = setup::client();
    let prefix = common.prefix();
    let names: Vec<String> = (0..args.pairs * 2)
        .map(|i| format!("{prefix}h{i}"))
        .collect();
    let tokens = setup::register_and_login(
        &http,
        &ep,
        &names,
        &common.password,
        common.setup_concurrency,
        &errors,
    )
    .await;
    let users: Vec<(String, String)> = names
        .into_iter()
        .zip(tokens)
        .filter_map(|(name, token)| token.map(|t| (name, t)))
        .collect();
    let pairs: Vec<_> = users
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let friends =
        setup::befriend(&http, &ep, pairs.clone(), common.setup_concurrency, &errors).await;
    if !friends.iter().any(|ok| *ok) {
        return Err("no pair could be set up".into());
    }
    let counters = Arc::new(Counters::default());
    let until = Instant::now() + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for (((a, a_token), (b, b_token)), _) in pairs.into_iter().zip(friends).filter(|(_, ok)| *ok) {
        let (ep2, c2) = (Arc::clone(&ep), Arc::clone(&counters));
        let errors2 = Arc::clone(&errors);
        let b_name = b.clone();
        tasks.push(tokio::spawn(async move {
            stall(&ep2, &a_token, &b_name, until, &c2, &errors2).await;
        }));
        let (ep2, c2, errors2) = (Arc::clone(&ep), Arc::clone(&counters), Arc::clone(&errors));
        let rate = args.flood_rate;
        tasks.push(tokio::spawn(async move {
            flood(&ep2, &b_token, &a, rate, until, &c2, &errors2).await;
        }));
    }
    for _ in 0..args.slowloris {
        let (ep2, c2) = (Arc::clone(&ep), Arc::clone(&counters));
        tasks.push(tokio::spawn(
            async move { slowloris(&ep2, until, &c2).await },
        ));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(HostileReport {
        seconds: args.duration,
        stalled_sockets_dropped: counters.dropped.load(Relaxed),
        history_requests_sent: counters.requests.load(Relaxed),
        flood_messages_acknowledged: counters.acknowledged.load(Relaxed),
        slowloris_closed: counters.slowloris.load(Relaxed),
        errors: errors.snapshot(),
    })
}

/// A socket that never reads: asks for history and sends junk until the server drops it, then
/// connects again.
async fn stall(
    ep: &Endpoint,
    token: &str,
    with: &str,
    until: Instant,
    counters: &Counters,
    errors: &Errors,
) {
    let history = json!({"type": "fetch_history", "withUser": with, "limit": 200}).to_string();
    let oversized = "x".repeat(80 * 1024);
    while Instant::now() < until {
        let Ok(socket) = TcpSocket::new_v4() else {
            return;
        };
        let _ = socket.set_recv_buffer_size(4096);
        let Ok(tcp) = socket.connect(ep.addr).await else {
            errors.add("stall:connect");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let url = format!("ws://{}/ws?token={token}", ep.authority);
        let Ok((mut ws, _)) =
            tokio_tungstenite::client_async_with_config(url, tcp, Some(conn::config(4096))).await
        else {
            errors.add("stall:upgrade");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut round = 0u64;
        loop {
            // Mostly history; junk between; invalid UTF-8 (which ends the socket) rarely.
            let (frame, is_request) = match round % 64 {
                63 => (Message::Frame(invalid_utf8()), false),
                r if r % 8 == 5 => (Message::text("{not json"), false),
                r if r % 8 == 6 => (Message::text(oversized.clone()), false),
                _ => (Message::text(history.clone()), true),
            };
            let sent = tokio::time::timeout(Duration::from_secs(30), ws.send(frame)).await;
            if !matches!(sent, Ok(Ok(()))) || Instant::now() >= until {
                break;
            }
            if is_request {
                counters.requests.fetch_add(1, Relaxed);
            }
            round += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        counters.dropped.fetch_add(1, Relaxed);
    }
}

fn invalid_utf8() -> Frame {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    Frame::from_payload(header, vec![0xff, 0xfe, b'{'].into())
}

/// Sends `rate` large messages a second to `to`, reading the answers.
async fn flood(
    ep: &Endpoint,
    token: &str,
    to: &str,
    rate: f64,
    until: Instant,
    counters: &Counters,
    errors: &Errors,
) {
    let path = conn::ws_path(Target::Nexchat, "", Some(token));
    let Ok((mut ws, _)) = conn::open(ep, &path, None, 64 * 1024).await else {
        errors.add("flood:connect");
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    while Instant::now() < until {
        tokio::select! {
            _ = tick.tick() => {
                let message = json!({"type": "send_message", "receiver": to,
                    "ciphertext": random_base64(30 * 1024), "iv": random_base64(12)});
                if ws.send(Message::text(message.to_string())).await.is_err() {
                    errors.add("flood:send");
                    return;
                }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if text.contains("\"message_sent\"") {
                        counters.acknowledged.fetch_add(1, Relaxed);
                    } else if text.contains("\"error\"") {
                        errors.add("flood:refused");
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    errors.add("flood:closed");
                    return;
                }
            }
        }
    }
}

/// Half a request head, then nothing; a new one each time the server closes it.
async fn slowloris(ep: &Endpoint, until: Instant, counters: &Counters) {
    while Instant::now() < until {
        let Ok(mut tcp) = TcpStream::connect(ep.addr).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let _ = tcp
            .write_all(b"GET /client-config HTTP/1.1\r\nHost: x\r\n")
            .await;
        let mut buf = [0u8; 256];
        let left = until.saturating_duration_since(Instant::now());
        let closed = tokio::time::timeout(left, async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if closed.is_ok() {
            counters.slowloris.fetch_add(1, Relaxed);
        }
    }
}
