//! Messages over real WebSockets: the connect greeting, sending and fan-out, the friend guard,
//! idempotent resends, delivery and seen ticks, history pages, offline delivery, presence,
//! typing and public keys.

mod common;

use std::time::Duration;

use common::*;
use nexchat_core::Clock;
use serde_json::{Value, json};

/// Two friends, logged in, no socket open.
async fn friends(server: &TestServer) -> (User, User) {
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    (alice, bob)
}

/// Sends a message with a fresh id and waits for its `message_sent`; returns the id.
async fn send(ws: &mut Ws, to: &User) -> String {
    let id = new_id();
    ws.send(message(&to.name, &id)).await;
    let sent = ws.expect("message_sent").await;
    assert_eq!(sent["id"], id.as_str(), "{sent}");
    id
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The `receive_message` events of a greeting, checked to sit between `online_users` and
/// `sync_done`.
fn queued(greeting: &[Value]) -> Vec<Value> {
    assert_eq!(
        greeting.first().map(|e| &e["type"]),
        Some(&json!("online_users"))
    );
    assert_eq!(greeting.last(), Some(&json!({"type": "sync_done"})));
    let middle = &greeting[1..greeting.len() - 1];
    for event in middle {
        assert_eq!(event["type"], "receive_message", "{event}");
    }
    middle.to_vec()
}

/// `(id, status)` of each message of a `history_response`, in its order.
fn statuses(page: &Value) -> Vec<(&str, &str)> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("id"),
                m["status"].as_str().expect("status"),
            )
        })
        .collect()
}

async fn history(ws: &mut Ws, with: &str, extra: Value) -> Value {
    let mut frame = json!({"type": "fetch_history", "withUser": with});
    for (k, v) in extra.as_object().expect("object") {
        frame[k] = v.clone();
    }
    ws.send(frame).await;
    ws.expect("history_response").await
}

#[tokio::test]
async fn the_greeting_is_online_friends_then_queued_messages_oldest_first_then_sync_done() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let carol = server.register("carol").await;
    let stranger = server.register("stranger").await;
    server.befriend(&carol, &bob).await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (_carol_ws, _) = server.connect(&carol).await;
    let (_stranger_ws, _) = server.connect(&stranger).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        server.clock.advance(Duration::from_millis(5));
        let id = new_id();
        alice_ws.send(message(&bob.name, &id)).await;
        sent.push(alice_ws.expect("message_sent").await);
    }

    let (_bob_ws, greeting) = server.connect(&bob).await;
    let mut online: Vec<String> = greeting[0]["users"]
        .as_array()
        .expect("users is an array")
        .iter()
        .map(|u| u.as_str().expect("a username string").to_owned())
        .collect();
    online.sort();
    let mut expected = vec![alice.name.clone(), carol.name.clone()];
    expected.sort();
    assert_eq!(online, expected, "online friends only: {}", greeting[0]);
    assert_eq!(greeting[0].as_object().map(|o| o.len()), Some(2));

    let messages = queued(&greeting);
    assert_eq!(messages.len(), 3);
    for (got, ack) in messages.iter().zip(&sent) {
        assert_eq!(
            *got,
            json!({"type": "receive_message", "id": ack["id"], "sender": alice.name,
                   "receiver": bob.name, "ciphertext": "AAAA", "iv": "AAAAAAAAAAAAAAAA",
                   "timestamp": ack["timestamp"], "status": "sent"})
        );
    }
}

#[tokio::test]
async fn message_sent_goes_to_the_sending_socket_and_the_message_to_every_other() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let (mut b1, _) = server.connect(&bob).await;
    let (mut b2, _) = server.connect(&bob).await;
    for ws in [&mut a1, &mut a2] {
        ws.expect("presence").await;
    }

    let id = new_id();
    let now = server.clock.now_ms();
    // A `sender` written by the client is never trusted.
    let mut frame = message(&bob.name.to_uppercase(), &id);
    frame["sender"] = json!("mallory");
    a1.send(frame).await;
    let sent = a1.expect("message_sent").await;
    assert_eq!(
        sent,
        json!({"type": "message_sent", "id": id, "receiver": bob.name, "timestamp": now})
    );
    let expected = json!({"type": "receive_message", "id": id, "sender": alice.name,
                          "receiver": bob.name, "ciphertext": "AAAA",
                          "iv": "AAAAAAAAAAAAAAAA", "timestamp": now, "status": "sent"});
    for ws in [&mut a2, &mut b1, &mut b2] {
        assert_eq!(ws.expect("receive_message").await, expected);
    }
    a1.expect_silence().await;
    for ws in [&mut a2, &mut b1, &mut b2] {
        ws.expect_silence().await;
    }
}

#[tokio::test]
async fn the_server_makes_a_uuid_when_the_client_sends_no_id() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.send(
        json!({"type": "send_message", "receiver": bob.name, "ciphertext": "AAAA",
                  "iv": "AAAAAAAAAAAAAAAA"}),
    )
    .await;
    let sent = a.recv_until("message_sent").await;
    let id = sent["id"].as_str().expect("an id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id} is not a UUID");
    assert_eq!(b.recv_until("receive_message").await["id"], id);
}

#[tokio::test]
async fn timestamps_come_from_the_server_clock_and_never_run_backwards() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let start = server.clock.now_ms();
    let mut stamps = Vec::new();
    for step in [0, 1500, 0, 20] {
        server.clock.advance(Duration::from_millis(step));
        let id = new_id();
        let mut frame = message(&bob.name, &id);
        frame["timestamp"] = json!(1);
        a.send(frame).await;
        stamps.push(
            a.expect("message_sent").await["timestamp"]
                .as_i64()
                .expect("int"),
        );
    }
    assert_eq!(
        stamps,
        [start, start + 1500, start + 1500, start + 1520],
        "the client's timestamp is ignored"
    );
}

#[tokio::test]
async fn messages_and_typing_need_a_friendship() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;

    let id = new_id();
    a.send(message(&bob.name, &id)).await;
    let refused = a.expect_error("not_friends").await;
    assert_eq!(refused["ref"], id.as_str(), "{refused}");
    assert!(refused["message"].is_string());
    a.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    let refused = a.expect_error("not_friends").await;
    assert!(refused.get("ref").is_none(), "{refused}");

    // A pending request is not a friendship yet.
    let (code, _) = server
        .post(
            "/friends/request",
            Some(&alice.token),
            &json!({"receiver": bob.name}),
        )
        .await;
    assert_eq!(code, 200);
    b.expect("new_friend_request").await;
    a.send(message(&bob.name, &new_id())).await;
    a.expect_error("not_friends").await;
    b.expect_silence().await;
    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(page["messages"], json!([]), "nothing was stored");

    // A user who does not exist.
    a.send(message(&unique("ghost"), &new_id())).await;
    a.expect_error("user_not_found").await;
}

#[tokio::test]
async fn the_very_next_message_after_unfriending_is_refused() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    send(&mut a, &bob).await;
    b.expect("receive_message").await;

    let (code, _) = server
        .post(
            "/friends/remove",
            Some(&bob.token),
            &json!({"target": alice.name}),
        )
        .await;
    assert_eq!(code, 200);
    a.expect("friend_removed").await;
    let id = new_id();
    a.send(message(&bob.name, &id)).await;
    assert_eq!(a.expect_error("not_friends").await["ref"], id.as_str());
    a.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    a.expect_error("not_friends").await;
    b.send(message(&alice.name, &new_id())).await;
    b.expect_error("not_friends").await;
    b.expect_silence().await;
}

#[tokio::test]
async fn a_resent_id_is_stored_once_pushed_once_and_acknowledged_again() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a1.expect("presence").await;
    a2.expect("presence").await;

    let id = new_id();
    a1.send(message(&bob.name, &id)).await;
    let first = a1.expect("message_sent").await;
    b.expect("receive_message").await;
    a2.expect("receive_message").await;

    server.clock.advance(Duration::from_secs(5));
    // Resent from the same socket, and from another socket of the same user.
    a1.send(message(&bob.name, &id)).await;
    assert_eq!(a1.expect("message_sent").await, first, "the same timestamp");
    a2.send(message(&bob.name, &id)).await;
    assert_eq!(a2.expect("message_sent").await, first);
    b.expect_silence().await;
    a1.expect_silence().await;

    let page = history(&mut b, &alice.name, json!({})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("messages")), [id]);
}

#[tokio::test]
async fn resends_cost_no_rate_even_when_the_sender_is_out_of_tokens() {
    let mut config = test_config();
    config.limits.message_burst = 2;
    let server = TestServer::start_with(config).await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;

    let first = new_id();
    a.send(message(&bob.name, &first)).await;
    let ack = a.expect("message_sent").await;
    for _ in 0..5 {
        a.send(message(&bob.name, &first)).await;
        assert_eq!(a.expect("message_sent").await, ack);
    }
    send(&mut a, &bob).await;
    let refused_id = new_id();
    a.send(message(&bob.name, &refused_id)).await;
    assert_eq!(
        a.expect_error("rate_limited").await["ref"],
        refused_id.as_str()
    );
    // Out of tokens, a resend of a stored id is still acknowledged.
    a.send(message(&bob.name, &first)).await;
    assert_eq!(a.expect("message_sent").await, ack);
}

#[tokio::test]
async fn an_id_used_by_another_sender_is_a_bad_request() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    let id = send(&mut a, &bob).await;
    b.expect("receive_message").await;

    b.send(message(&alice.name, &id)).await;
    let refused = b.expect_error("bad_request").await;
    assert_eq!(refused["ref"], id.as_str());
    a.expect_silence().await;
    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(page["messages"][0]["sender"], alice.name.as_str());
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_message_id_must_be_a_uuid() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    for bad in ["42", "not-a-uuid", ""] {
        a.send(message(&bob.name, bad)).await;
        let refused = a.expect_error("bad_request").await;
        assert_eq!(refused["ref"], bad, "{refused}");
    }
    a.send_raw(
        json!({"type": "send_message", "receiver": bob.name, "ciphertext": "AAAA",
                  "iv": "AAAAAAAAAAAAAAAA", "id": 42})
        .to_string(),
    )
    .await;
    a.expect_error("bad_request").await;
    // Ciphertext and IV must be base64.
    for (ciphertext, iv) in [("not base64!", "AAAA"), ("AAAA", "***"), ("", "AAAA")] {
        a.send(json!({"type": "send_message", "receiver": bob.name,
                      "ciphertext": ciphertext, "iv": iv}))
            .await;
        a.expect_error("bad_request").await;
    }
    b.expect_silence().await;
}

#[tokio::test]
async fn delivered_and_seen_report_only_ids_that_moved_forward() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a1.expect("presence").await;
    a2.expect("presence").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(send(&mut a1, &bob).await);
        a2.expect("receive_message").await;
        b.expect("receive_message").await;
    }
    let (m1, m2, m3) = (&ids[0], &ids[1], &ids[2]);

    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": [m1]}))
        .await;
    let expected = json!({"type": "message_delivered", "from": bob.name, "ids": [m1]});
    assert_eq!(a1.expect("message_delivered").await, expected);
    assert_eq!(
        a2.expect("message_delivered").await,
        expected,
        "every socket"
    );

    // Nothing moved: nothing is reported.
    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": [m1]}))
        .await;
    a1.expect_silence().await;

    // Seen implies delivered; only the ids that moved are listed.
    b.send(json!({"type": "message_seen", "to": alice.name, "ids": [m1, m2]}))
        .await;
    let expected = json!({"type": "message_seen", "from": bob.name, "ids": [m1, m2]});
    assert_eq!(a1.expect("message_seen").await, expected);
    assert_eq!(a2.expect("message_seen").await, expected);
    // Never backwards: delivered after seen reports nothing.
    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": [m2]}))
        .await;
    b.send(json!({"type": "message_seen", "to": alice.name, "ids": [m2]}))
        .await;
    a1.expect_silence().await;

    // Unknown ids (and ids of messages the other way round) are ignored.
    let own = send(&mut b, &alice).await;
    a1.expect("receive_message").await;
    a2.expect("receive_message").await;
    b.send(json!({"type": "message_delivered", "to": alice.name,
                  "ids": [new_id(), m3, "not-even-a-uuid", own]}))
        .await;
    let moved = a1.expect("message_delivered").await;
    assert_eq!(moved["ids"], json!([m3]));
    b.expect_silence().await;

    let page = history(&mut b, &alice.name, json!({})).await;
    assert_eq!(
        statuses(&page),
        [
            (own.as_str(), "sent"),
            (m3.as_str(), "delivered"),
            (m2.as_str(), "seen"),
            (m1.as_str(), "seen"),
        ]
    );
}

#[tokio::test]
async fn ticks_without_ids_move_every_message_still_behind() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let carol = server.register("carol").await;
    server.befriend(&carol, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut c, _) = server.connect(&carol).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    c.expect("presence").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(send(&mut a, &bob).await);
        b.expect("receive_message").await;
    }
    let from_carol = send(&mut c, &bob).await;
    b.expect("receive_message").await;

    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": [&ids[0]]}))
        .await;
    a.expect("message_delivered").await;
    b.send(json!({"type": "message_delivered", "to": alice.name}))
        .await;
    assert_eq!(
        a.expect("message_delivered").await["ids"],
        json!([&ids[1], &ids[2]])
    );
    b.send(json!({"type": "message_seen", "to": alice.name}))
        .await;
    assert_eq!(a.expect("message_seen").await["ids"], json!(ids));
    b.send(json!({"type": "message_seen", "to": alice.name}))
        .await;
    a.expect_silence().await;
    // Only messages from `to` moved: Carol's is still waiting.
    c.expect_silence().await;
    b.send(json!({"type": "message_seen", "to": carol.name}))
        .await;
    assert_eq!(c.expect("message_seen").await["ids"], json!([from_carol]));
}

#[tokio::test]
async fn history_pages_newest_first_with_before_and_has_more() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        server.clock.advance(Duration::from_millis(10));
        if i % 2 == 0 {
            ids.push(send(&mut a, &bob).await);
            b.expect("receive_message").await;
        } else {
            ids.push(send(&mut b, &alice).await);
            a.expect("receive_message").await;
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let page = history(&mut a, &bob.name.to_lowercase(), json!({})).await;
    assert_eq!(page["withUser"], bob.name.as_str());
    assert_eq!(page["hasMore"], false);
    assert_eq!(page.as_object().map(|o| o.len()), Some(4), "{page}");
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(ids_of(messages), newest_first);
    assert_eq!(messages[0]["sender"], alice.name.as_str());
    assert_eq!(messages[0]["receiver"], bob.name.as_str());
    assert_eq!(messages[1]["sender"], bob.name.as_str());

    let page = history(&mut a, &bob.name, json!({"limit": 2})).await;
    assert_eq!(
        ids_of(page["messages"].as_array().expect("m")),
        &newest_first[..2]
    );
    assert_eq!(page["hasMore"], true);
    let page = history(&mut a, &bob.name, json!({"limit": 2, "before": &ids[3]})).await;
    assert_eq!(
        ids_of(page["messages"].as_array().expect("m")),
        &newest_first[2..4]
    );
    assert_eq!(page["hasMore"], true);
    let page = history(&mut b, &alice.name, json!({"limit": 2, "before": &ids[1]})).await;
    assert_eq!(
        ids_of(page["messages"].as_array().expect("m")),
        [ids[0].clone()]
    );
    assert_eq!(page["hasMore"], false);
    let page = history(&mut b, &alice.name, json!({"limit": 3, "before": &ids[2]})).await;
    assert_eq!(
        ids_of(page["messages"].as_array().expect("m")),
        [ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(page["hasMore"], false, "exactly the rest is no more");
    let page = history(&mut b, &alice.name, json!({"before": &ids[0]})).await;
    assert_eq!(page["messages"], json!([]));
    assert_eq!(page["hasMore"], false);
}

#[tokio::test]
async fn history_limits_default_to_50_and_are_cut_to_200() {
    let mut config = test_config();
    config.limits.message_burst = 1000;
    let server = TestServer::start_with(config).await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let mut ids = Vec::new();
    for _ in 0..205 {
        let id = new_id();
        a.send(message(&bob.name, &id)).await;
        ids.push(id);
    }
    for id in &ids {
        assert_eq!(a.expect("message_sent").await["id"], id.as_str());
    }
    ids.reverse();

    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), &ids[..50]);
    assert_eq!(page["hasMore"], true);
    let page = history(&mut a, &bob.name, json!({"limit": 500})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), &ids[..200]);
    assert_eq!(page["hasMore"], true);
    let page = history(
        &mut a,
        &bob.name,
        json!({"limit": 200, "before": &ids[199]}),
    )
    .await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), &ids[200..]);
    assert_eq!(page["hasMore"], false);
    let page = history(&mut a, &bob.name, json!({"limit": 1})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), &ids[..1]);
}

#[tokio::test]
async fn history_refuses_bad_limits_and_unknown_before() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &carol).await;
    let (mut a, _) = server.connect(&alice).await;
    let with_bob = send(&mut a, &bob).await;
    let with_carol = send(&mut a, &carol).await;
    for bad in [
        json!({"limit": 0}),
        json!({"limit": -3}),
        json!({"limit": "ten"}),
        json!({"before": new_id()}),
        json!({"before": with_carol}),
        json!({"before": 7}),
    ] {
        let mut frame = json!({"type": "fetch_history", "withUser": bob.name});
        for (k, v) in bad.as_object().expect("object") {
            frame[k] = v.clone();
        }
        // Some break the schema too (`"ten"`, `7`): sent unchecked.
        a.send_raw(frame.to_string()).await;
        let refused = a.expect_error("bad_request").await;
        assert!(refused["message"].is_string(), "{bad}: {refused}");
    }
    let ghost = unique("ghost");
    a.send(json!({"type": "fetch_history", "withUser": ghost}))
        .await;
    // The refusal names the conversation asked for, so a client knows which request it ends.
    assert_eq!(
        a.expect_error("user_not_found").await["ref"],
        ghost.as_str()
    );
    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), [with_bob]);
}

#[tokio::test]
async fn history_stays_readable_after_unfriending() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let id = send(&mut a, &bob).await;
    let (code, _) = server
        .post(
            "/friends/remove",
            Some(&alice.token),
            &json!({"target": bob.name}),
        )
        .await;
    assert_eq!(code, 200);
    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(ids_of(page["messages"].as_array().expect("m")), [id]);
}

#[tokio::test]
async fn offline_messages_arrive_in_order_until_acknowledged() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(send(&mut a, &bob).await);
    }

    let (b, greeting) = server.connect(&bob).await;
    assert_eq!(ids_of(&queued(&greeting)), ids);
    // Closed without acknowledging: everything comes again.
    b.close().await;
    a.recv_until("presence").await;
    a.recv_until("presence").await;
    let (mut b, greeting) = server.connect(&bob).await;
    assert_eq!(ids_of(&queued(&greeting)), ids, "at least once");

    // Acknowledging the first two: only the rest come again.
    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": &ids[..2]}))
        .await;
    a.recv_until("message_delivered").await;
    // Seen implies delivered.
    b.send(json!({"type": "message_seen", "to": alice.name, "ids": [&ids[4]]}))
        .await;
    a.recv_until("message_seen").await;
    let (_b2, greeting) = server.connect(&bob).await;
    assert_eq!(ids_of(&queued(&greeting)), &ids[2..4]);
    b.send(json!({"type": "message_delivered", "to": alice.name}))
        .await;
    a.recv_until("message_delivered").await;
    let (_b3, greeting) = server.connect(&bob).await;
    assert!(queued(&greeting).is_empty());
}

#[tokio::test]
async fn a_message_pushed_live_but_never_acknowledged_comes_again() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    let id = send(&mut a, &bob).await;
    assert_eq!(b.expect("receive_message").await["id"], id.as_str());
    b.close().await;
    a.expect("presence").await;
    let (_b, greeting) = server.connect(&bob).await;
    assert_eq!(ids_of(&queued(&greeting)), [id]);
}

#[tokio::test]
async fn presence_goes_to_friends_on_first_and_last_socket_only() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let stranger = server.register("stranger").await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut s, _) = server.connect(&stranger).await;

    let (a1, greeting) = server.connect(&alice).await;
    assert_eq!(
        greeting[0],
        json!({"type": "online_users", "users": [bob.name]})
    );
    assert_eq!(
        b.expect("presence").await,
        json!({"type": "presence", "username": alice.name, "online": true})
    );
    let (a2, greeting) = server.connect(&alice).await;
    assert_eq!(greeting[0]["users"], json!([bob.name]));
    b.expect_silence().await;

    a1.close().await;
    b.expect_silence().await;
    a2.close().await;
    assert_eq!(
        b.expect("presence").await,
        json!({"type": "presence", "username": alice.name, "online": false})
    );
    s.expect_silence().await;
}

#[tokio::test]
async fn join_with_a_new_key_tells_online_friends() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let stranger = server.register("stranger").await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut s, _) = server.connect(&stranger).await;
    a1.expect("presence").await;
    a2.expect("presence").await;

    // The key the server already has: nothing happens.
    a1.send(json!({"type": "join", "publicKey": jwk(&alice.name)}))
        .await;
    a1.expect_silence().await;
    b.expect_silence().await;

    let fresh = jwk(&new_id());
    let mut upload = fresh.clone();
    upload["ext"] = json!(true);
    upload["key_ops"] = json!([]);
    a1.send(json!({"type": "join", "publicKey": upload})).await;
    assert_eq!(
        b.expect("key_changed").await,
        json!({"type": "key_changed", "username": alice.name, "publicKey": fresh})
    );
    s.expect_silence().await;
    a2.expect_silence().await;
    let (code, body) = server
        .get(
            &format!("/users/{}/public-key", alice.name),
            Some(&bob.token),
        )
        .await;
    assert_eq!((code, &body["publicKey"]), (200, &fresh));
    let login = server.login(&alice.name, "correct horse").await;
    assert_eq!(login.public_key, fresh);

    // Joining again with it changes nothing.
    a2.send(json!({"type": "join", "publicKey": fresh})).await;
    b.expect_silence().await;

    let mut private = jwk("x");
    private["d"] = json!("secret");
    // A private key: refused by the schema as by the server, so sent unchecked.
    a1.send_raw(json!({"type": "join", "publicKey": private}).to_string())
        .await;
    a1.expect_error("bad_request").await;
    b.expect_silence().await;
}

#[tokio::test]
async fn request_public_key_answers_the_asking_socket() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let stranger = server.register("stranger").await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    for name in [stranger.name.to_uppercase(), bob.name.clone()] {
        a1.send(json!({"type": "request_public_key", "receiver": name}))
            .await;
        let answer = a1.expect("public_key_response").await;
        let owner = if name == bob.name { &bob } else { &stranger };
        assert_eq!(
            answer,
            json!({"type": "public_key_response", "username": owner.name,
                   "publicKey": jwk(&owner.name)})
        );
    }
    a2.expect_silence().await;
    a1.send(json!({"type": "request_public_key", "receiver": unique("ghost")}))
        .await;
    a1.expect_error("user_not_found").await;
}

#[tokio::test]
async fn typing_is_relayed_to_every_socket_of_a_friend() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b1, _) = server.connect(&bob).await;
    let (mut b2, _) = server.connect(&bob).await;
    a.expect("presence").await;
    for is_typing in [true, false] {
        a.send(json!({"type": "typing", "to": bob.name, "isTyping": is_typing}))
            .await;
        let expected = json!({"type": "typing", "from": alice.name, "isTyping": is_typing});
        assert_eq!(b1.expect("typing").await, expected);
        assert_eq!(b2.expect("typing").await, expected);
    }
    a.expect_silence().await;
    // Nothing is stored.
    let page = history(&mut a, &bob.name, json!({})).await;
    assert_eq!(page["messages"], json!([]));
}

#[tokio::test]
async fn the_greeting_comes_first_even_while_messages_stream_in() {
    let mut config = test_config();
    config.limits.message_burst = 10_000;
    let server = TestServer::start_with(config).await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let total = 400;
    let mut ids = Vec::new();
    for _ in 0..total {
        let id = new_id();
        a.send(message(&bob.name, &id)).await;
        ids.push(id);
    }
    // Bob connects again and again while Alice's messages are being stored and pushed.
    for round in 0..20 {
        let mut b = server.ws(&bob).await;
        let first = b.recv().await;
        assert_eq!(first["type"], "online_users", "round {round}: {first}");
        loop {
            let event = b.recv().await;
            if event["type"] == "sync_done" {
                break;
            }
            assert_eq!(event["type"], "receive_message", "round {round}: {event}");
        }
        b.close().await;
    }
    for id in &ids {
        assert_eq!(a.recv_until("message_sent").await["id"], id.as_str());
    }
}

#[tokio::test]
async fn a_long_queue_of_offline_messages_is_delivered_whole() {
    let mut config = test_config();
    config.limits.message_burst = 10_000;
    let queue = config.limits.outbox_frames + 100;
    let server = TestServer::start_with(config).await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let mut ids = Vec::new();
    for _ in 0..queue {
        let id = new_id();
        a.send(message(&bob.name, &id)).await;
        ids.push(id);
    }
    for id in &ids {
        assert_eq!(a.expect("message_sent").await["id"], id.as_str());
    }
    // More queued messages than a session's outbox holds: the greeting still brings them all.
    let (mut b, greeting) = server.connect(&bob).await;
    assert_eq!(ids_of(&queued(&greeting)), ids);
    // And one frame may acknowledge them all.
    a.expect("presence").await;
    b.send(json!({"type": "message_delivered", "to": alice.name, "ids": ids}))
        .await;
    assert_eq!(a.expect("message_delivered").await["ids"], json!(ids));
    let (_b2, greeting) = server.connect(&bob).await;
    assert!(queued(&greeting).is_empty());
}

#[tokio::test]
async fn answers_go_only_to_the_socket_that_asked() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a1, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    send(&mut a1, &bob).await;
    a2.expect("receive_message").await;

    history(&mut a1, &bob.name, json!({})).await;
    a1.send(json!({"type": "request_public_key", "receiver": bob.name}))
        .await;
    a1.expect("public_key_response").await;
    a1.send_raw("not json".to_owned()).await;
    a1.expect_error("bad_request").await;
    a1.send(message(&unique("ghost"), &new_id())).await;
    a1.expect_error("user_not_found").await;
    a2.expect_silence().await;
}

#[tokio::test]
async fn a_burst_of_sends_is_answered_stored_and_delivered_in_frame_order() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;

    // Sent without waiting for any answer, with a refused frame in the middle and a history
    // request right behind: answers come in frame order, and the history sees every send.
    let ids: Vec<String> = (0..50).map(|_| new_id()).collect();
    let bad = new_id();
    for (i, id) in ids.iter().enumerate() {
        if i == 25 {
            a.send(
                json!({"type": "send_message", "receiver": bob.name, "ciphertext": "not base64!",
                          "iv": "AAAAAAAAAAAAAAAA", "id": bad}),
            )
            .await;
        }
        a.send(message(&bob.name, id)).await;
    }
    a.send(json!({"type": "fetch_history", "withUser": bob.name, "limit": 200}))
        .await;

    let mut answered = Vec::new();
    let history = loop {
        let event = a.recv().await;
        match event["type"].as_str() {
            Some("message_sent") => answered.push(event["id"].as_str().expect("id").to_owned()),
            Some("error") => {
                assert_eq!(event["code"], "bad_request", "{event}");
                answered.push(event["ref"].as_str().expect("ref").to_owned());
            }
            Some("history_response") => break event,
            _ => panic!("unexpected {event}"),
        }
    };
    let mut expected = ids.clone();
    expected.insert(25, bad);
    assert_eq!(
        answered, expected,
        "answers must follow the order of the frames"
    );
    let mut stored = ids_of(history["messages"].as_array().expect("messages"));
    stored.reverse();
    assert_eq!(
        stored, ids,
        "history must hold every send before it, in order"
    );

    let mut received = Vec::new();
    let mut last_timestamp = 0;
    for _ in &ids {
        let event = b.expect("receive_message").await;
        let timestamp = event["timestamp"].as_i64().expect("timestamp");
        assert!(
            timestamp >= last_timestamp,
            "timestamps ran backwards: {event}"
        );
        last_timestamp = timestamp;
        received.push(event["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(
        received, ids,
        "the receiver must get the messages in the order sent"
    );
}

#[tokio::test]
async fn ticks_are_stored_before_the_next_request_of_their_socket_is_answered() {
    let server = TestServer::start().await;
    let (alice, bob) = friends(&server).await;
    let (mut a, _) = server.connect(&alice).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(send(&mut a, &bob).await);
    }
    let (mut b, _) = server.connect(&bob).await;
    // Ticks streamed without waiting, then a history request right behind them.
    b.send(json!({"type": "message_delivered", "to": alice.name}))
        .await;
    b.send(json!({"type": "message_seen", "to": alice.name, "ids": &ids[..2]}))
        .await;
    let page = history(&mut b, &alice.name, json!({})).await;
    assert_eq!(
        statuses(&page),
        [
            (ids[3].as_str(), "delivered"),
            (ids[2].as_str(), "delivered"),
            (ids[1].as_str(), "seen"),
            (ids[0].as_str(), "seen"),
        ]
    );
}
