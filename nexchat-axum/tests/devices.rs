//! Several sockets of one user over real sockets: ticks made on one socket reach the others
//! (`receipt_sync`), a call answered on one socket stops the others ringing and leaves them out
//! of it (`call_answered_elsewhere`), and typing stops when the typing socket closes.

mod common;

use common::*;
use serde_json::{Value, json};

/// The ids of a `message_seen`/`message_delivered`/`receipt_sync` event, sorted.
fn ids(event: &Value) -> Vec<String> {
    let mut ids: Vec<String> = event["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| id.as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|&id| id.to_owned()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn ticks_on_one_socket_reach_the_users_other_sockets() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b1, _) = server.connect(&bob).await;
    a.expect("presence").await;
    let (mut b2, _) = server.connect(&bob).await;

    let (m1, m2, m3) = (new_id(), new_id(), new_id());
    for id in [&m1, &m2, &m3] {
        a.send(message(&bob.name, id)).await;
        a.expect("message_sent").await;
        b1.expect("receive_message").await;
        b2.expect("receive_message").await;
    }

    b1.send(json!({"type": "message_seen", "to": alice.name, "ids": [m1, m2]}))
        .await;
    let seen = a.expect("message_seen").await;
    assert_eq!(seen["from"], bob.name.as_str());
    assert_eq!(ids(&seen), sorted(&[&m1, &m2]));
    let sync = b2.expect("receipt_sync").await;
    assert_eq!(sync["withUser"], alice.name.as_str());
    assert_eq!(sync["status"], "seen");
    assert_eq!(ids(&sync), sorted(&[&m1, &m2]));
    assert_eq!(sync.as_object().map(|o| o.len()), Some(4), "{sync}");
    b1.expect_silence().await;

    // Nothing moves, so nobody is told anything.
    b1.send(json!({"type": "message_seen", "to": alice.name, "ids": [m1, m2]}))
        .await;
    b2.send(json!({"type": "message_delivered", "to": alice.name, "ids": [m1]}))
        .await;
    a.expect_silence().await;
    b1.expect_silence().await;
    b2.expect_silence().await;

    // Only what moved is synced, the other way round too.
    b2.send(json!({"type": "message_delivered", "to": alice.name, "ids": [m1, m3]}))
        .await;
    let delivered = a.expect("message_delivered").await;
    assert_eq!(ids(&delivered), vec![m3.clone()]);
    assert_eq!(
        b1.expect("receipt_sync").await,
        json!({"type": "receipt_sync", "withUser": alice.name, "ids": [m3],
               "status": "delivered"})
    );
    b2.expect_silence().await;
}

fn sdp(kind: &str) -> Value {
    json!({"type": kind, "sdp": format!("v=0 {kind}")})
}

fn candidate(n: u32) -> Value {
    json!({"candidate": format!("candidate:{n} 1 UDP 2122260223 192.0.2.1 5000{n} typ host"),
           "sdpMid": "0", "sdpMLineIndex": 0})
}

#[tokio::test]
async fn a_call_answered_on_one_socket_leaves_the_others_out() {
    let server = TestServer::start().await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&bob, &carol).await;
    let (mut b1, _) = server.connect(&bob).await;
    let (mut c1, _) = server.connect(&carol).await;
    b1.expect("presence").await;
    let (mut c2, _) = server.connect(&carol).await;
    let (mut b2, _) = server.connect(&bob).await;

    b1.send(
        json!({"type": "call_offer", "to": carol.name, "offer": sdp("offer"),
                   "withVideo": false}),
    )
    .await;
    let call_id = b1.expect("call_started").await["callId"]
        .as_str()
        .expect("callId")
        .to_owned();
    for c in [&mut c1, &mut c2] {
        assert_eq!(c.expect("call_offer").await["callId"], call_id.as_str());
    }

    c1.send(
        json!({"type": "call_answer", "to": bob.name, "answer": sdp("answer"),
                   "callId": call_id}),
    )
    .await;
    // The answer goes to every socket of the caller, as before.
    for b in [&mut b1, &mut b2] {
        assert_eq!(b.expect("call_answer").await["callId"], call_id.as_str());
    }
    assert_eq!(
        c2.expect("call_answered_elsewhere").await,
        json!({"type": "call_answered_elsewhere", "callId": call_id})
    );
    c1.expect_silence().await;

    // The sockets not in the call can neither end it nor signal in it.
    c2.send(json!({"type": "call_ended", "to": bob.name, "callId": call_id}))
        .await;
    c2.expect_error("not_found").await;
    c2.send(
        json!({"type": "call_ice", "to": bob.name, "candidate": candidate(1),
                   "callId": call_id}),
    )
    .await;
    c2.expect_error("not_found").await;
    b2.send(json!({"type": "call_ended", "to": carol.name, "callId": call_id}))
        .await;
    b2.expect_error("not_found").await;
    b1.expect_silence().await;
    c1.expect_silence().await;

    // The call goes on between the two sockets in it.
    c1.send(
        json!({"type": "call_ice", "to": bob.name, "candidate": candidate(2),
                   "callId": call_id}),
    )
    .await;
    assert_eq!(b1.expect("call_ice").await["candidate"], candidate(2));
    b1.send(
        json!({"type": "call_ice", "to": carol.name, "candidate": candidate(3),
                   "callId": call_id}),
    )
    .await;
    // Candidates go to every socket of the other party, as before.
    assert_eq!(c1.expect("call_ice").await["candidate"], candidate(3));
    assert_eq!(c2.expect("call_ice").await["candidate"], candidate(3));

    c1.send(json!({"type": "call_ended", "to": bob.name, "callId": call_id}))
        .await;
    assert_eq!(
        b1.expect("call_ended").await,
        json!({"type": "call_ended", "from": carol.name, "callId": call_id})
    );
    for ws in [&mut b1, &mut b2, &mut c1, &mut c2] {
        let logged = ws.recv_until("call_logged").await;
        assert_eq!(logged["call"]["callId"], call_id.as_str());
        assert_eq!(logged["call"]["status"], "completed");
    }
}

#[tokio::test]
async fn typing_stops_when_the_socket_that_reported_it_last_closes() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut b, _) = server.connect(&bob).await;
    let (a1, _) = server.connect(&alice).await;
    b.expect("presence").await;
    let (mut a2, _) = server.connect(&alice).await;
    let typing = |on: bool| json!({"type": "typing", "from": alice.name, "isTyping": on});

    let mut a1 = a1;
    a1.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    assert_eq!(b.expect("typing").await, typing(true));
    a1.close().await;
    assert_eq!(b.expect("typing").await, typing(false));
    b.expect_silence().await;

    // A `false` from another socket of the typist ends it: the close adds nothing.
    let (mut a3, _) = server.connect(&alice).await;
    a3.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    assert_eq!(b.expect("typing").await, typing(true));
    a2.send(json!({"type": "typing", "to": bob.name, "isTyping": false}))
        .await;
    assert_eq!(b.expect("typing").await, typing(false));
    a3.close().await;
    b.expect_silence().await;

    // A later `true` from another socket is the one that counts.
    let (mut a4, _) = server.connect(&alice).await;
    a4.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    assert_eq!(b.expect("typing").await, typing(true));
    a2.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    assert_eq!(b.expect("typing").await, typing(true));
    a4.close().await;
    b.expect_silence().await;
    a2.close().await;
    assert_eq!(b.expect("typing").await, typing(false));
    assert_eq!(
        b.expect("presence").await,
        json!({"type": "presence", "username": alice.name, "online": false})
    );
}

#[tokio::test]
async fn a_former_friend_is_not_told_typing_stopped() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut a, _) = server.connect(&alice).await;
    b.expect("presence").await;

    a.send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    b.expect("typing").await;
    let (status, body) = server
        .post(
            "/friends/remove",
            Some(&bob.token),
            &json!({"target": alice.name}),
        )
        .await;
    assert_eq!(status, 200, "remove: {body}");
    a.expect("friend_removed").await;
    a.close().await;
    b.expect_silence().await;
}
