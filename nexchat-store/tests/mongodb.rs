//! The MongoDB backend against a real MongoDB wire-protocol server.
//!
//! Runs the shared conformance suite (`nexchat_core::conformance`), then what is particular to
//! MongoDB: indexes, two nodes racing on one database, documents of the wrong shape.
//!
//! Needs `NEXCHAT_TEST_MONGODB_URI` (panics without it, so nothing skips quietly):
//!
//! ```text
//! eval "$(scripts/mongo-test-server.sh)"
//! cargo test -p nexchat-store --features mongodb --test mongodb
//! kill "$NEXCHAT_MONGO_PID"
//! ```
//!
//! # The test server (nx-27017 0.8.1 over SQLite) and MongoDB 6+
//! The tests run against nx-27017, a MongoDB wire-protocol server backed by SQLite. Where it
//! differs from MongoDB, the backend uses what works the same on both:
//! - A `$set` of a boolean or a BSON date is stored there as an integer or a string, so this
//!   backend stores no booleans or dates: times are `i64` milliseconds, states are strings.
//! - Collation indexes are not usable there, so case-insensitive uniqueness is a unique index on
//!   a lowercased copy of the name (`usernameLower`), and searches are range scans on it.
//! - Index names are its own (`idx_<collection>_<field>`), whatever the client asked for, so
//!   nothing depends on index names (the tests look indexes up by their keys).
//! - Only duplicate-key errors carry a `code` (11000); every other error reply is reported as a
//!   `StoreError::Backend` with the driver's error as its source, never matched by code.
//! - A query for an ObjectId value in a field other than `_id` matches nothing there, so the
//!   operation ids written by `advance_status` are hex strings.
//! - A string containing NUL matches nothing there outside `_id`, so pair keys are joined by an
//!   escaped `|`, not by NUL.
//! - `$or` is answered by a scan of the whole collection there (about 0.5 s at 20,000 messages,
//!   against 40 ms for an equality on an indexed field), so no query uses it: both directions of
//!   a conversation share the `pair` field, and a user's links are two queries.
//! - Transactions are not isolated there, so none are used.
//! - `$group` on a compound key gives wrong results there, so no aggregation is used.
//! - Integers may come back as 32-bit, 64-bit or (from a mongo shell) integral doubles; all are
//!   read as `i64`.
//! - GridFS's dotted collections (`blobs.files`, `blobs.chunks`) are served there by a GridFS
//!   adapter of its own: `create` of them is refused ("Invalid identifier 'blobs.files'"), so
//!   the blob store writes a marker file that keeps the driver from issuing it; a files
//!   document comes back with `uploadDate` as a string and a chunk with an integer `_id`, so the
//!   driver's download stream and `GridFsBucket::find` cannot read them and the store reads
//!   chunks with plain finds; a files document appears at an upload's first chunk, and a second
//!   files document with a taken `_id` overwrites the first, so the store's own `blobs`
//!   collection says which file is a blob. `count_documents` aggregates, so the tests count
//!   what `find` returns.
#![cfg(feature = "mongodb")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use nexchat_core::conformance::support::{T0, call, msg as message, user};
use nexchat_core::protocol::rest::{
    AccountDeleteRequest, LoginRequest, PasswordChangeRequest, RegisterRequest,
};
use nexchat_core::protocol::{CallStatus, MessageStatus, PublicKey, StoredMessage};
use nexchat_core::store::{
    CallStore, FriendStore, Inserted, LinkStatus, MessageStore, StoreError, UserStore,
};
use nexchat_core::transport::ClientInfo;
use nexchat_core::{Chat, ChatError, Config};
use nexchat_store::{GridFsBlobStore, MongoStore};

const URI_VAR: &str = "NEXCHAT_TEST_MONGODB_URI";

fn uri() -> String {
    std::env::var(URI_VAR).unwrap_or_else(|_| {
        panic!(
            "{URI_VAR} is not set: these tests need a MongoDB wire-protocol server. Start one with \
             `eval \"$(scripts/mongo-test-server.sh)\"` (exports {URI_VAR} and NEXCHAT_MONGO_PID) \
             and run the tests again"
        )
    })
}

/// A store on a database of its own, and the guard that drops that database.
async fn fresh() -> (MongoStore, DropDatabase) {
    let name = format!("nexchat_test_{}", uuid::Uuid::new_v4().simple());
    let store = MongoStore::connect(&uri(), &name).await.unwrap();
    (store, DropDatabase(name))
}

/// Drops a test's database when the test ends, passed or failed, so that a run against a real
/// MongoDB leaves nothing behind. It uses a client of its own on a thread of its own: the
/// test's runtime may be shutting down, and `Drop` cannot await.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (uri, name) = (uri(), std::mem::take(&mut self.0));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(async {
                    let client = mongodb::Client::with_uri_str(&uri).await?;
                    client.database(&name).drop().await
                })
                .map_err(|e| format!("dropping test database {name}: {e}"))
        })
        .join();
        // Never panic here (a panic while a failed test unwinds would abort the run).
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: {e}"),
            Err(_) => eprintln!("warning: the thread dropping a test database panicked"),
        }
    }
}

/// A blob store on a database of its own, and the guard that drops that database.
async fn fresh_blobs() -> (GridFsBlobStore, DropDatabase) {
    let name = format!("nexchat_test_{}", uuid::Uuid::new_v4().simple());
    let blobs = GridFsBlobStore::connect(&uri(), &name).await.unwrap();
    (blobs, DropDatabase(name))
}

/// A second store (another "node") on the same database.
async fn other_node(store: &MongoStore) -> MongoStore {
    MongoStore::connect(&uri(), store.database().name())
        .await
        .unwrap()
}

/// The shared storage conformance suite, one test per check, each on a fresh database.
mod conformance {
    use super::fresh;

    nexchat_core::conformance_tests!(fresh());
}

/// The blob conformance checks, one test per check, each on a fresh database.
mod blob_conformance {
    nexchat_core::blob_conformance_tests!(super::fresh_blobs());
}

fn new_message(inserted: Inserted) -> StoredMessage {
    match inserted {
        Inserted::New(m) => m,
        Inserted::Existing(m) => panic!("expected a new message, got existing {m:?}"),
    }
}

async fn insert_all(store: &MongoStore, messages: &[StoredMessage]) {
    for m in messages {
        new_message(store.insert_message(m).await.unwrap());
    }
}

async fn raw_insert(store: &MongoStore, collection: &str, doc: Document) {
    store
        .database()
        .collection::<Document>(collection)
        .insert_one(doc)
        .await
        .unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, collection: &str, id: &str) {
    match result {
        Err(StoreError::Corrupt {
            collection: c,
            id: i,
            detail,
        }) => {
            assert_eq!(
                (c.as_str(), i.as_str()),
                (collection, id),
                "detail: {detail}"
            );
            assert!(!detail.is_empty());
        }
        other => panic!("expected Corrupt in {collection} id {id}, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_creates_the_indexes() {
    let (store, _db) = fresh().await;
    let db = store.database();
    // Index names differ between servers (nx-27017 renames them), so look at keys.
    async fn indexes(db: &mongodb::Database, collection: &str) -> Vec<(Document, bool)> {
        let list: Vec<_> = db
            .collection::<Document>(collection)
            .list_indexes()
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        list.into_iter()
            .map(|model| {
                let unique = model.options.and_then(|o| o.unique).unwrap_or(false);
                (model.keys, unique)
            })
            .collect()
    }
    let expect = [
        ("users", doc! { "usernameLower": 1 }, true),
        ("messages", doc! { "pair": 1, "seq": 1 }, false),
        (
            "messages",
            doc! { "sender": 1, "receiver": 1, "seq": 1 },
            false,
        ),
        (
            "messages",
            doc! { "receiver": 1, "status": 1, "seq": 1 },
            false,
        ),
        (
            "friend_requests",
            doc! { "sender": 1, "receiver": 1 },
            false,
        ),
        (
            "friend_requests",
            doc! { "receiver": 1, "status": 1 },
            false,
        ),
        ("calls", doc! { "pair": 1, "seq": 1 }, false),
        (
            "calls",
            doc! { "caller": 1, "callee": 1, "startedAt": 1 },
            false,
        ),
        ("calls", doc! { "status": 1 }, false),
        ("calls", doc! { "callee": 1 }, false),
        ("users", doc! { "erasure": 1 }, false),
        ("sessions", doc! { "username": 1, "createdAt": 1 }, false),
        ("attachments", doc! { "owner": 1 }, false),
        ("attachments", doc! { "state": 1, "createdAt": 1 }, false),
        ("attachments", doc! { "refs": 1, "createdAt": 1 }, false),
        (
            "attachment_refs",
            doc! { "attachment": 1, "kind": 1, "message": 1 },
            true,
        ),
    ];
    for (collection, keys, unique) in expect {
        let found = indexes(db, collection).await;
        let hit = found.iter().find(|(k, _)| *k == keys);
        let Some((_, is_unique)) = hit else {
            panic!("{collection}: no index on {keys}; found {found:?}");
        };
        assert!(!unique || *is_unique, "{collection} {keys} must be unique");
    }
    // Connecting again (a second node, a restart) is fine.
    other_node(&store).await;
}

#[tokio::test]
async fn connect_accepts_the_seeds_hand_made_indexes() {
    // The seed's setup runs `createIndex` in a mongo shell, which names indexes like the
    // driver's default (`sender_1_receiver_1`); connecting must not conflict with them.
    let name = format!("nexchat_test_{}", uuid::Uuid::new_v4().simple());
    let _db = DropDatabase(name.clone());
    let client = mongodb::Client::with_uri_str(uri()).await.unwrap();
    let db = client.database(&name);
    let seed = [
        ("friend_requests", doc! { "sender": 1, "receiver": 1 }),
        ("friend_requests", doc! { "receiver": 1, "status": 1 }),
        ("calls", doc! { "caller": 1, "callee": 1, "startedAt": 1 }),
    ];
    for (collection, keys) in seed {
        let model = mongodb::IndexModel::builder().keys(keys).build();
        db.collection::<Document>(collection)
            .create_index(model)
            .await
            .unwrap();
    }
    MongoStore::connect(&uri(), &name).await.unwrap();
}

#[tokio::test]
async fn usernames_are_unique_in_any_case_and_searched_by_prefix() {
    let (store, _db) = fresh().await;
    for name in ["Alice", "alfred", "Albert", "bob", "ALINA"] {
        store.create_user(&user(name)).await.unwrap();
    }
    assert!(matches!(
        store.create_user(&user("aLiCe")).await,
        Err(StoreError::Conflict(_))
    ));
    let found = store.find_user("ALICE").await.unwrap().unwrap();
    assert_eq!(found, user("Alice"));
    assert_eq!(store.find_user("nobody").await.unwrap(), None);

    assert_eq!(
        store.search_users("AL", "alice", 10).await.unwrap(),
        ["Albert", "alfred", "ALINA"]
    );
    assert_eq!(
        store.search_users("al", "", 2).await.unwrap(),
        ["Albert", "alfred"]
    );
    assert_eq!(
        store.search_users("al", "", 0).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.search_users("", "bob", 10).await.unwrap(),
        ["Albert", "alfred", "Alice", "ALINA"]
    );
    // Regex metacharacters are plain text.
    assert!(store.search_users(".*", "", 10).await.unwrap().is_empty());

    store.set_public_key("Alice", r#"{"k":1}"#).await.unwrap();
    assert_eq!(
        store.find_user("alice").await.unwrap().unwrap().public_key,
        Some(r#"{"k":1}"#.to_owned())
    );
    assert!(matches!(
        store.set_public_key("nobody", "{}").await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_registrations_of_one_name_have_one_winner() {
    let (store, _db) = fresh().await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let name = if i % 2 == 0 { "Carol" } else { "cAROL" };
            tokio::spawn(async move { store.create_user(&user(name)).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_message_id_32_times_at_once_is_stored_once() {
    let (store, _db) = fresh().await;
    let store = Arc::new(store);
    let node2 = Arc::new(other_node(&store).await);
    let tasks: Vec<_> = (0..32_i64)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            tokio::spawn(async move {
                store
                    .insert_message(&message("m-1", "alice", "bob", 1000 + i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Inserted::New(m) => new.push(m),
            Inserted::Existing(m) => existing.push(m),
        }
    }
    assert_eq!(new.len(), 1, "exactly one insert wins");
    assert_eq!(existing.len(), 31);
    // Every loser sees the winner's message exactly as stored.
    for m in &existing {
        assert_eq!(m, &new[0]);
    }
    assert_eq!(
        store.get_message("m-1").await.unwrap().as_ref(),
        Some(&new[0])
    );
    let page = store.history("alice", "bob", None, 50).await.unwrap();
    assert_eq!(page.items, new);
}

#[tokio::test]
async fn a_resend_returns_the_stored_message_unchanged() {
    let (store, _db) = fresh().await;
    let first = new_message(
        store
            .insert_message(&message("m-1", "alice", "bob", 1000))
            .await
            .unwrap(),
    );
    store
        .advance_status("alice", "bob", None, MessageStatus::Delivered)
        .await
        .unwrap();
    // Another sender, another text, another time: still the stored one.
    let mut again = message("m-1", "mallory", "bob", 5000);
    again.ciphertext = "b3RoZXI=".to_owned();
    let Inserted::Existing(stored) = store.insert_message(&again).await.unwrap() else {
        panic!("resend stored twice");
    };
    assert_eq!(
        stored,
        StoredMessage {
            status: MessageStatus::Delivered,
            ..first
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timestamps_never_go_back_across_nodes() {
    let (store, _db) = fresh().await;
    let node2 = other_node(&store).await;
    // Node 2's clock is behind node 1's.
    let m1 = new_message(
        store
            .insert_message(&message("a", "alice", "bob", 5000))
            .await
            .unwrap(),
    );
    let m2 = new_message(
        node2
            .insert_message(&message("b", "bob", "alice", 3000))
            .await
            .unwrap(),
    );
    assert_eq!(m1.timestamp, 5000);
    assert_eq!(m2.timestamp, 5000, "raised to the latest stored timestamp");
    let m3 = new_message(
        node2
            .insert_message(&message("c", "bob", "alice", 7000))
            .await
            .unwrap(),
    );
    assert_eq!(m3.timestamp, 7000);

    // Many concurrent senders on two nodes: history (storage order) has non-decreasing times.
    let tasks: Vec<_> = (0..40_i64)
        .map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            tokio::spawn(async move {
                let m = message(&format!("r{i}"), "alice", "bob", 7000 + (i * 37) % 11);
                new_message(node.insert_message(&m).await.unwrap())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let page = store.history("alice", "bob", None, 100).await.unwrap();
    assert_eq!(page.items.len(), 43);
    let times: Vec<i64> = page.items.iter().rev().map(|m| m.timestamp).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[tokio::test]
async fn history_pages_in_storage_order() {
    let (store, _db) = fresh().await;
    // Equal timestamps: storage order alone decides.
    let ids: Vec<String> = (0..7).map(|i| format!("h{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let (s, r) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        new_message(
            store
                .insert_message(&message(id, s, r, 1000))
                .await
                .unwrap(),
        );
    }
    insert_all(&store, &[message("other", "alice", "carol", 1000)]).await;

    let page = store.history("bob", "alice", None, 3).await.unwrap();
    let got: Vec<&str> = page.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["h6", "h5", "h4"]);
    assert!(page.has_more);
    let page = store.history("alice", "bob", Some("h4"), 3).await.unwrap();
    let got: Vec<&str> = page.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["h3", "h2", "h1"]);
    assert!(page.has_more);
    let page = store.history("alice", "bob", Some("h1"), 3).await.unwrap();
    let got: Vec<&str> = page.items.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(got, ["h0"]);
    assert!(!page.has_more);
    // Exactly `limit` left: no more.
    let page = store.history("alice", "bob", Some("h3"), 3).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(!page.has_more);
    let page = store.history("alice", "bob", None, 7).await.unwrap();
    assert!(!page.has_more);

    for bad in ["nope", "other"] {
        assert!(matches!(
            store.history("alice", "bob", Some(bad), 3).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn ticks_move_forward_only_and_undelivered_keeps_order() {
    let (store, _db) = fresh().await;
    let ids: Vec<String> = (0..5).map(|i| format!("t{i}")).collect();
    let messages: Vec<_> = ids
        .iter()
        .map(|id| message(id, "alice", "bob", 10))
        .collect();
    insert_all(&store, &messages).await;
    insert_all(&store, &[message("back", "bob", "alice", 10)]).await;

    let undelivered: Vec<String> = store
        .undelivered("bob", None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(undelivered, ids);

    let some = [ids[3].clone(), ids[1].clone(), "unknown".to_owned()];
    let moved = store
        .advance_status("alice", "bob", Some(&some), MessageStatus::Seen)
        .await
        .unwrap();
    assert_eq!(moved, [ids[1].clone(), ids[3].clone()], "storage order");
    let moved = store
        .advance_status("alice", "bob", None, MessageStatus::Delivered)
        .await
        .unwrap();
    assert_eq!(moved, [ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    // Seen never goes back to delivered.
    assert_eq!(
        store.get_message(&ids[1]).await.unwrap().unwrap().status,
        MessageStatus::Seen
    );
    assert!(
        store
            .advance_status("alice", "bob", None, MessageStatus::Delivered)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .advance_status("alice", "bob", Some(&[]), MessageStatus::Seen)
            .await
            .unwrap()
            .is_empty()
    );
    // The other direction is untouched.
    let back = store.get_message("back").await.unwrap().unwrap();
    assert_eq!(back.status, MessageStatus::Sent);
    assert!(
        store
            .undelivered("bob", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        store.undelivered("alice", None, 10).await.unwrap().items,
        [back]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_ticks_report_each_move_once() {
    let (store, _db) = fresh().await;
    let node2 = other_node(&store).await;
    let ids: Vec<String> = (0..40).map(|i| format!("x{i:02}")).collect();
    let messages: Vec<_> = ids
        .iter()
        .map(|id| message(id, "alice", "bob", 10))
        .collect();
    insert_all(&store, &messages).await;

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            let to = if i % 4 < 2 {
                MessageStatus::Delivered
            } else {
                MessageStatus::Seen
            };
            // Some race on all ids, some on every other id.
            let subset: Option<Vec<String>> =
                (i % 3 == 0).then(|| ids.iter().step_by(2).cloned().collect());
            tokio::spawn(async move {
                let moved = node
                    .advance_status("alice", "bob", subset.as_deref(), to)
                    .await
                    .unwrap();
                (to, moved)
            })
        })
        .collect();
    let mut to_delivered = Vec::new();
    let mut to_seen = Vec::new();
    for task in tasks {
        let (to, moved) = task.await.unwrap();
        let mut sorted = moved.clone();
        sorted.sort();
        assert_eq!(moved, sorted, "reported in storage order");
        match to {
            MessageStatus::Delivered => to_delivered.extend(moved),
            _ => to_seen.extend(moved),
        }
    }
    // Every message reached seen exactly once, and delivered at most once.
    let seen: HashSet<&String> = to_seen.iter().collect();
    assert_eq!(seen.len(), to_seen.len(), "a move to seen reported twice");
    assert_eq!(seen.len(), ids.len());
    let delivered: HashSet<&String> = to_delivered.iter().collect();
    assert_eq!(
        delivered.len(),
        to_delivered.len(),
        "a move to delivered reported twice"
    );
    for id in &ids {
        let m = store.get_message(id).await.unwrap().unwrap();
        assert_eq!(m.status, MessageStatus::Seen);
    }
}

#[tokio::test]
async fn friend_links_follow_their_state_machine() {
    let (store, _db) = fresh().await;
    assert!(store.create_request("alice", "bob").await.unwrap());
    assert!(!store.create_request("alice", "bob").await.unwrap());
    assert!(!store.create_request("bob", "alice").await.unwrap());
    let link = store.link("bob", "alice").await.unwrap().unwrap();
    assert_eq!(
        (link.sender.as_str(), link.receiver.as_str(), link.status),
        ("alice", "bob", LinkStatus::Pending)
    );
    // Only bob can answer alice's request.
    assert!(
        !store
            .transition_link("bob", "alice", LinkStatus::Pending, LinkStatus::Accepted)
            .await
            .unwrap()
    );
    assert!(
        store
            .transition_link("alice", "bob", LinkStatus::Pending, LinkStatus::Rejected)
            .await
            .unwrap()
    );
    assert!(!store.are_friends("alice", "bob").await.unwrap());
    // A rejected request may be sent again, from either side.
    assert!(store.create_request("bob", "alice").await.unwrap());
    let link = store.link("alice", "bob").await.unwrap().unwrap();
    assert_eq!(
        (link.sender.as_str(), link.receiver.as_str(), link.status),
        ("bob", "alice", LinkStatus::Pending)
    );
    assert!(
        store
            .transition_link("bob", "alice", LinkStatus::Pending, LinkStatus::Accepted)
            .await
            .unwrap()
    );
    assert!(store.are_friends("alice", "bob").await.unwrap());
    assert!(store.are_friends("bob", "alice").await.unwrap());
    assert!(!store.create_request("alice", "bob").await.unwrap());

    assert!(store.create_request("carol", "alice").await.unwrap());
    let mut links = store.links_of("alice").await.unwrap();
    links.sort_by(|a, b| a.sender.cmp(&b.sender));
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].sender, "bob");
    assert_eq!(links[1].sender, "carol");
    assert_eq!(store.links_of("bob").await.unwrap().len(), 1);

    assert!(
        !store
            .delete_link("bob", "alice", LinkStatus::Pending)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_link("alice", "bob", LinkStatus::Accepted)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_link("bob", "alice", LinkStatus::Accepted)
            .await
            .unwrap()
    );
    assert_eq!(store.link("alice", "bob").await.unwrap(), None);
    assert!(store.create_request("alice", "bob").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_friend_requests_and_answers_have_one_winner() {
    let (store, _db) = fresh().await;
    let node2 = other_node(&store).await;

    // Both users ask each other at once, many times over, from two nodes.
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            let (s, r) = if i % 4 < 2 {
                ("dave", "erin")
            } else {
                ("erin", "dave")
            };
            tokio::spawn(async move { node.create_request(s, r).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    let link = store.link("dave", "erin").await.unwrap().unwrap();
    assert_eq!(link.status, LinkStatus::Pending);
    let count = store
        .database()
        .collection::<Document>("friend_requests")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(count, 1, "a pair has one document");

    // Accepts and rejects racing: one transition wins.
    let (sender, receiver) = (link.sender.clone(), link.receiver.clone());
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            let to = if i % 3 == 0 {
                LinkStatus::Rejected
            } else {
                LinkStatus::Accepted
            };
            let (s, r) = (sender.clone(), receiver.clone());
            tokio::spawn(async move {
                node.transition_link(&s, &r, LinkStatus::Pending, to)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_pair_asking_again_at_once_reopens_once() {
    let (store, _db) = fresh().await;
    assert!(store.create_request("fay", "gus").await.unwrap());
    assert!(
        store
            .transition_link("fay", "gus", LinkStatus::Pending, LinkStatus::Rejected)
            .await
            .unwrap()
    );
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let (s, r) = if i % 2 == 0 {
                ("fay", "gus")
            } else {
                ("gus", "fay")
            };
            tokio::spawn(async move { store.create_request(s, r).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    let link = store.link("gus", "fay").await.unwrap().unwrap();
    assert_eq!(link.status, LinkStatus::Pending);
}

#[tokio::test]
async fn calls_are_logged_and_paged() {
    let (store, _db) = fresh().await;
    store
        .insert_call(&call("c1", "alice", "bob", 1000))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_call(&call("c1", "alice", "bob", 1000)).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .insert_call(&call("c2", "bob", "alice", 2000))
        .await
        .unwrap();
    store
        .insert_call(&call("c3", "alice", "bob", 2000))
        .await
        .unwrap();
    store
        .insert_call(&call("c4", "alice", "carol", 2500))
        .await
        .unwrap();
    store
        .insert_call(&call("c5", "alice", "bob", 3000))
        .await
        .unwrap();

    // Answer and end c3; the record round-trips, optional times included.
    let mut answered = call("c3", "alice", "bob", 2000);
    answered.status = CallStatus::InProgress;
    answered.answered_at = Some(2100);
    assert!(
        store
            .update_call(&answered, CallStatus::Ringing)
            .await
            .unwrap()
    );
    assert!(
        !store
            .update_call(&answered, CallStatus::Ringing)
            .await
            .unwrap()
    );
    let mut ended = answered.clone();
    ended.status = CallStatus::Completed;
    ended.ended_at = Some(64_100);
    ended.duration = 62;
    assert!(
        store
            .update_call(&ended, CallStatus::InProgress)
            .await
            .unwrap()
    );
    assert_eq!(store.get_call("c3").await.unwrap(), Some(ended.clone()));
    assert_eq!(store.get_call("nope").await.unwrap(), None);

    let page = store.call_history("bob", "alice", None, 2).await.unwrap();
    let got: Vec<&str> = page.items.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(got, ["c5", "c3"], "same start: the later insert is newer");
    assert!(page.has_more);
    let page = store
        .call_history("alice", "bob", Some("c3"), 2)
        .await
        .unwrap();
    let got: Vec<&str> = page.items.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(got, ["c2", "c1"]);
    assert!(!page.has_more);
    for bad in ["nope", "c4"] {
        assert!(matches!(
            store.call_history("alice", "bob", Some(bad), 2).await,
            Err(StoreError::NotFound(_))
        ));
    }

    let unfinished: Vec<String> = store
        .unfinished_calls()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_id)
        .collect();
    assert_eq!(unfinished, ["c1", "c2", "c4", "c5"]);

    // A missed call drops times it never had.
    let mut missed = ended;
    missed.call_id = "c1".to_owned();
    missed.started_at = 1000;
    missed.status = CallStatus::Missed;
    missed.answered_at = None;
    missed.ended_at = Some(1500);
    missed.duration = 0;
    assert!(
        store
            .update_call(&missed, CallStatus::Ringing)
            .await
            .unwrap()
    );
    assert_eq!(store.get_call("c1").await.unwrap(), Some(missed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_call_updates_have_one_winner() {
    let (store, _db) = fresh().await;
    let node2 = other_node(&store).await;
    store
        .insert_call(&call("c", "alice", "bob", 1000))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32_i64)
        .map(|i| {
            let node = if i % 2 == 0 {
                store.clone()
            } else {
                node2.clone()
            };
            let mut next = call("c", "alice", "bob", 1000);
            if i % 3 == 0 {
                next.status = CallStatus::Missed;
                next.ended_at = Some(2000 + i);
            } else {
                next.status = CallStatus::InProgress;
                next.answered_at = Some(2000 + i);
            }
            tokio::spawn(async move {
                let won = node.update_call(&next, CallStatus::Ringing).await.unwrap();
                (won, next)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (won, record) = task.await.unwrap();
        if won {
            winners.push(record);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(store.get_call("c").await.unwrap().as_ref(), winners.first());
}

#[tokio::test]
async fn documents_of_the_wrong_shape_are_corrupt_not_panics() {
    let (store, _db) = fresh().await;

    raw_insert(
        &store,
        "messages",
        doc! { "_id": "bad-msg", "sender": "alice", "receiver": "bob", "ciphertext": 5,
        "iv": "aXY=", "timestamp": 1, "status": "sent", "seq": 1, "pair": "alice|bob" },
    )
    .await;
    assert_corrupt(store.get_message("bad-msg").await, "messages", "bad-msg");
    assert_corrupt(
        store.history("alice", "bob", None, 10).await,
        "messages",
        "bad-msg",
    );
    assert_corrupt(
        store.undelivered("bob", None, 10).await,
        "messages",
        "bad-msg",
    );
    raw_insert(
        &store,
        "messages",
        doc! { "_id": "bad-status", "sender": "x", "receiver": "y", "ciphertext": "",
        "iv": "", "timestamp": 1, "status": "teleported", "seq": 2 },
    )
    .await;
    assert_corrupt(
        store.get_message("bad-status").await,
        "messages",
        "bad-status",
    );
    raw_insert(
        &store,
        "messages",
        doc! { "_id": "bad-seq", "sender": "p", "receiver": "q", "ciphertext": "",
        "iv": "", "timestamp": 1, "status": "sent", "seq": "first", "pair": "p|q" },
    )
    .await;
    assert_corrupt(
        store.history("p", "q", Some("bad-seq"), 10).await,
        "messages",
        "bad-seq",
    );

    let oid = mongodb::bson::oid::ObjectId::new();
    raw_insert(
        &store,
        "users",
        doc! { "_id": oid, "username": ["not", "a", "name"], "usernameLower": "zed" },
    )
    .await;
    assert_corrupt(store.find_user("Zed").await, "users", &oid.to_hex());
    assert_corrupt(store.search_users("z", "", 5).await, "users", &oid.to_hex());

    raw_insert(
        &store,
        "friend_requests",
        doc! { "_id": "amy|ben", "sender": "amy", "receiver": "ben", "status": "besties" },
    )
    .await;
    assert_corrupt(store.link("ben", "amy").await, "friend_requests", "amy|ben");
    assert_corrupt(store.links_of("amy").await, "friend_requests", "amy|ben");
    assert_corrupt(store.links_of("ben").await, "friend_requests", "amy|ben");

    raw_insert(
        &store,
        "calls",
        doc! { "_id": "bad-call", "caller": "amy", "callee": "ben", "type": "hologram",
        "status": "ringing", "startedAt": 1, "duration": 0, "seq": 1 },
    )
    .await;
    assert_corrupt(store.get_call("bad-call").await, "calls", "bad-call");
    assert_corrupt(store.unfinished_calls().await, "calls", "bad-call");
    raw_insert(
        &store,
        "calls",
        doc! { "_id": "neg", "caller": "cat", "callee": "dan", "type": "voice",
        "status": "completed", "startedAt": 1, "duration": -3, "seq": 2, "pair": "cat|dan" },
    )
    .await;
    assert_corrupt(
        store.call_history("dan", "cat", None, 5).await,
        "calls",
        "neg",
    );
}

#[tokio::test]
async fn numbers_written_by_a_mongo_shell_are_read() {
    // mongosh writes number literals as doubles; an operator fixing a record by hand must not
    // make it unreadable.
    let (store, _db) = fresh().await;
    raw_insert(
        &store,
        "calls",
        doc! { "_id": "shell", "caller": "amy", "callee": "ben", "type": "voice",
               "status": "completed", "startedAt": 1_714_234_567_890.0, "answeredAt": 1_714_234_572_000_i64,
               "endedAt": 1_714_234_692_890_i64, "duration": 120_i32, "seq": 1.0 },
    )
    .await;
    let c = store.get_call("shell").await.unwrap().unwrap();
    assert_eq!((c.started_at, c.duration), (1_714_234_567_890, 120));
    raw_insert(
        &store,
        "calls",
        doc! { "_id": "frac", "caller": "amy", "callee": "ben", "type": "voice",
        "status": "completed", "startedAt": 1.5, "duration": 0, "seq": 2 },
    )
    .await;
    assert_corrupt(store.get_call("frac").await, "calls", "frac");
}

const PASSWORD: &str = "correct horse";

fn chat_config() -> Config {
    let mut config =
        Config::new("test secret that is long enough for HS256 keys").expect("long enough");
    config.bcrypt_cost = 4;
    config
}

/// A `users` document exactly as the release before `kdf` and erasure wrote it (commit
/// a4047d1): no `kdf`, no `erasure`.
fn previous_user_doc(name: &str, hash: &str) -> Document {
    doc! {
        "username": name,
        "usernameLower": name.to_ascii_lowercase(),
        "password": hash,
        "publicKey": r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#,
        "encryptedPrivateKey": r#"{"v":1}"#,
        "createdAt": T0,
    }
}

/// Accounts stored with `""` for "none" (as documents were written before the fields could be
/// null) read as `None`, like the null the store writes now; a tombstone is written with nulls.
#[tokio::test]
async fn empty_strings_of_older_documents_read_as_none() {
    let (store, _db) = fresh().await;
    raw_insert(
        &store,
        "users",
        doc! { "username": "Bot", "usernameLower": "bot", "password": "", "publicKey": "",
        "encryptedPrivateKey": "", "createdAt": T0 },
    )
    .await;
    raw_insert(
        &store,
        "users",
        doc! { "username": "keyless", "usernameLower": "keyless", "password": "h",
        "publicKey": "", "encryptedPrivateKey": "{}", "createdAt": T0 },
    )
    .await;
    let bot = store.find_user("bot").await.unwrap().expect("bot");
    assert_eq!(
        (bot.password_hash, bot.public_key, bot.encrypted_private_key),
        (None, None, None)
    );
    let keyless = store.find_user("KEYLESS").await.unwrap().expect("keyless");
    assert_eq!(keyless.password_hash.as_deref(), Some("h"));
    assert_eq!(keyless.public_key, None);
    assert_eq!(keyless.encrypted_private_key.as_deref(), Some("{}"));

    // What the store writes for none is null, not "".
    let mut provisioned = user("provisioned");
    provisioned.password_hash = None;
    provisioned.encrypted_private_key = None;
    store.create_user(&provisioned).await.unwrap();
    assert!(store.mark_erasing("keyless").await.unwrap());
    store.tombstone_user("keyless").await.unwrap();
    let users = store.database().collection::<Document>("users");
    for name in ["provisioned", "keyless"] {
        let stored = users
            .find_one(doc! { "usernameLower": name })
            .await
            .unwrap()
            .expect("stored");
        for field in ["password", "publicKey", "encryptedPrivateKey"] {
            let value = stored.get(field);
            assert!(
                matches!(value, None | Some(mongodb::bson::Bson::Null)),
                "{name}.{field} is {value:?}, not null"
            );
        }
    }
    assert_eq!(
        store.find_user("provisioned").await.unwrap(),
        Some(provisioned)
    );
}

/// Documents the previous release wrote keep working: the v1 account logs in, its friends and
/// messages are intact, and it moves to v1.1 and can be erased.
#[tokio::test]
async fn documents_of_the_previous_release_keep_working() {
    let (store, _db) = fresh().await;
    // A password hash as every release writes it, made by registering through the chat.
    let hash = {
        let chat = Chat::builder(chat_config(), store.clone())
            .build()
            .await
            .unwrap();
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
        let scratch = store
            .database()
            .collection::<Document>("users")
            .find_one(doc! { "usernameLower": "scratch" })
            .await
            .unwrap()
            .unwrap();
        scratch.get_str("password").unwrap().to_owned()
    };
    raw_insert(&store, "users", previous_user_doc("Alice", &hash)).await;
    raw_insert(&store, "users", previous_user_doc("bob", &hash)).await;
    assert!(store.create_request("Alice", "bob").await.unwrap());
    assert!(
        store
            .transition_link("Alice", "bob", LinkStatus::Pending, LinkStatus::Accepted)
            .await
            .unwrap()
    );
    insert_all(
        &store,
        &[
            message("m1", "Alice", "bob", T0),
            message("m2", "bob", "Alice", T0 + 1),
        ],
    )
    .await;

    // A restart of the new release on that database.
    let store = other_node(&store).await;
    let alice = store.find_user("ALICE").await.unwrap().unwrap();
    assert_eq!((alice.username.as_str(), alice.kdf), ("Alice", None));
    assert_eq!(
        store.search_users("", "scratch", 10).await.unwrap(),
        ["Alice", "bob"]
    );
    assert!(store.are_friends("bob", "Alice").await.unwrap());

    let chat = Chat::builder(chat_config(), store.clone())
        .build()
        .await
        .unwrap();
    let login = |name: &str, password: &str| LoginRequest {
        username: name.into(),
        password: password.into(),
    };
    assert_eq!(
        chat.login(login("alice", PASSWORD), &ClientInfo::default())
            .await
            .unwrap()
            .username,
        "Alice"
    );
    assert_eq!(chat.auth_params("alice").await.unwrap().kdf, None);
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
    assert_eq!(
        store
            .history("Alice", "bob", None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2,
        "the conversation is intact"
    );

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

/// `bytes` as an upload arriving in one piece.
fn upload(bytes: &[u8]) -> nexchat_core::blobs::ByteStream {
    let piece: std::io::Result<bytes::Bytes> = Ok(bytes::Bytes::copy_from_slice(bytes));
    Box::pin(futures::stream::iter([piece]))
}

/// The `refs` count behind references: a message that names nothing gives back every hold it
/// took (so the attachment stays collectable), a resend adds none, and a hold left without its
/// reference (a crash between the two writes) keeps the attachment from the collector.
#[tokio::test]
async fn attachment_holds_are_given_back_and_drift_only_keeps() {
    use nexchat_core::store::{AttachmentRecord, AttachmentRef, AttachmentState, AttachmentStore};

    let (store, _db) = fresh().await;
    for id in ["a1", "a2", "a3"] {
        let record = AttachmentRecord {
            id: id.into(),
            owner: "alice".into(),
            size: 10,
            state: AttachmentState::Uploading,
            created_at: T0,
        };
        store.reserve_attachment(&record, 1000).await.unwrap();
        assert!(store.finish_attachment(id, 10).await.unwrap());
    }
    let refs = |id: &'static str| {
        let attachments = store.database().collection::<Document>("attachments");
        async move {
            let found = attachments.find_one(doc! { "_id": id }).await.unwrap();
            match found.unwrap().get("refs") {
                Some(mongodb::bson::Bson::Int32(n)) => Some(i64::from(*n)),
                Some(mongodb::bson::Bson::Int64(n)) => Some(*n),
                _ => None,
            }
        }
    };
    let to_bob = |message: &str| AttachmentRef::Direct {
        message: message.into(),
        receiver: "bob".into(),
    };
    let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();

    assert!(
        !store
            .reference_attachments("alice", &ids(&["a1", "a2", "missing"]), &to_bob("m1"))
            .await
            .unwrap()
    );
    assert_eq!((refs("a1").await, refs("a2").await), (Some(0), Some(0)));

    for _ in 0..2 {
        assert!(
            store
                .reference_attachments("alice", &ids(&["a1", "a1"]), &to_bob("m2"))
                .await
                .unwrap()
        );
    }
    assert_eq!(
        refs("a1").await,
        Some(1),
        "one per message, resends included"
    );

    // A hold without its reference, as a node that died between the two writes leaves it.
    store
        .database()
        .collection::<Document>("attachments")
        .update_one(doc! { "_id": "a3" }, doc! { "$inc": { "refs": 1_i64 } })
        .await
        .unwrap();
    let cutoff = T0 + 1;
    assert!(!store.claim_attachment("a3", cutoff).await.unwrap());
    assert!(!store.claim_attachment("a1", cutoff).await.unwrap());
    assert!(store.claim_attachment("a2", cutoff).await.unwrap());
    assert_eq!(
        store.collectable_attachments(cutoff, 10).await.unwrap(),
        ["a2"],
        "a drifted count keeps its attachment"
    );
}

/// GridFS file `file` in bucket `blobs`: whether it has a files document, and how many chunks.
/// (Not `count_documents`: it aggregates, which the test server answers by a fallback.)
async fn gridfs_file(db: &mongodb::Database, file: ObjectId) -> (bool, usize) {
    let files: Vec<Document> = db
        .collection::<Document>("blobs.files")
        .find(doc! { "_id": file })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let chunks: Vec<Document> = db
        .collection::<Document>("blobs.chunks")
        .find(doc! { "files_id": file })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    (!files.is_empty(), chunks.len())
}

/// Blob `id`'s document in `blobs` (any state), and the GridFS file it names: whether that
/// file has a files document, and how many chunks.
async fn gridfs_state(db: &mongodb::Database, id: &str) -> Option<(String, bool, usize)> {
    let blob = db
        .collection::<Document>("blobs")
        .find_one(doc! { "_id": id })
        .await
        .unwrap()?;
    let file = ObjectId::parse_str(blob.get_str("file").unwrap()).unwrap();
    let (has_files_doc, chunks) = gridfs_file(db, file).await;
    Some((
        blob.get_str("state").unwrap().to_owned(),
        has_files_doc,
        chunks,
    ))
}

/// Uploads a crash cut short (a document in `blobs` not complete, with its GridFS file) are
/// never served; the next open clears those begun long ago and deletions cut short, and
/// deleting the id clears the rest.
#[tokio::test]
async fn gridfs_leftovers_are_cleared() {
    use futures::io::AsyncWriteExt as _;
    use mongodb::bson::Bson;
    use mongodb::options::GridFsBucketOptions;
    use nexchat_core::blobs::{BlobError, BlobStore};

    let (blobs, guard) = fresh_blobs().await;
    let client = mongodb::Client::with_uri_str(uri()).await.unwrap();
    let db = client.database(&guard.0);
    let bucket = db.gridfs_bucket(
        GridFsBucketOptions::builder()
            .bucket_name("blobs".to_owned())
            .build(),
    );
    let new_id = || uuid::Uuid::new_v4().to_string();
    let (young, old, deleting) = (new_id(), new_id(), new_id());
    let now = nexchat_core::Clock::now_ms(&nexchat_core::SystemClock);
    let mut files = Vec::new();
    for (id, state, started_at) in [
        (&young, "writing", now),
        (&old, "writing", 0),
        (&deleting, "deleting", now),
    ] {
        let file = ObjectId::new();
        let mut stream = bucket
            .open_upload_stream(id)
            .id(Bson::ObjectId(file))
            .await
            .unwrap();
        stream.write_all(b"half").await.unwrap();
        stream.close().await.unwrap();
        db.collection::<Document>("blobs")
            .insert_one(doc! { "_id": id, "state": state, "file": file.to_hex(),
            "chunkSize": 261_120_i64, "length": 0_i64, "startedAt": started_at })
            .await
            .unwrap();
        assert_eq!(gridfs_file(&db, file).await, (true, 1));
        files.push(file);
    }
    for id in [&young, &old, &deleting] {
        assert_eq!(blobs.size(id).await.unwrap(), None, "{id} is not a blob");
        assert!(blobs.get(id, None).await.unwrap().is_none());
    }
    assert!(
        matches!(
            blobs.put(&young, upload(b"mine"), 100).await,
            Err(BlobError::Exists(_))
        ),
        "an upload in progress (or cut short lately) holds its id"
    );

    let reopened = GridFsBlobStore::connect(&uri(), &guard.0).await.unwrap();
    assert_eq!(
        gridfs_state(&db, &old).await,
        None,
        "an old upload is cleared"
    );
    assert_eq!(
        gridfs_file(&db, files[1]).await,
        (false, 0),
        "with its file"
    );
    assert_eq!(
        gridfs_state(&db, &deleting).await,
        None,
        "a deletion is finished"
    );
    assert_eq!(
        gridfs_file(&db, files[2]).await,
        (false, 0),
        "with its file"
    );
    assert_eq!(
        gridfs_state(&db, &young).await,
        Some(("writing".to_owned(), true, 1)),
        "a recent upload may be another node's, still going"
    );
    assert_eq!(reopened.size(&young).await.unwrap(), None);

    assert!(
        !reopened.delete(&young).await.unwrap(),
        "an unfinished upload was no blob"
    );
    assert_eq!(gridfs_state(&db, &young).await, None, "but it is cleared");
    assert_eq!(
        gridfs_file(&db, files[0]).await,
        (false, 0),
        "with its file"
    );
    assert_eq!(
        reopened.put(&young, upload(b"whole"), 100).await.unwrap(),
        5
    );
    let blob = reopened
        .get(&young, None)
        .await
        .unwrap()
        .expect("the new blob");
    let body: Vec<bytes::Bytes> = blob.body.try_collect().await.unwrap();
    assert_eq!(body.concat(), b"whole");
}

/// A GridFS upload cut off halfway (its chunks written, its files document perhaps too: the
/// test server writes one at the first chunk) is never served, holds its id against a second
/// put without harm, and is cleared with its chunks once its put is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridfs_half_upload_is_never_served() {
    use futures::StreamExt as _;
    use nexchat_core::blobs::{BlobError, BlobStore, ByteStream};

    let (blobs, guard) = fresh_blobs().await;
    let client = mongodb::Client::with_uri_str(uri()).await.unwrap();
    let db = client.database(&guard.0);
    let id = uuid::Uuid::new_v4().to_string();
    // Two whole chunks and part of a third, then a client that never sends the rest.
    let first: ByteStream = upload(&vec![7; 600 * 1024]);
    let stalled: ByteStream = Box::pin(first.chain(futures::stream::pending()));
    let store = blobs.clone();
    let put_id = id.clone();
    let put = tokio::spawn(async move { store.put(&put_id, stalled, 1 << 20).await });
    let mut state = gridfs_state(&db, &id).await;
    for _ in 0..100 {
        if matches!(&state, Some((_, _, chunks)) if *chunks == 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        state = gridfs_state(&db, &id).await;
    }
    let (st, _, chunks) = state.clone().expect("the upload's document");
    assert_eq!(
        (st.as_str(), chunks),
        ("writing", 2),
        "half written: {state:?}"
    );

    assert_eq!(
        blobs.size(&id).await.unwrap(),
        None,
        "a half upload has no size"
    );
    assert!(
        blobs.get(&id, None).await.unwrap().is_none(),
        "nor is it served"
    );
    assert!(matches!(
        blobs.put(&id, upload(b"other"), 100).await,
        Err(BlobError::Exists(_))
    ));
    // The upload's own chunks and state are what a refused put could harm. Whether the files
    // document exists yet is the test server's business (nx-27017 makes one with the first
    // chunk, a little after it; MongoDB's GridFS only at the end), so it is not compared.
    let after = gridfs_state(&db, &id).await.expect("the upload's document");
    assert_eq!(
        (after.0.as_str(), after.2),
        ("writing", 2),
        "the refused put left the upload alone"
    );

    put.abort();
    assert!(put.await.unwrap_err().is_cancelled());
    let mut left = gridfs_state(&db, &id).await;
    for _ in 0..50 {
        if left.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = gridfs_state(&db, &id).await;
    }
    assert_eq!(left, None, "the dropped upload is cleared");
    let orphans: Vec<Document> = db
        .collection::<Document>("blobs.chunks")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        orphans.is_empty(),
        "no chunk is left: {} found",
        orphans.len()
    );

    assert_eq!(blobs.put(&id, upload(b"again"), 100).await.unwrap(), 5);
    let blob = blobs.get(&id, None).await.unwrap().expect("the new blob");
    let body: Vec<bytes::Bytes> = blob.body.try_collect().await.unwrap();
    assert_eq!(body.concat(), b"again");
    let (st, has_files_doc, chunks) = gridfs_state(&db, &id).await.unwrap();
    assert_eq!((st.as_str(), has_files_doc, chunks), ("complete", true, 1));
}
