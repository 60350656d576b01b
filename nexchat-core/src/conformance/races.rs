//! Many tasks at once on one store: every conditional step has exactly one winner.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Fixture;
use super::support::{
    T0, call, create_users, get_link, history, inbox, insert_new, link, msg, race, status_of, user,
};
use crate::protocol::{CallRecord, CallStatus, MessageStatus, StoredMessage};
use crate::store::{
    CallStore, FriendStore, Inserted, LineTaken, LinkStatus, MessageStore, StoreError, UserStore,
};

/// Many tasks registering one name in different letter cases: exactly one succeeds.
pub async fn race_create_user<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    let spellings = ["Racer", "racer", "RACER", "rAcEr"];
    let results = race(&fixture, 16, |fx, i| async move {
        let name = spellings[i % spellings.len()];
        (name, fx.store().create_user(&user(name)).await)
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create_user must win: {results:?}"
    );
    for (name, result) in &results {
        assert!(
            result.is_ok() || matches!(result, Err(StoreError::Conflict(_))),
            "a losing create_user({name}) must be Conflict, got {result:?}"
        );
    }
    let found = fixture
        .store()
        .find_user("racer")
        .await
        .expect("find_user failed");
    assert_eq!(found.map(|u| u.username), Some(winners[0].0.to_owned()));
}

/// Many tasks inserting one id (from two senders): exactly one New, every other gets the same
/// message back as Existing.
pub async fn race_insert_same_message_id<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob", "carol"]).await;
    let results = race(&fixture, 32, |fx, i| async move {
        let sender = if i % 2 == 0 { "alice" } else { "carol" };
        let mut m = msg("same", sender, "bob", T0 + i64::try_from(i).unwrap_or(0));
        m.ciphertext = format!("attempt-{i}");
        fx.store()
            .insert_message(&m)
            .await
            .expect("insert_message failed")
    })
    .await;
    let new: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Inserted::New(m) => Some(m.clone()),
            Inserted::Existing(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "exactly one insert of an id must be New");
    let stored = new[0].clone();
    for result in &results {
        if let Inserted::Existing(m) = result {
            assert_eq!(m, &stored, "every Existing must be the one stored message");
        }
    }
    let store = fixture.store();
    assert_eq!(
        store.get_message("same").await.expect("get_message failed"),
        Some(stored.clone())
    );
    let count = history(store, "alice", "bob", None, 100).await.items.len()
        + history(store, "carol", "bob", None, 100).await.items.len();
    assert_eq!(count, 1, "one id, one stored message");
    assert_eq!(inbox(store, "bob").await, vec![stored]);
}

/// Many tasks inserting distinct messages with jumbled timestamps: every one is New, and in
/// storage order (history, undelivered) timestamps never decrease.
pub async fn race_insert_messages_keep_timestamp_order<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob", "carol"]).await;
    let n = 64;
    let results = race(&fixture, n, |fx, i| async move {
        let sender = if i % 3 == 0 { "carol" } else { "alice" };
        let jumble = i64::try_from((i * 7919) % 97).unwrap_or(0);
        let m = msg(&format!("r{i}"), sender, "bob", T0 + jumble);
        let inserted = fx
            .store()
            .insert_message(&m)
            .await
            .expect("insert_message failed");
        (m, inserted)
    })
    .await;
    for (given, inserted) in &results {
        match inserted {
            Inserted::New(stored) => {
                assert!(
                    stored.timestamp >= given.timestamp,
                    "timestamps are only ever raised"
                );
                assert_eq!(
                    stored,
                    &StoredMessage {
                        timestamp: stored.timestamp,
                        ..given.clone()
                    }
                );
            }
            Inserted::Existing(_) => panic!("{} is a new id but came back Existing", given.id),
        }
    }
    let store = fixture.store();
    let inbox = inbox(store, "bob").await;
    assert_eq!(inbox.len(), n);
    assert!(
        inbox.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "in storage order a later message never has an earlier timestamp: {:?}",
        inbox
            .iter()
            .map(|m| (&m.id, m.timestamp))
            .collect::<Vec<_>>()
    );
    for (_, inserted) in &results {
        if let Inserted::New(stored) = inserted {
            assert_eq!(
                store
                    .get_message(&stored.id)
                    .await
                    .expect("get_message failed")
                    .as_ref(),
                Some(stored)
            );
        }
    }
    let page = history(store, "alice", "bob", None, n).await;
    assert!(
        page.items
            .windows(2)
            .all(|w| w[0].timestamp >= w[1].timestamp)
    );
}

/// Many tasks marking the same messages: each id is reported moved once per status level.
pub async fn race_advance_status<X: Fixture>(fixture: X) {
    use MessageStatus::{Delivered, Seen};
    let fixture = Arc::new(fixture);
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let ids: Vec<String> = (0..20).map(|i| format!("a{i:02}")).collect();
    for id in &ids {
        insert_new(store, &msg(id, "alice", "bob", T0)).await;
    }
    let ids = Arc::new(ids);
    // Task i marks everything (even i) or every other id from some offset (odd i).
    let mark = |to: MessageStatus| {
        let ids = Arc::clone(&ids);
        move |fx: Arc<X>, i: usize| {
            let ids = Arc::clone(&ids);
            async move {
                let subset: Vec<String> = ids.iter().skip(i % 3).step_by(2).cloned().collect();
                let list = (i % 2 == 1).then_some(subset);
                let moved = fx
                    .store()
                    .advance_status("alice", "bob", list.as_deref(), to)
                    .await
                    .expect("advance_status failed");
                (to, moved)
            }
        }
    };
    for level in [Delivered, Seen] {
        let reports = race(&fixture, 16, mark(level)).await;
        let reported = reported_at(&reports, level);
        assert_eq!(
            reported, *ids,
            "racing advance_status to {level:?}: every id must be reported exactly once"
        );
    }

    // Delivered and seen racing each other on fresh messages.
    let ids2: Vec<String> = (0..20).map(|i| format!("b{i:02}")).collect();
    for id in &ids2 {
        insert_new(fixture.store(), &msg(id, "alice", "bob", T0)).await;
    }
    let mixed = race(&fixture, 16, |fx, i| async move {
        let to = if i % 2 == 0 { Delivered } else { Seen };
        let moved = fx
            .store()
            .advance_status("alice", "bob", None, to)
            .await
            .expect("advance_status failed");
        (to, moved)
    })
    .await;
    let seen = reported_at(&mixed, Seen);
    assert_eq!(seen, ids2, "every message reaches seen exactly once");
    let delivered = reported_at(&mixed, Delivered);
    let unique: BTreeSet<_> = delivered.iter().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "no id is reported delivered twice"
    );
    for id in ids.iter().chain(ids2.iter()) {
        assert_eq!(status_of(fixture.store(), id).await, Seen);
    }
}

/// Every id the reports at `level` say moved, sorted; checks each report is in storage order.
fn reported_at(reports: &[(MessageStatus, Vec<String>)], level: MessageStatus) -> Vec<String> {
    for (_, moved) in reports {
        let mut sorted = moved.clone();
        sorted.sort();
        assert_eq!(moved, &sorted, "moved ids must come in storage order");
    }
    let mut all: Vec<String> = reports
        .iter()
        .filter(|(to, _)| *to == level)
        .flat_map(|(_, moved)| moved.iter().cloned())
        .collect();
    all.sort();
    all
}

/// Both users asking each other at once: exactly one request is recorded.
pub async fn race_create_request<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob"]).await;
    let results = race(&fixture, 16, |fx, i| async move {
        let (s, r) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        let won = fx
            .store()
            .create_request(s, r)
            .await
            .expect("create_request failed");
        (s, r, won)
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, _, won)| *won).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one create_request must win: {results:?}"
    );
    let (s, r, _) = winners[0];
    assert_eq!(
        get_link(fixture.store(), "alice", "bob").await,
        Some(link(s, r, LinkStatus::Pending)),
        "the link must be the winner's request"
    );
}

/// Accept and reject racing on one request: exactly one wins; then exactly one delete wins.
pub async fn race_transition_and_delete_link<X: Fixture>(fixture: X) {
    use LinkStatus::{Accepted, Pending, Rejected};
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob"]).await;
    assert!(
        fixture
            .store()
            .create_request("alice", "bob")
            .await
            .expect("create_request failed")
    );
    let results = race(&fixture, 16, |fx, i| async move {
        let to = if i % 2 == 0 { Accepted } else { Rejected };
        let won = fx
            .store()
            .transition_link("alice", "bob", Pending, to)
            .await
            .expect("transition_link failed");
        (to, won)
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, won)| *won).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one transition_link must win: {results:?}"
    );
    let final_status = winners[0].0;
    assert_eq!(
        get_link(fixture.store(), "bob", "alice").await,
        Some(link("alice", "bob", final_status))
    );
    let deletes = race(&fixture, 8, |fx, _| async move {
        fx.store()
            .delete_link("alice", "bob", final_status)
            .await
            .expect("delete_link failed")
    })
    .await;
    assert_eq!(
        deletes.iter().filter(|won| **won).count(),
        1,
        "exactly one delete_link must win"
    );
    assert_eq!(get_link(fixture.store(), "alice", "bob").await, None);
}

/// Pairs of inserts of the same call id, all at once: one of each pair stored, the other
/// Conflict, and the failures do not disturb the others' writes.
pub async fn race_insert_call<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob"]).await;
    let results = race(&fixture, 32, |fx, i| async move {
        let record = call(&format!("c{}", i / 2), "alice", "bob", T0);
        fx.store().insert_call(&record).await
    })
    .await;
    for pair in results.chunks(2) {
        let ok = pair.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            ok, 1,
            "exactly one insert_call per id must succeed: {pair:?}"
        );
        assert!(
            pair.iter()
                .any(|r| matches!(r, Err(StoreError::Conflict(_)))),
            "the other must be Conflict: {pair:?}"
        );
    }
    let calls = fixture
        .store()
        .call_history("alice", "bob", None, 100)
        .await
        .expect("call_history failed");
    assert_eq!(calls.items.len(), 16, "every id stored once");
}

/// Answer and hang-up racing on a ringing call: exactly one `update_call` wins.
pub async fn race_update_call<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob"]).await;
    let ringing = call("c1", "alice", "bob", T0);
    fixture
        .store()
        .insert_call(&ringing)
        .await
        .expect("insert_call failed");
    let results = race(&fixture, 16, |fx, i| {
        let ringing = ringing.clone();
        async move {
            let record = if i % 2 == 0 {
                CallRecord {
                    status: CallStatus::InProgress,
                    answered_at: Some(T0 + 1_000 + i64::try_from(i).unwrap_or(0)),
                    ..ringing
                }
            } else {
                CallRecord {
                    status: CallStatus::Missed,
                    ended_at: Some(T0 + 2_000 + i64::try_from(i).unwrap_or(0)),
                    ..ringing
                }
            };
            let won = fx
                .store()
                .update_call(&record, CallStatus::Ringing)
                .await
                .expect("update_call failed");
            (record, won)
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, won)| *won).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one update_call from ringing must win"
    );
    assert_eq!(
        fixture
            .store()
            .get_call("c1")
            .await
            .expect("get_call failed"),
        Some(winners[0].0.clone()),
        "the stored call must be the winner's record"
    );
}

/// Two calls to one callee placed at the same moment, round after round: both takes are in
/// flight together (a barrier lets them go at once), and since neither line is ever released,
/// whatever the interleaving exactly one must win; the other is told the callee is busy and
/// holds nothing.
pub async fn race_take_call_lines<X: Fixture>(fixture: X) {
    const ROUNDS: usize = 16;
    let fixture = Arc::new(fixture);
    let names: Vec<String> = (0..ROUNDS)
        .flat_map(|r| [format!("callee{r}"), format!("one{r}"), format!("two{r}")])
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    create_users(fixture.store(), &refs).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2 * ROUNDS));
    let results = race(&fixture, 2 * ROUNDS, |fx, i| {
        let barrier = Arc::clone(&barrier);
        async move {
            let round = i / 2;
            let caller = if i % 2 == 0 { "one" } else { "two" };
            let record = call(
                &format!("c{i}"),
                &format!("{caller}{round}"),
                &format!("callee{round}"),
                T0,
            );
            barrier.wait().await;
            let taken = fx
                .store()
                .take_call_lines(&record, &format!("node{i}"))
                .await
                .expect("take_call_lines failed");
            (record, taken)
        }
    })
    .await;
    for (round, pair) in results.chunks(2).enumerate() {
        let callee = format!("callee{round}");
        let winners: Vec<&CallRecord> = pair
            .iter()
            .filter(|(_, taken)| *taken == LineTaken::Taken)
            .map(|(record, _)| record)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one call may take {callee}: {pair:?}"
        );
        let (loser, taken) = pair
            .iter()
            .find(|(_, taken)| *taken != LineTaken::Taken)
            .expect("one loser");
        assert_eq!(*taken, LineTaken::Busy(callee.clone()));
        let lines = fixture
            .store()
            .call_lines_of(&callee)
            .await
            .expect("call_lines_of failed");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].call_id, winners[0].call_id);
        assert_eq!(
            fixture
                .store()
                .call_lines_of(&loser.caller)
                .await
                .expect("call_lines_of failed"),
            vec![],
            "the losing caller holds nothing"
        );
    }
}
