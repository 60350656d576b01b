//! Records to test a store with, the same ones the checks use: a backend's own tests build
//! theirs from these rather than keeping copies. The rest of this module is what the checks
//! share among themselves.

use std::future::Future;
use std::sync::Arc;

use super::Fixture;
use crate::protocol::{CallKind, CallRecord, CallStatus, MessageStatus, StoredMessage};
use crate::store::{
    AttachmentRecord, AttachmentRef, AttachmentState, FriendLink, Inserted, LinkStatus, Page,
    Store, UserRecord,
};

/// An arbitrary fixed time (ms) the checks count from.
pub const T0: i64 = 1_700_000_000_000;

/// A live user named `name` (as registered), created at [`T0`], with a password hash and a key
/// backup that name it, no public key and no `kdf`.
pub fn user(name: &str) -> UserRecord {
    UserRecord {
        username: name.to_owned(),
        password_hash: Some(format!("$2b$12$hash-of-{name}")),
        public_key: None,
        encrypted_private_key: Some(format!(r#"{{"wrapped":"{name}"}}"#)),
        created_at: T0,
        kdf: None,
    }
}

/// A message `sender → receiver` in status `sent`, with a ciphertext and IV that name its id.
pub fn msg(id: &str, sender: &str, receiver: &str, timestamp: i64) -> StoredMessage {
    StoredMessage {
        id: id.to_owned(),
        sender: sender.to_owned(),
        receiver: receiver.to_owned(),
        ciphertext: format!("Y2lwaGVy-{id}"),
        iv: format!("aXY-{id}"),
        timestamp,
        status: MessageStatus::Sent,
    }
}

/// A ringing voice call `caller → callee` offered at `started_at` (ms).
pub fn call(id: &str, caller: &str, callee: &str, started_at: i64) -> CallRecord {
    CallRecord {
        call_id: id.to_owned(),
        caller: caller.to_owned(),
        callee: callee.to_owned(),
        kind: CallKind::Voice,
        status: CallStatus::Ringing,
        started_at,
        answered_at: None,
        ended_at: None,
        duration: 0,
        end_reason: None,
    }
}

/// A link `sender → receiver` in state `status`.
pub fn link(sender: &str, receiver: &str, status: LinkStatus) -> FriendLink {
    FriendLink {
        sender: sender.to_owned(),
        receiver: receiver.to_owned(),
        status,
    }
}

/// An upload of `size` bytes by `owner`, begun at `created_at` (state uploading).
pub fn upload(id: &str, owner: &str, size: u64, created_at: i64) -> AttachmentRecord {
    AttachmentRecord {
        id: id.to_owned(),
        owner: owner.to_owned(),
        size,
        state: AttachmentState::Uploading,
        created_at,
    }
}

/// A reference from 1:1 message `message` to bob.
pub fn to_bob(message: &str) -> AttachmentRef {
    AttachmentRef::Direct {
        message: message.to_owned(),
        receiver: "bob".to_owned(),
    }
}

pub(super) fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn message_ids(items: &[StoredMessage]) -> Vec<&str> {
    items.iter().map(|m| m.id.as_str()).collect()
}

pub(super) fn call_ids(items: &[CallRecord]) -> Vec<&str> {
    items.iter().map(|c| c.call_id.as_str()).collect()
}

pub(super) async fn create_users<S: Store>(store: &S, names: &[&str]) {
    for name in names {
        store
            .create_user(&user(name))
            .await
            .unwrap_or_else(|e| panic!("create_user({name}) failed: {e}"));
    }
}

/// Inserts a message that must be new; returns it as stored.
pub(super) async fn insert_new<S: Store>(store: &S, message: &StoredMessage) -> StoredMessage {
    match store.insert_message(message).await {
        Ok(Inserted::New(stored)) => stored,
        other => panic!("insert_message({}) of a new id gave {other:?}", message.id),
    }
}

pub(super) async fn insert_all<S: Store>(
    store: &S,
    messages: &[StoredMessage],
) -> Vec<StoredMessage> {
    let mut stored = Vec::new();
    for m in messages {
        stored.push(insert_new(store, m).await);
    }
    stored
}

pub(super) async fn status_of<S: Store>(store: &S, id: &str) -> MessageStatus {
    store
        .get_message(id)
        .await
        .expect("get_message failed")
        .unwrap_or_else(|| panic!("message {id} vanished"))
        .status
}

pub(super) async fn history<S: Store>(
    store: &S,
    a: &str,
    b: &str,
    before: Option<&str>,
    limit: usize,
) -> Page<StoredMessage> {
    store
        .history(a, b, before, limit)
        .await
        .unwrap_or_else(|e| panic!("history({a}, {b}, {before:?}, {limit}) failed: {e}"))
}

/// Every message still `sent` to `receiver`, read through `undelivered` a few at a time, so
/// the pages must join up in order.
pub(super) async fn inbox<S: Store>(store: &S, receiver: &str) -> Vec<StoredMessage> {
    let mut all: Vec<StoredMessage> = Vec::new();
    loop {
        let after = all.last().map(|m| m.id.clone());
        let page = store
            .undelivered(receiver, after.as_deref(), 2)
            .await
            .expect("undelivered failed");
        assert!(
            page.items.len() <= 2,
            "a page holds at most `limit` messages"
        );
        assert!(
            page.has_more || page.items.len() <= 2,
            "has_more is false only on the last page"
        );
        all.extend(page.items);
        if !page.has_more {
            return all;
        }
    }
}

pub(super) async fn advance<S: Store>(
    store: &S,
    sender: &str,
    receiver: &str,
    ids: Option<&[&str]>,
    to: MessageStatus,
) -> Vec<String> {
    let ids = ids.map(strings);
    store
        .advance_status(sender, receiver, ids.as_deref(), to)
        .await
        .unwrap_or_else(|e| panic!("advance_status({sender} -> {receiver}, {to:?}) failed: {e}"))
}

pub(super) async fn get_link<S: Store>(store: &S, a: &str, b: &str) -> Option<FriendLink> {
    store.link(a, b).await.expect("link failed")
}

pub(super) fn sorted_links(mut links: Vec<FriendLink>) -> Vec<FriendLink> {
    links.sort_by(|x, y| (&x.sender, &x.receiver).cmp(&(&y.sender, &y.receiver)));
    links
}

/// Runs `n` copies of a task at once, task `i` built by `task(i)`; returns results by `i`.
pub(super) async fn race<X, T, Fut>(
    fixture: &Arc<X>,
    n: usize,
    task: impl Fn(Arc<X>, usize) -> Fut,
) -> Vec<T>
where
    X: Fixture,
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n)
        .map(|i| tokio::spawn(task(Arc::clone(fixture), i)))
        .collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("a racing task panicked"));
    }
    results
}
