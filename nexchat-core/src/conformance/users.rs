//! Checks of [`crate::store::UserStore`].

use super::Fixture;
use super::support::{create_users, strings, user};
use crate::store::{StoreError, UserStore};

/// A created user is found by its name in any letter case, as registered, with every field.
pub async fn users_create_and_find<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let mut alice = user("Alice");
    alice.public_key = Some(r#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#.to_owned());
    store.create_user(&alice).await.expect("create_user failed");
    // An account an app's identity provisioned: no password, key or backup.
    let mut bot = user("bot_7.x-y");
    bot.password_hash = None;
    bot.encrypted_private_key = None;
    store.create_user(&bot).await.expect("create_user failed");

    for name in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(
            store.find_user(name).await.expect("find_user failed"),
            Some(alice.clone()),
            "find_user({name:?}) must find the user registered as \"Alice\", as registered"
        );
    }
    assert_eq!(
        store
            .find_user("BOT_7.X-Y")
            .await
            .expect("find_user failed"),
        Some(bot),
        "every field of a user must round-trip, None as None"
    );
    let found = store.find_user("alice").await.expect("find_user failed");
    assert_eq!(
        found.and_then(|u| u.public_key),
        alice.public_key,
        "a public key must round-trip as Some"
    );
    assert_eq!(
        store.find_user("alic").await.expect("find_user failed"),
        None
    );
    assert_eq!(
        store.find_user("nobody").await.expect("find_user failed"),
        None
    );
}

/// A name is taken in every letter case; the refused attempt changes nothing.
pub async fn users_unique_names_any_case<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let first = user("Alice");
    store.create_user(&first).await.expect("create_user failed");
    for name in ["Alice", "alice", "ALICE"] {
        let mut second = user(name);
        second.password_hash = Some("other".to_owned());
        let result = store.create_user(&second).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "create_user({name:?}) after \"Alice\" must be Conflict, got {result:?}"
        );
    }
    assert_eq!(
        store.find_user("alice").await.expect("find_user failed"),
        Some(first),
        "a refused create_user must not change the existing user"
    );
}

/// `set_public_key` replaces the key and nothing else, and never creates a user.
pub async fn users_set_public_key<X: Fixture>(fixture: X) {
    let store = fixture.store();
    create_users(store, &["Alice", "bob"]).await;
    let key = r#"{"crv":"P-256","kty":"EC","x":"XX","y":"YY"}"#;
    store
        .set_public_key("Alice", key)
        .await
        .expect("set_public_key failed");
    let mut expected = user("Alice");
    expected.public_key = Some(key.to_owned());
    assert_eq!(
        store.find_user("alice").await.expect("find_user failed"),
        Some(expected)
    );
    let key2 = r#"{"crv":"P-256","kty":"EC","x":"X2","y":"Y2"}"#;
    store
        .set_public_key("Alice", key2)
        .await
        .expect("set_public_key failed");
    let found = store.find_user("Alice").await.expect("find_user failed");
    assert_eq!(found.and_then(|u| u.public_key), Some(key2.to_owned()));
    assert_eq!(
        store.find_user("bob").await.expect("find_user failed"),
        Some(user("bob")),
        "set_public_key must touch only its user"
    );
    // Unspecified whether this is an error, but it must not create anyone.
    let _ = store.set_public_key("ghost", key).await;
    assert_eq!(
        store.find_user("ghost").await.expect("find_user failed"),
        None,
        "set_public_key of an unknown user must not create it"
    );
}

/// Prefix match ignoring case (with `_` and `.` literal, not wildcards), the excluded name left
/// out in any case, sorted by the ASCII-lowercased name, at most `limit`.
pub async fn users_search<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let names = [
        "alice", "Alfred", "ALBERT", "al_x", "alx", "Al.b", "al-c", "bob", "Bo", "xal",
    ];
    create_users(store, &names).await;
    let search = |prefix: &'static str, exclude: &'static str, limit: usize| async move {
        store
            .search_users(prefix, exclude, limit)
            .await
            .unwrap_or_else(|e| panic!("search_users({prefix:?}) failed: {e}"))
    };
    let all_al = strings(&["al-c", "Al.b", "al_x", "ALBERT", "Alfred", "alice", "alx"]);
    assert_eq!(
        search("al", "", 20).await,
        all_al,
        "search_users(\"al\") must list every name starting with al in any case, sorted by lowercased name"
    );
    assert_eq!(
        search("AL", "", 20).await,
        all_al,
        "the prefix must match in any case"
    );
    assert_eq!(
        search("al", "", 3).await,
        all_al[..3].to_vec(),
        "at most `limit` names, the first ones in order"
    );
    assert_eq!(
        search("al", "ALICE", 20).await,
        strings(&["al-c", "Al.b", "al_x", "ALBERT", "Alfred", "alx"]),
        "the excluded name must be left out, matched in any case"
    );
    assert_eq!(
        search("al_", "", 20).await,
        strings(&["al_x"]),
        "_ in a prefix is a literal character, not a wildcard"
    );
    assert_eq!(search("al.", "", 20).await, strings(&["Al.b"]));
    assert_eq!(search("bo", "", 20).await, strings(&["Bo", "bob"]));
    assert_eq!(search("BOB", "bob", 20).await, Vec::<String>::new());
    assert_eq!(search("alicex", "", 20).await, Vec::<String>::new());
    assert_eq!(search("zz", "", 20).await, Vec::<String>::new());
}
