//! Checks of account erasure: the mark hides an account and keeps its name taken, the deletes
//! take exactly that user's rows, and the tombstone keeps nothing but the name.

use std::sync::Arc;

use super::Fixture;
use super::support::{
    T0, advance, call, create_users, get_link, history, inbox, insert_all, link, race,
    sorted_links, strings, user,
};
use crate::protocol::MessageStatus;
use crate::store::{
    CallStore, Credentials, FriendStore, LinkStatus, MessageStore, StoreError, UserStore,
};

async fn assert_name_taken<S: UserStore>(store: &S, name: &str, when: &str) {
    let result = store.create_user(&user(name)).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{when}: create_user({name:?}) must be Conflict (the name stays taken), got {result:?}"
    );
}

/// Marked, an account is found by nothing and changed by nothing, yet its name stays taken in
/// every letter case; tombstoned, the same, and it leaves the list of erasures.
pub async fn erasure_hides_the_account_and_keeps_the_name<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let mut alice = user("Alice");
    alice.public_key = Some(r#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#.to_owned());
    alice.kdf = Some(r#"{"alg":"argon2id"}"#.to_owned());
    store.create_user(&alice).await.expect("create_user failed");
    create_users(store, &["alfa", "bob"]).await;

    assert!(
        store
            .mark_erasing("ALICE")
            .await
            .expect("mark_erasing failed"),
        "mark_erasing of a live user (any letter case) must succeed"
    );
    assert!(
        !store
            .mark_erasing("alice")
            .await
            .expect("mark_erasing failed"),
        "a user already being erased cannot be marked again"
    );
    assert!(
        !store
            .mark_erasing("ghost")
            .await
            .expect("mark_erasing failed"),
        "an unknown user cannot be marked"
    );
    assert_eq!(
        store.erasing_users().await.expect("erasing_users failed"),
        strings(&["Alice"]),
        "erasing_users must list the marked user as registered"
    );
    for stage in ["marked", "tombstoned"] {
        assert_eq!(
            store.find_user("alice").await.expect("find_user failed"),
            None,
            "{stage}: find_user must not find an erased account"
        );
        assert_eq!(
            store
                .search_users("al", "", 20)
                .await
                .expect("search failed"),
            strings(&["alfa"]),
            "{stage}: search_users must leave an erased account out"
        );
        for name in ["Alice", "alice", "ALICE"] {
            assert_name_taken(store, name, stage).await;
        }
        let _ = store.set_public_key("alice", r#"{"x":"new"}"#).await;
        let replaced = store
            .replace_credentials(
                "alice",
                alice.password_hash.as_deref().expect("a hash"),
                &Credentials {
                    password_hash: "$2b$12$revived".into(),
                    kdf: None,
                    encrypted_private_key: "{}".into(),
                },
            )
            .await
            .expect("replace_credentials failed");
        assert!(
            !replaced,
            "{stage}: replace_credentials must not change an erased account"
        );
        assert_eq!(
            store.find_user("alice").await.expect("find_user failed"),
            None,
            "{stage}: nothing may bring an erased account back"
        );
        store
            .tombstone_user("Alice")
            .await
            .expect("tombstone_user failed");
    }
    assert_eq!(
        store.erasing_users().await.expect("erasing_users failed"),
        Vec::<String>::new(),
        "a tombstoned user is no longer being erased"
    );
    assert!(
        !store
            .mark_erasing("alice")
            .await
            .expect("mark_erasing failed"),
        "a tombstone cannot be marked again"
    );
    store
        .tombstone_user("bob")
        .await
        .expect("tombstone_user failed");
    assert_eq!(
        store.find_user("bob").await.expect("find_user failed"),
        Some(user("bob")),
        "tombstone_user must do nothing to a live user"
    );
}

/// The deletes of an erasure take every link, message and call of that user (both ends, every
/// state) and nothing of anyone else; run again they change nothing more.
pub async fn erasure_deletes_only_that_users_rows<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["alice", "bob", "carol", "dave"]).await;
    for (a, b) in [
        ("alice", "bob"),
        ("carol", "alice"),
        ("alice", "dave"),
        ("bob", "carol"),
    ] {
        assert!(store.create_request(a, b).await.expect("request failed"));
    }
    for (a, b, to) in [
        ("alice", "bob", LinkStatus::Accepted),
        ("alice", "dave", LinkStatus::Rejected),
        ("bob", "carol", LinkStatus::Accepted),
    ] {
        let moved = store
            .transition_link(a, b, LinkStatus::Pending, to)
            .await
            .expect("transition failed");
        assert!(moved);
    }
    let m = super::support::msg;
    insert_all(
        store,
        &[
            m("a1", "alice", "bob", T0),
            m("x1", "bob", "carol", T0 + 1),
            m("b1", "bob", "alice", T0 + 2),
            m("c1", "carol", "alice", T0 + 3),
            m("x2", "carol", "dave", T0 + 4),
            m("x3", "bob", "carol", T0 + 5),
        ],
    )
    .await;
    advance(
        store,
        "bob",
        "carol",
        Some(&["x1"]),
        MessageStatus::Delivered,
    )
    .await;
    for c in [
        call("k1", "alice", "bob", T0),
        call("k2", "carol", "alice", T0 + 1),
        call("k3", "bob", "carol", T0 + 2),
    ] {
        store.insert_call(&c).await.expect("insert_call failed");
    }

    for round in ["first", "second"] {
        store
            .delete_links_of("alice")
            .await
            .expect("delete_links_of failed");
        store
            .delete_messages_of("alice")
            .await
            .expect("delete_messages_of failed");
        store
            .delete_calls_of("alice")
            .await
            .expect("delete_calls_of failed");

        assert_eq!(
            store.links_of("alice").await.expect("links_of failed"),
            vec![],
            "{round} run: every link of the user must go, both ways, every state"
        );
        assert_eq!(get_link(store, "dave", "alice").await, None);
        assert_eq!(
            sorted_links(store.links_of("bob").await.expect("links_of failed")),
            vec![link("bob", "carol", LinkStatus::Accepted)],
            "{round} run: links of others must stay"
        );
        for id in ["a1", "b1", "c1"] {
            assert_eq!(
                store.get_message(id).await.expect("get_message failed"),
                None,
                "{round} run: message {id} of the user must go"
            );
        }
        for id in ["x1", "x2", "x3"] {
            assert!(
                store
                    .get_message(id)
                    .await
                    .expect("get_message failed")
                    .is_some(),
                "{round} run: message {id} of others must stay"
            );
        }
        assert!(
            history(store, "alice", "bob", None, 10)
                .await
                .items
                .is_empty()
        );
        assert!(inbox(store, "alice").await.is_empty());
        for id in ["k1", "k2"] {
            assert_eq!(
                store.get_call(id).await.expect("get_call failed"),
                None,
                "{round} run: call {id} of the user must go"
            );
        }
        assert!(
            store
                .get_call("k3")
                .await
                .expect("get_call failed")
                .is_some(),
            "{round} run: calls of others must stay"
        );
    }
    // The others' conversation still works in full: ticks without ids find every unseen one.
    assert_eq!(
        advance(store, "bob", "carol", None, MessageStatus::Seen).await,
        strings(&["x1", "x3"]),
        "ticks between other users must work as before the erasure"
    );
    assert_eq!(inbox(store, "dave").await.len(), 1);
}

/// Many erasures of one account at once: exactly one marks it.
pub async fn race_mark_erasing<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["Alice"]).await;
    let spellings = ["Alice", "alice", "ALICE"];
    let results = race(&fixture, 12, |fx, i| async move {
        fx.store()
            .mark_erasing(spellings[i % spellings.len()])
            .await
            .expect("mark_erasing failed")
    })
    .await;
    assert_eq!(
        results.iter().filter(|won| **won).count(),
        1,
        "exactly one mark_erasing must win: {results:?}"
    );
    assert_eq!(
        fixture
            .store()
            .erasing_users()
            .await
            .expect("erasing_users failed"),
        strings(&["Alice"])
    );
}
