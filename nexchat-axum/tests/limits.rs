//! The protocol's limits over real WebSockets: frame and ciphertext sizes, message and typing
//! rates, sockets per user, sockets closed for abuse, bad frames, `ref` echoes, and pings that
//! find dead peers.

mod common;

use std::time::Duration;

use common::*;
use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const KIB: usize = 1024;

/// A `request_public_key` frame padded with an ignored field to exactly `len` bytes.
fn padded_frame(receiver: &str, len: usize) -> String {
    let bare = json!({"type": "request_public_key", "receiver": receiver, "pad": ""}).to_string();
    let frame = json!({"type": "request_public_key", "receiver": receiver,
                       "pad": "p".repeat(len - bare.len())})
    .to_string();
    assert_eq!(frame.len(), len);
    frame
}

/// Asserts the socket still answers a request.
async fn assert_usable(ws: &mut Ws, user: &User) {
    ws.send(json!({"type": "request_public_key", "receiver": user.name}))
        .await;
    ws.expect("public_key_response").await;
}

#[tokio::test]
async fn a_frame_over_64_kib_is_too_large_and_the_socket_stays_usable() {
    let server = TestServer::start().await;
    let user = server.register("big").await;
    let (mut ws, _) = server.connect(&user).await;
    ws.send_text(padded_frame(&user.name, 64 * KIB)).await;
    ws.expect("public_key_response").await;

    ws.send_text(padded_frame(&user.name, 64 * KIB + 1)).await;
    let refused = ws.expect_error("too_large").await;
    assert!(refused["message"].is_string());
    assert!(refused.get("ref").is_none(), "{refused}");
    assert_usable(&mut ws, &user).await;
}

#[tokio::test]
async fn a_too_large_frame_echoes_its_message_id() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    server.befriend(&alice, &bob).await;
    let (mut ws, _) = server.connect(&alice).await;
    let id = new_id();
    let mut frame = message(&bob.name, &id);
    frame["pad"] = json!("p".repeat(70 * KIB));
    ws.send(frame).await;
    assert_eq!(ws.expect_error("too_large").await["ref"], id.as_str());
}

#[tokio::test]
async fn a_frame_over_1_mib_closes_the_socket_with_1008() {
    let server = TestServer::start().await;
    let user = server.register("huge").await;
    let (mut ws, _) = server.connect(&user).await;
    ws.send_text(padded_frame(&user.name, 1024 * KIB + 1)).await;
    assert_eq!(ws.expect_close().await, 1008);
    // Other sockets of the user are not affected.
    let (mut other, _) = server.connect(&user).await;
    assert_usable(&mut other, &user).await;
}

#[tokio::test]
async fn a_binary_frame_is_a_bad_request_or_too_large() {
    let server = TestServer::start().await;
    let user = server.register("binary").await;
    let (mut ws, _) = server.connect(&user).await;
    ws.stream
        .send(Message::Binary(b"{\"type\":\"sync\"}".to_vec().into()))
        .await
        .expect("send");
    ws.expect_error("bad_request").await;
    ws.stream
        .send(Message::Binary(vec![0u8; 64 * KIB + 1].into()))
        .await
        .expect("send");
    ws.expect_error("too_large").await;
    assert_usable(&mut ws, &user).await;
}

#[tokio::test]
async fn a_ciphertext_over_48_kib_is_too_large() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    server.befriend(&alice, &bob).await;
    let (mut ws, _) = server.connect(&alice).await;

    let id = new_id();
    ws.send(
        json!({"type": "send_message", "receiver": bob.name, "id": id,
                   "ciphertext": "AAAA".repeat(48 * KIB / 4), "iv": "AAAAAAAAAAAAAAAA"}),
    )
    .await;
    ws.expect("message_sent").await;

    let id = new_id();
    ws.send(
        json!({"type": "send_message", "receiver": bob.name, "id": id,
                   "ciphertext": "AAAA".repeat(48 * KIB / 4 + 1), "iv": "AAAAAAAAAAAAAAAA"}),
    )
    .await;
    assert_eq!(ws.expect_error("too_large").await["ref"], id.as_str());
    ws.send(json!({"type": "fetch_history", "withUser": bob.name}))
        .await;
    let page = ws.expect("history_response").await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_61st_message_of_a_burst_is_rate_limited_across_sockets_until_tokens_refill() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    server.befriend(&alice, &bob).await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let mut sent = 0;
    for ws in [&mut a1, &mut a2] {
        for _ in 0..30 {
            let id = new_id();
            ws.send(message(&bob.name, &id)).await;
            assert_eq!(ws.recv_until("message_sent").await["id"], id.as_str());
            sent += 1;
        }
    }
    assert_eq!(sent, 60);
    let id = new_id();
    a1.send(message(&bob.name, &id)).await;
    let refused = a1.recv_until("error").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert_eq!(refused["ref"], id.as_str());

    // Nothing was stored: the receiver finds exactly 60 messages waiting.
    let (_b, greeting) = server.connect(&bob).await;
    let queued = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message")
        .count();
    assert_eq!(queued, 60);
    assert!(greeting.iter().all(|e| e["id"] != id.as_str()));

    // One token a second.
    server.clock.advance(Duration::from_secs(1));
    a1.send(message(&bob.name, &id)).await;
    assert_eq!(a1.recv_until("message_sent").await["id"], id.as_str());
    let next = new_id();
    a2.send(message(&bob.name, &next)).await;
    assert_eq!(a2.recv_until("error").await["code"], "rate_limited");
}

#[tokio::test]
async fn typing_past_5_per_second_is_dropped_silently() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    for round in 0..2 {
        for i in 0..6 {
            a.send(json!({"type": "typing", "to": bob.name, "isTyping": i % 2 == 0}))
                .await;
        }
        for i in 0..5 {
            let typing = b.expect("typing").await;
            assert_eq!(typing["isTyping"], i % 2 == 0, "round {round}");
        }
        b.expect_silence().await;
        a.expect_silence().await;
        server.clock.advance(Duration::from_secs(1));
    }
}

#[tokio::test]
async fn the_11th_socket_of_a_user_is_refused_with_429() {
    let server = TestServer::start().await;
    let user = server.register("tabs").await;
    let other = server.register("other").await;
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(server.connect(&user).await.0);
    }
    assert_eq!(server.ws_with_token(&user.token).await.err(), Some(429));
    // Per user: someone else still connects.
    let (_other_ws, _) = server.connect(&other).await;

    let closed = sockets.pop().expect("a socket");
    closed.close().await;
    wait_until("the closed socket to leave", || {
        server.chat.transport().user_stats(&user.name).sessions < 10
    })
    .await;
    let (mut again, _) = server.connect(&user).await;
    assert_usable(&mut again, &user).await;
}

#[tokio::test]
async fn more_than_20_too_large_refusals_in_10_seconds_close_the_socket() {
    let server = TestServer::start().await;
    let user = server.register("abuser").await;
    let (mut ws, _) = server.connect(&user).await;
    let oversized = padded_frame(&user.name, 64 * KIB + 1);
    for _ in 0..20 {
        ws.send_text(oversized.clone()).await;
        ws.expect_error("too_large").await;
    }
    assert_usable(&mut ws, &user).await;
    // Refusals older than 10 s no longer count.
    server.clock.advance(Duration::from_secs(10));
    for _ in 0..20 {
        ws.send_text(oversized.clone()).await;
        ws.expect_error("too_large").await;
    }
    assert_usable(&mut ws, &user).await;
    ws.send_text(oversized).await;
    assert_eq!(ws.expect_close().await, 1008);
}

#[tokio::test]
async fn rate_limited_refusals_count_toward_closing_the_socket() {
    let mut config = test_config();
    config.limits.message_burst = 1;
    let server = TestServer::start_with(config).await;
    let (alice, bob) = (server.register("alice").await, server.register("bob").await);
    server.befriend(&alice, &bob).await;
    let (mut ws, _) = server.connect(&alice).await;
    ws.send(message(&bob.name, &new_id())).await;
    ws.expect("message_sent").await;
    for _ in 0..20 {
        ws.send(message(&bob.name, &new_id())).await;
        ws.expect_error("rate_limited").await;
    }
    assert_usable(&mut ws, &alice).await;
    ws.send(message(&bob.name, &new_id())).await;
    assert_eq!(ws.expect_close().await, 1008);
}

#[tokio::test]
async fn bad_frames_are_answered_with_bad_request_and_the_socket_stays_usable() {
    let server = TestServer::start().await;
    let user = server.register("sloppy").await;
    let (mut ws, _) = server.connect(&user).await;
    let bad = [
        "not json".to_owned(),
        "{\"type\": \"typing\"".to_owned(),
        "[1, 2, 3]".to_owned(),
        "42".to_owned(),
        "{}".to_owned(),
        json!({"type": 7}).to_string(),
        json!({"type": "no_such_event"}).to_string(),
        json!({"type": "sync_done"}).to_string(),
        json!({"type": "typing", "to": user.name}).to_string(),
        json!({"type": "typing", "to": user.name, "isTyping": "yes"}).to_string(),
        json!({"type": "request_public_key"}).to_string(),
        json!({"type": "request_public_key", "receiver": 5}).to_string(),
        json!({"type": "send_message", "receiver": user.name, "ciphertext": "AAAA"}).to_string(),
        json!({"type": "fetch_history", "withUser": user.name, "limit": 2.5}).to_string(),
        json!({"type": "message_delivered", "to": user.name, "ids": "all"}).to_string(),
    ];
    // More than 20 of them: bad requests do not count toward closing the socket.
    for frame in bad.iter().chain(bad.iter()) {
        ws.send_raw(frame.clone()).await;
        let refused = ws.expect_error("bad_request").await;
        assert!(
            refused["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{frame}: {refused}"
        );
        assert!(refused.get("ref").is_none(), "{frame}: {refused}");
    }
    assert_usable(&mut ws, &user).await;
}

#[tokio::test]
async fn ref_echoes_the_message_id_of_a_refused_frame() {
    let server = TestServer::start().await;
    let user = server.register("refs").await;
    let stranger = server.register("stranger").await;
    let (mut ws, _) = server.connect(&user).await;
    let id = new_id();
    let cases: [(Value, &str); 4] = [
        (
            json!({"type": "send_message", "id": id, "ciphertext": "AAAA"}),
            "bad_request",
        ),
        (
            json!({"type": "send_message", "id": id, "receiver": stranger.name,
                "ciphertext": "AAAA", "iv": 5}),
            "bad_request",
        ),
        (message(&stranger.name, &id), "not_friends"),
        (message(&unique("ghost"), &id), "user_not_found"),
    ];
    for (frame, code) in cases {
        // The first two break the protocol on purpose: sent unchecked.
        ws.send_raw(frame.to_string()).await;
        let refused = ws.expect_error(code).await;
        assert_eq!(refused["ref"], id.as_str(), "{frame}: {refused}");
        assert_eq!(refused.as_object().map(|o| o.len()), Some(4), "{refused}");
    }
}

/// A WebSocket client that never answers pings: the handshake by hand over raw TCP.
struct DeafClient {
    tcp: TcpStream,
}

impl DeafClient {
    async fn connect(server: &TestServer, token: &str) -> Self {
        let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
        let request = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            server.addr
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.expect("read the response head"));
        }
        let head = String::from_utf8(head).expect("ascii head");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Self { tcp }
    }

    /// The next frame: its opcode and payload (server frames are never masked).
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        let opcode = self.tcp.read_u8().await.expect("frame header") & 0x0f;
        let len = match self.tcp.read_u8().await.expect("frame length") & 0x7f {
            126 => u64::from(self.tcp.read_u16().await.expect("length")),
            127 => self.tcp.read_u64().await.expect("length"),
            n => u64::from(n),
        };
        let mut payload = vec![0; usize::try_from(len).expect("length")];
        self.tcp.read_exact(&mut payload).await.expect("payload");
        (opcode, payload)
    }
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_closed() {
    let mut config = test_config();
    config.ping_interval = Duration::from_millis(100);
    let server = TestServer::start_with(config).await;
    let user = server.register("deaf").await;
    let mut deaf = DeafClient::connect(&server, &user.token).await;
    let outcome = tokio::time::timeout(WAIT, async {
        let mut pinged = false;
        loop {
            match deaf.frame().await {
                (0x1, _) => {}
                (0x9, _) => pinged = true,
                (0x8, payload) => return (pinged, u16::from_be_bytes([payload[0], payload[1]])),
                (opcode, _) => panic!("unexpected opcode {opcode}"),
            }
        }
    })
    .await
    .expect("closed within the wait");
    assert_eq!(outcome, (true, 1001), "pinged, then closed as gone");
}

#[tokio::test]
async fn a_socket_that_answers_pings_stays_open() {
    let mut config = test_config();
    config.ping_interval = Duration::from_millis(200);
    let server = TestServer::start_with(config).await;
    let user = server.register("alive").await;
    let (mut ws, _) = server.connect(&user).await;
    // Reading answers the pings (tungstenite replies with pongs) across several intervals.
    for _ in 0..4 {
        ws.expect_silence().await;
    }
    assert_usable(&mut ws, &user).await;
}
