//! The SQLite backend on real database files: the storage conformance suite, then what only
//! SQLite has (migrations, WAL, reopening, rows damaged behind the store's back).
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

use std::path::Path;

use nexchat_core::conformance::support::{T0, call, msg as message, user};
use nexchat_core::protocol::rest::{
    AccountDeleteRequest, LoginRequest, PasswordChangeRequest, RegisterRequest,
};
use nexchat_core::protocol::{CallKind, CallRecord, CallStatus, MessageStatus, PublicKey};
use nexchat_core::store::{
    CallStore, FriendLink, FriendStore, Inserted, LinkStatus, MessageStore, StoreError, UserStore,
};
use nexchat_core::transport::ClientInfo;
use nexchat_core::{Chat, ChatError, Config};
use nexchat_store::SqliteStore;
use rusqlite::Connection;
use tempfile::TempDir;

/// A store on a new file in a directory of its own, removed after the store has closed.
async fn fresh() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
    (store, dir)
}

mod conformance {
    nexchat_core::conformance_tests!(super::fresh());
}

/// Everything SQLite knows about the schema, for before/after comparisons.
fn schema_of(path: &Path) -> (i64, Vec<(String, String, Option<String>)>) {
    let conn = Connection::open(path).unwrap();
    let version = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .unwrap();
    let objects = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (version, objects)
}

#[tokio::test]
async fn data_survives_reopen_and_migrations_rerun_as_noops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_user(&user("Alice")).await.unwrap();
        store.create_user(&user("bob")).await.unwrap();
        assert!(store.create_request("Alice", "bob").await.unwrap());
        store
            .insert_message(&message("m1", "Alice", "bob", T0 + 5_000))
            .await
            .unwrap();
        store
            .insert_call(&call("c1", "alice", "bob", T0))
            .await
            .unwrap();
    }
    let before = schema_of(&path);
    assert_eq!(before.0, SqliteStore::SCHEMA_VERSION);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        schema_of(&path),
        before,
        "opening an up-to-date database must not change its schema"
    );
    assert_eq!(store.find_user("alice").await.unwrap(), Some(user("Alice")));
    assert_eq!(
        store.link("bob", "Alice").await.unwrap(),
        Some(FriendLink {
            sender: "Alice".into(),
            receiver: "bob".into(),
            status: LinkStatus::Pending
        })
    );
    assert_eq!(
        store.get_message("m1").await.unwrap(),
        Some(message("m1", "Alice", "bob", T0 + 5_000))
    );
    assert_eq!(
        store.get_call("c1").await.unwrap(),
        Some(call("c1", "alice", "bob", T0))
    );
    // The writer learns the last timestamp back from the file.
    match store
        .insert_message(&message("m2", "bob", "Alice", T0))
        .await
        .unwrap()
    {
        Inserted::New(m) => assert_eq!(m.timestamp, T0 + 5_000),
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// The version 1 schema exactly as released; a database written by that release.
const V1_SCHEMA: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    public_key TEXT NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_username ON users (username);
CREATE TABLE friend_links (
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(sender, receiver)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(sender, receiver)) VIRTUAL,
    PRIMARY KEY (sender, receiver)
) STRICT;
CREATE UNIQUE INDEX friend_links_pair ON friend_links (pair_lo, pair_hi);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    iv TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    status TEXT NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(sender, receiver)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(sender, receiver)) VIRTUAL
) STRICT;
CREATE TABLE calls (
    seq INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    duration INTEGER NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(caller, callee)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(caller, callee)) VIRTUAL
) STRICT;
PRAGMA user_version = 1;
INSERT INTO users (username, password_hash, public_key, encrypted_private_key, created_at)
    VALUES ('Alice', 'h', '', '{}', 1700000000000), ('bob', 'h', '', '{}', 1700000000000);
INSERT INTO friend_links (sender, receiver, status) VALUES ('Alice', 'bob', 'accepted');
INSERT INTO messages (id, sender, receiver, ciphertext, iv, timestamp, status) VALUES
    ('m1', 'Alice', 'bob', 'Y2lwaGVy', 'aXY=', 1700000001000, 'seen'),
    ('m2', 'bob', 'Alice', 'Y2lwaGVy', 'aXY=', 1700000002000, 'sent');
INSERT INTO calls (call_id, caller, callee, kind, status, started_at, duration)
    VALUES ('c1', 'Alice', 'bob', 'voice', 'ringing', 1700000000000, 0);
";

#[tokio::test]
async fn a_version_1_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(V1_SCHEMA)
        .unwrap();

    let store = SqliteStore::open(&path).unwrap();
    let (version, objects) = schema_of(&path);
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    let names: Vec<&str> = objects.iter().map(|(_, name, _)| name.as_str()).collect();
    for index in [
        "friend_links_receiver",
        "messages_history",
        "messages_inbox",
        "calls_history",
        "calls_unfinished",
    ] {
        assert!(
            names.contains(&index),
            "index {index} missing after upgrade: {names:?}"
        );
    }

    assert!(store.are_friends("bob", "Alice").await.unwrap());
    let page = store.history("Alice", "bob", None, 10).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m2", "m1"]);
    assert_eq!(
        store
            .undelivered("Alice", None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        store.unfinished_calls().await.unwrap(),
        vec![CallRecord {
            caller: "Alice".into(),
            kind: CallKind::Voice,
            ..call("c1", "alice", "bob", T0)
        }]
    );
    assert!(matches!(
        store.create_user(&user("ALICE")).await,
        Err(StoreError::Conflict(_))
    ));
    match store
        .insert_message(&message("m3", "Alice", "bob", T0))
        .await
        .unwrap()
    {
        Inserted::New(m) => assert_eq!(m.timestamp, T0 + 2_000, "raised to the last stored"),
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// Accounts stored with '' for "none" by earlier versions come out of the upgrade with NULL,
/// read as `None`; what was there is kept, and the rebuilt table keeps its rules (unique names
/// in any letter case, erasure).
#[tokio::test]
async fn empty_strings_of_older_accounts_become_null() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "{V1_SCHEMA}
             INSERT INTO users (username, password_hash, public_key, encrypted_private_key,
                                created_at)
                 VALUES ('Bot', '', '', '', 1700000000000),
                        ('keyed', 'h2', '{{\"k\":1}}', '{{\"v\":1}}', 1700000000000);"
        ))
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(schema_of(&path).0, SqliteStore::SCHEMA_VERSION);

    let bot = store.find_user("bot").await.unwrap().expect("bot");
    assert_eq!(
        (bot.password_hash, bot.public_key, bot.encrypted_private_key),
        (None, None, None)
    );
    let alice = store.find_user("alice").await.unwrap().expect("alice");
    assert_eq!(alice.password_hash.as_deref(), Some("h"));
    assert_eq!(alice.public_key, None, "'' was no key");
    assert_eq!(alice.encrypted_private_key.as_deref(), Some("{}"));
    let keyed = store.find_user("keyed").await.unwrap().expect("keyed");
    assert_eq!(keyed.public_key.as_deref(), Some(r#"{"k":1}"#));
    assert_eq!(keyed.encrypted_private_key.as_deref(), Some(r#"{"v":1}"#));

    let conn = Connection::open(&path).unwrap();
    let empty: i64 = conn
        .query_row(
            "SELECT count(*) FROM users
             WHERE password_hash = '' OR public_key = '' OR encrypted_private_key = ''",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(empty, 0, "no '' is left");
    assert!(matches!(
        store.create_user(&user("BOT")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.mark_erasing("Bot").await.unwrap());
    assert_eq!(store.erasing_users().await.unwrap(), ["Bot"]);
}

/// "Seen" without ids finds what is not seen yet from a floor per sender and receiver that
/// the upgrade computes from the rows already stored (and the store keeps afterwards).
#[tokio::test]
async fn messages_stored_before_the_upgrade_can_be_seen_without_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "{V1_SCHEMA}
             INSERT INTO messages (id, sender, receiver, ciphertext, iv, timestamp, status) VALUES
                 ('m3', 'bob', 'Alice', 'Y2lwaGVy', 'aXY=', 1700000003000, 'seen'),
                 ('m4', 'bob', 'Alice', 'Y2lwaGVy', 'aXY=', 1700000004000, 'delivered'),
                 ('m5', 'Alice', 'bob', 'Y2lwaGVy', 'aXY=', 1700000005000, 'delivered');"
        ))
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();

    let seen = |sender: &'static str, receiver: &'static str| {
        let store = &store;
        async move {
            store
                .advance_status(sender, receiver, None, MessageStatus::Seen)
                .await
                .unwrap()
        }
    };
    assert_eq!(seen("bob", "Alice").await, ["m2", "m4"]);
    assert!(seen("bob", "Alice").await.is_empty());
    // The other direction kept its own floor.
    assert_eq!(seen("Alice", "bob").await, ["m5"]);
    // A message after "seen all" starts a new floor.
    store
        .insert_message(&message("m6", "bob", "Alice", T0))
        .await
        .unwrap();
    assert_eq!(seen("bob", "Alice").await, ["m6"]);
    assert!(seen("bob", "Alice").await.is_empty());
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Backend { context, .. }) => assert!(context.contains("99"), "{context}"),
        other => panic!("opening a schema from the future must fail, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    match SqliteStore::open(&path) {
        Err(err @ StoreError::Backend { .. }) => {
            let driver = std::error::Error::source(&err).and_then(|e| e.downcast_ref());
            assert!(
                matches!(driver, Some(rusqlite::Error::SqliteFailure(..))),
                "the driver's error must be the source: {err:?}"
            );
        }
        other => panic!("opening a file that is not a database must fail, got {other:?}"),
    }
}

#[tokio::test]
async fn the_database_is_in_wal_mode() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let conn = Connection::open(store.path()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(store.path().with_extension("db-wal").exists());
}

/// Messages, password hashes and key backups are not readable by other local users: the
/// database and the WAL and shared-memory files beside it are created 0600.
#[cfg(unix)]
#[tokio::test]
async fn the_database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    for suffix in ["db", "db-wal", "db-shm"] {
        let path = store.path().with_extension(suffix);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
    }
}

fn assert_corrupt<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    table: &str,
    id: &str,
    what: &str,
) {
    match result {
        Err(StoreError::Corrupt {
            collection,
            id: got,
            detail,
        }) => {
            assert_eq!(collection, table);
            assert_eq!(got, id);
            assert!(
                detail.contains(what),
                "detail {detail:?} should name {what}"
            );
        }
        other => panic!("expected a corrupt {table} row {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn rows_of_the_wrong_shape_are_corrupt_errors() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store.create_user(&user("bob")).await.unwrap();
    store
        .insert_message(&message("good", "alice", "bob", T0))
        .await
        .unwrap();

    // Damage rows behind the store's back, through a connection of our own.
    let conn = Connection::open(store.path()).unwrap();
    conn.execute_batch(
        "INSERT INTO messages (id, sender, receiver, ciphertext, iv, timestamp, status)
             VALUES ('bad-msg', 'alice', 'bob', 'x', 'y', 1700000000000, 'lost');
         INSERT INTO friend_links (sender, receiver, status) VALUES ('alice', 'bob', 'maybe');
         INSERT INTO calls (call_id, caller, callee, kind, status, started_at, duration)
             VALUES ('bad-kind', 'alice', 'bob', 'hologram', 'ringing', 1700000000000, 0),
                    ('bad-duration', 'alice', 'bob', 'voice', 'missed', 1700000000000, -5);",
    )
    .unwrap();
    drop(conn);

    assert_corrupt(
        store.get_message("bad-msg").await,
        "messages",
        "bad-msg",
        "status",
    );
    assert_corrupt(
        store.history("alice", "bob", None, 10).await,
        "messages",
        "bad-msg",
        "lost",
    );
    assert_corrupt(
        store
            .insert_message(&message("bad-msg", "alice", "bob", T0))
            .await,
        "messages",
        "bad-msg",
        "status",
    );
    assert_corrupt(
        store.link("bob", "alice").await,
        "friend_links",
        "alice->bob",
        "maybe",
    );
    assert_corrupt(
        store.links_of("alice").await,
        "friend_links",
        "alice->bob",
        "status",
    );
    assert_corrupt(
        store.create_request("bob", "alice").await,
        "friend_links",
        "alice->bob",
        "status",
    );
    assert_corrupt(
        store.get_call("bad-kind").await,
        "calls",
        "bad-kind",
        "hologram",
    );
    assert_corrupt(
        store.get_call("bad-duration").await,
        "calls",
        "bad-duration",
        "duration",
    );
    assert_corrupt(store.unfinished_calls().await, "calls", "bad-kind", "kind");

    // The damage stays local: the rest of the store works.
    assert!(store.get_message("good").await.unwrap().is_some());
    let page = store
        .history("alice", "bob", Some("bad-msg"), 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    store.create_user(&user("carol")).await.unwrap();
    assert!(store.create_request("carol", "bob").await.unwrap());
}

/// Versions 2 and 3 exactly as released: on top of [`V1_SCHEMA`], the schema of the release
/// before accounts had `kdf` parameters and erasure (commit a4047d1).
const V2_V3_SCHEMA: &str = "
CREATE INDEX friend_links_receiver ON friend_links (receiver);
CREATE INDEX messages_history ON messages (pair_lo, pair_hi, seq);
CREATE INDEX messages_inbox ON messages (receiver, status, sender);
CREATE INDEX calls_history ON calls (pair_lo, pair_hi, seq);
CREATE INDEX calls_unfinished ON calls (status) WHERE status IN ('ringing', 'in_progress');
DROP INDEX messages_inbox;
CREATE INDEX messages_inbox ON messages (receiver) WHERE status = 'sent';
CREATE TABLE unseen_since (
    receiver TEXT NOT NULL,
    sender TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (receiver, sender)
) STRICT, WITHOUT ROWID;
INSERT INTO unseen_since (receiver, sender, seq)
    SELECT receiver, sender, min(seq) FROM messages WHERE status <> 'seen'
    GROUP BY receiver, sender;
PRAGMA user_version = 3;
";

const PASSWORD: &str = "correct horse";

fn chat_config() -> Config {
    let mut config =
        Config::new("test secret that is long enough for HS256 keys").expect("long enough");
    config.bcrypt_cost = 4;
    config
}

/// A password hash as every release writes it (bcrypt over the SHA-256 pre-hash), of
/// [`PASSWORD`], made by registering on a scratch database.
async fn hash_of_password(dir: &Path) -> String {
    let path = dir.join("scratch.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        let chat = Chat::builder(chat_config(), store).build().await.unwrap();
        chat.register(
            RegisterRequest {
                username: "scratch".into(),
                password: PASSWORD.into(),
                public_key: PublicKey::from_json(r#"{"kty":"EC","crv":"P-256","x":"x","y":"y"}"#)
                    .unwrap(),
                encrypted_private_key: serde_json::json!({}),
                kdf: None,
            },
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    }
    Connection::open(&path)
        .unwrap()
        .query_row("SELECT password_hash FROM users", [], |row| row.get(0))
        .unwrap()
}

/// A database the previous release wrote (schema version 3) opens: the v1 account logs in, its
/// friends and messages are intact, and it moves to v1.1 and can be erased.
#[tokio::test]
async fn a_database_of_the_previous_schema_opens_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let hash = hash_of_password(dir.path()).await;
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(&format!("{V1_SCHEMA}{V2_V3_SCHEMA}"))
        .unwrap();
    conn.execute(
        "UPDATE users SET password_hash = ?1, public_key = ?2",
        [&hash, r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#],
    )
    .unwrap();
    drop(conn);

    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(schema_of(&path).0, SqliteStore::SCHEMA_VERSION);
        let alice = store.find_user("alice").await.unwrap().unwrap();
        assert_eq!((alice.username.as_str(), alice.kdf), ("Alice", None));
        assert!(store.are_friends("bob", "Alice").await.unwrap());
        let page = store.history("Alice", "bob", None, 10).await.unwrap();
        let ids: Vec<&str> = page.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["m2", "m1"]);
        assert_eq!(
            store.search_users("", "", 10).await.unwrap(),
            ["Alice", "bob"]
        );
        // The conversation lists are filled from the messages already stored.
        for (user, other, unread) in [("Alice", "bob", 1), ("bob", "Alice", 0)] {
            let page = store.conversations(user, None, 10).await.unwrap();
            let entries: Vec<(&str, &str, u64)> = page
                .items
                .iter()
                .map(|c| (c.with_user.as_str(), c.last_message.id.as_str(), c.unread))
                .collect();
            assert_eq!(entries, [(other, "m2", unread)], "{user}'s list");
        }
        // A call stored before calls had an end reason reads without one.
        let c1 = store.get_call("c1").await.unwrap().unwrap();
        assert_eq!((c1.status, c1.end_reason), (CallStatus::Ringing, None));
    }

    let store = SqliteStore::open(&path).unwrap();
    let chat = Chat::builder(chat_config(), store).build().await.unwrap();
    let login = |name: &str, password: &str| LoginRequest {
        username: name.into(),
        password: password.into(),
    };
    let session = chat
        .login(login("alice", PASSWORD), &ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(session.username, "Alice");
    assert_eq!(chat.auth_params("ALICE").await.unwrap().kdf, None);

    let kdf = serde_json::json!({"alg": "argon2id", "v": 19, "m": 65536, "t": 3, "p": 1,
                                 "salt": "AAECAwQFBgcICQoLDA0ODw=="});
    chat.change_password(
        "Alice",
        PasswordChangeRequest {
            current_password: PASSWORD.into(),
            new_password: "an auth key derived from it".into(),
            kdf: kdf.clone(),
            encrypted_private_key: serde_json::json!({"v": 2}),
        },
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    assert_eq!(chat.auth_params("alice").await.unwrap().kdf, Some(kdf));
    assert_eq!(
        chat.login(login("alice", PASSWORD), &ClientInfo::default())
            .await
            .unwrap_err(),
        ChatError::Unauthorized
    );
    chat.login(
        login("alice", "an auth key derived from it"),
        &ClientInfo::default(),
    )
    .await
    .unwrap();

    chat.delete_account(
        "bob",
        AccountDeleteRequest {
            password: PASSWORD.into(),
        },
        &ClientInfo::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        chat.login(login("bob", PASSWORD), &ClientInfo::default())
            .await
            .unwrap_err(),
        ChatError::Unauthorized
    );
    drop(chat);
    let store = SqliteStore::open(&path).unwrap();
    assert!(!store.are_friends("Alice", "bob").await.unwrap());
    assert!(
        store
            .history("Alice", "bob", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        store.create_user(&user("BOB")).await,
        Err(StoreError::Conflict(_))
    ));
}
