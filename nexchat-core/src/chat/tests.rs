//! Unit tests of [`Chat`] on the in-memory store, tokio's paused clock and the chat's
//! [`ManualClock`]: what the socket-level suites cannot pin down because it is about the order
//! of steps inside the server (a batch still being written, a call's turn still held).
//!
//! A [`GatedStore`] can hold one write in the store until the test lets it go, so a test can
//! look at what the chat does meanwhile. Nothing waits on wall-clock time: a step that never
//! comes fails the test when tokio's paused clock, which jumps ahead whenever every task is
//! idle, reaches [`PATIENCE`].
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::Chat;
use super::transport::Caller;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::conformance::support::{T0, user};
use crate::error::ChatError;
use crate::identity::Principal;
use crate::protocol::{
    CallRecord, CallStatus, ClientEvent, Conversation, MessageStatus, StoredMessage,
};
use crate::session::{Outbound, Session, SessionOutbox};
use crate::store::memory::MemoryStore;
use crate::store::{
    CallLine, CallStore, Credentials, FriendLink, FriendStore, Inserted, LineTaken, LinkStatus,
    MessageStore, Page, SessionRecord, SessionStore, StoreResult, UserRecord, UserStore,
};

/// How long (on tokio's paused clock) a test waits for a step before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Holds the next write that passes it until [`Gate::open`]; lets every other write through.
#[derive(Debug, Default)]
struct Gate {
    armed: AtomicBool,
    entered: Notify,
    open: Notify,
}

impl Gate {
    /// Makes the next write that passes wait.
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until the held write has reached the store.
    async fn entered(&self) {
        tokio::time::timeout(PATIENCE, self.entered.notified())
            .await
            .expect("the gated write never reached the store");
    }

    /// Lets the held write go on.
    fn open(&self) {
        self.open.notify_one();
    }

    async fn pass(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.open.notified().await;
        }
    }
}

/// A [`MemoryStore`] whose message batches and call updates can be held at a [`Gate`].
#[derive(Debug, Default)]
struct GatedStore {
    db: MemoryStore,
    inserts: Gate,
    call_updates: Gate,
}

crate::forward_group_store!(GatedStore, db);
crate::forward_attachment_store!(GatedStore, db);

#[async_trait]
impl UserStore for GatedStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        self.db.create_user(user).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.db.find_user(username).await
    }
    async fn set_public_key(&self, username: &str, key: &str) -> StoreResult<()> {
        self.db.set_public_key(username, key).await
    }
    async fn search_users(&self, prefix: &str, ex: &str, n: usize) -> StoreResult<Vec<String>> {
        self.db.search_users(prefix, ex, n).await
    }
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        self.db
            .replace_credentials(username, expected_hash, credentials)
            .await
    }
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        self.db.mark_erasing(username).await
    }
    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        self.db.erasing_users().await
    }
    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        self.db.tombstone_user(username).await
    }
}

#[async_trait]
impl FriendStore for GatedStore {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        self.db.link(a, b).await
    }
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        self.db.create_request(sender, receiver).await
    }
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        self.db.transition_link(sender, receiver, from, to).await
    }
    async fn delete_link(&self, sender: &str, receiver: &str, st: LinkStatus) -> StoreResult<bool> {
        self.db.delete_link(sender, receiver, st).await
    }
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        self.db.links_of(user).await
    }
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        self.db.are_friends(a, b).await
    }
    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        self.db.delete_links_of(user).await
    }
}

#[async_trait]
impl MessageStore for GatedStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        self.inserts.pass().await;
        self.db.insert_message(message).await
    }
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        self.inserts.pass().await;
        self.db.insert_messages(messages).await
    }
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        self.db.get_message(id).await
    }
    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        self.db.advance_status(sender, receiver, ids, to).await
    }
    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        self.db.history(a, b, before, limit).await
    }
    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        self.db.undelivered(receiver, after, limit).await
    }
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        self.db.conversations(user, before, limit).await
    }
    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        self.db.delete_messages_of(user).await
    }
}

#[async_trait]
impl CallStore for GatedStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        self.db.insert_call(call).await
    }
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        self.call_updates.pass().await;
        self.db.update_call(call, expected).await
    }
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        self.db.get_call(call_id).await
    }
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        self.db.call_history(a, b, before, limit).await
    }
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        self.db.unfinished_calls().await
    }
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        self.db.delete_calls_of(user).await
    }
    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        self.db.take_call_lines(call, node).await
    }
    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        self.db.release_call_lines(call_id).await
    }
    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        self.db.call_lines_of(user).await
    }
    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        self.db.call_lines().await
    }
}

#[async_trait]
impl SessionStore for GatedStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.db.create_session(session).await
    }
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.db.find_session(id).await
    }
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        self.db.sessions_of(username).await
    }
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        self.db.existing_sessions(ids).await
    }
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        self.db.touch_session(id, at).await
    }
    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        self.db.delete_session(id).await
    }
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        self.db.delete_expired_sessions(username, now).await
    }
}

/// A chat over a [`GatedStore`] the test keeps a handle to, with users and friendships made
/// directly in the store.
struct World {
    chat: Chat,
    store: Arc<GatedStore>,
    clock: ManualClock,
}

impl World {
    /// `users` exist; each pair in `friends` are friends.
    async fn new(users: &[&str], friends: &[(&str, &str)]) -> Self {
        let store = Arc::new(GatedStore::default());
        for name in users {
            store.create_user(&user(name)).await.unwrap();
        }
        for (a, b) in friends {
            assert!(store.create_request(a, b).await.unwrap());
            let accepted = store
                .transition_link(a, b, LinkStatus::Pending, LinkStatus::Accepted)
                .await
                .unwrap();
            assert!(accepted);
        }
        let clock = ManualClock::new(T0);
        let chat = Chat::builder(
            Config::new("a unit test secret of at least 32 bytes").expect("a long enough secret"),
            Arc::clone(&store),
        )
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
        Self { chat, store, clock }
    }

    /// A socket of `name`, connected but not greeted yet.
    async fn connect(&self, name: &str) -> (Session, SessionOutbox) {
        let caller = Caller::from(Principal {
            username: name.to_owned(),
            expires_at: None,
        });
        self.chat.transport().connect(&caller).await.unwrap()
    }

    /// A greeted socket of `name`, its greeting already read.
    async fn online(&self, name: &str) -> (Session, SessionOutbox) {
        let (session, mut outbox) = self.connect(name).await;
        self.chat.transport().greet(&session).await.unwrap();
        let mut greeting = Vec::new();
        while greeting.last().map(kind) != Some("sync_done".to_owned()) {
            greeting.push(next(&mut outbox).await);
        }
        (session, outbox)
    }

    async fn send(&self, session: &Session, to: &str, id: &str) {
        let event = ClientEvent::SendMessage {
            receiver: to.to_owned(),
            ciphertext: "Y2lwaGVy".to_owned(),
            iv: "aXY=".to_owned(),
            id: Some(id.to_owned()),
            attachments: Vec::new(),
        };
        self.chat.handle(session, event).await.unwrap();
    }
}

/// The next frame on a socket, as JSON; fails the test if none comes.
async fn next(outbox: &mut SessionOutbox) -> Value {
    match tokio::time::timeout(PATIENCE, outbox.next()).await {
        Ok(Some(Outbound::Frame(frame))) => serde_json::from_str(&frame).unwrap(),
        Ok(other) => panic!("expected a frame, got {other:?}"),
        Err(_) => panic!("no frame came"),
    }
}

/// Every frame queued on a socket right now.
fn queued(outbox: &mut SessionOutbox) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Some(outbound) = outbox.try_next() {
        match outbound {
            Outbound::Frame(frame) => frames.push(serde_json::from_str(&frame).unwrap()),
            Outbound::Close(reason) => panic!("the socket was closed: {reason:?}"),
        }
    }
    frames
}

fn kind(frame: &Value) -> String {
    frame["type"].as_str().unwrap_or_default().to_owned()
}

/// Lets every other task run as far as it can without time passing.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

const M1: &str = "00000000-0000-4000-8000-000000000001";
const M2: &str = "00000000-0000-4000-8000-000000000002";
const M3: &str = "00000000-0000-4000-8000-000000000003";
const M4: &str = "00000000-0000-4000-8000-000000000004";

/// Sends are answered in the order their frames came, even when a later one is refused (or a
/// later batch is ready) while an earlier batch is still being written; nothing is answered
/// before its batch is stored; and any other event waits until the writes before it are
/// answered, so it sees them stored.
#[tokio::test(start_paused = true)]
async fn pipeline_answers_in_frame_order_after_each_batch_is_stored() {
    let world = World::new(&["alice", "bob", "carol"], &[("alice", "bob")]).await;
    let (alice, mut alice_out) = world.online("alice").await;

    world.store.inserts.arm();
    world.send(&alice, "bob", M1).await;
    world.store.inserts.entered().await;
    // M1's batch is in the store and held there. Behind it: a refusal known at once (carol is
    // not alice's friend), and a send for the next batch.
    world.send(&alice, "carol", M2).await;
    world.send(&alice, "bob", M3).await;
    let history = tokio::spawn({
        let (chat, alice) = (world.chat.clone(), alice.clone());
        async move {
            let event = ClientEvent::FetchHistory {
                with_user: "bob".to_owned(),
                before: None,
                limit: None,
            };
            chat.handle(&alice, event).await
        }
    });
    settle().await;
    assert_eq!(
        queued(&mut alice_out),
        Vec::<Value>::new(),
        "nothing may be answered while the first send's batch is not stored"
    );
    assert!(
        !history.is_finished(),
        "fetch_history must wait for the sends before it"
    );
    assert_eq!(world.store.get_message(M1).await.unwrap(), None);

    world.store.inserts.open();
    let frames = [
        next(&mut alice_out).await,
        next(&mut alice_out).await,
        next(&mut alice_out).await,
        next(&mut alice_out).await,
    ];
    history.await.unwrap().unwrap();
    let summary: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            let about = f["id"].as_str().or(f["ref"].as_str()).unwrap_or_default();
            (kind(f), about.to_owned())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("message_sent".to_owned(), M1.to_owned()),
            ("error".to_owned(), M2.to_owned()),
            ("message_sent".to_owned(), M3.to_owned()),
            ("history_response".to_owned(), String::new()),
        ],
        "answers in frame order, then the history: {frames:#?}"
    );
    assert_eq!(frames[1]["code"], "not_friends");
    let listed: Vec<&str> = frames[3]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [M3, M1], "the history sees both sends stored");
    assert!(frames[0]["timestamp"].as_i64() <= frames[2]["timestamp"].as_i64());
}

/// Pushes that come for a socket before its greeting is sent wait behind the whole greeting:
/// `online_users`, the offline messages, `sync_done`, and only then the push.
#[tokio::test(start_paused = true)]
async fn pushes_wait_behind_the_greeting() {
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let (bob, mut bob_out) = world.online("bob").await;
    world.send(&bob, "alice", M4).await;
    assert_eq!(kind(&next(&mut bob_out).await), "message_sent");

    let (alice, mut alice_out) = world.connect("alice").await;
    let typing = ClientEvent::Typing {
        to: "alice".to_owned(),
        is_typing: true,
    };
    world.chat.handle(&bob, typing).await.unwrap();
    settle().await;
    assert_eq!(
        queued(&mut alice_out),
        Vec::<Value>::new(),
        "a push must not reach a socket before its greeting"
    );

    world.chat.transport().greet(&alice).await.unwrap();
    let frames = queued(&mut alice_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["online_users", "receive_message", "sync_done", "typing"],
        "{frames:#?}"
    );
    assert_eq!(frames[0]["users"], json!(["bob"]));
    assert_eq!(frames[1]["id"], M4);
    assert_eq!(frames[3]["from"], "bob");
}

/// Places a call from `caller` to `callee` (both online); its id, with the offer read on the
/// callee's socket and `call_started` on the caller's.
async fn ring(
    world: &World,
    (caller, caller_out): (&Session, &mut SessionOutbox),
    callee_out: &mut SessionOutbox,
) -> String {
    let offer = ClientEvent::CallOffer {
        to: "bob".to_owned(),
        offer: json!({"sdp": "offer"}),
        with_video: false,
    };
    world.chat.handle(caller, offer).await.unwrap();
    let started = next(caller_out).await;
    assert_eq!(kind(&started), "call_started");
    assert_eq!(kind(&next(callee_out).await), "call_offer");
    started["callId"].as_str().unwrap().to_owned()
}

/// An answer and a hang-up racing on one call take turns: while the answer is being written,
/// the hang-up waits; then it ends the answered call. The log gets one answered, completed
/// call, never a missed call that was also answered.
#[tokio::test(start_paused = true)]
async fn a_hang_up_waits_for_the_answer_in_progress() {
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let (alice, mut alice_out) = world.online("alice").await;
    let (bob, mut bob_out) = world.online("bob").await;
    queued(&mut alice_out); // bob's presence
    let call_id = ring(&world, (&alice, &mut alice_out), &mut bob_out).await;

    world.store.call_updates.arm();
    let answering = tokio::spawn({
        let (chat, bob, call_id) = (world.chat.clone(), bob.clone(), call_id.clone());
        async move {
            let answer = ClientEvent::CallAnswer {
                to: "alice".to_owned(),
                answer: json!({"sdp": "answer"}),
                call_id: Some(call_id),
            };
            chat.handle(&bob, answer).await
        }
    });
    world.store.call_updates.entered().await;
    let hanging_up = tokio::spawn({
        let (chat, alice, call_id) = (world.chat.clone(), alice.clone(), call_id.clone());
        async move {
            let end = ClientEvent::CallEnded {
                to: "bob".to_owned(),
                call_id: Some(call_id),
            };
            chat.handle(&alice, end).await
        }
    });
    settle().await;
    assert!(
        !hanging_up.is_finished(),
        "the hang-up must wait while the answer holds the call's turn"
    );

    world.clock.advance(Duration::from_secs(3));
    world.store.call_updates.open();
    answering.await.unwrap().unwrap();
    hanging_up.await.unwrap().unwrap();

    let stored = world.store.get_call(&call_id).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Completed, "{stored:?}");
    assert_eq!(stored.answered_at, Some(T0));
    assert_eq!(stored.ended_at, Some(T0 + 3_000));
    assert_eq!(stored.duration, 3);
    let frames = queued(&mut alice_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["call_answer", "call_logged"],
        "{frames:#?}"
    );
    let frames = queued(&mut bob_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["call_ended", "call_logged"],
        "{frames:#?}"
    );
}

/// A decline from one socket of the callee that comes while another of its sockets is
/// answering waits for the answer's turn, and is then refused: that socket is not in the call,
/// and the answered call goes on.
#[tokio::test(start_paused = true)]
async fn a_decline_racing_an_answer_on_another_socket_is_refused_after_it() {
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let (alice, mut alice_out) = world.online("alice").await;
    let (bob1, mut bob1_out) = world.online("bob").await;
    let (bob2, mut bob2_out) = world.online("bob").await;
    queued(&mut alice_out); // bob's presence
    let call_id = ring(&world, (&alice, &mut alice_out), &mut bob1_out).await;
    assert_eq!(kind(&next(&mut bob2_out).await), "call_offer");

    world.store.call_updates.arm();
    let answering = tokio::spawn({
        let (chat, bob1, call_id) = (world.chat.clone(), bob1.clone(), call_id.clone());
        async move {
            let answer = ClientEvent::CallAnswer {
                to: "alice".to_owned(),
                answer: json!({"sdp": "answer"}),
                call_id: Some(call_id),
            };
            chat.handle(&bob1, answer).await
        }
    });
    world.store.call_updates.entered().await;
    let declining = tokio::spawn({
        let (chat, bob2, call_id) = (world.chat.clone(), bob2.clone(), call_id.clone());
        async move {
            let end = ClientEvent::CallEnded {
                to: "alice".to_owned(),
                call_id: Some(call_id),
            };
            chat.handle(&bob2, end).await
        }
    });
    settle().await;
    world.store.call_updates.open();
    answering.await.unwrap().unwrap();
    let declined = declining.await.unwrap();
    assert!(
        matches!(declined, Err(ChatError::NotFound(_))),
        "a socket left out of the answered call cannot end it: {declined:?}"
    );

    let stored = world.store.get_call(&call_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.answered_at),
        (CallStatus::InProgress, Some(T0)),
        "{stored:?}"
    );
    let frames = queued(&mut alice_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["call_answer"],
        "{frames:#?}"
    );
    let frames = queued(&mut bob2_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["call_answered_elsewhere"],
        "{frames:#?}"
    );
}

/// A ring timeout that falls due while the answer is being written waits for the answer's
/// turn, then finds the call answered and leaves it alone.
#[tokio::test(start_paused = true)]
async fn the_ring_timeout_waits_for_the_answer_in_progress() {
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let (alice, mut alice_out) = world.online("alice").await;
    let (bob, mut bob_out) = world.online("bob").await;
    queued(&mut alice_out);
    let call_id = ring(&world, (&alice, &mut alice_out), &mut bob_out).await;

    world.store.call_updates.arm();
    let answering = tokio::spawn({
        let (chat, bob, call_id) = (world.chat.clone(), bob.clone(), call_id.clone());
        async move {
            let answer = ClientEvent::CallAnswer {
                to: "alice".to_owned(),
                answer: json!({"sdp": "answer"}),
                call_id: Some(call_id),
            };
            chat.handle(&bob, answer).await
        }
    });
    world.store.call_updates.entered().await;
    world
        .clock
        .advance(world.chat.config().ring_timeout + Duration::from_secs(1));
    let sweeping = tokio::spawn({
        let chat = world.chat.clone();
        async move { chat.transport().sweep().await }
    });
    settle().await;
    assert!(
        !sweeping.is_finished(),
        "the ring timeout must wait while the answer holds the call's turn"
    );

    world.store.call_updates.open();
    answering.await.unwrap().unwrap();
    sweeping.await.unwrap();
    let stored = world.store.get_call(&call_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.answered_at),
        (CallStatus::InProgress, Some(T0)),
        "an answered call does not ring out: {stored:?}"
    );
    let frames = queued(&mut alice_out);
    assert_eq!(
        frames.iter().map(kind).collect::<Vec<_>>(),
        ["call_answer"],
        "{frames:#?}"
    );
}

/// With nobody answering, the sweep after the ring timeout (on the chat's clock) logs the call
/// missed and tells both parties.
#[tokio::test(start_paused = true)]
async fn an_unanswered_call_rings_out_on_the_chats_clock() {
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let (alice, mut alice_out) = world.online("alice").await;
    let (_bob, mut bob_out) = world.online("bob").await;
    queued(&mut alice_out);
    let call_id = ring(&world, (&alice, &mut alice_out), &mut bob_out).await;
    let timeout = world.chat.config().ring_timeout;

    world.clock.advance(timeout - Duration::from_millis(1));
    world.chat.transport().sweep().await;
    let stored = world.store.get_call(&call_id).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Ringing, "not yet rung out");

    world.clock.advance(Duration::from_millis(1));
    world.chat.transport().sweep().await;
    let stored = world.store.get_call(&call_id).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Missed);
    let rang = i64::try_from(timeout.as_millis()).unwrap();
    assert_eq!(stored.ended_at, Some(T0 + rang));
    for out in [&mut alice_out, &mut bob_out] {
        let frames = queued(out);
        assert_eq!(
            frames.iter().map(kind).collect::<Vec<_>>(),
            ["call_ended", "call_logged"],
            "{frames:#?}"
        );
    }
}

/// The transport's accounting follows the sockets: sessions and online users as they open and
/// close, and the bytes of a push from when it is queued until the writer takes it.
#[tokio::test(start_paused = true)]
async fn the_accounting_counts_sockets_and_queued_bytes() {
    use super::transport::{Stats, UserStats};
    let world = World::new(&["alice", "bob"], &[("alice", "bob")]).await;
    let transport = world.chat.transport();
    let zero = UserStats {
        sessions: 0,
        queued_bytes: 0,
    };
    assert_eq!(transport.user_stats("alice"), zero);
    let (alice1, mut alice1_out) = world.online("alice").await;
    let (alice2, mut alice2_out) = world.online("alice").await;
    let (bob, mut bob_out) = world.online("bob").await;
    // The others learn who came online; take those frames first.
    settle().await;
    for outbox in [&mut alice1_out, &mut alice2_out, &mut bob_out] {
        queued(outbox);
    }
    assert_eq!(
        transport.stats(),
        Stats {
            online_users: 2,
            sessions: 3,
            queued_bytes: 0
        }
    );
    assert_eq!(transport.user_stats("alice").sessions, 2);

    let typing = ClientEvent::Typing {
        to: "alice".to_owned(),
        is_typing: true,
    };
    world.chat.handle(&bob, typing).await.unwrap();
    settle().await;
    let frame = crate::protocol::ServerEvent::Typing {
        from: "bob".to_owned(),
        is_typing: true,
    }
    .encode();
    let held = transport.user_stats("alice");
    assert_eq!(
        held,
        UserStats {
            sessions: 2,
            queued_bytes: 2 * frame.len()
        },
        "one typing frame queued to each of alice's sockets"
    );
    assert_eq!(transport.stats().queued_bytes, held.queued_bytes);
    assert_eq!(queued(&mut alice1_out).len(), 1);
    assert_eq!(transport.user_stats("alice").queued_bytes, frame.len());
    assert_eq!(queued(&mut alice2_out).len(), 1);
    assert_eq!(transport.stats().queued_bytes, 0);

    transport.disconnect(&alice1).await;
    transport.disconnect(&alice2).await;
    assert_eq!(transport.user_stats("alice"), zero);
    let stats = transport.stats();
    assert_eq!((stats.online_users, stats.sessions), (1, 1));
    transport.disconnect(&bob).await;
    assert_eq!(transport.stats().sessions, 0);
}

/// A friend who comes online between a socket's connect and its greeting is announced once:
/// in the greeting's `online_users`, not again by a `presence` event held behind it. A friend
/// who comes online after the list is read still gets the event.
#[tokio::test(start_paused = true)]
async fn a_friend_online_before_the_greeting_is_announced_once() {
    let world = World::new(
        &["alice", "bob", "carol"],
        &[("alice", "bob"), ("carol", "bob")],
    )
    .await;
    let (bob, mut bob_out) = world.connect("bob").await;
    // alice comes online while bob's socket is connected but not greeted: her presence event
    // is held behind bob's greeting.
    let _alice = world.online("alice").await;
    world.chat.transport().greet(&bob).await.unwrap();
    let mut frames = Vec::new();
    while frames.last().map(kind) != Some("sync_done".to_owned()) {
        frames.push(next(&mut bob_out).await);
    }
    assert_eq!(kind(&frames[0]), "online_users");
    assert_eq!(frames[0]["users"], serde_json::json!(["alice"]));
    let _carol = world.online("carol").await;
    let after: Vec<Value> = queued(&mut bob_out);
    assert_eq!(
        after,
        vec![serde_json::json!({"type": "presence", "username": "carol", "online": true})],
        "alice was announced in the greeting and must not come again; carol came after it"
    );
    assert_eq!(
        world.chat.transport().user_stats("bob").queued_bytes,
        0,
        "a dropped event's bytes leave the socket's budget"
    );
}
