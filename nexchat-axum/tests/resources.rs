//! Hostile clients cannot make the server hold memory or connections without bound: byte budgets
//! per socket, backpressure on answers, a greeting that streams, history pages that fit, write
//! deadlines, HTTP head deadlines, and the protocol's corners (1007, JSON errors everywhere).
//!
//! The assertions read the server's own accounting (bytes queued per user, sockets open), not
//! the clock, so they hold on a busy machine.

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use nexchat_core::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

const KIB: usize = 1024;

/// A config whose budgets are small enough to reach quickly, with sends unthrottled.
fn tight_config() -> Config {
    let mut config = test_config();
    config.limits.message_burst = 10_000;
    config.limits.messages_per_sec = 10_000.0;
    config.limits.outbox_bytes = 256 * KIB;
    // The WebSocket layer buffers up to twice this before a write blocks.
    config.limits.max_frame_hard_bytes = 128 * KIB;
    config.limits.max_answer_bytes = 64 * KIB;
    config.write_timeout = Duration::from_millis(500);
    config
}

/// `config` with a write deadline long enough that a test's stalled reader is not dropped
/// before it starts reading, however busy the machine.
fn patient(mut config: Config) -> Config {
    config.write_timeout = Duration::from_secs(120);
    config
}

/// A ciphertext of `len` base64 characters.
fn ciphertext(len: usize) -> String {
    "A".repeat(len)
}

/// A WebSocket over a TCP socket with a tiny receive buffer, for a client that stops reading:
/// the server's writes to it block almost at once.
async fn stalled_socket(server: &TestServer, user: &User) -> WebSocketStream<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4 * 1024).expect("SO_RCVBUF");
    let tcp = socket.connect(server.addr).await.expect("connect");
    let url = format!("ws://{}/ws?token={}", server.addr, user.token);
    let (ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("upgrade");
    ws
}

/// `bob` sends `count` messages of `len` base64 characters to `to`, reading each answer.
async fn send_many(bob: &mut Ws, to: &str, count: usize, len: usize) {
    let body = ciphertext(len);
    for _ in 0..count {
        bob.send(
            json!({"type": "send_message", "receiver": to, "ciphertext": body,
                        "iv": "AAAAAAAAAAAAAAAA", "id": new_id()}),
        )
        .await;
        bob.recv_until("message_sent").await;
    }
}

/// Reads frames until one of type `kind`; panics on a close or after [`WAIT`].
async fn read_until(ws: &mut WebSocketStream<TcpStream>, kind: &str) -> Value {
    loop {
        let next = tokio::time::timeout(WAIT, ws.next()).await;
        let Ok(Some(Ok(message))) = next else {
            panic!("no {kind}: {next:?}");
        };
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(&text).expect("JSON");
            if event["type"] == kind {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn a_never_reading_socket_is_closed_when_its_budget_fills_and_its_bytes_are_freed() {
    let config = tight_config();
    let budget = config.limits.outbox_bytes;
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let mut stalled = stalled_socket(&server, &alice).await;
    let accounting = server.chat.transport();
    wait_until("alice's socket is registered", || {
        accounting.user_stats(&alice.name).sessions == 1
    })
    .await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let body = ciphertext(40 * KIB);
    // Flood until the server gives up on alice; her queue never passes its budget meanwhile.
    let mut sent = 0;
    while accounting.user_stats(&alice.name).sessions == 1 {
        // Past the budget, the WebSocket layer's buffer and the kernel's socket buffers (a few
        // MiB on loopback), alice must be closed long before 1000 messages of 40 KiB.
        assert!(sent < 1000, "alice's socket was never closed");
        bob_ws
            .send(
                json!({"type": "send_message", "receiver": alice.name, "ciphertext": body,
                         "iv": "AAAAAAAAAAAAAAAA", "id": new_id()}),
            )
            .await;
        bob_ws.recv_until("message_sent").await;
        sent += 1;
        assert!(
            accounting.user_stats(&alice.name).queued_bytes <= budget,
            "queued past the budget"
        );
        tokio::task::yield_now().await;
    }
    wait_until("alice's socket is gone", || {
        accounting.user_stats(&alice.name).sessions == 0
    })
    .await;
    assert_eq!(accounting.user_stats(&alice.name).queued_bytes, 0);
    // The TCP connection itself is closed: reading what the kernel buffered ends in EOF.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(message) = stalled.next().await {
            if message.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the server never closed the TCP connection");
    // Everything bob sent is stored, and comes at alice's next connect.
    let (_alice_ws, greeting) = server.connect(&alice).await;
    let received = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message")
        .count();
    assert_eq!(
        received, sent,
        "every acknowledged message is delivered later"
    );
}

#[tokio::test]
async fn a_socket_asking_for_pages_without_reading_is_held_to_its_budget_and_loses_nothing() {
    let config = patient(tight_config());
    let budget = config.limits.outbox_bytes;
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    send_many(&mut bob_ws, &alice.name, 30, 8 * KIB).await;
    bob_ws.close().await;

    let mut stalled = stalled_socket(&server, &alice).await;
    let requests = 100;
    for _ in 0..requests {
        stalled
            .send(Message::text(
                json!({"type": "fetch_history", "withUser": bob.name, "limit": 50}).to_string(),
            ))
            .await
            .expect("send");
    }
    let accounting = server.chat.transport();
    // The server stops reading alice's requests while her answers are unread: her queue rises
    // to a couple of pages and stays within the budget, and the socket stays open.
    wait_until("alice's answers are queued", || {
        accounting.user_stats(&alice.name).queued_bytes >= 64 * KIB
    })
    .await;
    for _ in 0..50 {
        let queued = accounting.user_stats(&alice.name).queued_bytes;
        assert!(queued <= budget, "{queued} bytes queued, over the budget");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        accounting.user_stats(&alice.name).sessions,
        1,
        "backpressure, not a close"
    );
    // Reading now, alice gets every answer, each a valid page that fits the answer cap.
    for i in 0..requests {
        let page = read_until(&mut stalled, "history_response").await;
        let messages = page["messages"].as_array().expect("messages");
        assert!(!messages.is_empty(), "page {i} is empty");
        assert!(messages.len() < 30, "page {i} was not cut to fit the cap");
        assert_eq!(page["hasMore"], true);
    }
}

#[tokio::test]
async fn ten_never_reading_sockets_with_a_long_backlog_cost_a_page_each() {
    let mut config = patient(tight_config());
    // Pages of ten of the largest messages, so the MongoDB wire server's slower queries still
    // fill the sockets quickly.
    config.limits.max_answer_bytes = 10 * (config.limits.max_ciphertext_bytes + 1024);
    config.limits.outbox_bytes = 4 * config.limits.max_answer_bytes;
    let budget = config.limits.outbox_bytes;
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let backlog = 500;
    send_many(&mut bob_ws, &alice.name, backlog, 8 * KIB).await;

    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(stalled_socket(&server, &alice).await);
    }
    let accounting = server.chat.transport();
    wait_until("ten sockets", || {
        accounting.user_stats(&alice.name).sessions == 10
    })
    .await;
    // Once the kernel's socket buffers are full, greeting pages wait in the queues.
    let deadline = tokio::time::Instant::now() + 6 * WAIT;
    while accounting.user_stats(&alice.name).queued_bytes < 10 * 8 * KIB {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no greeting page was ever queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // 500 messages of 8 KiB are 4 MiB per socket; each greeting waits with a page or two.
    for _ in 0..50 {
        let queued = accounting.user_stats(&alice.name).queued_bytes;
        assert!(
            queued <= 10 * budget / 2,
            "{queued} bytes queued for ten sockets: the greeting is not paged"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        accounting.user_stats(&alice.name).sessions,
        10,
        "slow greeting is not a close"
    );
    // One of them reads: the whole backlog, oldest first, then sync_done.
    let reader = &mut sockets[0];
    assert_eq!(
        read_until(reader, "online_users").await["users"],
        json!([bob.name])
    );
    let mut received = 0;
    loop {
        let message = tokio::time::timeout(WAIT, reader.next())
            .await
            .expect("greeting stalled")
            .expect("socket ended")
            .expect("socket error");
        let Message::Text(text) = message else {
            continue;
        };
        let event: Value = serde_json::from_str(&text).expect("JSON");
        match event["type"].as_str() {
            Some("receive_message") => received += 1,
            Some("sync_done") => break,
            other => panic!("unexpected {other:?} in the greeting"),
        }
    }
    assert_eq!(received, backlog);
}

#[tokio::test]
async fn a_page_of_large_messages_fits_one_answer_with_has_more() {
    let mut config = test_config();
    config.limits.message_burst = 1_000;
    let cap = config.limits.max_answer_bytes;
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    send_many(&mut bob_ws, &alice.name, 50, 48 * KIB).await;
    let (mut alice_ws, _) = server.connect(&alice).await;

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut request = json!({"type": "fetch_history", "withUser": bob.name, "limit": 50});
        if let Some(before) = &before {
            request["before"] = json!(before);
        }
        alice_ws.send(request).await;
        let page = alice_ws.recv_until("history_response").await;
        assert!(page.to_string().len() <= cap + 1024, "answer over the cap");
        let messages = page["messages"].as_array().expect("messages").clone();
        assert!(!messages.is_empty());
        for m in &messages {
            seen.push(m["id"].as_str().expect("id").to_owned());
        }
        before = seen.last().cloned();
        if page["hasMore"] == false {
            break;
        }
        assert!(
            messages.len() < 50,
            "a full page of 48 KiB messages cannot fit 1 MiB"
        );
    }
    assert_eq!(
        seen.len(),
        50,
        "paging with before reaches every message once"
    );
    seen.dedup();
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice).await;
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        ..FrameHeader::default()
    };
    let frame = Frame::from_payload(header, vec![0xff, 0xfe, b'{'].into());
    ws.stream.send(Message::Frame(frame)).await.expect("send");
    assert_eq!(ws.expect_close().await, 1007);
}

#[tokio::test]
async fn join_and_call_offer_are_rate_limited() {
    let mut config = test_config();
    config.limits = nexchat_core::Limits::default();
    let limits = config.limits.clone();
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut ws, _) = server.connect(&alice).await;
    let (_bob_ws, _) = server.connect(&bob).await;
    for _ in 0..limits.join_burst {
        ws.send(json!({"type": "join", "publicKey": alice.public_key}))
            .await;
    }
    ws.send(json!({"type": "join", "publicKey": alice.public_key}))
        .await;
    let refused = ws.recv_until("error").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");

    let offer = json!({"type": "call_offer", "to": bob.name, "offer": {"sdp": "x"},
                       "withVideo": false});
    for _ in 0..limits.call_offer_burst {
        ws.send(offer.clone()).await;
    }
    ws.send(offer).await;
    loop {
        let event = ws.recv().await;
        if event["type"] == "error" && event["code"] == "rate_limited" {
            break;
        }
        assert!(
            matches!(
                event["type"].as_str(),
                Some("call_started" | "call_logged" | "error")
            ),
            "unexpected {event}"
        );
        if event["type"] == "error" {
            assert_eq!(event["code"], "busy", "only busy before the limit: {event}");
        }
    }
}

#[tokio::test]
async fn silent_and_half_header_http_connections_are_closed() {
    let http = nexchat_axum::ServeConfig::default().header_read_timeout(Duration::from_millis(200));
    let server = TestServer::start_with_http(test_config(), http).await;
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut half = TcpStream::connect(server.addr).await.expect("connect");
    half.write_all(b"GET /client-config HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    for (name, stream) in [("silent", &mut silent), ("half-header", &mut half)] {
        let mut buf = [0u8; 512];
        let ended = tokio::time::timeout(WAIT, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the {name} connection was never closed");
    }
    // A whole request on a fresh connection is still served.
    let (status, _) = server.get("/client-config", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_errors() {
    let server =
        TestServer::start_custom(|b| b, |router| router.fallback(nexchat_axum::not_found)).await;
    let http = &server.http;
    let cases = [
        (
            reqwest::Method::GET,
            "/auth/login",
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::DELETE,
            "/friends/request",
            405,
            "method_not_allowed",
        ),
        (reqwest::Method::GET, "/no/such/path", 404, "not_found"),
        (reqwest::Method::POST, "/no/such/path", 404, "not_found"),
        (reqwest::Method::GET, "/ws", 400, "bad_request"),
    ];
    for (method, path, status, code) in cases {
        let response = http
            .request(method.clone(), server.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"], code, "{method} {path}: {body}");
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn a_request_body_sent_too_slowly_is_answered_408_and_the_connection_freed() {
    let mut config = test_config();
    config.request_timeout = Duration::from_millis(300);
    let server = TestServer::start_with(config).await;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    // A head that promises 100 bytes of body, then one byte, then nothing.
    tcp.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was held open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_close_from_the_client_is_answered_with_a_close_frame() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let (mut ws, _) = server.connect(&alice).await;
    ws.stream
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await
        .expect("send close");
    assert_eq!(ws.expect_close().await, 1000, "a clean close, not 1006");
}
