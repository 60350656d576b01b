//! The fan-out seam: delivering a push to a user wherever their sockets are.
//!
//! A node knows its own sockets ([`Node`]); a [`FanOut`] knows how to reach the sockets of the
//! other nodes, and which users are online anywhere. Alone, a node is the whole chat
//! ([`InProcess`], the default); several nodes sharing a store reach each other through a bus
//! (the `nats` feature). Either way every method also acts on this node's own sockets, at once,
//! so a node needs nothing else to serve its own users.
//!
//! The bus carries only what the store already holds durably (messages, ticks, friendships) or
//! what may be lost without harm (typing, call signalling of a live call, presence, which is
//! re-announced): a push lost with a node or with the bus never loses a message, which its
//! receiver gets from the store at their next connect.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::live_sessions::LiveSessions;
use crate::node_sessions::NodeSessions;
use crate::protocol::ServerEvent;
use crate::session::{CloseReason, SessionId};
use crate::store::{LinkStatus, Store, StoreError};

#[cfg(feature = "nats")]
mod nats;

#[cfg(feature = "nats")]
pub(crate) use nats::Nats;

/// Settings of the bus between nodes (the `nats` feature): where it is and how nodes tell that
/// one of them is gone. Built with [`BusConfig::new`], then the fields that differ are set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusConfig {
    /// The NATS server(s), as `nats://host:port` (several comma-separated).
    pub url: String,
    /// The first token of every subject the nodes of this chat use (`nexchat`): chats sharing
    /// one NATS server need different prefixes.
    pub subject_prefix: String,
    /// How often a node tells the others it is alive and how many presence changes it has
    /// announced (1 s).
    pub heartbeat_interval: std::time::Duration,
    /// A node not heard from for this long is gone: its users are offline (5 s; the protocol
    /// promises at most 10 s).
    pub node_timeout: std::time::Duration,
}

impl BusConfig {
    /// Defaults for the NATS server(s) at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            subject_prefix: "nexchat".into(),
            heartbeat_interval: std::time::Duration::from_secs(1),
            node_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// How far a node is on the bus: the messages it has put on it, and those it has taken from
/// it and handled, by the node that sent them (its id, see [`crate::Chat::node_id`]).
///
/// Every node's messages reach every other node in the order they were put on the bus, so once
/// node B's count for node A reaches what A's `published` was at some moment, B has handled
/// everything A published until then (its pushes are in B's sockets' queues). A message the
/// NATS client failed to publish is counted by its sender and never received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusCounts {
    /// Messages this node has queued for the bus since it started.
    pub published: u64,
    /// Messages received from each other node still on the bus, by node id.
    pub received: std::collections::HashMap<String, u64>,
}

/// Delivers pushes to users wherever their sockets are, and knows who is online anywhere.
///
/// Every method acts on this node's [`Node`] at once and on the other nodes as soon as the
/// implementation can reach them.
pub(crate) trait FanOut: Send + Sync + fmt::Debug {
    /// Delivers `frame` to every socket of `user`, except `except` (a socket of this node).
    fn push(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>);

    /// Closes every socket of `user` with 4003 ("session ended").
    fn end_user(&self, user: &str);

    /// Ends login session `id` (refused until `expires_at`), closing its sockets with 4003.
    fn end_session(&self, id: &str, expires_at: i64);

    /// Whether `user` has a socket on any node.
    fn is_online(&self, user: &str) -> bool;

    /// How many users have a socket on any node.
    fn online_count(&self) -> usize;

    /// This node's first socket of `user` opened (`online`) or its last one closed; `friends`
    /// are the user's friends. When that changes whether the user is online anywhere, their
    /// friends get one `presence` event on every socket.
    fn presence(&self, user: &str, online: bool, friends: &[String]);

    /// Whether the other nodes can be reached now (always, for a node alone).
    fn connected(&self) -> bool;

    /// Whether this node is the whole chat (no bus): every other node is gone.
    fn alone(&self) -> bool;

    /// How far this node is on the bus; `None` for a node alone.
    fn bus_counts(&self) -> Option<BusCounts>;

    /// Hands `request` to node `node` (for the chat there, see [`BusEvent::Request`]) and
    /// waits for its answer.
    fn request(
        &self,
        node: &str,
        request: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Reached> + Send>>;

    /// What the bus brings for the chat itself: requests from other nodes and nodes found
    /// gone. `Some` once, for the one task that handles them; `None` for a node alone.
    fn take_events(&self) -> Option<mpsc::Receiver<BusEvent>>;
}

/// What became of a request to another node.
#[derive(Debug)]
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) enum Reached {
    /// The node answered this.
    Answer(Vec<u8>),
    /// No such node is on the bus: it stopped or was killed (or is not reachable from here).
    Gone,
    /// The node did not answer in time (busy, cut off, or the bus is down).
    NoAnswer,
}

/// What the bus brings for the chat.
#[derive(Debug)]
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) enum BusEvent {
    /// Another node asks this one something; the answer goes to `reply`.
    Request {
        body: Vec<u8>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// These nodes fell silent past the node timeout: they are gone.
    NodesGone(Vec<String>),
}

/// This node's side of the fan-out: its sockets and login sessions, where a push from any node
/// ends up.
pub(crate) struct Node {
    /// Random, new at every start: how the bus and the logs name this node.
    pub(crate) id: String,
    pub(crate) sessions: NodeSessions,
    logins: Arc<LiveSessions>,
    store: Arc<dyn Store>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl Node {
    pub(crate) fn new(logins: Arc<LiveSessions>, store: Arc<dyn Store>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            sessions: NodeSessions::default(),
            logins,
            store,
        }
    }

    /// Delivers `frame` to `user`'s sockets here, except `except`.
    pub(crate) fn deliver(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>) {
        self.sessions.push_frame(user, frame, except);
    }

    /// Closes `user`'s sockets here with 4003.
    pub(crate) fn end_user(&self, user: &str) {
        self.sessions.close_user(user, &CloseReason::SESSION_ENDED);
    }

    /// Ends login session `id` here: refused from now on, its sockets here closed with 4003.
    pub(crate) fn end_session(&self, id: &str, expires_at: i64) {
        self.logins.end(id, expires_at, &CloseReason::SESSION_ENDED);
    }

    /// Tells `friends`' sockets here that `user` came online or went offline.
    pub(crate) fn announce(&self, user: &str, online: bool, friends: &[String]) {
        let frame: Arc<str> = ServerEvent::Presence {
            username: user.to_owned(),
            online,
        }
        .encode()
        .into();
        for friend in friends {
            self.sessions.push_presence(friend, &frame);
        }
    }

    /// The user's friends, for a presence change learnt without them (a node gone).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) async fn friends_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        friends_of(self.store.as_ref(), user).await
    }
}

/// Canonical names of `user`'s friends (accepted links either way).
pub(crate) async fn friends_of(store: &dyn Store, user: &str) -> Result<Vec<String>, StoreError> {
    Ok(store
        .links_of(user)
        .await?
        .into_iter()
        .filter(|l| l.status == LinkStatus::Accepted)
        .map(|l| {
            if l.sender == user {
                l.receiver
            } else {
                l.sender
            }
        })
        .collect())
}

/// One node alone: every socket is here.
#[derive(Debug)]
pub(crate) struct InProcess {
    node: Arc<Node>,
}

impl InProcess {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

impl FanOut for InProcess {
    fn push(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>) {
        self.node.deliver(user, frame, except);
    }

    fn end_user(&self, user: &str) {
        self.node.end_user(user);
    }

    fn end_session(&self, id: &str, expires_at: i64) {
        self.node.end_session(id, expires_at);
    }

    fn is_online(&self, user: &str) -> bool {
        self.node.sessions.is_online(user)
    }

    fn online_count(&self) -> usize {
        self.node.sessions.online_count()
    }

    fn presence(&self, user: &str, online: bool, friends: &[String]) {
        // Alone, a node's first socket of a user is their first anywhere.
        self.node.announce(user, online, friends);
    }

    fn connected(&self) -> bool {
        true
    }

    fn alone(&self) -> bool {
        true
    }

    fn bus_counts(&self) -> Option<BusCounts> {
        None
    }

    fn request(&self, _: &str, _: Vec<u8>) -> Pin<Box<dyn Future<Output = Reached> + Send>> {
        // Alone, any other node is one that ran before this one.
        Box::pin(std::future::ready(Reached::Gone))
    }

    fn take_events(&self) -> Option<mpsc::Receiver<BusEvent>> {
        None
    }
}
