//! Who is online and where their sockets are: this node's sessions plus the fan-out seam.
//!
//! Every push of the chat goes through the hub, which hands it to the [`FanOut`]: the
//! in-process one when the node is alone, a bus when several nodes share a store. What only
//! concerns this node's sockets (registering them, expiry, shutdown, byte accounting) stays
//! with [`NodeSessions`].

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::fanout::{BusCounts, BusEvent, FanOut, Node, Reached};
use crate::node_sessions::TooManySessions;
use crate::protocol::ServerEvent;
use crate::session::{CloseReason, SessionHandle, SessionId};

/// Open sessions and fan-out.
#[derive(Debug)]
pub(crate) struct Hub {
    node: Arc<Node>,
    fanout: Arc<dyn FanOut>,
}

impl Hub {
    pub(crate) fn new(node: Arc<Node>, fanout: Arc<dyn FanOut>) -> Self {
        Self { node, fanout }
    }

    /// This node's id (see [`crate::Chat::node_id`]).
    pub(crate) fn node_id(&self) -> &str {
        &self.node.id
    }

    /// Adds a session of this node; `Ok(true)` when it is the user's first here.
    pub(crate) fn register(
        &self,
        user: &str,
        session: SessionHandle,
        max: usize,
    ) -> Result<bool, TooManySessions> {
        self.node.sessions.register(user, session, max)
    }

    /// Removes a session of this node; true when it was the user's last here.
    pub(crate) fn unregister(&self, user: &str, id: SessionId) -> bool {
        self.node.sessions.unregister(user, id)
    }

    /// Whether the user has at least one open session, on any node.
    pub(crate) fn is_online(&self, user: &str) -> bool {
        self.fanout.is_online(user)
    }

    /// Whether this node is the whole chat.
    pub(crate) fn alone(&self) -> bool {
        self.fanout.alone()
    }

    /// Hands `request` to node `node` and waits for its answer.
    pub(crate) async fn request(&self, node: &str, request: Vec<u8>) -> Reached {
        self.fanout.request(node, request).await
    }

    /// The bus's requests and news for the chat (once; `None` for a node alone).
    pub(crate) fn take_events(&self) -> Option<mpsc::Receiver<BusEvent>> {
        self.fanout.take_events()
    }

    /// How many sessions `user` has open on this node.
    pub(crate) fn session_count(&self, user: &str) -> usize {
        self.node.sessions.session_count(user)
    }

    /// Bytes queued to `user`'s sockets on this node and not yet taken by their writers: what
    /// the server holds for them, each socket within [`crate::Limits::outbox_bytes`].
    pub(crate) fn queued_bytes(&self, user: &str) -> usize {
        self.node.sessions.queued_bytes(user)
    }

    /// How many sessions are open on this node, and the bytes queued to them.
    pub(crate) fn local_totals(&self) -> (usize, usize) {
        self.node.sessions.totals()
    }

    /// How many users are online, on any node.
    pub(crate) fn online_count(&self) -> usize {
        self.fanout.online_count()
    }

    /// The online users (on any node) among `users`, in the given order.
    pub(crate) fn online_among<'a>(&self, users: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        users
            .into_iter()
            .filter(|u| self.fanout.is_online(u))
            .map(str::to_owned)
            .collect()
    }

    /// Pushes an event to every session of `user` on every node, except `except` (a session
    /// of this node).
    pub(crate) fn push(&self, user: &str, event: &ServerEvent, except: Option<SessionId>) {
        let frame: Arc<str> = event.encode().into();
        self.push_frame(user, &frame, except);
    }

    /// Pushes an already encoded frame to every session of `user` on every node, except
    /// `except`.
    pub(crate) fn push_frame(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>) {
        self.fanout.push(user, frame, except);
    }

    /// This node's first socket of `user` opened (`online`) or its last closed: their friends
    /// learn it when it changes whether the user is online anywhere.
    pub(crate) fn presence(&self, user: &str, online: bool, friends: &[String]) {
        self.fanout.presence(user, online, friends);
    }

    /// Whether the other nodes can be reached now (always, for a node alone).
    pub(crate) fn bus_connected(&self) -> bool {
        self.fanout.connected()
    }

    /// How far this node is on the bus; `None` for a node alone.
    pub(crate) fn bus_counts(&self) -> Option<BusCounts> {
        self.fanout.bus_counts()
    }

    /// Closes every session of `user`, on every node, with 4003.
    pub(crate) fn end_user(&self, user: &str) {
        self.fanout.end_user(user);
    }

    /// Ends login session `id` on every node: refused until `expires_at`, its sockets closed
    /// with 4003.
    pub(crate) fn end_session(&self, id: &str, expires_at: i64) {
        self.fanout.end_session(id, expires_at);
    }

    /// Closes every session of this node whose token expired at or before `now_ms`.
    pub(crate) fn close_expired(&self, now_ms: i64) {
        self.node.sessions.close_expired(now_ms);
    }

    /// Asks every session of this node to close (server shutdown).
    pub(crate) fn close_all(&self, reason: &CloseReason) {
        self.node.sessions.close_all(reason);
    }
}
