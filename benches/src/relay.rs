//! The bare relay: the smallest WebSocket server that does nexchat's message path.
//!
//! A user connects to `GET /ws?user=NAME` (no token, no account). `send_message` is forwarded to
//! the receiver's socket as `receive_message` and answered with `message_sent` to the sender;
//! `message_delivered` is forwarded to `to` as `message_delivered {from, ids}`, as the real server
//! does. Right after the upgrade the relay sends `sync_done {}`, so a client knows the relay has
//! registered it (the real server sends `online_users` first; the load generator waits for
//! `sync_done` in both cases). Nothing is authenticated, stored, rate-limited or checked:
//! a message to a user with no socket is dropped. It uses the same stack as `nexchat-axum`
//! (axum 0.8 `ws` over tokio), so the gap between the two is what nexchat itself costs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use futures::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Socket settings of the relay (the same knobs `nexchat-axum` sets from its `Limits`).
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// Initial size of each socket's read buffer (tungstenite allocates it per socket).
    pub read_buffer_size: usize,
    /// How much a socket buffers before it writes.
    pub write_buffer_size: usize,
    /// Largest accepted message.
    pub max_message_size: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            read_buffer_size: 4 * 1024,
            write_buffer_size: 16 * 1024,
            max_message_size: 64 * 1024,
        }
    }
}

type Outbox = mpsc::UnboundedSender<Utf8Bytes>;

#[derive(Default)]
struct Peers {
    by_user: RwLock<HashMap<String, Outbox>>,
}

struct Relay {
    peers: Peers,
    config: RelayConfig,
}

/// Serves the relay on `listener` until `shutdown` resolves.
///
/// Accepted sockets get TCP_NODELAY: without it Nagle's algorithm holds a small frame back while
/// an earlier one is unacknowledged, and the client's delayed ACK turns that into tens of
/// milliseconds of latency at moderate rates (axum's `serve` leaves Nagle on).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: RelayConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The relay as a router with its one route, `GET /ws?user=NAME`.
pub fn router(config: RelayConfig) -> Router {
    let relay = Arc::new(Relay {
        peers: Peers::default(),
        config,
    });
    Router::new().route("/ws", get(upgrade)).with_state(relay)
}

#[derive(Deserialize)]
struct UserQuery {
    user: String,
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Query(q): Query<UserQuery>,
    State(relay): State<Arc<Relay>>,
) -> Response {
    let c = relay.config;
    ws.read_buffer_size(c.read_buffer_size)
        .write_buffer_size(c.write_buffer_size)
        .max_message_size(c.max_message_size)
        .max_frame_size(c.max_message_size)
        .on_upgrade(move |socket| relay_socket(socket, q.user, relay))
}

async fn relay_socket(socket: WebSocket, user: String, relay: Arc<Relay>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    if let Ok(mut map) = relay.peers.by_user.write() {
        map.insert(user.clone(), tx.clone()); // one socket per user: the newest wins
    }
    let _ = tx.send(Utf8Bytes::from_static(r#"{"type":"sync_done"}"#));

    // The writer sends everything that is queued, then flushes once: one write per burst.
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(Message::Text(more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });

    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(text) => handle(&relay, &user, &tx, text.as_str()),
            Message::Close(_) => break,
            _ => {}
        }
    }

    if let Ok(mut map) = relay.peers.by_user.write() {
        if map.get(&user).is_some_and(|t| t.same_channel(&tx)) {
            map.remove(&user);
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow, default)]
    receiver: Option<&'a str>,
    #[serde(borrow, default)]
    to: Option<&'a str>,
    #[serde(borrow, default)]
    id: Option<&'a str>,
    #[serde(borrow, default)]
    ciphertext: Option<&'a str>,
    #[serde(borrow, default)]
    iv: Option<&'a str>,
    #[serde(borrow, default)]
    ids: Option<&'a serde_json::value::RawValue>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "receive_message")]
struct ReceiveMessage<'a> {
    id: &'a str,
    sender: &'a str,
    receiver: &'a str,
    ciphertext: &'a str,
    iv: &'a str,
    timestamp: u64,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "message_sent")]
struct MessageSent<'a> {
    id: &'a str,
    receiver: &'a str,
    timestamp: u64,
}

#[derive(Serialize)]
#[serde(tag = "type", rename = "message_delivered")]
struct Delivered<'a> {
    from: &'a str,
    ids: &'a serde_json::value::RawValue,
}

fn handle(relay: &Relay, user: &str, me: &Outbox, text: &str) {
    let Ok(ev) = serde_json::from_str::<Event<'_>>(text) else {
        return;
    };
    match ev.kind {
        "send_message" => {
            let Some(receiver) = ev.receiver else { return };
            let generated;
            let id = match ev.id {
                Some(id) => id,
                None => {
                    generated = uuid::Uuid::new_v4().to_string();
                    &generated
                }
            };
            let timestamp = now_millis();
            let push = ReceiveMessage {
                id,
                sender: user,
                receiver,
                ciphertext: ev.ciphertext.unwrap_or(""),
                iv: ev.iv.unwrap_or(""),
                timestamp,
                status: "sent",
            };
            send_to(relay, receiver, &push);
            if let Ok(s) = serde_json::to_string(&MessageSent {
                id,
                receiver,
                timestamp,
            }) {
                let _ = me.send(s.into());
            }
        }
        "message_delivered" => {
            if let (Some(to), Some(ids)) = (ev.to, ev.ids) {
                send_to(relay, to, &Delivered { from: user, ids });
            }
        }
        _ => {}
    }
}

fn send_to(relay: &Relay, user: &str, event: &impl Serialize) {
    let Ok(text) = serde_json::to_string(event) else {
        return;
    };
    if let Ok(map) = relay.peers.by_user.read() {
        if let Some(tx) = map.get(user) {
            let _ = tx.send(text.into());
        }
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}
