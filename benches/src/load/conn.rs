//! Opening one client WebSocket: optional bind to a source address, then the handshake, then
//! waiting for `sync_done`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};

use super::{Endpoint, Target};
use crate::wire::Incoming;

/// A client socket.
pub type Ws = WebSocketStream<TcpStream>;

/// How long a handshake plus the server's initial sync may take before it counts as failed.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// The path and query of the WebSocket for `user` (with its token for nexchat).
pub fn ws_path(target: Target, user: &str, token: Option<&str>) -> String {
    match target {
        Target::Nexchat => format!("/ws?token={}", token.unwrap_or_default()),
        Target::Bare => format!("/ws?user={user}"),
    }
}

/// Client socket settings. tungstenite allocates `read_buffer` bytes per socket up front
/// (128 KiB by default), which would make the load generator, not the server, run out of memory
/// with many idle connections.
pub fn config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(16 * 1024)
}

/// Opens a WebSocket to `ep` at `path`, from `source` when given, and waits for `sync_done`.
///
/// Any `receive_message` the server replays before `sync_done` is returned (as its raw text) so
/// the caller can acknowledge it. Errors are short kinds fit for [`super::Errors`].
pub async fn open(
    ep: &Endpoint,
    path: &str,
    source: Option<Ipv4Addr>,
    read_buffer: usize,
) -> Result<(Ws, Vec<String>), String> {
    let fut = async {
        let stream = tcp_connect(ep.addr, source)
            .await
            .map_err(|e| format!("connect:{}", io_kind(&e)))?;
        let url = format!("ws://{}{}", ep.authority, path);
        let (mut ws, _resp) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config(read_buffer)))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(resp) => {
                        format!("upgrade:http {}", resp.status().as_u16())
                    }
                    other => format!("upgrade:{}", short(&other)),
                })?;
        let mut replayed = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    match serde_json::from_str::<Incoming<'_>>(t.as_str()) {
                        Ok(ev) if ev.kind == "sync_done" => return Ok((ws, replayed)),
                        Ok(ev) if ev.kind == "receive_message" => {
                            replayed.push(t.as_str().to_owned())
                        }
                        Ok(_) => {}
                        Err(_) => return Err("sync:unreadable event".to_owned()),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("sync:{}", short(&e))),
                None => return Err("sync:closed".to_owned()),
            }
        }
    };
    tokio::time::timeout(SYNC_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| Err("sync:timeout".to_owned()))
}

async fn tcp_connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let (Some(ip), true) = (source, addr.is_ipv4()) {
        // Lets a port still in TIME_WAIT from an earlier run be bound again.
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn io_kind(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => "too many open files (EMFILE: raise ulimit -n)".to_owned(),
        Some(98) | Some(99) => "no free local port (use more --source-ips)".to_owned(),
        Some(111) => "refused".to_owned(),
        _ => e.kind().to_string(),
    }
}

/// A short, countable name for a tungstenite error.
pub fn short(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "closed".to_owned()
        }
        tungstenite::Error::Io(io) => io_kind(io),
        tungstenite::Error::Protocol(p) => format!("protocol {p}"),
        tungstenite::Error::Capacity(c) => format!("capacity {c}"),
        other => other.to_string(),
    }
}
