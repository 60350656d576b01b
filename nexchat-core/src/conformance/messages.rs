//! Checks of [`crate::store::MessageStore`].

use super::Fixture;
use super::support::{
    T0, advance, create_users, history, inbox, insert_all, insert_new, message_ids, msg, status_of,
    strings,
};
use crate::protocol::{MessageStatus, StoredMessage};
use crate::store::{Inserted, MessageStore, StoreError, StoreResult};

/// A new message is stored as given (its timestamp is the latest so far) and found by id.
pub async fn messages_insert_and_get<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let m = msg("0b0e7c8e-5f2a-4d7e-9a43-2b4a8f3c9d10", "alice", "bob", T0);
    assert_eq!(
        store
            .insert_message(&m)
            .await
            .expect("insert_message failed"),
        Inserted::New(m.clone())
    );
    assert_eq!(
        store.get_message(&m.id).await.expect("get_message failed"),
        Some(m)
    );
    assert_eq!(
        store.get_message("nope").await.expect("get_message failed"),
        None
    );
}

/// A batch is stored in the order given, one answer per message: new ones as given, an id
/// already stored (before, or earlier in the same batch) as the stored message.
pub async fn messages_insert_batch_in_order<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let earlier = insert_new(store, &msg("m0", "alice", "bob", T0)).await;
    let batch: Vec<StoredMessage> = (1..=40)
        .map(|i| msg(&format!("m{i}"), "alice", "bob", T0 + i))
        .collect();

    // Distinct ids, one of them stored before.
    let mut first = vec![msg("m0", "alice", "bob", T0)];
    first.extend(batch[..20].iter().cloned());
    let mut expected = vec![Inserted::Existing(earlier)];
    expected.extend(batch[..20].iter().cloned().map(Inserted::New));
    assert_eq!(
        answers(store.insert_messages(first).await),
        expected,
        "one answer per message, in the order given"
    );

    // An id twice in one batch: the second meets the first.
    let mut repeat = msg("m23", "alice", "bob", T0 + 100);
    repeat.ciphertext = "different".to_owned();
    let mut second = batch[20..].to_vec();
    second.push(repeat);
    let mut expected: Vec<Inserted> = batch[20..].iter().cloned().map(Inserted::New).collect();
    expected.push(Inserted::Existing(batch[22].clone()));
    assert_eq!(
        answers(store.insert_messages(second).await),
        expected,
        "an id repeated inside a batch must answer the copy stored earlier in it"
    );

    let page = history(store, "alice", "bob", None, 100).await;
    let mut expected: Vec<String> = (0..=40).map(|i| format!("m{i}")).collect();
    expected.reverse();
    assert_eq!(
        message_ids(&page.items),
        expected,
        "batches must be stored in the order given"
    );
}

fn answers(results: Vec<StoreResult<Inserted>>) -> Vec<Inserted> {
    results
        .into_iter()
        .map(|r| r.expect("insert_messages failed"))
        .collect()
}

/// A second insert of an id, from anyone, returns the stored message and writes nothing.
pub async fn messages_existing_id_changes_nothing<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave"]).await;
    let original = insert_new(store, &msg("m1", "alice", "bob", T0)).await;

    let mut again = msg("m1", "alice", "bob", T0 + 5_000);
    again.ciphertext = "different".to_owned();
    again.iv = "different".to_owned();
    assert_eq!(
        store
            .insert_message(&again)
            .await
            .expect("insert_message failed"),
        Inserted::Existing(original.clone()),
        "the same id again from the same sender must return the stored message"
    );
    let stolen = msg("m1", "carol", "dave", T0 + 6_000);
    assert_eq!(
        store
            .insert_message(&stolen)
            .await
            .expect("insert_message failed"),
        Inserted::Existing(original.clone()),
        "the same id from another sender must return the stored message, not store another"
    );
    assert_eq!(
        store.get_message("m1").await.expect("get_message failed"),
        Some(original.clone())
    );
    assert!(
        history(store, "carol", "dave", None, 10)
            .await
            .items
            .is_empty()
    );
    assert!(inbox(store, "dave").await.is_empty());
    assert_eq!(
        history(store, "alice", "bob", None, 10).await.items,
        vec![original.clone()]
    );

    advance(store, "alice", "bob", None, MessageStatus::Delivered).await;
    let delivered = StoredMessage {
        status: MessageStatus::Delivered,
        ..original
    };
    assert_eq!(
        store
            .insert_message(&again)
            .await
            .expect("insert_message failed"),
        Inserted::Existing(delivered),
        "Existing carries the message as stored now (status included), and resets nothing"
    );
    assert_eq!(status_of(store, "m1").await, MessageStatus::Delivered);
}

/// A message never gets a timestamp earlier than one stored before it (in any conversation),
/// and keeps its own when it is not earlier.
pub async fn messages_timestamps_never_go_back<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    let first = insert_new(store, &msg("t1", "alice", "bob", T0 + 1_000)).await;
    assert_eq!(first.timestamp, T0 + 1_000);
    let late = insert_new(store, &msg("t2", "carol", "bob", T0 + 500)).await;
    assert!(
        late.timestamp >= T0 + 1_000,
        "a message stored after one at {} got the earlier timestamp {}",
        T0 + 1_000,
        late.timestamp
    );
    assert_eq!(
        store.get_message("t2").await.expect("get_message failed"),
        Some(late.clone()),
        "the stored timestamp must be the one returned"
    );
    let same = insert_new(store, &msg("t3", "bob", "alice", T0 + 1_000)).await;
    assert!(same.timestamp >= late.timestamp);
    let next = insert_new(store, &msg("t4", "alice", "bob", T0 + 2_000)).await;
    assert_eq!(
        next.timestamp,
        T0 + 2_000,
        "a timestamp later than every stored one must be kept as given"
    );
    let fields = StoredMessage {
        timestamp: next.timestamp,
        ..msg("t4", "alice", "bob", T0 + 2_000)
    };
    assert_eq!(
        next, fields,
        "only the timestamp may differ from what was given"
    );
}

/// Statuses only move forward; `advance_status` reports exactly the ids that moved, in storage
/// order.
pub async fn advance_status_moves_forward_only<X: Fixture>(fixture: X) {
    use MessageStatus::{Delivered, Seen, Sent};
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    insert_all(
        store,
        &[
            msg("m1", "alice", "bob", T0),
            msg("m2", "alice", "bob", T0),
            msg("m3", "alice", "bob", T0),
        ],
    )
    .await;
    assert_eq!(
        advance(store, "alice", "bob", None, Sent).await,
        Vec::<String>::new()
    );
    assert_eq!(
        advance(store, "alice", "bob", Some(&["m1"]), Delivered).await,
        strings(&["m1"])
    );
    assert_eq!(
        advance(store, "alice", "bob", None, Delivered).await,
        strings(&["m2", "m3"]),
        "all still-lower messages of the pair, in storage order"
    );
    assert_eq!(
        advance(store, "alice", "bob", None, Delivered).await,
        Vec::<String>::new(),
        "nothing moves twice"
    );
    assert_eq!(
        advance(store, "alice", "bob", Some(&["m2"]), Seen).await,
        strings(&["m2"])
    );
    assert_eq!(
        advance(store, "alice", "bob", Some(&["m2", "m3"]), Delivered).await,
        Vec::<String>::new(),
        "seen is not lowered to delivered, and delivered is not delivered again"
    );
    assert_eq!(status_of(store, "m2").await, Seen);
    assert_eq!(
        advance(store, "alice", "bob", Some(&["m3", "m1"]), Seen).await,
        strings(&["m1", "m3"]),
        "moved ids come back in storage order, not the order asked"
    );
    for id in ["m1", "m2", "m3"] {
        assert_eq!(status_of(store, id).await, Seen);
    }
    assert_eq!(
        advance(store, "alice", "bob", None, Seen).await,
        Vec::<String>::new()
    );

    insert_new(store, &msg("m4", "alice", "bob", T0)).await;
    assert_eq!(
        advance(store, "alice", "bob", None, Seen).await,
        strings(&["m4"]),
        "sent goes straight to seen"
    );
    assert_eq!(
        advance(store, "alice", "bob", None, Delivered).await,
        Vec::<String>::new()
    );
    assert_eq!(status_of(store, "m4").await, Seen);
}

/// Only messages from `sender` to `receiver` move, only the listed ids when a list is given;
/// unknown, foreign and repeated ids are ignored.
pub async fn advance_status_only_that_pair_and_those_ids<X: Fixture>(fixture: X) {
    use MessageStatus::{Delivered, Seen, Sent};
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    insert_all(
        store,
        &[
            msg("ab1", "alice", "bob", T0),
            msg("ba1", "bob", "alice", T0),
            msg("ab2", "alice", "bob", T0),
            msg("ac1", "alice", "carol", T0),
            msg("cb1", "carol", "bob", T0),
        ],
    )
    .await;
    assert_eq!(
        advance(
            store,
            "alice",
            "bob",
            Some(&["ab2", "ba1", "ac1", "cb1", "unknown", "ab2"]),
            Delivered
        )
        .await,
        strings(&["ab2"]),
        "only ids of messages alice -> bob move, each reported once"
    );
    assert_eq!(
        advance(store, "alice", "bob", Some(&[]), Seen).await,
        Vec::<String>::new(),
        "an empty id list moves nothing"
    );
    assert_eq!(
        status_of(store, "ab1").await,
        Sent,
        "unlisted ids must not move"
    );
    assert_eq!(
        advance(store, "alice", "bob", None, Delivered).await,
        strings(&["ab1"])
    );
    for id in ["ba1", "ac1", "cb1"] {
        assert_eq!(
            status_of(store, id).await,
            Sent,
            "{id} is not a message alice -> bob and must not move"
        );
    }
    assert_eq!(
        advance(store, "bob", "alice", None, Seen).await,
        strings(&["ba1"]),
        "the reverse direction is its own set"
    );
    assert_eq!(status_of(store, "ab1").await, Delivered);
}

/// History pages run newest first in storage order, both directions of the pair and nothing
/// else, with `has_more` telling whether older messages exist.
pub async fn history_pages_newest_first<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    // All in the same millisecond: only storage order tells them apart.
    let stored = insert_all(
        store,
        &[
            msg("m1", "alice", "bob", T0),
            msg("m2", "bob", "alice", T0),
            msg("x1", "alice", "carol", T0),
            msg("m3", "alice", "bob", T0),
            msg("m4", "bob", "alice", T0),
            msg("y1", "carol", "bob", T0),
            msg("m5", "alice", "bob", T0),
        ],
    )
    .await;
    let page = history(store, "alice", "bob", None, 2).await;
    assert_eq!(message_ids(&page.items), ["m5", "m4"]);
    assert!(page.has_more, "older messages exist after the first page");
    assert_eq!(
        page.items,
        vec![stored[6].clone(), stored[4].clone()],
        "history must return whole messages as stored"
    );
    let page = history(store, "alice", "bob", Some("m4"), 2).await;
    assert_eq!(
        message_ids(&page.items),
        ["m3", "m2"],
        "strictly older than `before`"
    );
    assert!(page.has_more);
    let page = history(store, "alice", "bob", Some("m2"), 2).await;
    assert_eq!(message_ids(&page.items), ["m1"]);
    assert!(!page.has_more, "nothing is older than m1");
    let page = history(store, "alice", "bob", Some("m1"), 2).await;
    assert!(page.items.is_empty() && !page.has_more);

    let page = history(store, "bob", "alice", None, 5).await;
    assert_eq!(
        message_ids(&page.items),
        ["m5", "m4", "m3", "m2", "m1"],
        "history(b, a) is the same conversation as history(a, b)"
    );
    assert!(
        !page.has_more,
        "a page ending exactly at the oldest message has no more"
    );
    let page = history(store, "alice", "bob", None, 50).await;
    assert_eq!(page.items.len(), 5);
    assert!(!page.has_more);
    let page = history(store, "bob", "alice", Some("m3"), 1).await;
    assert_eq!(message_ids(&page.items), ["m2"]);
    assert!(page.has_more);
    let page = history(store, "carol", "bob", None, 10).await;
    assert_eq!(message_ids(&page.items), ["y1"]);
}

/// `before` must name a message of this pair: unknown ids and other pairs' ids are NotFound.
pub async fn history_before_must_be_of_the_pair<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    let result = store.history("alice", "bob", Some("nope"), 10).await;
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "history before an unknown id (empty store) must be NotFound, got {result:?}"
    );
    insert_all(
        store,
        &[
            msg("m1", "alice", "bob", T0),
            msg("x1", "alice", "carol", T0),
            msg("y1", "carol", "bob", T0),
        ],
    )
    .await;
    for before in ["nope", "x1", "y1"] {
        let result = store.history("alice", "bob", Some(before), 10).await;
        assert!(
            matches!(result, Err(StoreError::NotFound(_))),
            "history(alice, bob) before {before:?} (not a message of the pair) must be NotFound, got {result:?}"
        );
    }
    let page = history(store, "alice", "nobody", None, 10).await;
    assert!(page.items.is_empty() && !page.has_more);
}

/// Messages still `sent` to a user, oldest first in storage order (same millisecond included),
/// from every sender.
pub async fn undelivered_oldest_first<X: Fixture>(fixture: X) {
    use MessageStatus::{Delivered, Seen};
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave"]).await;
    insert_all(
        store,
        &[
            msg("u1", "alice", "bob", T0),
            msg("u2", "carol", "bob", T0),
            msg("v1", "bob", "alice", T0),
            msg("u3", "alice", "bob", T0),
            msg("w1", "alice", "carol", T0),
            msg("u4", "carol", "bob", T0),
        ],
    )
    .await;
    let undelivered = |user: &'static str| inbox(store, user);
    let list = undelivered("bob").await;
    assert_eq!(
        message_ids(&list),
        ["u1", "u2", "u3", "u4"],
        "undelivered must list every sender's messages oldest first, in storage order"
    );
    assert_eq!(
        list[0],
        msg("u1", "alice", "bob", T0),
        "whole messages as stored"
    );
    advance(store, "alice", "bob", Some(&["u1"]), Delivered).await;
    advance(store, "carol", "bob", Some(&["u4"]), Seen).await;
    assert_eq!(message_ids(&undelivered("bob").await), ["u2", "u3"]);
    assert_eq!(message_ids(&undelivered("alice").await), ["v1"]);
    assert_eq!(message_ids(&undelivered("carol").await), ["w1"]);
    assert!(undelivered("dave").await.is_empty());
}

/// `undelivered` pages: at most `limit`, `has_more` while more follow, continuing strictly after
/// `after` even when that message has been delivered since, and nothing after an id that is
/// not a message to the receiver.
pub async fn undelivered_in_pages<X: Fixture>(fixture: X) {
    use MessageStatus::Delivered;
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    let ids = ["p1", "p2", "p3", "p4", "p5"];
    let messages: Vec<_> = ids.iter().map(|id| msg(id, "alice", "bob", T0)).collect();
    insert_all(store, &messages).await;
    insert_all(store, &[msg("q1", "bob", "carol", T0)]).await;
    let page = |after: Option<&'static str>, limit: usize| async move {
        store
            .undelivered("bob", after, limit)
            .await
            .expect("undelivered failed")
    };
    let first = page(None, 2).await;
    assert_eq!(message_ids(&first.items), ["p1", "p2"]);
    assert!(first.has_more, "three more follow the first page");
    advance(store, "alice", "bob", Some(&["p2", "p3"]), Delivered).await;
    let next = page(Some("p2"), 2).await;
    assert_eq!(
        message_ids(&next.items),
        ["p4", "p5"],
        "a page continues after its cursor even when the cursor was delivered meanwhile"
    );
    assert!(!next.has_more, "nothing follows the last page");
    let exact = page(None, 3).await;
    assert_eq!(message_ids(&exact.items), ["p1", "p4", "p5"]);
    assert!(
        !exact.has_more,
        "a page that ends the list exactly has nothing more"
    );
    assert!(
        page(Some("q1"), 10).await.items.is_empty(),
        "q1 is not to bob"
    );
    assert!(page(Some("no-such-id"), 10).await.items.is_empty());
}
