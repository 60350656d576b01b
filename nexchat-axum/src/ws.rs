//! `GET /ws?ticket=` (or `?token=`): one WebSocket session, a reader feeding [`Chat::handle_frame`] and a writer
//! draining the session's outbox, with pings to find dead peers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use nexchat_core::{Caller, Chat, ChatError, CloseReason, Outbound, Session, SessionOutbox};

use crate::error::ApiError;
use crate::origin;

/// Uses up the ticket, if one is presented (whatever the answer, it never works again), checks
/// the `Origin` (403), authenticates the ticket or token (401), checks the per-user socket
/// limit (429), then upgrades with buffers and message sizes taken from the chat's limits.
pub async fn upgrade(State(chat): State<Chat>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    let redeemed = match query.get("ticket") {
        Some(ticket) => Some(chat.redeem_ticket(ticket).await),
        None => None,
    };
    if !origin::allowed(&parts, &chat) {
        let refused = ChatError::Forbidden("this origin may not open a socket here".into());
        return ApiError(refused).into_response();
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &chat).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let authenticated = match redeemed {
        Some(redeemed) => redeemed,
        None => {
            let token = query.get("token").map(String::as_str).unwrap_or_default();
            chat.caller(token).await
        }
    };
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(err) => return ApiError(err).into_response(),
    };
    if !chat.can_connect(&caller.principal.username) {
        return ApiError(ChatError::RateLimited {
            retry_after_secs: 1,
        })
        .into_response();
    }
    let limits = &chat.config().limits;
    ws.max_message_size(limits.max_frame_hard_bytes)
        .max_frame_size(limits.max_frame_hard_bytes)
        // Small buffers: most frames are a few hundred bytes, and a server holding 100k idle
        // sockets pays for every byte reserved per socket.
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_frame_hard_bytes * 2)
        .on_upgrade(move |socket| run(chat, caller, socket))
}

async fn run(chat: Chat, caller: Caller, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    // Connecting and disconnecting are boxed for the same reason as a frame's handling below:
    // the socket's task holds room for its largest future for as long as the socket is open.
    let (session, outbox) = match Box::pin(chat.connect(&caller)).await {
        Ok(pair) => pair,
        Err(err) => {
            let (code, reason) = match err {
                ChatError::RateLimited { .. } => (1008, "too many sockets"),
                // The login session ended between the check and the upgrade.
                ChatError::Unauthorized => (
                    CloseReason::SESSION_ENDED.code,
                    CloseReason::SESSION_ENDED.reason,
                ),
                _ => (1008, "server error"),
            };
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
            return;
        }
    };
    let alive = Arc::new(AtomicBool::new(true));
    tokio::select! {
        () = read(&chat, &session, stream, &alive) => {}
        () = write(&chat, outbox, sink, &alive) => {}
    }
    Box::pin(chat.disconnect(&session)).await;
}

async fn read(
    chat: &Chat,
    session: &Session,
    mut stream: SplitStream<WebSocket>,
    alive: &AtomicBool,
) {
    while let Some(message) = stream.next().await {
        alive.store(true, Ordering::Relaxed);
        match message {
            // Boxed: the future of a frame is large and lives only while the frame is handled,
            // so an idle socket's task carries no room for it.
            Ok(Message::Text(text)) => Box::pin(chat.handle_frame(session, text.as_str())).await,
            Ok(Message::Binary(bytes)) => chat.handle_binary_frame(session, bytes.len()),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) => return,
            Err(err) => {
                // tungstenite refuses a message over the hard size limit: close with 1008 and
                // let the writer send it before the socket goes.
                tracing::debug!(%err, "socket read failed");
                chat.frame_over_hard_limit(session);
                std::future::pending::<()>().await;
            }
        }
    }
}

async fn write(
    chat: &Chat,
    mut outbox: SessionOutbox,
    mut sink: SplitSink<WebSocket, Message>,
    alive: &AtomicBool,
) {
    let mut ping = tokio::time::interval(chat.config().ping_interval);
    ping.tick().await;
    loop {
        tokio::select! {
            next = outbox.next() => {
                let Some(mut item) = next else { return };
                // Gather everything already queued into one flush: one write for a burst of
                // fan-out instead of one per frame.
                loop {
                    match item {
                        Outbound::Frame(frame) => {
                            if sink.feed(Message::Text(frame.as_ref().into())).await.is_err() {
                                return;
                            }
                        }
                        Outbound::Close(reason) => return close(&mut sink, &reason).await,
                    }
                    match outbox.try_next() {
                        Some(queued) => item = queued,
                        None => break,
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            _ = ping.tick() => {
                // A peer that said nothing, not even a pong, for a whole interval is gone.
                if !alive.swap(false, Ordering::Relaxed) {
                    return close(&mut sink, &CloseReason { code: 1001, reason: "ping timeout" }).await;
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, reason: &CloseReason) {
    let frame = CloseFrame {
        code: reason.code,
        reason: reason.reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
