//! Several sockets of one user, two and three at once, on both sides: ticks made on any one
//! reach all the others (`receipt_sync`), a call answered on one stops every other ringing and a
//! late decline from one of them (`call_ended`) is refused, and typing stops when the typing
//! socket closes.

mod common;

use common::*;
use serde_json::{Value, json};

fn sorted_ids(event: &Value) -> Vec<String> {
    let mut ids: Vec<String> = event["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids in {event}"))
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
    ids.sort();
    ids
}

/// `user` with `n` open sockets, greetings consumed.
async fn sockets(server: &TestServer, user: &User, n: usize) -> Vec<Ws> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(server.connect(user).await.0);
    }
    all
}

#[tokio::test]
async fn ticks_reach_every_other_socket_of_three_and_the_senders_two() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let mut b = sockets(&server, &bob, 3).await;
    let mut a = sockets(&server, &alice, 2).await;
    for ws in &mut b {
        ws.expect("presence").await;
    }

    let (m1, m2) = (new_id(), new_id());
    for id in [&m1, &m2] {
        a[0].send(message(&bob.name, id)).await;
        a[0].expect("message_sent").await;
        // The sender's other socket shows the conversation too.
        assert_eq!(a[1].expect("receive_message").await["id"], id.as_str());
        for ws in &mut b {
            assert_eq!(ws.expect("receive_message").await["id"], id.as_str());
        }
    }

    // Delivered on the third socket: the first two are told, the sender's two get the tick.
    b[2].send(json!({"type": "message_delivered", "to": alice.name}))
        .await;
    for ws in &mut a {
        let delivered = ws.expect("message_delivered").await;
        assert_eq!(sorted_ids(&delivered), sorted(&[&m1, &m2]));
    }
    for ws in &mut b[..2] {
        let sync = ws.expect("receipt_sync").await;
        assert_eq!(
            (&sync["withUser"], &sync["status"]),
            (&json!(alice.name), &json!("delivered"))
        );
        assert_eq!(sorted_ids(&sync), sorted(&[&m1, &m2]));
    }
    b[2].expect_silence().await;

    // Seen, one id on the second socket, the rest on the first.
    b[1].send(json!({"type": "message_seen", "to": alice.name, "ids": [m2]}))
        .await;
    for ws in &mut a {
        assert_eq!(ws.expect("message_seen").await["ids"], json!([m2]));
    }
    for i in [0, 2] {
        assert_eq!(
            b[i].expect("receipt_sync").await,
            json!({"type": "receipt_sync", "withUser": alice.name, "ids": [m2],
                   "status": "seen"})
        );
    }
    b[0].send(json!({"type": "message_seen", "to": alice.name}))
        .await;
    for ws in &mut a {
        assert_eq!(ws.expect("message_seen").await["ids"], json!([m1]));
    }
    for i in [1, 2] {
        assert_eq!(
            b[i].expect("receipt_sync").await,
            json!({"type": "receipt_sync", "withUser": alice.name, "ids": [m1],
                   "status": "seen"})
        );
    }
    for ws in a.iter_mut().chain(b.iter_mut()) {
        ws.expect_silence().await;
    }
}

#[tokio::test]
async fn an_answer_on_one_of_three_sockets_stops_the_others_and_a_late_decline_is_refused() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&bob, &carol).await;
    let (mut b, _) = server.connect(&bob).await;
    let mut c = sockets(&server, &carol, 3).await;
    b.expect("presence").await;

    b.send(json!({"type": "call_offer", "to": carol.name,
                  "offer": {"type": "offer", "sdp": "v=0"}, "withVideo": true}))
        .await;
    let call_id = b.expect("call_started").await["callId"]
        .as_str()
        .expect("callId")
        .to_owned();
    for ws in &mut c {
        assert_eq!(ws.expect("call_offer").await["callId"], call_id.as_str());
    }
    c[1].send(json!({"type": "call_answer", "to": bob.name,
                     "answer": {"type": "answer", "sdp": "v=0"}, "callId": call_id}))
        .await;
    assert_eq!(b.expect("call_answer").await["callId"], call_id.as_str());
    for i in [0, 2] {
        assert_eq!(
            c[i].expect("call_answered_elsewhere").await,
            json!({"type": "call_answered_elsewhere", "callId": call_id})
        );
    }

    // The decline pressed late on the other sockets, with the call's id or without it (as the
    // seed's client sends it): refused, relayed to nobody, and the call goes on.
    c[0].send(json!({"type": "call_ended", "to": bob.name, "callId": call_id}))
        .await;
    assert_eq!(
        c[0].expect_error("not_found").await["ref"],
        call_id.as_str()
    );
    c[2].send(json!({"type": "call_ended", "to": bob.name}))
        .await;
    c[2].expect_error("not_found").await;
    b.expect_silence().await;
    c[1].expect_silence().await;
    b.send(
        json!({"type": "call_ice", "to": carol.name, "callId": call_id,
                  "candidate": {"candidate": "candidate:1 1 UDP 1 192.0.2.1 5000 typ host"}}),
    )
    .await;
    for ws in &mut c {
        assert_eq!(ws.expect("call_ice").await["callId"], call_id.as_str());
    }

    // The answering socket hangs up: that one ends it, for everyone.
    c[1].send(json!({"type": "call_ended", "to": bob.name, "callId": call_id}))
        .await;
    assert_eq!(b.expect("call_ended").await["callId"], call_id.as_str());
    let logged = b.expect("call_logged").await;
    assert_eq!(logged["call"]["status"], "completed");
    for ws in &mut c {
        assert_eq!(ws.recv_until("call_logged").await, logged);
    }
    // A decline arriving after the end is ignored.
    c[0].send(json!({"type": "call_ended", "to": bob.name, "callId": call_id}))
        .await;
    c[0].expect_silence().await;
    b.expect_silence().await;
}

#[tokio::test]
async fn typing_stops_when_the_typing_socket_of_three_closes_and_only_then() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;
    let mut b = sockets(&server, &bob, 2).await;
    let (mut c, _) = server.connect(&carol).await;
    let mut a = sockets(&server, &alice, 3).await;
    for ws in b.iter_mut().chain(std::iter::once(&mut c)) {
        ws.expect("presence").await;
    }
    let typing = |on: bool| json!({"type": "typing", "from": alice.name, "isTyping": on});

    // Alice types to bob on her second socket and to carol on her third.
    a[1].send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    for ws in &mut b {
        assert_eq!(ws.expect("typing").await, typing(true));
    }
    a[2].send(json!({"type": "typing", "to": carol.name, "isTyping": true}))
        .await;
    assert_eq!(c.expect("typing").await, typing(true));

    // Closing the socket that typed to nobody tells nobody anything.
    let first = a.remove(0);
    first.close().await;
    for ws in b.iter_mut().chain(std::iter::once(&mut c)) {
        ws.expect_silence().await;
    }
    // Closing the one that typed to bob tells bob's every socket, and carol nothing.
    let second = a.remove(0);
    second.close().await;
    for ws in &mut b {
        assert_eq!(ws.expect("typing").await, typing(false));
    }
    c.expect_silence().await;
    // The last one: carol is told typing stopped, then that alice went offline.
    let third = a.remove(0);
    third.close().await;
    assert_eq!(c.expect("typing").await, typing(false));
    assert_eq!(c.expect("presence").await["online"], false);
    for ws in &mut b {
        assert_eq!(ws.expect("presence").await["online"], false);
    }
}
