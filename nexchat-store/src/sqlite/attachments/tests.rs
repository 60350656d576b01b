//! What only this backend has: the upgrade from version 10, the `named` flag the collector's
//! index relies on, and damaged rows. Each statement's plan is checked with the groups' in
//! `groups/tests.rs` (`every_query_uses_its_index`).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use nexchat_core::conformance::support::{T0, to_bob, upload};
use nexchat_core::protocol::{GroupMessage, MessageStatus};
use nexchat_core::store::{
    AttachmentRef, AttachmentStore, GroupInserted, GroupStore, MessageStore, Reserved,
};
use rusqlite::Connection;

use crate::sqlite::tests::expect_corrupt;

use crate::sqlite::{SqliteStore, schema};

/// Reserves and finishes `id` for alice.
async fn stored(store: &SqliteStore, id: &str, size: u64, created_at: i64) {
    let reserved = store
        .reserve_attachment(&upload(id, "alice", size, created_at), 1 << 30)
        .await
        .unwrap();
    assert_eq!(reserved, Reserved::Reserved);
    assert!(store.finish_attachment(id, size).await.unwrap());
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

fn objects_named(path: &Path, pattern: &str) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE name LIKE ?1 ORDER BY name")
        .unwrap();
    stmt.query_map([pattern], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A database of version 10 (direct and group messages, no attachments) gains the attachment
/// tables and their indexes and keeps what it had; attachments work on it at once.
#[tokio::test]
async fn a_version_10_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = schema::open_writer(&path).unwrap();
        schema::migrate_to(&mut conn, 10).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, sender, receiver, ciphertext, iv, timestamp, status)
                 VALUES ('m1', 'alice', 'bob', 'Y2lwaGVy', 'aXY=', 1700000009000, 'sent');
             INSERT INTO groups (id, created_at) VALUES ('g1', 1700000000000);
             INSERT INTO group_members (group_id, username, role, joined_at, seq)
                 VALUES ('g1', 'alice', 'admin', 1700000000000, 1);
             INSERT INTO group_messages
                 (id, group_id, sender, ciphertext, iv, timestamp, status)
                 VALUES ('gm1', 'g1', 'alice', 'Z3JvdXA=', 'aXY=', 1700000009000, 0);",
        )
        .unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 10);
        assert!(objects_named(&path, "attachment%").is_empty());
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(SqliteStore::SCHEMA_VERSION, 11);
    assert_eq!(count(&path, "PRAGMA user_version"), 11);
    assert_eq!(
        objects_named(&path, "attachment%"),
        [
            "attachment_refs",
            "attachments",
            "attachments_collecting",
            "attachments_owner",
            "attachments_unnamed",
        ]
    );
    assert!(store.get_message("m1").await.unwrap().is_some());
    assert!(store.get_group_message("gm1").await.unwrap().is_some());

    stored(&store, "a1", 10, T0).await;
    assert!(
        store
            .reference_attachments("alice", &["a1".into()], &to_bob("m1"))
            .await
            .unwrap()
    );
    assert_eq!(store.attachment_refs("a1").await.unwrap(), [to_bob("m1")]);
    assert_eq!(store.attachment_usage("alice").await.unwrap(), 10);
    // Group messages go on as before, with an attachment named in one.
    let sent = store
        .insert_group_message(&GroupMessage {
            id: "gm2".to_owned(),
            group: "g1".to_owned(),
            sender: "alice".to_owned(),
            to: None,
            key_id: Some("k1".to_owned()),
            ciphertext: "Z3JvdXA=".to_owned(),
            iv: "aXY=".to_owned(),
            timestamp: T0,
            status: MessageStatus::Sent,
        })
        .await
        .unwrap();
    assert!(matches!(sent, GroupInserted::New { .. }), "{sent:?}");
    let in_group = AttachmentRef::Group {
        message: "gm2".to_owned(),
        group: "g1".to_owned(),
    };
    assert!(
        store
            .reference_attachments("alice", &["a1".into()], &in_group)
            .await
            .unwrap()
    );
    assert_eq!(store.attachment_refs("a1").await.unwrap().len(), 2);
    assert!(store.group("g1").await.unwrap().is_some());
}

/// `named` follows the references, and with it the collector's partial index: a named
/// attachment is neither listed nor claimed however old it is, and forgetting an attachment
/// leaves no reference behind.
#[tokio::test]
async fn named_attachments_leave_the_collectors_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).unwrap();
    for i in 0..20 {
        stored(&store, &format!("named{i}"), 1, T0 + i).await;
    }
    let named: Vec<String> = (0..20).map(|i| format!("named{i}")).collect();
    // Listed twice: one reference per message all the same.
    let twice: Vec<String> = named.iter().chain(&named).cloned().collect();
    assert!(
        store
            .reference_attachments("alice", &twice, &to_bob("m1"))
            .await
            .unwrap()
    );
    stored(&store, "unnamed", 1, T0 + 100).await;
    let unnamed_index = "SELECT count(*) FROM attachments INDEXED BY attachments_unnamed
         WHERE named = 0 AND state <> 'collecting' AND created_at < 1800000000000";
    assert_eq!(count(&path, unnamed_index), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM attachment_refs"), 20);
    assert_eq!(
        store.collectable_attachments(T0 + 1000, 1).await.unwrap(),
        ["unnamed"],
        "the old named ones do not take the batch"
    );
    assert!(!store.claim_attachment("named0", T0 + 1000).await.unwrap());
    assert!(store.claim_attachment("unnamed", T0 + 1000).await.unwrap());
    assert_eq!(
        count(&path, unnamed_index),
        0,
        "claimed: in the other index"
    );
    assert_eq!(
        store.collectable_attachments(T0, 10).await.unwrap(),
        ["unnamed"]
    );
    for id in named.iter().take(5) {
        store.forget_attachment(id).await.unwrap();
    }
    assert_eq!(count(&path, "SELECT count(*) FROM attachment_refs"), 15);
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM attachment_refs
             WHERE attachment NOT IN (SELECT id FROM attachments)"
        ),
        0,
        "no reference outlives its attachment"
    );
}

/// Rows damaged behind the store's back (past the CHECK constraints) are `Corrupt` errors
/// naming the row, not panics.
#[tokio::test]
async fn damaged_attachment_rows_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).unwrap();
    stored(&store, "a1", 10, T0).await;
    stored(&store, "a2", 10, T0).await;
    assert!(
        store
            .reference_attachments("alice", &["a1".into()], &to_bob("m1"))
            .await
            .unwrap()
    );
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE attachments SET state = 'lost' WHERE id = 'a1';
             UPDATE attachments SET size = -3 WHERE id = 'a2';
             UPDATE attachment_refs SET kind = 'broadcast' WHERE attachment = 'a1';",
        )
        .unwrap();
    expect_corrupt(
        store.attachment("a1").await.unwrap_err(),
        "attachments",
        "a1",
        "lost",
    );
    expect_corrupt(
        store.attachment("a2").await.unwrap_err(),
        "attachments",
        "a2",
        "size",
    );
    expect_corrupt(
        store.attachment_refs("a1").await.unwrap_err(),
        "attachment_refs",
        "a1",
        "broadcast",
    );
}
