//! What only this backend has: each query's plan (the attachments' too), the upgrade from
//! version 9, erasure in chunks, and the last group timestamp read back on opening.
#![allow(clippy::unwrap_used)]

use nexchat_core::conformance::support::T0;
use nexchat_core::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus};
use nexchat_core::store::{
    GroupInserted, GroupLimits, GroupRecord, GroupStore, Inserted, MessageStore,
};
use rusqlite::Connection;

use crate::sqlite::tests::expect_corrupt;

use super::{members as m, messages as g};
use crate::sqlite::{SqliteStore, attachments as a, schema};

/// Every group and attachment query, with (parts of) the lines of its plan that name the
/// indexes it must use: each read of a member's messages goes down its group's messages and
/// looks each receipt up by primary key; the collector reads only the two partial indexes of
/// attachments that are on their way out.
const PLANS: &[(&str, &[&str])] = &[
    (m::GROUP, &["PRIMARY KEY"]),
    (m::GROUP_EXISTS, &["PRIMARY KEY"]),
    (m::MEMBERS, &["group_members_order"]),
    (m::GROUPS_OF, &["group_members_user"]),
    (m::GROUPS_COUNT, &["group_members_user"]),
    (m::MEMBERS_COUNT, &["group_members_order"]),
    (m::ROLE_OF, &["PRIMARY KEY"]),
    (m::ADD_MEMBER, &["group_members_order"]),
    (m::ADMINS_COUNT, &["PRIMARY KEY"]),
    (m::SET_ROLE, &["PRIMARY KEY"]),
    (m::DELETE_MEMBER, &["PRIMARY KEY"]),
    (
        m::HOLDING_BACK,
        &[
            "group_messages_group (group_id=? AND rowid>?)",
            "r USING PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (
        m::DELETE_MEMBER_RECEIPTS,
        &[
            "group_messages_group (group_id=? AND rowid>?)",
            "PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (m::PROMOTE, &["group_members_order"]),
    (
        m::DELETE_GROUP_RECEIPTS,
        &[
            "group_messages_group (group_id=?)",
            "group_receipts USING PRIMARY KEY (message=?)",
        ],
    ),
    (m::DELETE_GROUP_MESSAGES, &["group_messages_group"]),
    (m::DELETE_GROUP, &["PRIMARY KEY"]),
    (m::SET_DETAILS, &["PRIMARY KEY"]),
    (g::GET, &["sqlite_autoindex_group_messages"]),
    (g::IS_MEMBER, &["PRIMARY KEY"]),
    (g::RECIPIENTS, &["group_members_order"]),
    (
        g::MARK_CHAT,
        &["group_members USING PRIMARY KEY (group_id=?)"],
    ),
    (
        g::MARK_KEY,
        &["group_members USING PRIMARY KEY (group_id=? AND username=?)"],
    ),
    (g::BOUNDS, &["PRIMARY KEY (group_id=? AND username=?)"]),
    (
        g::ADVANCE_ALL,
        &[
            "group_messages_group (group_id=? AND rowid>?)",
            "PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (g::ADVANCE_IDS, &["PRIMARY KEY (message=? AND member=?)"]),
    (
        g::NEXT_BELOW,
        &[
            "m USING COVERING INDEX group_messages_group (group_id=? AND rowid>?)",
            "r USING PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (g::SET_BOUNDS, &["PRIMARY KEY (group_id=? AND username=?)"]),
    (g::IDS_OF, &["INTEGER PRIMARY KEY (rowid=?)"]),
    (g::SETTLE, &["INTEGER PRIMARY KEY (rowid=?)"]),
    (g::RECEIPTS, &["r USING PRIMARY KEY (message=?)"]),
    (g::HISTORY_FROM, &["PRIMARY KEY (message=? AND member=?)"]),
    (
        g::HISTORY,
        &[
            "m USING INDEX group_messages_group (group_id=? AND rowid>? AND rowid<?)",
            "r USING PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (g::SEQ_OF, &["sqlite_autoindex_group_messages"]),
    (g::BACKLOG_GROUPS, &["group_members_user (username=?)"]),
    (
        g::BACKLOG,
        &[
            "m USING INDEX group_messages_group (group_id=? AND rowid>?)",
            "r USING PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (g::MEMBERSHIPS, &["group_members_user (username=?)"]),
    (
        g::LAST_CHAT,
        &[
            "m USING INDEX group_messages_group (group_id=? AND rowid>?)",
            "r USING PRIMARY KEY (message=? AND member=?)",
        ],
    ),
    (
        g::ERASE_UNREAD,
        &[
            "m USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)",
            "r USING PRIMARY KEY (message=?)",
        ],
    ),
    (g::DROP_UNREAD, &["PRIMARY KEY (group_id=? AND username=?)"]),
    (g::ERASE_RECEIPTS, &["INTEGER PRIMARY KEY"]),
    (g::ERASE_MESSAGES, &["INTEGER PRIMARY KEY"]),
    (a::RECORD, &["attachments USING PRIMARY KEY (id=?)"]),
    (a::EXISTS, &["attachments USING PRIMARY KEY (id=?)"]),
    (a::USAGE, &["COVERING INDEX attachments_owner (owner=?)"]),
    (a::INSERT, &[]),
    (a::FINISH, &["attachments USING PRIMARY KEY (id=?)"]),
    (
        a::NAMEABLE,
        &["SCAN json_each", "attachments USING PRIMARY KEY (id=?)"],
    ),
    (a::ADD_REFS, &["SCAN json_each"]),
    (a::MARK_NAMED, &["attachments USING PRIMARY KEY (id=?)"]),
    (
        a::REFS,
        &["attachment_refs USING PRIMARY KEY (attachment=?)"],
    ),
    (a::OF_OWNER, &["COVERING INDEX attachments_owner (owner=?)"]),
    (
        a::COLLECTABLE,
        &[
            "attachments_collecting (state=?)",
            "attachments_unnamed (created_at<?)",
        ],
    ),
    (a::CLAIM, &["attachments USING PRIMARY KEY (id=?)"]),
    (
        a::FORGET_REFS,
        &["attachment_refs USING PRIMARY KEY (attachment=?)"],
    ),
    (a::FORGET, &["attachments USING PRIMARY KEY (id=?)"]),
];

fn migrated() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let n = stmt.parameter_count();
    let args: Vec<rusqlite::types::Value> = (0..n).map(|_| rusqlite::types::Value::Null).collect();
    stmt.query_map(rusqlite::params_from_iter(args), |row| {
        row.get::<_, String>(3)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Each query reads the index it was written for, and no query scans a table (only the JSON
/// lists of ids).
#[test]
fn every_query_uses_its_index() {
    let conn = migrated();
    for (sql, indexes) in PLANS {
        let lines = plan(&conn, sql);
        for index in *indexes {
            assert!(
                lines.iter().any(|line| line.contains(index)),
                "{sql}\nshould use {index}: {lines:?}"
            );
        }
        assert!(
            !lines
                .iter()
                .any(|line| line.starts_with("SCAN ") && !line.starts_with("SCAN json_each")),
            "{sql}\nscans a table: {lines:?}"
        );
    }
    // These stop after a few rows of the group's messages only if they read them in order.
    for sql in [g::HISTORY, g::BACKLOG, g::LAST_CHAT, g::NEXT_BELOW] {
        let lines = plan(&conn, sql);
        assert!(
            !lines.iter().any(|line| line.contains("TEMP B-TREE")),
            "{sql}\nsorts: {lines:?}"
        );
    }
}

const ROOMY: GroupLimits = GroupLimits {
    max_members: 256,
    max_groups: 100,
};

fn record(id: &str) -> GroupRecord {
    GroupRecord {
        id: id.to_owned(),
        created_at: T0,
        title: None,
        avatar: None,
    }
}

fn chat(id: &str, sender: &str, timestamp: i64) -> GroupMessage {
    GroupMessage {
        id: id.to_owned(),
        group: "g1".to_owned(),
        sender: sender.to_owned(),
        to: None,
        key_id: Some("k1".to_owned()),
        ciphertext: "Z3JvdXA=".to_owned(),
        iv: "aXY=".to_owned(),
        timestamp,
        status: MessageStatus::Sent,
    }
}

/// Group `g1` of alice (its admin) and `others`.
async fn group_of(store: &SqliteStore, others: &[&str]) {
    assert!(
        store
            .create_group(&record("g1"), "alice", 100)
            .await
            .unwrap()
    );
    for (i, name) in others.iter().enumerate() {
        let member = GroupMember {
            username: (*name).to_owned(),
            role: GroupRole::Member,
            joined_at: T0 + 1 + i64::try_from(i).unwrap(),
        };
        store.add_member("g1", &member, ROOMY).await.unwrap();
    }
}

async fn insert(store: &SqliteStore, message: &GroupMessage) -> GroupMessage {
    match store.insert_group_message(message).await.unwrap() {
        GroupInserted::New { message, .. } => message,
        other => panic!("{} must be stored, got {other:?}", message.id),
    }
}

fn count(path: &std::path::Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

/// A database of version 9 (direct messages, no groups) gains the group tables and keeps what
/// it had; groups work on it at once.
#[tokio::test]
async fn a_version_9_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = schema::open_writer(&path).unwrap();
        schema::migrate_to(&mut conn, 9).unwrap();
        conn.execute_batch(
            "INSERT INTO messages (id, sender, receiver, ciphertext, iv, timestamp, status)
             VALUES ('m1', 'alice', 'bob', 'Y2lwaGVy', 'aXY=', 1700000009000, 'sent');",
        )
        .unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 9);
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'group%'"
            ),
            0
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    let version = count(&path, "PRAGMA user_version");
    assert_eq!(version, SqliteStore::SCHEMA_VERSION);
    for table in [
        "groups",
        "group_members",
        "group_messages",
        "group_receipts",
    ] {
        assert_eq!(
            count(
                &path,
                &format!(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '{table}'"
                )
            ),
            1,
            "{table} missing after the upgrade"
        );
    }
    assert!(store.get_message("m1").await.unwrap().is_some());
    group_of(&store, &["bob"]).await;
    // The group timestamps have an order of their own, not the direct messages'.
    let stored = insert(&store, &chat("g-m1", "bob", T0)).await;
    assert_eq!(stored.timestamp, T0);
    assert_eq!(
        store
            .undelivered_group_messages("alice", None, 10)
            .await
            .unwrap()
            .items,
        [stored]
    );
}

/// The writer reads the last group message's timestamp back on opening: no message stored
/// after a restart is earlier than one stored before it.
#[tokio::test]
async fn the_last_group_timestamp_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        group_of(&store, &["bob"]).await;
        insert(&store, &chat("m1", "bob", T0 + 5_000)).await;
    }
    let store = SqliteStore::open(&path).unwrap();
    let later = insert(&store, &chat("m2", "alice", T0)).await;
    assert_eq!(later.timestamp, T0 + 5_000);
    // Direct messages keep their own order.
    let direct = nexchat_core::conformance::support::msg("d1", "alice", "bob", T0);
    match store.insert_message(&direct).await.unwrap() {
        Inserted::New(m) => assert_eq!(m.timestamp, T0),
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// A removed member who held a message back at `sent` while the others had it delivered lets
/// it reach `delivered`, not `seen`.
#[tokio::test]
async fn a_removal_settles_to_the_lowest_receipt_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
    group_of(&store, &["bob", "carol", "dave"]).await;
    insert(&store, &chat("m1", "alice", T0 + 10)).await;
    insert(&store, &chat("m2", "alice", T0 + 11)).await;
    store
        .advance_group_status("g1", "bob", None, MessageStatus::Seen)
        .await
        .unwrap();
    let m1 = ["m1".to_owned()];
    store
        .advance_group_status("g1", "dave", Some(&m1), MessageStatus::Delivered)
        .await
        .unwrap();
    store.remove_member("g1", "carol").await.unwrap();
    let status = |id: &'static str| {
        let store = &store;
        async move { store.get_group_message(id).await.unwrap().unwrap().status }
    };
    assert_eq!(status("m1").await, MessageStatus::Delivered);
    assert_eq!(
        status("m2").await,
        MessageStatus::Sent,
        "dave has not got m2"
    );
    let ticks = store
        .advance_group_status("g1", "dave", None, MessageStatus::Seen)
        .await
        .unwrap();
    assert_eq!(ticks.moved, ["m1", "m2"]);
    let settled: Vec<_> = ticks.settled.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(settled, ["m1", "m2"]);
}

/// Erasure in chunks smaller than the table: every group message of the user goes with its
/// receipts, whichever chunk it is in, and nobody else's.
#[tokio::test]
async fn erasure_deletes_across_many_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).unwrap();
    group_of(&store, &["bob", "carol"]).await;
    let senders = ["alice", "bob", "carol"];
    let messages: Vec<_> = (0..23)
        .map(|i| chat(&format!("m{i}"), senders[i % 3], T0 + 10))
        .collect();
    for m in &messages {
        insert(&store, m).await;
    }
    store
        .delete_group_messages_in_chunks("bob", 4)
        .await
        .unwrap();
    for m in &messages {
        let kept = store.get_group_message(&m.id).await.unwrap().is_some();
        assert_eq!(kept, m.sender != "bob", "{} from {}", m.id, m.sender);
    }
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM group_receipts
             WHERE message NOT IN (SELECT seq FROM group_messages)"
        ),
        0,
        "no receipt outlives its message"
    );
    assert_eq!(count(&path, "SELECT count(*) FROM group_receipts"), 15 * 3);
}

/// Rows damaged behind the store's back are `Corrupt` errors naming the row, not panics.
#[tokio::test]
async fn damaged_group_rows_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).unwrap();
    group_of(&store, &["bob"]).await;
    insert(&store, &chat("m1", "alice", T0 + 10)).await;
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "UPDATE group_messages SET status = 7 WHERE id = 'm1';
             UPDATE groups SET title = 'not json' WHERE id = 'g1';
             UPDATE group_members SET role = 'owner' WHERE username = 'bob';",
        )
        .unwrap();
    expect_corrupt(
        store.get_group_message("m1").await.unwrap_err(),
        "group_messages",
        "m1",
        "status",
    );
    expect_corrupt(
        store
            .group_history("g1", "bob", None, 10)
            .await
            .unwrap_err(),
        "group_messages",
        "m1",
        "status",
    );
    expect_corrupt(
        store.group("g1").await.unwrap_err(),
        "groups",
        "g1",
        "title",
    );
    expect_corrupt(
        store.members("g1").await.unwrap_err(),
        "group_members",
        "bob",
        "role",
    );
}

/// What each membership row keeps, recomputed from the receipts: the number of rows where it
/// is wrong.
fn wrong_bounds(path: &std::path::Path) -> i64 {
    count(
        path,
        "SELECT count(*) FROM group_members g WHERE
             coalesce(g.first_message, -1) <> coalesce((SELECT min(r.message)
                 FROM group_receipts r JOIN group_messages m ON m.seq = r.message
                 WHERE m.group_id = g.group_id AND r.member = g.username), -1)
             OR (SELECT min(r.message) FROM group_receipts r
                 JOIN group_messages m ON m.seq = r.message
                 WHERE m.group_id = g.group_id AND r.member = g.username AND r.status = 0)
                 < coalesce(g.sent_from, 1e18)
             OR (SELECT min(r.message) FROM group_receipts r
                 JOIN group_messages m ON m.seq = r.message
                 WHERE m.group_id = g.group_id AND r.member = g.username AND r.status < 2)
                 < coalesce(g.unseen_from, 1e18)
             OR g.unread <> (SELECT count(*) FROM group_receipts r
                 JOIN group_messages m ON m.seq = r.message
                 WHERE m.group_id = g.group_id AND r.member = g.username AND r.status < 2
                   AND m.to_user IS NULL AND m.sender <> g.username)",
    )
}

/// Ticks by id in any order, ticks without ids, key messages, a removal and an erasure: the
/// floors stay at or below every receipt they bound, the unread counts exact, and the backlog
/// is every `sent` receipt.
#[tokio::test]
async fn the_membership_bounds_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).unwrap();
    group_of(&store, &["bob", "carol", "dave"]).await;
    let senders = ["alice", "bob", "carol"];
    for i in 0..12 {
        insert(&store, &chat(&format!("m{i}"), senders[i % 3], T0 + 10)).await;
    }
    let key = GroupMessage {
        to: Some("dave".to_owned()),
        ..chat("k1", "alice", T0 + 10)
    };
    insert(&store, &key).await;
    assert_eq!(wrong_bounds(&path), 0);
    let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let tick = |member: &'static str, list: Option<Vec<String>>, to: MessageStatus| {
        let store = &store;
        async move {
            store
                .advance_group_status("g1", member, list.as_deref(), to)
                .await
                .unwrap()
        }
    };
    // dave: the oldest last, one in the middle seen straight from sent.
    tick("dave", Some(ids(&["m5", "m2"])), MessageStatus::Delivered).await;
    tick("dave", Some(ids(&["m7"])), MessageStatus::Seen).await;
    assert_eq!(wrong_bounds(&path), 0);
    tick("dave", Some(ids(&["m0", "m1"])), MessageStatus::Delivered).await;
    assert_eq!(wrong_bounds(&path), 0);
    let backlog: Vec<String> = store
        .undelivered_group_messages("dave", None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(backlog, ["m3", "m4", "m6", "m8", "m9", "m10", "m11", "k1"]);
    // bob: everything delivered, then all seen but the newest, then the rest.
    tick("bob", None, MessageStatus::Delivered).await;
    tick(
        "bob",
        Some(ids(&["m0", "m2", "m3", "m5", "m6", "m8", "m9"])),
        MessageStatus::Seen,
    )
    .await;
    assert_eq!(wrong_bounds(&path), 0);
    let unread = |member: &'static str| {
        let store = &store;
        async move { store.group_entries(member).await.unwrap()[0].unread }
    };
    assert_eq!(unread("bob").await, 1, "m11 from carol");
    tick("bob", None, MessageStatus::Seen).await;
    assert_eq!(unread("bob").await, 0);
    assert_eq!(unread("dave").await, 11, "all 12 but m7");
    // carol's messages go: dave's count with them.
    store.remove_member("g1", "carol").await.unwrap();
    assert_eq!(wrong_bounds(&path), 0);
    store.delete_group_messages_of("carol").await.unwrap();
    assert_eq!(wrong_bounds(&path), 0);
    assert_eq!(unread("dave").await, 7, "carol's four went");
    tick("dave", None, MessageStatus::Seen).await;
    assert_eq!(wrong_bounds(&path), 0);
    assert_eq!(unread("dave").await, 0);
    assert!(
        store
            .undelivered_group_messages("dave", None, 100)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// A member added to a group with a history has none of it: their history, latest message and
/// backlog stay empty until the next message, which is all of them.
#[tokio::test]
async fn a_newcomer_starts_at_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
    group_of(&store, &["bob"]).await;
    for i in 0..5 {
        insert(&store, &chat(&format!("m{i}"), "alice", T0 + 10)).await;
    }
    let erin = GroupMember {
        username: "erin".to_owned(),
        role: GroupRole::Member,
        joined_at: T0 + 20,
    };
    store.add_member("g1", &erin, ROOMY).await.unwrap();
    let history = store.group_history("g1", "erin", None, 10).await.unwrap();
    assert!(history.items.is_empty());
    assert_eq!(
        store.group_entries("erin").await.unwrap()[0].last_message,
        None
    );
    let m5 = insert(&store, &chat("m5", "bob", T0 + 30)).await;
    let history = store.group_history("g1", "erin", None, 10).await.unwrap();
    assert_eq!(history.items, std::slice::from_ref(&m5));
    let entry = &store.group_entries("erin").await.unwrap()[0];
    assert_eq!((entry.last_message.as_ref(), entry.unread), (Some(&m5), 1));
    assert_eq!(
        store
            .undelivered_group_messages("erin", None, 10)
            .await
            .unwrap()
            .items,
        [m5]
    );
}
