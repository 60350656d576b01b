//! Checks of [`crate::store::SessionStore`].

use std::sync::Arc;

use super::Fixture;
use super::support::{T0, race};
use crate::store::{SessionRecord, SessionStore, StoreError};

fn session(id: &str, username: &str, created_at: i64) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        username: username.to_owned(),
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + 36_000_000,
        user_agent: format!("Agent of {id} ✓"),
    }
}

async fn find<S: SessionStore + ?Sized>(store: &S, id: &str) -> Option<SessionRecord> {
    store
        .find_session(id)
        .await
        .unwrap_or_else(|e| panic!("find_session({id}) failed: {e}"))
}

/// A created session is found by id with every field; an id is unique; sessions of a user come
/// newest first and only theirs.
pub async fn sessions_create_find_and_list<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let older = session("s-1", "alice", T0);
    let mut newer = session("s-2", "alice", T0 + 5);
    newer.user_agent = String::new();
    let other = session("s-3", "bob", T0 + 9);
    for s in [&older, &newer, &other] {
        store
            .create_session(s)
            .await
            .expect("create_session failed");
    }
    assert_eq!(
        find(store, "s-1").await,
        Some(older.clone()),
        "every field must round-trip"
    );
    assert_eq!(find(store, "s-2").await, Some(newer.clone()));
    assert_eq!(find(store, "nope").await, None);

    let mut taken = session("s-1", "mallory", T0 + 100);
    taken.user_agent = "other".into();
    let result = store.create_session(&taken).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a second session with a used id must be Conflict, got {result:?}"
    );
    assert_eq!(
        find(store, "s-1").await,
        Some(older.clone()),
        "a refused create_session must change nothing"
    );

    let listed = store
        .sessions_of("alice")
        .await
        .expect("sessions_of failed");
    assert_eq!(
        listed,
        vec![newer, older],
        "sessions_of lists the user's sessions, newest created first"
    );
    assert_eq!(
        store
            .sessions_of("carol")
            .await
            .expect("sessions_of failed"),
        Vec::new()
    );
}

/// `touch_session` only ever raises `last_seen_at`, and ignores unknown ids.
pub async fn sessions_touch_moves_forward_only<X: Fixture>(fixture: X) {
    let store = fixture.store();
    store
        .create_session(&session("s-1", "alice", T0))
        .await
        .expect("create_session failed");
    store
        .touch_session("s-1", T0 + 60_000)
        .await
        .expect("touch failed");
    let seen = |s: Option<SessionRecord>| s.expect("session vanished").last_seen_at;
    assert_eq!(seen(find(store, "s-1").await), T0 + 60_000);
    store
        .touch_session("s-1", T0 + 1_000)
        .await
        .expect("touch failed");
    assert_eq!(
        seen(find(store, "s-1").await),
        T0 + 60_000,
        "last_seen_at must never go back"
    );
    store
        .touch_session("ghost", T0)
        .await
        .expect("touching an unknown session must not fail");
    assert_eq!(
        find(store, "ghost").await,
        None,
        "touch must not create a session"
    );
}

/// Deleting is reported once; `existing_sessions` and `delete_expired_sessions` see exactly the
/// stored ones.
pub async fn sessions_delete_and_expire<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let mut expired = session("s-old", "alice", T0);
    expired.expires_at = T0 + 10;
    let mut at_now = session("s-edge", "alice", T0);
    at_now.expires_at = T0 + 20;
    for s in [
        &expired,
        &at_now,
        &session("s-live", "alice", T0),
        &session("s-bob", "bob", T0),
    ] {
        store
            .create_session(s)
            .await
            .expect("create_session failed");
    }
    assert!(store.delete_session("s-live").await.expect("delete failed"));
    assert!(
        !store.delete_session("s-live").await.expect("delete failed"),
        "a second delete of the same session must report false"
    );
    assert_eq!(find(store, "s-live").await, None);

    let ids: Vec<String> = ["s-old", "s-live", "s-bob", "ghost"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut existing = store
        .existing_sessions(&ids)
        .await
        .expect("existing_sessions failed");
    existing.sort();
    assert_eq!(existing, vec!["s-bob".to_owned(), "s-old".to_owned()]);
    assert_eq!(
        store.existing_sessions(&[]).await.expect("empty"),
        Vec::<String>::new()
    );

    let removed = store
        .delete_expired_sessions("alice", T0 + 20)
        .await
        .expect("delete_expired_sessions failed");
    assert_eq!(removed, 2, "expired at or before now");
    assert_eq!(find(store, "s-old").await, None);
    assert_eq!(find(store, "s-edge").await, None);
    assert!(
        find(store, "s-bob").await.is_some(),
        "another user's sessions stay"
    );
}

/// Of many tasks deleting the same session at once, exactly one reports it.
pub async fn race_delete_session<X: Fixture>(fixture: X) {
    fixture
        .store()
        .create_session(&session("s-1", "alice", T0))
        .await
        .expect("create_session failed");
    let fixture = Arc::new(fixture);
    let results = race(&fixture, 16, |f, _| async move {
        f.store()
            .delete_session("s-1")
            .await
            .expect("delete failed")
    })
    .await;
    assert_eq!(
        results.iter().filter(|deleted| **deleted).count(),
        1,
        "exactly one delete must win: {results:?}"
    );
}
