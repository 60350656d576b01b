//! Checks of what unlocks an account: `kdf` round trips and the conditional replacement of the
//! password hash, `kdf` and key backup.

use std::sync::Arc;

use super::Fixture;
use super::support::{create_users, race, user};
use crate::store::{Credentials, UserStore};

const KDF: &str =
    r#"{"alg":"argon2id","m":65536,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","t":3,"v":19}"#;

fn credentials(tag: &str, kdf: Option<&str>) -> Credentials {
    Credentials {
        password_hash: format!("$2b$12$new-hash-{tag}"),
        kdf: kdf.map(str::to_owned),
        encrypted_private_key: format!(r#"{{"rewrapped":"{tag}"}}"#),
    }
}

/// A user's `kdf` round-trips as given, `None` included, beside every other field.
pub async fn users_kdf_round_trips<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let mut modern = user("Modern");
    modern.kdf = Some(KDF.to_owned());
    store
        .create_user(&modern)
        .await
        .expect("create_user failed");
    create_users(store, &["legacy"]).await;
    assert_eq!(
        store.find_user("MODERN").await.expect("find_user failed"),
        Some(modern),
        "a user's kdf must come back as stored"
    );
    assert_eq!(
        store.find_user("legacy").await.expect("find_user failed"),
        Some(user("legacy")),
        "a user created without kdf must come back with None"
    );
}

/// `replace_credentials` replaces hash, `kdf` and backup together, only from the expected hash,
/// only for its user, and never touches the public key.
pub async fn users_replace_credentials_is_conditional<X: Fixture>(fixture: X) {
    let store = fixture.store();
    let mut alice = user("Alice");
    alice.public_key = Some(r#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#.to_owned());
    store.create_user(&alice).await.expect("create_user failed");
    create_users(store, &["bob"]).await;

    let stale = store
        .replace_credentials("Alice", "$2b$12$not-her-hash", &credentials("x", Some(KDF)))
        .await
        .expect("replace_credentials failed");
    assert!(!stale, "a wrong expected hash must not replace anything");
    assert_eq!(
        store.find_user("alice").await.expect("find_user failed"),
        Some(alice.clone()),
        "a refused replace_credentials must change nothing"
    );

    let new = credentials("1", Some(KDF));
    let replaced = store
        .replace_credentials(
            "alice",
            alice.password_hash.as_deref().expect("a hash"),
            &new,
        )
        .await
        .expect("replace_credentials failed");
    assert!(replaced, "the expected hash must let the change through");
    let expected = crate::store::UserRecord {
        password_hash: Some(new.password_hash.clone()),
        kdf: new.kdf.clone(),
        encrypted_private_key: Some(new.encrypted_private_key.clone()),
        ..alice.clone()
    };
    assert_eq!(
        store.find_user("Alice").await.expect("find_user failed"),
        Some(expected),
        "hash, kdf and backup must be replaced together; name, public key, time kept"
    );
    let again = store
        .replace_credentials(
            "Alice",
            alice.password_hash.as_deref().expect("a hash"),
            &credentials("2", None),
        )
        .await
        .expect("replace_credentials failed");
    assert!(!again, "the old hash no longer matches after a change");

    let back = credentials("3", None);
    assert!(
        store
            .replace_credentials("Alice", &new.password_hash, &back)
            .await
            .expect("replace_credentials failed"),
        "a change from the current hash must pass"
    );
    let found = store.find_user("alice").await.expect("find_user failed");
    assert_eq!(
        found.and_then(|u| u.kdf),
        None,
        "a kdf of None must replace a stored one"
    );
    assert_eq!(
        store.find_user("bob").await.expect("find_user failed"),
        Some(user("bob")),
        "replace_credentials must touch only its user"
    );
    let ghost = store
        .replace_credentials("ghost", "", &credentials("4", None))
        .await
        .expect("replace_credentials failed");
    assert!(!ghost, "an unknown user has nothing to replace");
    assert_eq!(
        store.find_user("ghost").await.expect("find_user failed"),
        None
    );
}

/// Many password changes from the same current hash at once: exactly one wins, and the stored
/// credentials are the winner's, whole.
pub async fn race_replace_credentials<X: Fixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    create_users(fixture.store(), &["alice"]).await;
    let current = user("alice").password_hash.expect("a hash");
    let results = race(&fixture, 16, |fx, i| {
        let current = current.clone();
        async move {
            let new = credentials(&i.to_string(), (i % 2 == 0).then_some(KDF));
            let won = fx
                .store()
                .replace_credentials("alice", &current, &new)
                .await
                .expect("replace_credentials failed");
            (new, won)
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter(|(_, won)| *won).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one of the racing password changes must win"
    );
    let stored = fixture
        .store()
        .find_user("alice")
        .await
        .expect("find_user failed")
        .expect("alice vanished");
    let winner = &winners[0].0;
    assert_eq!(
        (
            stored.password_hash.as_deref(),
            &stored.kdf,
            stored.encrypted_private_key.as_deref()
        ),
        (
            Some(winner.password_hash.as_str()),
            &winner.kdf,
            Some(winner.encrypted_private_key.as_str())
        ),
        "the stored credentials must be the winner's, all three together"
    );
}
