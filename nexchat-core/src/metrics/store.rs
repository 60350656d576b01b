//! [`MeteredStore`]: the chat's store with the time of every call recorded.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{MESSAGES_STORED, STORE_ERRORS, STORE_SECONDS};
use crate::protocol::{CallRecord, CallStatus, Conversation, MessageStatus, StoredMessage};
use crate::store::{
    CallLine, CallStore, Credentials, FriendLink, FriendStore, Inserted, LineTaken, LinkStatus,
    MessageStore, Page, SessionRecord, SessionStore, Store, StoreResult, UserRecord, UserStore,
};

/// Forwards every call to the store it wraps, recording how long the call took
/// ([`STORE_SECONDS`], by method), whether it failed ([`STORE_ERRORS`]) and how many messages
/// it newly stored ([`MESSAGES_STORED`]). Every method is forwarded, the batch insert too, so a
/// backend's own batching is kept.
pub(crate) struct MeteredStore {
    pub(super) inner: Arc<dyn Store>,
}

impl std::fmt::Debug for MeteredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredStore").finish_non_exhaustive()
    }
}

impl MeteredStore {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

/// Runs one store call and records it under `op`.
pub(super) async fn timed<T>(
    op: &'static str,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let start = Instant::now();
    let result = call.await;
    record(op, start, result.is_err());
    result
}

fn record(op: &'static str, start: Instant, failed: bool) {
    ::metrics::histogram!(STORE_SECONDS, "op" => op).record(start.elapsed().as_secs_f64());
    if failed {
        ::metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
    }
}

/// Counts the messages an insert stored for the first time.
fn count_stored(inserted: &[StoreResult<Inserted>]) {
    let new = inserted
        .iter()
        .filter(|i| matches!(i, Ok(Inserted::New(_))))
        .count();
    if new > 0 {
        ::metrics::counter!(MESSAGES_STORED).increment(new as u64);
    }
}

#[async_trait]
impl UserStore for MeteredStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        timed("create_user", self.inner.create_user(user)).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        timed("find_user", self.inner.find_user(username)).await
    }
    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        timed(
            "set_public_key",
            self.inner.set_public_key(username, public_key),
        )
        .await
    }
    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        timed(
            "search_users",
            self.inner.search_users(prefix, exclude, limit),
        )
        .await
    }
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        timed(
            "replace_credentials",
            self.inner
                .replace_credentials(username, expected_hash, credentials),
        )
        .await
    }
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        timed("mark_erasing", self.inner.mark_erasing(username)).await
    }
    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        timed("erasing_users", self.inner.erasing_users()).await
    }
    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        timed("tombstone_user", self.inner.tombstone_user(username)).await
    }
}

#[async_trait]
impl FriendStore for MeteredStore {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        timed("link", self.inner.link(a, b)).await
    }
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        timed(
            "create_request",
            self.inner.create_request(sender, receiver),
        )
        .await
    }
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        timed(
            "transition_link",
            self.inner.transition_link(sender, receiver, from, to),
        )
        .await
    }
    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool> {
        timed(
            "delete_link",
            self.inner.delete_link(sender, receiver, status),
        )
        .await
    }
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        timed("links_of", self.inner.links_of(user)).await
    }
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        timed("are_friends", self.inner.are_friends(a, b)).await
    }
    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        timed("delete_links_of", self.inner.delete_links_of(user)).await
    }
}

#[async_trait]
impl MessageStore for MeteredStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        let inserted = timed("insert_message", self.inner.insert_message(message)).await;
        count_stored(std::slice::from_ref(&inserted));
        inserted
    }
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        let start = Instant::now();
        let inserted = self.inner.insert_messages(messages).await;
        record(
            "insert_messages",
            start,
            inserted.iter().any(Result::is_err),
        );
        count_stored(&inserted);
        inserted
    }
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        timed("get_message", self.inner.get_message(id)).await
    }
    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        timed(
            "advance_status",
            self.inner.advance_status(sender, receiver, ids, to),
        )
        .await
    }
    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        timed("history", self.inner.history(a, b, before, limit)).await
    }
    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        timed(
            "undelivered",
            self.inner.undelivered(receiver, after, limit),
        )
        .await
    }
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        timed(
            "conversations",
            self.inner.conversations(user, before, limit),
        )
        .await
    }
    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        timed("delete_messages_of", self.inner.delete_messages_of(user)).await
    }
}

#[async_trait]
impl CallStore for MeteredStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        timed("insert_call", self.inner.insert_call(call)).await
    }
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        timed("update_call", self.inner.update_call(call, expected)).await
    }
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        timed("get_call", self.inner.get_call(call_id)).await
    }
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        timed("call_history", self.inner.call_history(a, b, before, limit)).await
    }
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        timed("unfinished_calls", self.inner.unfinished_calls()).await
    }
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        timed("delete_calls_of", self.inner.delete_calls_of(user)).await
    }
    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        timed("take_call_lines", self.inner.take_call_lines(call, node)).await
    }
    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        timed("release_call_lines", self.inner.release_call_lines(call_id)).await
    }
    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        timed("call_lines_of", self.inner.call_lines_of(user)).await
    }
    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        timed("call_lines", self.inner.call_lines()).await
    }
}

#[async_trait]
impl SessionStore for MeteredStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        timed("create_session", self.inner.create_session(session)).await
    }
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        timed("find_session", self.inner.find_session(id)).await
    }
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        timed("sessions_of", self.inner.sessions_of(username)).await
    }
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        timed("existing_sessions", self.inner.existing_sessions(ids)).await
    }
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        timed("touch_session", self.inner.touch_session(id, at)).await
    }
    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        timed("delete_session", self.inner.delete_session(id)).await
    }
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        timed(
            "delete_expired_sessions",
            self.inner.delete_expired_sessions(username, now),
        )
        .await
    }
}
