//! Checks of [`crate::store::CallStore`].

use super::Fixture;
use super::support::{T0, call, call_ids, create_users};
use crate::protocol::{CallKind, CallRecord, CallStatus, EndReason};
use crate::store::{CallLine, CallStore, LineTaken, StoreError};

/// Calls round-trip whole; a second insert of an id is Conflict and changes nothing.
pub async fn calls_insert_get_conflict<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let ringing = CallRecord {
        kind: CallKind::Video,
        ..call("c1", "alice", "bob", T0)
    };
    store
        .insert_call(&ringing)
        .await
        .expect("insert_call failed");
    assert_eq!(
        store.get_call("c1").await.expect("get_call failed"),
        Some(ringing.clone())
    );
    let other = call("c1", "bob", "alice", T0 + 1);
    let result = store.insert_call(&other).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "insert_call of an existing id must be Conflict, got {result:?}"
    );
    assert_eq!(
        store.get_call("c1").await.expect("get_call failed"),
        Some(ringing),
        "a refused insert_call must change nothing"
    );
    let done = CallRecord {
        status: CallStatus::Completed,
        answered_at: Some(T0 + 3_000),
        ended_at: Some(T0 + 65_500),
        duration: 62,
        ..call("c2", "bob", "alice", T0)
    };
    store.insert_call(&done).await.expect("insert_call failed");
    assert_eq!(
        store.get_call("c2").await.expect("get_call failed"),
        Some(done)
    );
    assert_eq!(store.get_call("c3").await.expect("get_call failed"), None);
}

/// `update_call` replaces the record only while its stored status is the expected one.
pub async fn calls_update_is_conditional<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let ringing = call("c1", "alice", "bob", T0);
    store
        .insert_call(&ringing)
        .await
        .expect("insert_call failed");
    let answered = CallRecord {
        status: CallStatus::InProgress,
        answered_at: Some(T0 + 2_000),
        ..ringing.clone()
    };
    let update = |record: CallRecord, expected| async move {
        store
            .update_call(&record, expected)
            .await
            .expect("update_call failed")
    };
    assert!(update(answered.clone(), CallStatus::Ringing).await);
    assert_eq!(
        store.get_call("c1").await.expect("get_call failed"),
        Some(answered.clone())
    );
    let missed = CallRecord {
        status: CallStatus::Missed,
        ended_at: Some(T0 + 3_000),
        ..ringing.clone()
    };
    assert!(
        !update(missed, CallStatus::Ringing).await,
        "update_call expecting ringing must fail once the call was answered"
    );
    assert_eq!(
        store.get_call("c1").await.expect("get_call failed"),
        Some(answered.clone()),
        "a failed update_call must change nothing"
    );
    let completed = CallRecord {
        status: CallStatus::Completed,
        ended_at: Some(T0 + 65_000),
        duration: 63,
        ..answered
    };
    assert!(update(completed.clone(), CallStatus::InProgress).await);
    assert_eq!(
        store.get_call("c1").await.expect("get_call failed"),
        Some(completed)
    );
    assert!(
        !update(call("ghost", "alice", "bob", T0), CallStatus::Ringing).await,
        "update_call of an unknown id must be false"
    );
    assert_eq!(
        store.get_call("ghost").await.expect("get_call failed"),
        None,
        "update_call must never create a call"
    );
}

/// Call history pages like message history (storage order, both directions, `before` of the
/// pair or NotFound); updating a call does not move it.
pub async fn calls_history_pages<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    for c in [
        call("k1", "alice", "bob", T0),
        call("k2", "bob", "alice", T0),
        call("z1", "alice", "carol", T0),
        call("k3", "alice", "bob", T0),
    ] {
        store.insert_call(&c).await.expect("insert_call failed");
    }
    let missed = CallRecord {
        status: CallStatus::Missed,
        ended_at: Some(T0 + 45_000),
        ..call("k1", "alice", "bob", T0)
    };
    assert!(
        store
            .update_call(&missed, CallStatus::Ringing)
            .await
            .expect("update_call failed")
    );
    let page = |a: &'static str, b: &'static str, before: Option<&'static str>, limit| async move {
        store
            .call_history(a, b, before, limit)
            .await
            .unwrap_or_else(|e| panic!("call_history({a}, {b}, {before:?}) failed: {e}"))
    };
    let first = page("alice", "bob", None, 2).await;
    assert_eq!(call_ids(&first.items), ["k3", "k2"]);
    assert!(first.has_more);
    let second = page("bob", "alice", Some("k2"), 2).await;
    assert_eq!(
        second.items,
        vec![missed],
        "updated calls keep their place and new content"
    );
    assert!(!second.has_more);
    let all = page("bob", "alice", None, 3).await;
    assert_eq!(call_ids(&all.items), ["k3", "k2", "k1"]);
    assert!(!all.has_more);
    assert_eq!(
        call_ids(&page("carol", "alice", None, 10).await.items),
        ["z1"]
    );
    for before in ["nope", "z1"] {
        let result = store.call_history("alice", "bob", Some(before), 10).await;
        assert!(
            matches!(result, Err(StoreError::NotFound(_))),
            "call_history(alice, bob) before {before:?} must be NotFound, got {result:?}"
        );
    }
}

/// Exactly the calls still ringing or in progress, from every pair.
pub async fn calls_unfinished<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave"]).await;
    let with = |id, caller, callee, status| CallRecord {
        status,
        ..call(id, caller, callee, T0)
    };
    let c1 = with("c1", "alice", "bob", CallStatus::Ringing);
    let c2 = with("c2", "carol", "dave", CallStatus::InProgress);
    let c5 = with("c5", "dave", "alice", CallStatus::Ringing);
    for c in [
        c1.clone(),
        c2.clone(),
        with("c3", "alice", "carol", CallStatus::Completed),
        with("c4", "bob", "dave", CallStatus::Missed),
        c5.clone(),
    ] {
        store.insert_call(&c).await.expect("insert_call failed");
    }
    let unfinished = || async move {
        let mut calls = store
            .unfinished_calls()
            .await
            .expect("unfinished_calls failed");
        calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        calls
    };
    assert_eq!(unfinished().await, vec![c1.clone(), c2.clone(), c5.clone()]);
    let c5_missed = CallRecord {
        status: CallStatus::Missed,
        ..c5
    };
    assert!(
        store
            .update_call(&c5_missed, CallStatus::Ringing)
            .await
            .expect("update_call failed")
    );
    assert_eq!(unfinished().await, vec![c1, c2]);
}

/// Every end reason is stored and read back, by `insert_call` and by `update_call`, and listed
/// by `call_history`; a final record without one (stored before reasons existed) reads without
/// one.
pub async fn calls_end_reason_round_trips<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let reasons = [
        EndReason::Hangup,
        EndReason::Declined,
        EndReason::Cancelled,
        EndReason::NoAnswer,
        EndReason::Offline,
        EndReason::Busy,
        EndReason::Disconnected,
    ];
    let mut expected = Vec::new();
    for (i, reason) in reasons.into_iter().enumerate() {
        let start = T0 + i64::try_from(i).unwrap_or(0) * 10_000;
        // Logged final at once, as offline and busy calls are.
        let inserted = CallRecord {
            status: CallStatus::Missed,
            ended_at: Some(start),
            end_reason: Some(reason),
            ..call(&format!("i{i}"), "alice", "bob", start)
        };
        store
            .insert_call(&inserted)
            .await
            .expect("insert_call failed");
        // Ended by an update, as rung and answered calls are.
        let ringing = call(&format!("u{i}"), "bob", "alice", start + 1);
        store
            .insert_call(&ringing)
            .await
            .expect("insert_call failed");
        let ended = CallRecord {
            status: CallStatus::Missed,
            ended_at: Some(start + 2),
            end_reason: Some(reason),
            ..ringing
        };
        assert!(
            store
                .update_call(&ended, CallStatus::Ringing)
                .await
                .expect("update_call failed"),
            "update_call of a ringing call must apply"
        );
        for record in [&inserted, &ended] {
            assert_eq!(
                store
                    .get_call(&record.call_id)
                    .await
                    .expect("get_call failed")
                    .as_ref(),
                Some(record),
                "end reason {reason:?} must round-trip"
            );
        }
        // Storage order: each inserted one, then the one ended by an update.
        expected.push(inserted);
        expected.push(ended);
    }
    let without = CallRecord {
        status: CallStatus::Completed,
        answered_at: Some(T0 + 100_000),
        ended_at: Some(T0 + 101_000),
        duration: 1,
        ..call("old", "alice", "bob", T0 + 99_000)
    };
    store
        .insert_call(&without)
        .await
        .expect("insert_call failed");
    assert_eq!(
        store.get_call("old").await.expect("get_call failed"),
        Some(without.clone()),
        "a final record without an end reason reads without one"
    );
    let page = store
        .call_history("alice", "bob", None, 50)
        .await
        .expect("call_history failed");
    let mut listed = page.items;
    listed.reverse();
    expected.push(without);
    assert_eq!(listed, expected, "call_history lists the reasons as stored");
}

/// `take_call_lines` takes both parties' lines, or none when the callee holds one (as callee
/// or caller): it names the callee then. A caller may hold several lines; releasing a call
/// frees its two.
pub async fn call_lines_busy_callee<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave", "erin"]).await;
    let take = |record: CallRecord, node: &'static str| async move {
        store
            .take_call_lines(&record, node)
            .await
            .expect("take_call_lines failed")
    };
    let lines_of = |user: &'static str| async move {
        let mut lines = store
            .call_lines_of(user)
            .await
            .expect("call_lines_of failed");
        lines.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        lines
    };
    let first = call("c1", "alice", "bob", T0);
    assert_eq!(take(first.clone(), "n1").await, LineTaken::Taken);
    let [bobs, alices] = CallLine::of_call(&first, "n1");
    assert_eq!((bobs.user.as_str(), bobs.peer.as_str()), ("bob", "alice"));
    assert_eq!(lines_of("bob").await, vec![bobs.clone()]);
    assert_eq!(lines_of("alice").await, vec![alices.clone()]);
    assert_eq!(lines_of("carol").await, vec![]);

    // Bob is called, alice is calling: both are busy; nothing is taken for the callers.
    for (record, busy) in [
        (call("c2", "carol", "bob", T0), "bob"),
        (call("c3", "carol", "alice", T0), "alice"),
        (call("c4", "bob", "alice", T0), "alice"),
    ] {
        assert_eq!(
            take(record, "n2").await,
            LineTaken::Busy(busy.to_owned()),
            "{busy} holds a line"
        );
    }
    assert_eq!(
        lines_of("carol").await,
        vec![],
        "a refused take holds nothing"
    );
    assert_eq!(lines_of("bob").await, vec![bobs.clone()]);

    // Alice may ring a second friend; the third is busy once called.
    let second = call("c5", "alice", "carol", T0);
    assert_eq!(take(second.clone(), "n1").await, LineTaken::Taken);
    let [carols, alices_second] = CallLine::of_call(&second, "n1");
    assert_eq!(lines_of("alice").await, vec![alices.clone(), alices_second]);
    assert_eq!(
        take(call("c6", "dave", "carol", T0), "n2").await,
        LineTaken::Busy("carol".to_owned())
    );
    assert_eq!(
        take(call("c7", "dave", "erin", T0), "n2").await,
        LineTaken::Taken,
        "another pair is not concerned"
    );
    let mut all = store.call_lines().await.expect("call_lines failed");
    all.sort_by(|a, b| (&a.call_id, &a.user).cmp(&(&b.call_id, &b.user)));
    let ids: Vec<(&str, &str)> = all
        .iter()
        .map(|l| (l.call_id.as_str(), l.user.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("c1", "alice"),
            ("c1", "bob"),
            ("c5", "alice"),
            ("c5", "carol"),
            ("c7", "dave"),
            ("c7", "erin")
        ]
    );

    store
        .release_call_lines("c1")
        .await
        .expect("release_call_lines failed");
    store
        .release_call_lines("c1")
        .await
        .expect("releasing twice is no error");
    assert_eq!(lines_of("bob").await, vec![]);
    assert_eq!(
        lines_of("carol").await,
        vec![carols],
        "another call's lines stay"
    );
    assert_eq!(
        take(call("c8", "erin", "bob", T0), "n3").await,
        LineTaken::Taken,
        "released lines can be taken again"
    );
}
