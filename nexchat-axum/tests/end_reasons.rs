//! The call record's `endReason` over real sockets, one test per way a call ends: `hangup`,
//! `declined`, `cancelled`, `no_answer`, `offline`, `busy`, `disconnected`, and unfriending
//! counted as ended by the remover. Each reason is checked in both parties' `call_logged` and in
//! the stored call history.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// Two online friends.
struct Pair {
    server: TestServer,
    alice: User,
    bob: User,
    a: Ws,
    b: Ws,
}

async fn pair() -> Pair {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    Pair {
        server,
        alice,
        bob,
        a,
        b,
    }
}

fn offer_to(to: &User) -> Value {
    json!({"type": "call_offer", "to": to.name, "offer": {"type": "offer", "sdp": "v=0"},
           "withVideo": false})
}

/// `from` calls `to`, and `callee` rings; the call id.
async fn ring(from: &mut Ws, to: &User, callee: &mut Ws) -> String {
    from.send(offer_to(to)).await;
    let id = from.recv_until("call_started").await["callId"]
        .as_str()
        .expect("callId")
        .to_owned();
    assert_eq!(callee.recv_until("call_offer").await["callId"], id.as_str());
    id
}

async fn answer(callee: &mut Ws, caller: &User, caller_ws: &mut Ws, id: &str) {
    callee
        .send(json!({"type": "call_answer", "to": caller.name,
                     "answer": {"type": "answer", "sdp": "v=0"}, "callId": id}))
        .await;
    assert_eq!(caller_ws.recv_until("call_answer").await["callId"], id);
}

async fn end(ws: &mut Ws, to: &User, id: &str) {
    ws.send(json!({"type": "call_ended", "to": to.name, "callId": id}))
        .await;
}

/// Skips to the `call_logged` of `id`; its record.
async fn logged(ws: &mut Ws, id: &str) -> Value {
    let event = ws.recv_until("call_logged").await;
    assert_eq!(event["call"]["callId"], id, "{event}");
    event["call"].clone()
}

/// The stored record of `id`, as the first entry of `ws`'s call history with `with`.
async fn stored(ws: &mut Ws, with: &User, id: &str) -> Value {
    ws.send(json!({"type": "fetch_call_history", "withUser": with.name, "limit": 1}))
        .await;
    let response = ws.recv_until("call_history_response").await;
    let call = response["calls"][0].clone();
    assert_eq!(call["callId"], id, "{response}");
    call
}

/// Both parties were logged `id` with `status` and `reason`, and history says the same.
async fn assert_logged(
    (a, alice): (&mut Ws, &User),
    (b, bob): (&mut Ws, &User),
    id: &str,
    status: &str,
    reason: &str,
) {
    let call = logged(a, id).await;
    assert_eq!(
        (&call["status"], &call["endReason"]),
        (&json!(status), &json!(reason)),
        "{call}"
    );
    assert_eq!(logged(b, id).await, call);
    assert_eq!(stored(a, bob, id).await, call);
    assert_eq!(stored(b, alice, id).await, call);
}

#[tokio::test]
async fn hangup_by_either_side_of_an_answered_call() {
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = pair().await;
    // The callee hangs up.
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &mut a, &id).await;
    end(&mut b, &alice, &id).await;
    assert_logged((&mut a, &alice), (&mut b, &bob), &id, "completed", "hangup").await;
    // The caller hangs up.
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &mut a, &id).await;
    end(&mut a, &bob, &id).await;
    assert_logged((&mut a, &alice), (&mut b, &bob), &id, "completed", "hangup").await;
}

#[tokio::test]
async fn declined_by_the_callee_while_it_rings() {
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = pair().await;
    let id = ring(&mut a, &bob, &mut b).await;
    end(&mut b, &alice, &id).await;
    assert_logged((&mut a, &alice), (&mut b, &bob), &id, "missed", "declined").await;
}

#[tokio::test]
async fn cancelled_by_the_caller_while_it_rings() {
    let Pair {
        alice,
        bob,
        mut a,
        mut b,
        ..
    } = pair().await;
    let id = ring(&mut a, &bob, &mut b).await;
    end(&mut a, &bob, &id).await;
    assert_logged((&mut a, &alice), (&mut b, &bob), &id, "missed", "cancelled").await;
}

#[tokio::test]
async fn no_answer_when_it_rings_out() {
    let Pair {
        server,
        alice,
        bob,
        mut a,
        mut b,
    } = pair().await;
    let id = ring(&mut a, &bob, &mut b).await;
    server.clock.advance(Duration::from_secs(45));
    server.chat.transport().sweep().await;
    assert_logged((&mut a, &alice), (&mut b, &bob), &id, "missed", "no_answer").await;
}

#[tokio::test]
async fn offline_when_the_callee_has_no_socket() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    a.send(offer_to(&bob)).await;
    let id = a.expect_error("offline").await["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["endReason"]),
        (&json!("missed"), &json!("offline"))
    );
    let (mut b, _) = server.connect(&bob).await;
    assert_eq!(stored(&mut b, &alice, &id).await, call);
}

#[tokio::test]
async fn busy_when_the_callee_is_in_another_call() {
    let Pair {
        server,
        bob,
        mut a,
        mut b,
        ..
    } = pair().await;
    let carol = server.register("carol").await;
    server.befriend(&carol, &bob).await;
    b.recv_until("friendship_activated").await;
    let (mut c, _) = server.connect(&carol).await;
    b.recv_until("presence").await;
    let first = ring(&mut a, &bob, &mut b).await;
    c.send(offer_to(&bob)).await;
    let id = c.expect_error("busy").await["ref"]
        .as_str()
        .expect("ref")
        .to_owned();
    assert_ne!(id, first);
    assert_logged((&mut c, &carol), (&mut b, &bob), &id, "missed", "busy").await;
}

#[tokio::test]
async fn disconnected_when_a_socket_in_the_call_closes() {
    let Pair {
        server,
        alice,
        bob,
        mut a,
        b,
    } = pair().await;
    // The callee's only socket closes while it rings.
    let (mut b2, _) = server.connect(&bob).await;
    b.close().await;
    let id = ring(&mut a, &bob, &mut b2).await;
    b2.close().await;
    let call = logged(&mut a, &id).await;
    assert_eq!(
        (&call["status"], &call["endReason"]),
        (&json!("missed"), &json!("disconnected"))
    );
    // The caller's socket closes during an answered call.
    let (mut b, _) = server.connect(&bob).await;
    let id = ring(&mut a, &bob, &mut b).await;
    answer(&mut b, &alice, &mut a, &id).await;
    a.close().await;
    let call = logged(&mut b, &id).await;
    assert_eq!(
        (&call["status"], &call["endReason"]),
        (&json!("completed"), &json!("disconnected"))
    );
    assert_eq!(stored(&mut b, &alice, &id).await, call);
}

/// Unfriending ends the call as if the remover had: `cancelled` when the remover placed the
/// ringing call, `declined` when it rang for them, `hangup` once answered.
#[tokio::test]
async fn unfriending_counts_as_ended_by_the_remover() {
    for (remover_is_caller, answered, reason) in [
        (true, false, "cancelled"),
        (false, false, "declined"),
        (false, true, "hangup"),
    ] {
        let Pair {
            server,
            alice,
            bob,
            mut a,
            mut b,
        } = pair().await;
        let id = ring(&mut a, &bob, &mut b).await;
        if answered {
            answer(&mut b, &alice, &mut a, &id).await;
        }
        let (remover, removed) = if remover_is_caller {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let (status, body) = server
            .post(
                "/friends/remove",
                Some(&remover.token),
                &json!({"target": removed.name}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let status = if answered { "completed" } else { "missed" };
        assert_logged((&mut a, &alice), (&mut b, &bob), &id, status, reason).await;
    }
}
