//! Checks of [`crate::store::MessageStore::conversations`]: one entry per other user, latest
//! message first (ties in timestamp: the later stored first), unread counts that follow the
//! ticks, paging with `before`, and entries that go with an erased account.

use std::sync::Arc;

use super::Fixture;
use super::support::{T0, advance, create_users, history, insert_all, insert_new, msg, race};
use crate::protocol::{Conversation, MessageStatus};
use crate::store::{MessageStore, Page, StoreError};

async fn list<S: MessageStore>(
    store: &S,
    user: &str,
    before: Option<&str>,
    limit: usize,
) -> Page<Conversation> {
    store
        .conversations(user, before, limit)
        .await
        .unwrap_or_else(|e| panic!("conversations({user}, {before:?}, {limit}) failed: {e}"))
}

/// `(with_user, last message id, unread)` of each entry, in order.
fn summary(page: &Page<Conversation>) -> Vec<(&str, &str, u64)> {
    page.items
        .iter()
        .map(|c| (c.with_user.as_str(), c.last_message.id.as_str(), c.unread))
        .collect()
}

/// Every entry of `user`'s list, read `limit` at a time, so the pages must join up in order.
async fn all_pages<S: MessageStore>(store: &S, user: &str, limit: usize) -> Vec<Conversation> {
    let mut all: Vec<Conversation> = Vec::new();
    loop {
        let before = all.last().map(|c| c.with_user.clone());
        let page = list(store, user, before.as_deref(), limit).await;
        assert!(
            page.items.len() <= limit,
            "a page holds at most `limit` entries"
        );
        all.extend(page.items);
        if !page.has_more {
            return all;
        }
        assert!(
            all.len() < 1000,
            "conversations never stops saying has_more"
        );
    }
}

/// One entry per other user, both directions counted, the latest message first; a message of
/// the same millisecond stored later comes first; the entry carries the stored message whole.
pub async fn conversations_one_entry_per_user_latest_first<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave", "erin"]).await;
    assert_eq!(
        summary(&list(store, "alice", None, 50).await),
        Vec::<(&str, &str, u64)>::new(),
        "a user without messages has an empty list"
    );
    let stored = insert_all(
        store,
        &[
            msg("m1", "alice", "bob", T0),
            msg("m2", "carol", "alice", T0 + 10),
            msg("m3", "bob", "alice", T0 + 20),
            msg("m4", "alice", "dave", T0 + 30),
            // Same millisecond as m4, stored after it: carol's entry comes before dave's.
            msg("m5", "alice", "carol", T0 + 30),
            // Between others: in nobody's list but theirs.
            msg("m6", "bob", "erin", T0 + 40),
        ],
    )
    .await;
    let page = list(store, "alice", None, 50).await;
    assert_eq!(
        summary(&page),
        vec![("carol", "m5", 1), ("dave", "m4", 0), ("bob", "m3", 1)],
        "alice's list: one entry per user, latest first, ties the later stored first"
    );
    assert!(!page.has_more, "the whole list fits: has_more is false");
    assert_eq!(
        page.items[0].last_message, stored[4],
        "lastMessage is the stored message, every field"
    );
    assert_eq!(
        summary(&list(store, "bob", None, 50).await),
        vec![("erin", "m6", 0), ("alice", "m3", 1)],
        "bob's list counts alice's m1 unread"
    );
    assert_eq!(
        summary(&list(store, "erin", None, 50).await),
        vec![("bob", "m6", 1)]
    );
}

/// `unread` counts the messages from the other user not `seen`: delivered ones still count,
/// seen ones (by id or all at once) stop counting, and the other side never counts its own.
pub async fn conversations_unread_follows_the_ticks<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob"]).await;
    let unread = |page: Page<Conversation>| page.items.first().map(|c| c.unread);
    insert_all(
        store,
        &[
            msg("a1", "alice", "bob", T0),
            msg("a2", "alice", "bob", T0 + 1),
            msg("a3", "alice", "bob", T0 + 2),
            msg("a4", "alice", "bob", T0 + 3),
            msg("b1", "bob", "alice", T0 + 4),
        ],
    )
    .await;
    assert_eq!(unread(list(store, "bob", None, 50).await), Some(4));
    assert_eq!(unread(list(store, "alice", None, 50).await), Some(1));

    advance(store, "alice", "bob", None, MessageStatus::Delivered).await;
    assert_eq!(
        unread(list(store, "bob", None, 50).await),
        Some(4),
        "delivered is not seen: still unread"
    );
    advance(store, "alice", "bob", Some(&["a1"]), MessageStatus::Seen).await;
    assert_eq!(unread(list(store, "bob", None, 50).await), Some(3));
    advance(
        store,
        "alice",
        "bob",
        Some(&["a1", "a2", "a2", "nope"]),
        MessageStatus::Seen,
    )
    .await;
    assert_eq!(
        unread(list(store, "bob", None, 50).await),
        Some(2),
        "an id seen already, listed twice or unknown counts once or not at all"
    );
    advance(store, "alice", "bob", None, MessageStatus::Seen).await;
    assert_eq!(
        unread(list(store, "bob", None, 50).await),
        Some(0),
        "seen without ids clears the count"
    );
    advance(store, "alice", "bob", None, MessageStatus::Seen).await;
    assert_eq!(unread(list(store, "bob", None, 50).await), Some(0));
    assert_eq!(
        unread(list(store, "alice", None, 50).await),
        Some(1),
        "bob's ticks of alice's messages leave alice's count alone"
    );
    insert_new(store, &msg("a5", "alice", "bob", T0 + 5)).await;
    let page = list(store, "bob", None, 50).await;
    assert_eq!(summary(&page), vec![("alice", "a5", 1)]);
}

/// Pages of `limit` join up in order; `before` continues after that user's entry; a `before`
/// without an entry is `NotFound`.
pub async fn conversations_pages_with_before<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let names: Vec<String> = (0..7).map(|i| format!("friend{i}")).collect();
    let mut all_names: Vec<&str> = names.iter().map(String::as_str).collect();
    all_names.extend(["alice", "zed"]);
    create_users(store, &all_names).await;
    for (i, name) in names.iter().enumerate() {
        let t = T0 + i64::try_from(i).unwrap_or(0);
        insert_new(store, &msg(&format!("m{i}"), name, "alice", t)).await;
    }
    // friend2 writes again: now the latest.
    insert_new(store, &msg("again", "friend2", "alice", T0 + 100)).await;

    let first = list(store, "alice", None, 3).await;
    assert_eq!(
        summary(&first),
        vec![
            ("friend2", "again", 2),
            ("friend6", "m6", 1),
            ("friend5", "m5", 1)
        ]
    );
    assert!(first.has_more, "more entries follow the first page");
    let second = list(store, "alice", Some("friend5"), 3).await;
    assert_eq!(
        summary(&second),
        vec![
            ("friend4", "m4", 1),
            ("friend3", "m3", 1),
            ("friend1", "m1", 1)
        ],
        "before continues after that user's entry (friend2 is not listed twice)"
    );
    let last = list(store, "alice", Some("friend1"), 3).await;
    assert_eq!(summary(&last), vec![("friend0", "m0", 1)]);
    assert!(!last.has_more, "the last page says no more follow");
    let exact = list(store, "alice", Some("friend3"), 2).await;
    assert!(
        !exact.has_more,
        "a page that ends with the last entry says no more follow"
    );

    let every: Vec<String> = all_pages(store, "alice", 2)
        .await
        .into_iter()
        .map(|c| c.with_user)
        .collect();
    assert_eq!(
        every,
        [
            "friend2", "friend6", "friend5", "friend4", "friend3", "friend1", "friend0"
        ],
        "pages of two join up into the whole list"
    );

    for before in ["zed", "nobody", "alice"] {
        let result = store.conversations("alice", Some(before), 3).await;
        assert!(
            matches!(result, Err(StoreError::NotFound(_))),
            "before={before:?} has no entry in alice's list: must be NotFound, got {result:?}"
        );
    }
}

/// Erasing an account's messages takes its own list and its entries in everyone else's, and
/// nothing else; a user whose messages were all with it has an empty list.
pub async fn conversations_go_with_an_erased_account<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol"]).await;
    insert_all(
        store,
        &[
            msg("m1", "alice", "bob", T0),
            msg("m2", "carol", "alice", T0 + 1),
            msg("m3", "bob", "carol", T0 + 2),
            msg("m4", "alice", "carol", T0 + 3),
        ],
    )
    .await;
    store
        .delete_messages_of("alice")
        .await
        .expect("delete_messages_of failed");
    assert_eq!(
        summary(&list(store, "alice", None, 50).await),
        Vec::<(&str, &str, u64)>::new(),
        "the erased user's own list is empty"
    );
    assert_eq!(
        summary(&list(store, "bob", None, 50).await),
        vec![("carol", "m3", 0)],
        "bob's entry with the erased user is gone, the rest stays"
    );
    assert_eq!(
        summary(&list(store, "carol", None, 50).await),
        vec![("bob", "m3", 1)]
    );
    let result = store.conversations("bob", Some("alice"), 10).await;
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "an erased user's entry is no cursor any more, got {result:?}"
    );
    // Writing again starts the pair afresh.
    insert_new(store, &msg("m5", "bob", "carol", T0 + 4)).await;
    assert_eq!(
        summary(&list(store, "carol", None, 50).await),
        vec![("bob", "m5", 2)]
    );
}

/// Racing inserts in both directions of one pair, racing "seen" ticks among them: each entry
/// ends naming the pair's latest message in storage order, and the unread counts are exact.
pub async fn race_conversations_follow_racing_inserts_and_ticks<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice", "bob"]).await;
    let n = 48;
    race(&fixture, n, |fx, i| async move {
        let store = fx.store();
        if i % 8 == 7 {
            // A tick racing the inserts: whatever it moves leaves bob's count.
            advance(store, "alice", "bob", None, MessageStatus::Seen).await;
            return;
        }
        let (sender, receiver) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        insert_new(store, &msg(&format!("r{i}"), sender, receiver, T0)).await;
    })
    .await;
    let store = fixture.store();
    let latest = history(store, "alice", "bob", None, 1).await.items;
    let latest = latest.first().map(|m| m.id.as_str());
    let all = history(store, "alice", "bob", None, 200).await.items;
    let unseen = |sender: &str| {
        let count = all
            .iter()
            .filter(|m| m.sender == sender && m.status != MessageStatus::Seen)
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    };
    for (user, other) in [("alice", "bob"), ("bob", "alice")] {
        let page = list(store, user, None, 10).await;
        assert_eq!(
            summary(&page),
            vec![(other, latest.unwrap_or("none"), unseen(other))],
            "{user}'s entry names the latest message and counts the unseen exactly"
        );
    }
}
