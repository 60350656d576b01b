//! The friend guard is linearizable with unfriending: once `/friends/remove` has answered, no
//! message, typing or call offer between the two is accepted on this node, even when the guard's
//! store read began before the unfriend and finished after it.
//!
//! The store is the real test store behind a wrapper that makes that interleaving happen on
//! every run: armed, its next `are_friends` reads the real answer ("friends"), says so, and then
//! holds that answer back until the unfriend's `delete_link` has committed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use common::*;
use nexchat_core::protocol::{CallRecord, CallStatus, Conversation, MessageStatus, StoredMessage};
use nexchat_core::store::{
    CallLine, CallStore, Credentials, FriendLink, FriendStore, Inserted, LineTaken, LinkStatus,
    MessageStore, Page, SessionRecord, SessionStore, Store, StoreResult, UserRecord, UserStore,
};
use nexchat_core::{Chat, ManualClock};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The real store, with `are_friends` made slow on demand (see the module docs).
struct SlowFriendsStore {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
    /// Told when the armed read has its answer.
    read_done: Notify,
    /// Told when a `delete_link` has removed a link.
    unfriended: Notify,
}

nexchat_core::forward_group_store!(SlowFriendsStore, inner);
nexchat_core::forward_attachment_store!(SlowFriendsStore, inner);

#[async_trait]
impl FriendStore for SlowFriendsStore {
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        let answer = self.inner.are_friends(a, b).await;
        if self.armed.swap(false, Ordering::SeqCst) {
            self.read_done.notify_one();
            self.unfriended.notified().await;
        }
        answer
    }
    async fn delete_link(&self, s: &str, r: &str, status: LinkStatus) -> StoreResult<bool> {
        let deleted = self.inner.delete_link(s, r, status).await;
        if matches!(deleted, Ok(true)) {
            self.unfriended.notify_one();
        }
        deleted
    }
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        self.inner.link(a, b).await
    }
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        self.inner.create_request(sender, receiver).await
    }
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        self.inner.transition_link(sender, receiver, from, to).await
    }
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        self.inner.links_of(user).await
    }
    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        self.inner.delete_links_of(user).await
    }
}

#[async_trait]
impl UserStore for SlowFriendsStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.inner.create_user(user).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.inner.find_user(username).await
    }
    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        self.inner.set_public_key(username, public_key).await
    }
    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.inner.search_users(prefix, exclude, limit).await
    }
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        self.inner
            .replace_credentials(username, expected_hash, credentials)
            .await
    }
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        self.inner.mark_erasing(username).await
    }
    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        self.inner.erasing_users().await
    }
    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        self.inner.tombstone_user(username).await
    }
}

#[async_trait]
impl MessageStore for SlowFriendsStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        self.inner.insert_message(message).await
    }
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        self.inner.insert_messages(messages).await
    }
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        self.inner.get_message(id).await
    }
    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        self.inner.advance_status(sender, receiver, ids, to).await
    }
    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        self.inner.history(a, b, before, limit).await
    }
    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        self.inner.undelivered(receiver, after, limit).await
    }
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        self.inner.conversations(user, before, limit).await
    }
    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        self.inner.delete_messages_of(user).await
    }
}

#[async_trait]
impl CallStore for SlowFriendsStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        self.inner.insert_call(call).await
    }
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        self.inner.update_call(call, expected).await
    }
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        self.inner.get_call(call_id).await
    }
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        self.inner.call_history(a, b, before, limit).await
    }
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        self.inner.unfinished_calls().await
    }
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        self.inner.delete_calls_of(user).await
    }
    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        self.inner.take_call_lines(call, node).await
    }
    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        self.inner.release_call_lines(call_id).await
    }
    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        self.inner.call_lines_of(user).await
    }
    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        self.inner.call_lines().await
    }
}

#[async_trait]
impl SessionStore for SlowFriendsStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.inner.create_session(session).await
    }
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.inner.find_session(id).await
    }
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        self.inner.sessions_of(username).await
    }
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        self.inner.existing_sessions(ids).await
    }
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        self.inner.touch_session(id, at).await
    }
    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_session(id).await
    }
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        self.inner.delete_expired_sessions(username, now).await
    }
}

/// Two online friends on a server whose store's `are_friends` can be made slow.
struct Setup {
    server: TestServer,
    store: Arc<SlowFriendsStore>,
    alice: User,
    bob: User,
    a: Ws,
    b: Ws,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::starting_now();
    let store = Arc::new(SlowFriendsStore {
        inner: shared_store(&dir).await,
        armed: AtomicBool::new(false),
        read_done: Notify::new(),
        unfriended: Notify::new(),
    });
    let chat = Chat::builder_shared(test_config(), Arc::clone(&store) as Arc<dyn Store>)
        .clock(clock.clone())
        .build()
        .await
        .expect("chat");
    let server = TestServer::serve(chat, clock, dir, |router| router).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    let (b, _) = server.connect(&bob).await;
    a.expect("presence").await;
    Setup {
        server,
        store,
        alice,
        bob,
        a,
        b,
    }
}

/// Sends `relay` on alice's socket while the guard's read of the friendship is held back; once
/// that read has its answer ("friends"), alice removes bob, and the read finishes only after
/// the removal committed. Returns once `/friends/remove` has answered 200.
async fn relay_racing_the_unfriend(setup: &mut Setup, relay: Value) {
    setup.store.armed.store(true, Ordering::SeqCst);
    setup.a.send(relay).await;
    setup.store.read_done.notified().await;
    let (status, body) = setup
        .server
        .post(
            "/friends/remove",
            Some(&setup.alice.token),
            &json!({"target": setup.bob.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !setup.store.armed.load(Ordering::SeqCst),
        "the relay's read was the one held back"
    );
}

/// Bob learns he was removed, and nothing else.
async fn bob_only_learns_he_was_removed(b: &mut Ws) {
    let removed = b.expect("friend_removed").await;
    assert!(removed["from"].is_string(), "{removed}");
    b.expect_silence().await;
}

#[tokio::test]
async fn a_message_whose_check_overlapped_the_unfriend_is_refused_and_not_stored() {
    let mut setup = setup().await;
    let id = new_id();
    let relay = message(&setup.bob.name, &id);
    relay_racing_the_unfriend(&mut setup, relay).await;
    let refused = setup.a.expect_error("not_friends").await;
    assert_eq!(refused["ref"], id.as_str());
    bob_only_learns_he_was_removed(&mut setup.b).await;
    // Not stored: the history between the two (still readable) is empty.
    setup
        .b
        .send(json!({"type": "fetch_history", "withUser": setup.alice.name}))
        .await;
    let history = setup.b.expect("history_response").await;
    assert_eq!(history["messages"], json!([]), "{history}");
    // And the next one is refused too, without any store read held back.
    setup.a.send(message(&setup.bob.name, &new_id())).await;
    setup.a.expect_error("not_friends").await;
    setup.b.expect_silence().await;
}

#[tokio::test]
async fn typing_whose_check_overlapped_the_unfriend_is_refused() {
    let mut setup = setup().await;
    let typing = json!({"type": "typing", "to": setup.bob.name, "isTyping": true});
    relay_racing_the_unfriend(&mut setup, typing.clone()).await;
    setup.a.expect_error("not_friends").await;
    bob_only_learns_he_was_removed(&mut setup.b).await;
    // Closing alice's socket tells bob nothing: no typing report of hers was recorded.
    setup.a.close().await;
    setup.b.expect_silence().await;
}

#[tokio::test]
async fn a_call_offer_whose_check_overlapped_the_unfriend_is_refused_and_not_logged() {
    let mut setup = setup().await;
    let offer = json!({"type": "call_offer", "to": setup.bob.name,
                       "offer": {"type": "offer", "sdp": "v=0"}, "withVideo": false});
    relay_racing_the_unfriend(&mut setup, offer).await;
    setup.a.expect_error("not_friends").await;
    setup.a.expect_silence().await;
    bob_only_learns_he_was_removed(&mut setup.b).await;
    setup
        .b
        .send(json!({"type": "fetch_call_history", "withUser": setup.alice.name}))
        .await;
    let calls = setup.b.expect("call_history_response").await;
    assert_eq!(calls["calls"], json!([]), "{calls}");
}

/// The same race, with a message already on its way: one whose check passed before the unfriend
/// is stored and pushed before `/friends/remove` answers, never after it.
#[tokio::test]
async fn a_message_admitted_before_the_unfriend_reaches_bob_before_the_removal() {
    let mut setup = setup().await;
    let id = new_id();
    setup.a.send(message(&setup.bob.name, &id)).await;
    let (status, body) = setup
        .server
        .post(
            "/friends/remove",
            Some(&setup.alice.token),
            &json!({"target": setup.bob.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Either the message was admitted first, and then bob has it before he learns of the
    // removal, or it was refused; never the removal first and the message after.
    let first = setup.b.recv().await;
    if first["type"] == "receive_message" {
        assert_eq!(first["id"], id.as_str());
        setup.a.expect("message_sent").await;
        setup.b.expect("friend_removed").await;
    } else {
        assert_eq!(first["type"], "friend_removed", "{first}");
        setup.a.expect_error("not_friends").await;
    }
    setup.b.expect_silence().await;
}
