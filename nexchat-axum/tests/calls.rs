//! Call signalling and the call log over real sockets: every call event, every refusal, and
//! every way a call ends (hang-up, decline, ring timeout, closed socket, unfriending, restart).

mod common;

use std::time::Duration;

use common::*;
use nexchat_core::ManualClock;
use serde_json::{Value, json};

/// Two online friends.
struct Friends {
    server: TestServer,
    alice: User,
    bob: User,
    a: Ws,
    b: Ws,
}

async fn friends_online() -> Friends {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    Friends {
        server,
        alice,
        bob,
        a,
        b,
    }
}

/// A third user, friends with `friends`, online; everyone's presence event consumed.
async fn third(server: &TestServer, friends: &mut [(&User, &mut Ws)]) -> (User, Ws) {
    let carol = server.register("carol").await;
    for (user, _) in friends.iter() {
        server.befriend(user, &carol).await;
    }
    for (_, ws) in friends.iter_mut() {
        // Each friend learns of the friendship (carol is still offline).
        ws.expect("friendship_activated").await;
    }
    let (c, _) = server.connect(&carol).await;
    for (_, ws) in friends.iter_mut() {
        ws.expect("presence").await;
    }
    (carol, c)
}

fn sdp(kind: &str) -> Value {
    json!({"type": kind, "sdp": format!("v=0 {kind}")})
}

fn candidate(n: u32) -> Value {
    json!({"candidate": format!("candidate:{n} 1 UDP 2122260223 192.0.2.1 5000{n} typ host"),
           "sdpMid": "0", "sdpMLineIndex": 0})
}

/// `from` calls `to`; returns the call id from `call_started`.
async fn offer(from: &mut Ws, to: &User, video: bool) -> String {
    from.send(
        json!({"type": "call_offer", "to": to.name, "offer": sdp("offer"), "withVideo": video}),
    )
    .await;
    let started = from.expect("call_started").await;
    assert_eq!(started["to"], to.name.as_str());
    started["callId"].as_str().expect("callId").to_owned()
}

/// `from` calls `to` and `callee` gets the ring; returns the call id.
async fn ring(from: &mut Ws, to: &User, callee: &mut Ws) -> String {
    let id = offer(from, to, false).await;
    let rang = callee.expect("call_offer").await;
    assert_eq!(rang["callId"], id.as_str());
    id
}

async fn answer(ws: &mut Ws, to: &User, call_id: &str) {
    ws.send(
        json!({"type": "call_answer", "to": to.name, "answer": sdp("answer"), "callId": call_id}),
    )
    .await;
}

async fn hang_up(ws: &mut Ws, to: &User, call_id: &str) {
    ws.send(json!({"type": "call_ended", "to": to.name, "callId": call_id}))
        .await;
}

/// The `call_logged` record that must come next.
async fn logged(ws: &mut Ws, call_id: &str) -> Value {
    let event = ws.expect("call_logged").await;
    assert_eq!(event["call"]["callId"], call_id, "{event}");
    event["call"].clone()
}

/// A `call_ended` from `from` for `call_id` must come next.
async fn ended(ws: &mut Ws, from: &User, call_id: &str) {
    let event = ws.expect("call_ended").await;
    assert_eq!(
        (&event["from"], &event["callId"]),
        (&json!(from.name), &json!(call_id)),
        "{event}"
    );
}

async fn call_history(ws: &mut Ws, with: &User, page: Value) -> Value {
    let mut request = json!({"type": "fetch_call_history", "withUser": with.name});
    if let (Some(request), Some(page)) = (request.as_object_mut(), page.as_object()) {
        request.extend(page.clone());
    }
    ws.send(request).await;
    let response = ws.expect("call_history_response").await;
    assert_eq!(response["withUser"], with.name.as_str());
    response
}

fn ids(response: &Value) -> Vec<String> {
    response["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["callId"].as_str().expect("callId").to_owned())
        .collect()
}

/// The record of `call_id` as the call log holds it.
async fn stored(ws: &mut Ws, with: &User, call_id: &str) -> Value {
    let response = call_history(ws, with, json!({})).await;
    let calls = response["calls"].as_array().expect("calls");
    calls
        .iter()
        .find(|c| c["callId"] == call_id)
        .cloned()
        .unwrap_or_else(|| panic!("call {call_id} not in {response}"))
}

fn now(server: &TestServer) -> i64 {
    clock_now(&server.clock)
}

#[tokio::test]
async fn a_call_relays_offer_answer_ice_and_hang_up_and_logs_it_completed() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let started_at = now(&server);
    let id = offer(&mut a, &bob, true).await;
    let rang = b.expect("call_offer").await;
    assert_eq!(
        rang,
        json!({"type": "call_offer", "from": alice.name, "callId": id, "offer": sdp("offer"), "withVideo": true})
    );

    // While it rings, the log says so; both may already trickle ICE.
    let ringing = stored(&mut b, &alice, &id).await;
    assert_eq!(
        ringing,
        json!({"callId": id, "caller": alice.name, "callee": bob.name, "type": "video",
               "status": "ringing", "startedAt": started_at, "duration": 0})
    );
    a.send(json!({"type": "call_ice", "to": bob.name, "candidate": candidate(1), "callId": id}))
        .await;
    let ice = b.expect("call_ice").await;
    assert_eq!(
        ice,
        json!({"type": "call_ice", "from": alice.name, "callId": id, "candidate": candidate(1)})
    );

    server.clock.advance(Duration::from_millis(2_000));
    answer(&mut b, &alice, &id).await;
    let answered = a.expect("call_answer").await;
    assert_eq!(
        answered,
        json!({"type": "call_answer", "from": bob.name, "callId": id, "answer": sdp("answer")})
    );
    let in_progress = stored(&mut a, &bob, &id).await;
    assert_eq!(in_progress["status"], "in_progress");
    assert_eq!(in_progress["answeredAt"], started_at + 2_000);

    b.send(json!({"type": "call_ice", "to": alice.name, "candidate": candidate(2), "callId": id}))
        .await;
    let ice = a.expect("call_ice").await;
    assert_eq!(
        (&ice["from"], &ice["candidate"]),
        (&json!(bob.name), &candidate(2))
    );

    server.clock.advance(Duration::from_millis(62_500));
    hang_up(&mut a, &bob, &id).await;
    ended(&mut b, &alice, &id).await;
    let expected = json!({"callId": id, "caller": alice.name, "callee": bob.name, "type": "video",
        "status": "completed", "startedAt": started_at, "answeredAt": started_at + 2_000,
        "endedAt": started_at + 64_500, "duration": 62, "endReason": "hangup"});
    assert_eq!(logged(&mut b, &id).await, expected);
    // The one who hung up is not told it ended, only logged.
    assert_eq!(logged(&mut a, &id).await, expected);
    assert_eq!(stored(&mut a, &bob, &id).await, expected);
    assert_eq!(stored(&mut b, &alice, &id).await, expected);
    a.expect_silence().await;
    b.expect_silence().await;
}

#[tokio::test]
async fn call_id_may_be_left_out_while_the_pair_has_one_call() {
    let Friends {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    b.send(json!({"type": "call_answer", "to": alice.name, "answer": sdp("answer")}))
        .await;
    assert_eq!(a.expect("call_answer").await["callId"], id.as_str());
    a.send(json!({"type": "call_ice", "to": bob.name, "candidate": candidate(1)}))
        .await;
    assert_eq!(b.expect("call_ice").await["callId"], id.as_str());
    b.send(json!({"type": "call_ended", "to": alice.name}))
        .await;
    ended(&mut a, &bob, &id).await;
    assert_eq!(logged(&mut a, &id).await["status"], "completed");
    assert_eq!(logged(&mut b, &id).await["status"], "completed");
}

#[tokio::test]
async fn a_declined_call_is_missed() {
    let Friends {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    hang_up(&mut b, &alice, &id).await;
    ended(&mut a, &bob, &id).await;
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["duration"]),
        (&json!("missed"), &json!(0))
    );
    assert!(call.get("answeredAt").is_none(), "{call}");
    assert_eq!(call["endedAt"], call["startedAt"]);
    assert_eq!(logged(&mut b, &id).await, call);
    b.expect_silence().await;
}

#[tokio::test]
async fn a_call_cancelled_by_the_caller_is_missed() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    server.clock.advance(Duration::from_secs(10));
    hang_up(&mut a, &bob, &id).await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut b, &id).await;
    assert_eq!(call["status"], "missed");
    assert_eq!(
        call["endedAt"].as_i64(),
        call["startedAt"].as_i64().map(|t| t + 10_000)
    );
    assert_eq!(logged(&mut a, &id).await, call);
    a.expect_silence().await;
}

#[tokio::test]
async fn calling_an_offline_friend_is_refused_and_logged_missed() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    a.send(
        json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": false}),
    )
    .await;
    let refused = a.expect_error("offline").await;
    let id = refused["ref"]
        .as_str()
        .expect("ref is the call id")
        .to_owned();
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (
            &call["caller"],
            &call["callee"],
            &call["type"],
            &call["status"],
            &call["duration"]
        ),
        (
            &json!(alice.name),
            &json!(bob.name),
            &json!("voice"),
            &json!("missed"),
            &json!(0)
        )
    );
    a.expect_silence().await;

    // Bob finds the missed call in his log when he comes online; no ring waits for him.
    let (mut b, greeting) = server.connect(&bob).await;
    assert!(
        greeting.iter().all(|e| e["type"] != "call_offer"),
        "{greeting:?}"
    );
    assert_eq!(stored(&mut b, &alice, &id).await, call);
}

#[tokio::test]
async fn calling_a_friend_in_a_call_is_busy_and_logged_missed() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let (carol, mut c) = third(&server, &mut [(&alice, &mut a), (&bob, &mut b)]).await;
    let first = ring(&mut a, &bob, &mut b).await;

    // Bob's call is ringing: carol gets busy, both are logged, bob's phone does not ring.
    c.send(json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": true}))
        .await;
    let refused = c.expect_error("busy").await;
    let id = refused["ref"].as_str().expect("ref").to_owned();
    assert_ne!(id, first);
    let call = logged(&mut c, &id).await;
    assert_eq!(
        (&call["caller"], &call["callee"], &call["status"]),
        (&json!(carol.name), &json!(bob.name), &json!("missed"))
    );
    assert_eq!(logged(&mut b, &id).await, call);
    b.expect_silence().await;

    // Alice is busy too (she is calling), and stays busy once bob answered.
    c.send(
        json!({"type": "call_offer", "to": alice.name, "offer": sdp("offer"), "withVideo": false}),
    )
    .await;
    let id = c.expect_error("busy").await["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    logged(&mut c, &id).await;
    logged(&mut a, &id).await;
    answer(&mut b, &alice, &first).await;
    a.expect("call_answer").await;
    c.send(
        json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": false}),
    )
    .await;
    let id = c.expect_error("busy").await["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    logged(&mut c, &id).await;
    logged(&mut b, &id).await;

    // Calling back the friend who is calling us is busy as well: a pair has one live call.
    b.send(
        json!({"type": "call_offer", "to": alice.name, "offer": sdp("offer"), "withVideo": false}),
    )
    .await;
    let id = b.expect_error("busy").await["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    logged(&mut b, &id).await;
    logged(&mut a, &id).await;

    // The live call is untouched; once it ends, bob can be called again.
    hang_up(&mut a, &bob, &first).await;
    ended(&mut b, &alice, &first).await;
    logged(&mut b, &first).await;
    logged(&mut a, &first).await;
    ring(&mut c, &bob, &mut b).await;
    a.expect_silence().await;
}

#[tokio::test]
async fn two_friends_calling_one_at_the_same_moment_cannot_both_ring() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let (carol, mut c) = third(&server, &mut [(&alice, &mut a), (&bob, &mut b)]).await;
    for _ in 0..5 {
        let call = json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": false});
        // Both offers are on the wire before either is answered.
        tokio::join!(a.send(call.clone()), c.send(call));
        let (from_a, from_c) = tokio::join!(a.recv(), c.recv());
        let (winner, winner_ws, loser_ws, won, lost) =
            match (from_a["type"].as_str(), from_c["type"].as_str()) {
                (Some("call_started"), Some("error")) => (&alice, &mut a, &mut c, from_a, from_c),
                (Some("error"), Some("call_started")) => (&carol, &mut c, &mut a, from_c, from_a),
                _ => panic!("exactly one call may ring: {from_a} / {from_c}"),
            };
        assert_eq!(lost["code"], "busy", "{lost}");
        let (won, lost) = (
            won["callId"].as_str().expect("id"),
            lost["ref"].as_str().expect("ref"),
        );
        logged(loser_ws, lost).await;
        // Bob rings once, and logs the busy call.
        let (first, second) = (b.recv().await, b.recv().await);
        let mut kinds = [first["type"].clone(), second["type"].clone()];
        kinds.sort_by_key(|k| k.to_string());
        assert_eq!(
            kinds,
            [json!("call_logged"), json!("call_offer")],
            "{first} / {second}"
        );
        hang_up(winner_ws, &bob, won).await;
        ended(&mut b, winner, won).await;
        logged(&mut b, won).await;
        logged(winner_ws, won).await;
        b.expect_silence().await;
    }
}

#[tokio::test]
async fn a_call_to_a_non_friend_is_refused_and_not_logged() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let dave = server.register("dave").await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut d, _) = server.connect(&dave).await;
    a.send(
        json!({"type": "call_offer", "to": dave.name, "offer": sdp("offer"), "withVideo": true}),
    )
    .await;
    a.expect_error("not_friends").await;
    // A pending request is not a friendship either.
    let (status, _) = server
        .post(
            "/friends/request",
            Some(&alice.token),
            &json!({"receiver": dave.name}),
        )
        .await;
    assert_eq!(status, 200);
    d.expect("new_friend_request").await;
    a.send(
        json!({"type": "call_offer", "to": dave.name, "offer": sdp("offer"), "withVideo": true}),
    )
    .await;
    a.expect_error("not_friends").await;
    d.expect_silence().await;
    a.expect_silence().await;
    assert_eq!(
        call_history(&mut a, &dave, json!({})).await["calls"],
        json!([])
    );
    assert_eq!(
        call_history(&mut d, &alice, json!({})).await["calls"],
        json!([])
    );

    // Unknown users and oneself cannot be called.
    a.send(json!({"type": "call_offer", "to": "nobody_here", "offer": sdp("offer"), "withVideo": true}))
        .await;
    a.expect_error("user_not_found").await;
    a.send(
        json!({"type": "call_offer", "to": alice.name, "offer": sdp("offer"), "withVideo": true}),
    )
    .await;
    a.expect_error("bad_request").await;
    // No offer: broken on purpose, so sent unchecked.
    a.send_raw(json!({"type": "call_offer", "to": dave.name, "withVideo": true}).to_string())
        .await;
    a.expect_error("bad_request").await;
}

#[tokio::test]
async fn only_the_two_parties_may_answer_relay_ice_or_end_a_call() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let (_carol, mut c) = third(&server, &mut [(&alice, &mut a), (&bob, &mut b)]).await;
    let id = ring(&mut a, &bob, &mut b).await;

    // The caller cannot answer her own call.
    answer(&mut a, &bob, &id).await;
    assert_eq!(a.expect_error("not_found").await["ref"], id.as_str());

    // Carol guessed the call id: whoever she names, she is refused and nothing is relayed.
    for to in [&alice, &bob] {
        answer(&mut c, to, &id).await;
        assert_eq!(c.expect_error("not_found").await["ref"], id.as_str());
        c.send(json!({"type": "call_ice", "to": to.name, "candidate": candidate(9), "callId": id}))
            .await;
        c.expect_error("not_found").await;
        hang_up(&mut c, to, &id).await;
        c.expect_error("not_found").await;
        c.send(json!({"type": "call_ended", "to": to.name})).await;
        c.expect_error("not_found").await;
    }
    a.expect_silence().await;
    b.expect_silence().await;
    // Nor can she read it.
    assert_eq!(
        call_history(&mut c, &alice, json!({})).await["calls"],
        json!([])
    );
    assert_eq!(
        call_history(&mut c, &bob, json!({})).await["calls"],
        json!([])
    );

    // Unknown ids are refused for the parties too.
    let unknown = uuid::Uuid::new_v4().to_string();
    answer(&mut b, &alice, &unknown).await;
    assert_eq!(b.expect_error("not_found").await["ref"], unknown.as_str());
    b.send(
        json!({"type": "call_ice", "to": alice.name, "candidate": candidate(1), "callId": unknown}),
    )
    .await;
    b.expect_error("not_found").await;
    hang_up(&mut b, &alice, &unknown).await;
    b.expect_error("not_found").await;
    a.expect_silence().await;

    // The call itself still works.
    answer(&mut b, &alice, &id).await;
    a.expect("call_answer").await;
    // Answering twice is refused.
    answer(&mut b, &alice, &id).await;
    b.expect_error("not_found").await;
    a.expect_silence().await;
    let call = stored(&mut a, &bob, &id).await;
    assert_eq!(call["status"], "in_progress");
}

#[tokio::test]
async fn ice_and_end_for_an_ended_call_are_ignored_and_an_answer_is_not_found() {
    let Friends {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    hang_up(&mut a, &bob, &id).await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut b, &id).await;
    logged(&mut a, &id).await;

    for (ws, to) in [(&mut a, &bob), (&mut b, &alice)] {
        ws.send(
            json!({"type": "call_ice", "to": to.name, "candidate": candidate(1), "callId": id}),
        )
        .await;
        hang_up(ws, to, &id).await;
        ws.send(json!({"type": "call_ice", "to": to.name, "candidate": candidate(2)}))
            .await;
        ws.send(json!({"type": "call_ended", "to": to.name})).await;
    }
    a.expect_silence().await;
    b.expect_silence().await;

    answer(&mut b, &alice, &id).await;
    b.expect_error("not_found").await;
    a.expect_silence().await;
    // The record did not move.
    assert_eq!(stored(&mut a, &bob, &id).await, call);

    // A pair that never had a call has nothing to ignore.
    b.send(json!({"type": "call_ended", "to": "nobody_here"}))
        .await;
    b.expect_error("user_not_found").await;
}

#[tokio::test]
async fn a_call_ringing_45_seconds_unanswered_ends_missed() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    let started_at = now(&server);
    server.clock.advance(Duration::from_millis(44_999));
    server.chat.transport().sweep().await;
    a.expect_silence().await;
    b.expect_silence().await;
    assert_eq!(stored(&mut a, &bob, &id).await["status"], "ringing");

    server.clock.advance(Duration::from_millis(1));
    server.chat.transport().sweep().await;
    ended(&mut a, &bob, &id).await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["endedAt"], &call["duration"]),
        (&json!("missed"), &json!(started_at + 45_000), &json!(0))
    );
    assert_eq!(logged(&mut b, &id).await, call);
    // Sweeping again changes nothing.
    server.chat.transport().sweep().await;
    a.expect_silence().await;
    b.expect_silence().await;
    assert_eq!(stored(&mut b, &alice, &id).await, call);
}

#[tokio::test]
async fn an_answer_after_the_ring_timeout_is_too_late_even_before_the_sweep() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    let started_at = now(&server);
    server.clock.advance(Duration::from_secs(50));
    answer(&mut b, &alice, &id).await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut b, &id).await;
    assert_eq!(
        (&call["status"], &call["endedAt"]),
        (&json!("missed"), &json!(started_at + 45_000))
    );
    b.expect_error("not_found").await;
    ended(&mut a, &bob, &id).await;
    assert_eq!(logged(&mut a, &id).await, call);
    a.expect_silence().await;
}

#[tokio::test]
async fn an_answered_call_is_not_ended_by_the_ring_timeout() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &id).await;
    a.expect("call_answer").await;
    server.clock.advance(Duration::from_secs(600));
    server.chat.transport().sweep().await;
    a.expect_silence().await;
    b.expect_silence().await;
    hang_up(&mut b, &alice, &id).await;
    ended(&mut a, &bob, &id).await;
    assert_eq!(logged(&mut a, &id).await["duration"], 600);
}

#[tokio::test]
async fn closing_the_callers_socket_ends_the_call() {
    // While ringing: missed.
    let Friends {
        server,
        alice,
        bob,
        a,
        mut b,
    } = friends_online().await;
    let mut a = a;
    let id = ring(&mut a, &bob, &mut b).await;
    a.close().await;
    ended(&mut b, &alice, &id).await;
    assert_eq!(logged(&mut b, &id).await["status"], "missed");
    b.expect("presence").await;

    // Once answered: completed, from the answer to the close.
    let (mut a, _) = server.connect(&alice).await;
    b.expect("presence").await;
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &id).await;
    a.expect("call_answer").await;
    server.clock.advance(Duration::from_millis(3_500));
    a.close().await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut b, &id).await;
    assert_eq!(
        (&call["status"], &call["duration"]),
        (&json!("completed"), &json!(3))
    );
    b.expect("presence").await;
    b.expect_silence().await;
}

#[tokio::test]
async fn closing_the_answering_socket_ends_the_call_but_another_socket_does_not() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        b,
    } = friends_online().await;
    let (mut b2, _) = server.connect(&bob).await;
    let (mut a2, _) = server.connect(&alice).await;
    let mut b = b;
    let id = offer(&mut a, &bob, false).await;
    b.expect("call_offer").await;
    b2.expect("call_offer").await;
    answer(&mut b2, &alice, &id).await;
    a.expect("call_answer").await;
    a2.expect("call_answer").await;

    // Sockets that neither placed nor answered the call come and go freely.
    b.close().await;
    a2.close().await;
    a.expect_silence().await;
    b2.expect_silence().await;

    b2.close().await;
    ended(&mut a, &bob, &id).await;
    assert_eq!(logged(&mut a, &id).await["status"], "completed");
    a.expect("presence").await;
    a.expect_silence().await;
    let (mut b, _) = server.connect(&bob).await;
    assert_eq!(stored(&mut b, &alice, &id).await["status"], "completed");
}

#[tokio::test]
async fn a_ringing_call_ends_when_the_callees_last_socket_closes() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        b,
    } = friends_online().await;
    let (mut b2, _) = server.connect(&bob).await;
    let mut b = b;
    let id = offer(&mut a, &bob, true).await;
    b.expect("call_offer").await;
    b2.expect("call_offer").await;
    b.close().await;
    a.expect_silence().await;
    b2.close().await;
    ended(&mut a, &bob, &id).await;
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["caller"]),
        (&json!("missed"), &json!(alice.name))
    );
    a.expect("presence").await;
}

#[tokio::test]
async fn unfriending_ends_a_live_call() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &id).await;
    a.expect("call_answer").await;
    server.clock.advance(Duration::from_secs(5));
    let (status, body) = server
        .post(
            "/friends/remove",
            Some(&bob.token),
            &json!({"target": alice.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    ended(&mut a, &bob, &id).await;
    ended(&mut b, &alice, &id).await;
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["duration"]),
        (&json!("completed"), &json!(5))
    );
    assert_eq!(logged(&mut b, &id).await, call);
    a.expect("friend_removed").await;
    // The former friends can still read their log, but not call.
    assert_eq!(stored(&mut b, &alice, &id).await, call);
    a.send(json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": true}))
        .await;
    a.expect_error("not_friends").await;
    b.expect_silence().await;
}

#[tokio::test]
async fn without_a_call_id_events_go_to_the_call_with_the_named_friend() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let (carol, mut c) = third(&server, &mut [(&alice, &mut a), (&bob, &mut b)]).await;
    // Alice, not called by anyone, may ring two friends at once.
    let with_bob = ring(&mut a, &bob, &mut b).await;
    let with_carol = ring(&mut a, &carol, &mut c).await;
    assert_ne!(with_bob, with_carol);

    // A call id must belong to the friend named.
    a.send(json!({"type": "call_ice", "to": carol.name, "candidate": candidate(1), "callId": with_bob}))
        .await;
    a.expect_error("not_found").await;

    c.send(json!({"type": "call_answer", "to": alice.name, "answer": sdp("answer")}))
        .await;
    assert_eq!(a.expect("call_answer").await["callId"], with_carol.as_str());
    a.send(json!({"type": "call_ended", "to": bob.name})).await;
    ended(&mut b, &alice, &with_bob).await;
    assert_eq!(logged(&mut b, &with_bob).await["status"], "missed");
    assert_eq!(logged(&mut a, &with_bob).await["status"], "missed");
    c.expect_silence().await;
    a.send(json!({"type": "call_ice", "to": carol.name, "candidate": candidate(2)}))
        .await;
    assert_eq!(c.expect("call_ice").await["callId"], with_carol.as_str());
    b.expect_silence().await;
}

#[tokio::test]
async fn call_history_is_newest_first_and_paged_by_call_id() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    // Bob is offline: every call is logged missed at once.
    let mut made = Vec::new();
    for _ in 0..205 {
        a.send(json!({"type": "call_offer", "to": bob.name, "offer": sdp("offer"), "withVideo": false}))
            .await;
        let id = a.expect_error("offline").await["ref"]
            .as_str()
            .expect("ref")
            .to_owned();
        logged(&mut a, &id).await;
        made.push(id);
        server.clock.advance(Duration::from_millis(1));
    }
    let newest_first: Vec<String> = made.iter().rev().cloned().collect();

    let page = call_history(&mut a, &bob, json!({})).await;
    assert_eq!(ids(&page), newest_first[..50]);
    assert_eq!(page["hasMore"], true);
    let page = call_history(&mut a, &bob, json!({"limit": 1000})).await;
    assert_eq!(ids(&page), newest_first[..200]);
    assert_eq!(page["hasMore"], true);
    let page = call_history(
        &mut a,
        &bob,
        json!({"limit": 3, "before": newest_first[200]}),
    )
    .await;
    assert_eq!(ids(&page), newest_first[201..204]);
    assert_eq!(page["hasMore"], true);
    let page = call_history(
        &mut a,
        &bob,
        json!({"limit": 3, "before": newest_first[202]}),
    )
    .await;
    assert_eq!(ids(&page), newest_first[203..]);
    assert_eq!(page["hasMore"], false);
    let page = call_history(&mut a, &bob, json!({"before": newest_first[204]})).await;
    assert_eq!(
        (&page["calls"], &page["hasMore"]),
        (&json!([]), &json!(false))
    );

    // Bob sees the same log.
    let (mut b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    let page = call_history(
        &mut b,
        &alice,
        json!({"limit": 200, "before": newest_first[4]}),
    )
    .await;
    assert_eq!(ids(&page), newest_first[5..]);
    assert_eq!(page["hasMore"], false);

    for bad in [
        json!({"limit": 0}),
        json!({"limit": -1}),
        json!({"before": uuid::Uuid::new_v4().to_string()}),
    ] {
        let mut request = json!({"type": "fetch_call_history", "withUser": bob.name});
        request
            .as_object_mut()
            .expect("object")
            .extend(bad.as_object().expect("object").clone());
        a.send(request).await;
        a.expect_error("bad_request").await;
    }
    a.send(json!({"type": "fetch_call_history", "withUser": "nobody_here"}))
        .await;
    a.expect_error("user_not_found").await;
}

#[tokio::test]
async fn nobody_else_can_read_a_pairs_calls() {
    let Friends {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = friends_online().await;
    let (carol, mut c) = third(&server, &mut [(&alice, &mut a), (&bob, &mut b)]).await;
    let ab = ring(&mut a, &bob, &mut b).await;
    hang_up(&mut b, &alice, &ab).await;
    ended(&mut a, &bob, &ab).await;
    logged(&mut a, &ab).await;
    logged(&mut b, &ab).await;
    let ca = ring(&mut c, &alice, &mut a).await;
    hang_up(&mut c, &alice, &ca).await;
    ended(&mut a, &carol, &ca).await;
    logged(&mut a, &ca).await;
    logged(&mut c, &ca).await;

    assert_eq!(
        ids(&call_history(&mut c, &alice, json!({})).await),
        std::slice::from_ref(&ca)
    );
    assert_eq!(
        ids(&call_history(&mut c, &bob, json!({})).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&call_history(&mut a, &bob, json!({})).await),
        std::slice::from_ref(&ab)
    );
    assert_eq!(ids(&call_history(&mut a, &carol, json!({})).await), [ca]);
    // Another pair's call id is no page marker.
    c.send(json!({"type": "fetch_call_history", "withUser": alice.name, "before": ab}))
        .await;
    c.expect_error("bad_request").await;
    b.expect_silence().await;
}

#[tokio::test]
async fn calls_survive_a_restart_and_unfinished_ones_are_closed_out() {
    let config = test_config();
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().expect("tempdir");
    let chat = sqlite_chat(config.clone(), clock.clone(), &dir).await;
    let server = TestServer::serve(
        chat,
        clock.clone(),
        tempfile::tempdir().expect("tempdir"),
        |r| r,
    )
    .await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&carol, &dave).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;
    let (mut d, _) = server.connect(&dave).await;
    a.expect("presence").await;
    c.expect("presence").await;

    // One finished call, one left ringing, one left in progress.
    let done = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &done).await;
    a.expect("call_answer").await;
    clock.advance(Duration::from_secs(7));
    hang_up(&mut a, &bob, &done).await;
    ended(&mut b, &alice, &done).await;
    let done_record = logged(&mut b, &done).await;
    assert_eq!(logged(&mut a, &done).await, done_record);
    let ringing = ring(&mut a, &bob, &mut b).await;
    let ringing_since = clock_now(&clock);
    let talking = ring(&mut c, &dave, &mut d).await;
    answer(&mut d, &carol, &talking).await;
    c.expect("call_answer").await;
    let answered_at = clock_now(&clock);
    clock.advance(Duration::from_secs(20));

    // The server stops without ending them: the old node never learns its sockets closed.
    drop(server);
    let restarted_chat = sqlite_chat(config, clock.clone(), &dir).await;
    let restarted = TestServer::serve(restarted_chat, clock.clone(), dir, |r| r).await;
    let (mut a2, _) = restarted.connect(&alice).await;
    let (mut c2, _) = restarted.connect(&carol).await;

    let page = call_history(&mut a2, &bob, json!({})).await;
    assert_eq!(ids(&page), [ringing.clone(), done.clone()]);
    assert_eq!(page["calls"][1], done_record);
    let closed = &page["calls"][0];
    assert_eq!(
        (
            &closed["status"],
            &closed["startedAt"],
            &closed["endedAt"],
            &closed["duration"]
        ),
        (
            &json!("missed"),
            &json!(ringing_since),
            &json!(ringing_since + 20_000),
            &json!(0)
        )
    );
    let closed = stored(&mut c2, &dave, &talking).await;
    assert_eq!(
        (
            &closed["status"],
            &closed["answeredAt"],
            &closed["endedAt"],
            &closed["duration"]
        ),
        (
            &json!("completed"),
            &json!(answered_at),
            &json!(answered_at),
            &json!(0)
        )
    );
    // A closed-out call is over: ICE and end for it are ignored, an answer is refused.
    c2.send(json!({"type": "call_ended", "to": dave.name, "callId": talking}))
        .await;
    c2.send(json!({"type": "call_ice", "to": dave.name, "candidate": candidate(1)}))
        .await;
    c2.expect_silence().await;
    let (mut b2, _) = restarted.connect(&bob).await;
    a2.expect("presence").await;
    answer(&mut b2, &alice, &ringing).await;
    b2.expect_error("not_found").await;
    a2.expect_silence().await;
    // New calls work on the restarted server.
    ring(&mut a2, &bob, &mut b2).await;
    drop((a, b, c, d));
}

fn clock_now(clock: &ManualClock) -> i64 {
    use nexchat_core::Clock;
    clock.now_ms()
}
