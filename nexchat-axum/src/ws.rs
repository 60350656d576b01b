//! `GET /ws?ticket=` (or `?token=`): one WebSocket session, a reader feeding
//! [`Transport::handle_frame`] and a writer draining the session's outbox, with pings to find
//! dead peers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use nexchat_core::transport::{Caller, CloseReason, Outbound, Session, SessionOutbox, Transport};
use nexchat_core::{Chat, ChatError};
use tracing::Instrument;

use crate::error::ApiError;
use crate::origin;

/// Uses up the ticket, if one is presented (whatever the answer, it never works again), checks
/// the `Origin` (403), authenticates the ticket or token (401), checks the per-user socket
/// limit (429), then upgrades with buffers and message sizes taken from the chat's limits.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/ws", tag = "sockets",
    summary = "Open the WebSocket",
    description = "Checks the `Origin` (403), then the ticket or token (401), then the per-user socket limit (429). The socket's events are described by `docs/schema/client-events.json` and `docs/schema/server-events.json`.",
    params(
        ("ticket" = Option<String>, Query, description = "A ticket from `POST /auth/ws-ticket`, used up by this attempt"),
        ("token" = Option<String>, Query, description = "A bearer token (version 1 clients)"),
    ),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket handshake", body = nexchat_core::protocol::rest::ErrorBody),
        (status = 401, description = "No valid ticket or token", body = nexchat_core::protocol::rest::ErrorBody),
        (status = 403, description = "A foreign `Origin`", body = nexchat_core::protocol::rest::ErrorBody),
        (status = 429, description = "The user already has as many sockets as allowed", body = nexchat_core::protocol::rest::ErrorBody),
    ),
))]
pub(crate) async fn upgrade(State(chat): State<Chat>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map(|Query(query)| query)
        .unwrap_or_default();
    let transport = chat.transport();
    let redeemed = match query.get("ticket") {
        Some(ticket) => Some(transport.redeem_ticket(ticket).await),
        None => None,
    };
    if !origin::allowed(&parts, &chat) {
        let refused = ChatError::Forbidden("this origin may not open a socket here".into());
        return ApiError(refused).into_response();
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &chat).await {
        Ok(ws) => ws,
        // Not a WebSocket handshake: the protocol's JSON error, with the rejection's reason.
        Err(rejection) => {
            return ApiError(ChatError::BadRequest(rejection.body_text())).into_response();
        }
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
    if !transport.can_connect(&caller.principal.username) {
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
        // Room for the largest frame the server sends: a page of history up to the answer cap.
        .max_write_buffer_size(
            (limits.max_frame_hard_bytes * 2).max(limits.max_answer_bytes + limits.max_frame_bytes),
        )
        .on_upgrade(move |socket| {
            // The socket's task outlives the request and its span: every line it logs carries
            // the node and the user in a span of its own.
            let span = tracing::info_span!(
                "socket",
                node = %chat.node_id(),
                user = %caller.principal.username
            );
            run(chat, transport, caller, socket).instrument(span)
        })
}

async fn run(chat: Chat, transport: Transport, caller: Caller, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    // Connecting and disconnecting are boxed for the same reason as a frame's handling below:
    // the socket's task holds room for its largest future for as long as the socket is open.
    let (session, outbox) = match Box::pin(transport.connect(&caller)).await {
        Ok(pair) => pair,
        Err(err) => {
            let reason = match err {
                ChatError::RateLimited { .. } => CloseReason::TOO_MANY_SOCKETS,
                // The login session ended between the check and the upgrade.
                ChatError::Unauthorized => CloseReason::SESSION_ENDED,
                _ => CloseReason::SERVER_ERROR,
            };
            let deadline = chat.config().write_timeout;
            let _ = tokio::time::timeout(deadline, close(&mut sink, &reason)).await;
            return;
        }
    };
    tracing::debug!("socket opened");
    let alive = Arc::new(AtomicBool::new(true));
    let greet_then_read = async {
        // The greeting goes out while the writer drains it, a page at a time; frames are read
        // only after it. A greeting that failed has closed the session: wait for the writer.
        if Box::pin(transport.greet(&session)).await.is_ok() {
            read(&transport, &session, stream, &alive).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = greet_then_read => {}
        () = write(&chat, outbox, sink, &alive) => {}
    }
    Box::pin(transport.disconnect(&session)).await;
    tracing::debug!("socket closed");
}

async fn read(
    transport: &Transport,
    session: &Session,
    mut stream: SplitStream<WebSocket>,
    alive: &AtomicBool,
) {
    while let Some(message) = stream.next().await {
        alive.store(true, Ordering::Relaxed);
        match message {
            // Boxed: the future of a frame is large and lives only while the frame is handled,
            // so an idle socket's task carries no room for it.
            Ok(Message::Text(text)) => {
                Box::pin(transport.handle_frame(session, text.as_str())).await
            }
            Ok(Message::Binary(bytes)) => transport.handle_binary_frame(session, bytes.len()),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) => {
                // The peer is closing: let the writer flush the close frame the WebSocket
                // layer queued in reply, so the peer sees a clean close, not 1006.
                session.close(CloseReason::NORMAL);
                std::future::pending::<()>().await;
            }
            Err(err) => {
                // Close with the code the failure calls for and let the writer send it before
                // the socket goes.
                let reason = close_reason_for(err);
                tracing::debug!(code = reason.code, "socket read failed");
                session.close(reason);
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The close code for a frame the WebSocket layer refused: 1007 for text that is not UTF-8,
/// 1008 for a message past the hard size limit or any other protocol violation.
fn close_reason_for(err: axum::Error) -> CloseReason {
    use tungstenite::Error;
    match err.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Utf8(_)) => CloseReason::INVALID_TEXT,
        _ => CloseReason::POLICY,
    }
}

/// Drains the outbox into the socket. Every write has a deadline
/// ([`nexchat_core::Config::write_timeout`]); a write that misses it ends the task, which drops
/// the TCP connection. The close frame of a session the server closes must be written within
/// the deadline counted from the moment the close was decided, so a socket the server has
/// given up on is gone within one deadline even if the peer never reads.
async fn write(
    chat: &Chat,
    mut outbox: SessionOutbox,
    mut sink: SplitSink<WebSocket, Message>,
    alive: &AtomicBool,
) {
    let deadline = chat.config().write_timeout;
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
                            let feed = sink.feed(Message::Text(frame.as_ref().into()));
                            if !within(deadline, feed).await {
                                return;
                            }
                        }
                        Outbound::Close(reason) => {
                            let until = outbox.close_requested_at().unwrap_or_else(Instant::now);
                            let _ = tokio::time::timeout_at(until + deadline, close(&mut sink, &reason)).await;
                            return;
                        }
                    }
                    match outbox.try_next() {
                        Some(queued) => item = queued,
                        None => break,
                    }
                }
                if !within(deadline, sink.flush()).await {
                    return;
                }
                // A peer that takes what it is sent is alive, even if its pong waits behind a
                // long backlog it is still reading.
                alive.store(true, Ordering::Relaxed);
            }
            _ = ping.tick() => {
                // A peer that neither said anything, not even a pong, nor took a single frame for a
                // whole interval is gone.
                if !alive.swap(false, Ordering::Relaxed) {
                    let reason = CloseReason::new(1001, "ping timeout");
                    let _ = tokio::time::timeout(deadline, close(&mut sink, &reason)).await;
                    return;
                }
                if !within(deadline, sink.send(Message::Ping(Default::default()))).await {
                    return;
                }
            }
        }
    }
}

/// Runs one write to the socket; false when it failed or missed its deadline.
async fn within<E>(deadline: Duration, write: impl Future<Output = Result<(), E>>) -> bool {
    matches!(tokio::time::timeout(deadline, write).await, Ok(Ok(())))
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, reason: &CloseReason) {
    let frame = CloseFrame {
        code: reason.code,
        reason: reason.reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}
