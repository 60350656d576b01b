//! The fan-out over NATS: nodes sharing a store reach each other's sockets through one subject.
//!
//! Every node publishes what it pushes, ends or announces on `PREFIX.bus` and subscribes to it,
//! so each push crosses the bus once and every node hands it to its own sockets of the user.
//! One subject keeps one order: what a node publishes arrives at every other node in the order
//! it was published.
//!
//! Presence is the only state: each node knows which users have sockets on every other node.
//! A node numbers its presence changes; each change says whether the user has sockets on that
//! node now (so applying one twice does no harm), and every `heartbeat_interval` the node says
//! how many changes it has made. A node that finds a gap in the numbers, or meets a node for the
//! first time, asks it for its whole list on `PREFIX.roster.NODE` (request and reply). A node
//! not heard from within `node_timeout` is gone (killed, cut off): its users count as offline,
//! and their friends on the nodes still running are told so, without any store poll.
//!
//! Every message on `PREFIX.bus` carries the moment it was queued in a header
//! ([`crate::metrics`]'s `Nexchat-Sent-At`), so the receiving node can record the bus's lag.
//!
//! Calls are the one thing a node asks another directly: a call's state lives with the node
//! that relays it, so a call frame that arrives elsewhere is sent there on
//! `PREFIX.call.NODE` (request and reply), and a node found gone is reported to the chat, which
//! ends the calls it relayed.
//!
//! A node that loses the bus keeps serving its own sockets; the client reconnects by itself and
//! renews its subscriptions, and the next heartbeat brings the others' lists back. What was
//! pushed meanwhile is not replayed: messages and ticks are in the store and arrive at the next
//! connect, as the protocol's at-least-once delivery says.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{BusConfig, BusCounts, BusEvent, FanOut, Node, Reached};
use crate::error::{ChatError, ChatResult};
use crate::metrics::bus as metrics;
use crate::session::SessionId;

/// Publications waiting for the bus; past this they are dropped (and logged): a node cut off
/// from the bus must not grow its memory with pushes nobody may ever take.
const OUTBOX: usize = 8192;

/// How long a node waits for another's list before asking again at the next heartbeat.
const ROSTER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a node waits for another to answer a call frame it handed over.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests and news waiting for the chat; past this a request is refused (its sender hears
/// nothing back and gives up after [`REQUEST_TIMEOUT`]).
const EVENTS: usize = 1024;

/// What nodes tell each other on `PREFIX.bus`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    /// A frame for every socket of `user`.
    Push {
        node: String,
        user: String,
        frame: String,
    },
    /// Close every socket of `user` with 4003.
    EndUser { node: String, user: String },
    /// Login session `id` ended: refuse it until `expires_at`, close its sockets with 4003.
    EndSession {
        node: String,
        id: String,
        expires_at: i64,
    },
    /// Change `seq` of `node`: whether `user` has sockets there now, and their friends.
    Presence {
        node: String,
        seq: u64,
        user: String,
        online: bool,
        friends: Vec<String>,
    },
    /// `node` is alive and has made `seq` presence changes.
    Heartbeat { node: String, seq: u64 },
}

impl Wire {
    /// The node that sent it.
    fn node(&self) -> &str {
        match self {
            Self::Push { node, .. }
            | Self::EndUser { node, .. }
            | Self::EndSession { node, .. }
            | Self::Presence { node, .. }
            | Self::Heartbeat { node, .. } => node,
        }
    }
}

/// A node's answer on `PREFIX.roster.NODE`: its users with sockets, as of change `seq`.
#[derive(Debug, Serialize, Deserialize)]
struct Roster {
    seq: u64,
    users: Vec<String>,
}

/// What this node knows of another.
#[derive(Debug)]
struct Peer {
    /// The last of its presence changes applied here.
    seq: u64,
    /// Whether a change was missed (or it was met mid-way): its list is to be asked for.
    stale: bool,
    /// Whether its list has been asked for and not answered yet.
    asking: bool,
    users: HashSet<String>,
    heard_at: Instant,
}

impl Peer {
    fn new(now: Instant) -> Self {
        Self {
            seq: 0,
            stale: true,
            asking: false,
            users: HashSet::new(),
            heard_at: now,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Presence changes this node has made.
    seq: u64,
    peers: HashMap<String, Peer>,
    /// Messages taken from the bus and handled, by the node that sent them.
    received: HashMap<String, u64>,
}

impl State {
    fn elsewhere(&self, user: &str) -> bool {
        self.peers.values().any(|p| p.users.contains(user))
    }
}

#[derive(Debug)]
struct Shared {
    id: String,
    node: Arc<Node>,
    client: async_nats::Client,
    bus: String,
    prefix: String,
    /// Subject, payload, and when it was queued (ms since the Unix epoch).
    outbox: mpsc::Sender<(String, Bytes, u64)>,
    /// Messages queued for the bus so far; held while one is queued, so that the count and
    /// the order of the queue agree.
    published: Mutex<u64>,
    /// Requests from other nodes and nodes found gone, for the chat.
    events: mpsc::Sender<BusEvent>,
    state: Mutex<State>,
}

/// The fan-out over a NATS server: see the module docs.
#[derive(Debug)]
pub(crate) struct Nats {
    shared: Arc<Shared>,
    events: Mutex<Option<mpsc::Receiver<BusEvent>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Nats {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Nats {
    /// Connects to the NATS server of `config` and starts listening, heart-beating and
    /// publishing.
    ///
    /// # Errors
    /// [`ChatError::Internal`] when the server cannot be reached or refuses the subscriptions.
    pub(crate) async fn connect(config: &BusConfig, node: Arc<Node>) -> ChatResult<Self> {
        let id = node.id.clone();
        let failed = |what: &str, err: &dyn std::fmt::Display| {
            ChatError::Internal(format!("NATS at {}: {what}: {err}", config.url))
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("nexchat node {id}"))
            .no_echo()
            .connect(config.url.as_str())
            .await
            .map_err(|e| failed("cannot connect", &e))?;
        let prefix = config.subject_prefix.clone();
        let bus = format!("{prefix}.bus");
        let events = client
            .subscribe(bus.clone())
            .await
            .map_err(|e| failed("cannot subscribe", &e))?;
        let roster_requests = client
            .subscribe(format!("{prefix}.roster.{id}"))
            .await
            .map_err(|e| failed("cannot subscribe", &e))?;
        let requests = client
            .subscribe(format!("{prefix}.call.{id}"))
            .await
            .map_err(|e| failed("cannot subscribe", &e))?;
        // The subscriptions are in place before the first push is published.
        client
            .flush()
            .await
            .map_err(|e| failed("cannot flush", &e))?;
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let (chat_events, events_rx) = mpsc::channel(EVENTS);
        let shared = Arc::new(Shared {
            id,
            node,
            client,
            bus,
            prefix,
            outbox,
            published: Mutex::new(0),
            events: chat_events,
            state: Mutex::new(State::default()),
        });
        tracing::info!(node = %shared.id, url = %config.url, "joined the bus");
        let tasks = vec![
            tokio::spawn(publish(Arc::clone(&shared), outgoing)),
            tokio::spawn(listen(Arc::clone(&shared), events)),
            tokio::spawn(answer_rosters(Arc::clone(&shared), roster_requests)),
            tokio::spawn(answer_requests(Arc::clone(&shared), requests)),
            tokio::spawn(heartbeat(
                Arc::clone(&shared),
                config.heartbeat_interval,
                config.node_timeout,
            )),
        ];
        Ok(Self {
            shared,
            events: Mutex::new(Some(events_rx)),
            tasks,
        })
    }
}

impl FanOut for Nats {
    fn push(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>) {
        self.shared.node.deliver(user, frame, except);
        self.shared.send(&Wire::Push {
            node: self.shared.id.clone(),
            user: user.to_owned(),
            frame: frame.to_string(),
        });
    }

    fn end_user(&self, user: &str) {
        self.shared.node.end_user(user);
        self.shared.send(&Wire::EndUser {
            node: self.shared.id.clone(),
            user: user.to_owned(),
        });
    }

    fn end_session(&self, id: &str, expires_at: i64) {
        self.shared.node.end_session(id, expires_at);
        self.shared.send(&Wire::EndSession {
            node: self.shared.id.clone(),
            id: id.to_owned(),
            expires_at,
        });
    }

    fn is_online(&self, user: &str) -> bool {
        self.shared.node.sessions.is_online(user) || self.shared.lock().elsewhere(user)
    }

    fn online_count(&self) -> usize {
        let mut users: HashSet<String> = self.shared.node.sessions.users().into_iter().collect();
        for peer in self.shared.lock().peers.values() {
            users.extend(peer.users.iter().cloned());
        }
        users.len()
    }

    fn presence(&self, user: &str, online: bool, friends: &[String]) {
        let shared = &self.shared;
        let announce = {
            let mut state = shared.lock();
            // What is true now, read under the lock that numbers the changes: when a socket
            // closes as another opens, the later change says how things stand.
            let here = shared.node.sessions.is_online(user);
            state.seq += 1;
            shared.send(&Wire::Presence {
                node: shared.id.clone(),
                seq: state.seq,
                user: user.to_owned(),
                online: here,
                friends: friends.to_vec(),
            });
            here == online && !state.elsewhere(user)
        };
        if announce {
            shared.node.announce(user, online, friends);
        }
    }

    fn connected(&self) -> bool {
        self.shared.client.connection_state() == async_nats::connection::State::Connected
    }

    fn alone(&self) -> bool {
        false
    }

    fn bus_counts(&self) -> Option<BusCounts> {
        let published = *self.shared.published.lock();
        let received = self.shared.lock().received.clone();
        Some(BusCounts {
            published,
            received,
        })
    }

    fn request(
        &self,
        node: &str,
        request: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Reached> + Send>> {
        let client = self.shared.client.clone();
        let subject = format!("{}.call.{node}", self.shared.prefix);
        Box::pin(async move {
            use async_nats::RequestErrorKind;
            match tokio::time::timeout(REQUEST_TIMEOUT, client.request(subject, request.into()))
                .await
            {
                Ok(Ok(answer)) => Reached::Answer(answer.payload.to_vec()),
                Ok(Err(err)) if err.kind() == RequestErrorKind::NoResponders => Reached::Gone,
                Ok(Err(err)) => {
                    tracing::debug!(%err, "a request to another node failed");
                    Reached::NoAnswer
                }
                Err(_) => Reached::NoAnswer,
            }
        })
    }

    fn take_events(&self) -> Option<mpsc::Receiver<BusEvent>> {
        self.events.lock().take()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Queues `wire` for the bus; dropped, with a warning, when the bus is that far behind.
    fn send(&self, wire: &Wire) {
        match serde_json::to_vec(wire) {
            Ok(payload) => {
                let mut published = self.published.lock();
                if self
                    .outbox
                    .try_send((self.bus.clone(), payload.into(), metrics::now_ms()))
                    .is_ok()
                {
                    *published += 1;
                } else {
                    metrics::dropped();
                    tracing::warn!(node = %self.id, "bus outbox full: a push to other nodes was dropped");
                }
            }
            Err(err) => tracing::error!(%err, "bus message not encoded"),
        }
    }

    /// Handles one message from another node.
    fn receive(self: &Arc<Self>, wire: Wire) {
        match wire {
            Wire::Push { node, user, frame } if node != self.id => {
                self.node.deliver(&user, &frame.into(), None);
            }
            Wire::EndUser { node, user } if node != self.id => self.node.end_user(&user),
            Wire::EndSession {
                node,
                id,
                expires_at,
            } if node != self.id => self.node.end_session(&id, expires_at),
            Wire::Presence {
                node,
                seq,
                user,
                online,
                friends,
            } if node != self.id => {
                let (now_online, ask) = {
                    let mut state = self.lock();
                    let before = self.node.sessions.is_online(&user) || state.elsewhere(&user);
                    let peer = state
                        .peers
                        .entry(node.clone())
                        .or_insert_with(|| Peer::new(Instant::now()));
                    if seq != peer.seq + 1 {
                        peer.stale = true;
                    }
                    peer.seq = peer.seq.max(seq);
                    peer.heard_at = Instant::now();
                    if online {
                        peer.users.insert(user.clone());
                    } else {
                        peer.users.remove(&user);
                    }
                    let ask = peer.stale && !std::mem::replace(&mut peer.asking, true);
                    let after = self.node.sessions.is_online(&user) || state.elsewhere(&user);
                    ((before != after).then_some(after), ask)
                };
                if let Some(online) = now_online {
                    self.node.announce(&user, online, &friends);
                }
                if ask {
                    tokio::spawn(fetch_roster(Arc::clone(self), node));
                }
            }
            Wire::Heartbeat { node, seq } if node != self.id => {
                let ask = {
                    let mut state = self.lock();
                    let peer = state
                        .peers
                        .entry(node.clone())
                        .or_insert_with(|| Peer::new(Instant::now()));
                    peer.heard_at = Instant::now();
                    if seq != peer.seq {
                        peer.stale = true;
                    }
                    peer.stale && !std::mem::replace(&mut peer.asking, true)
                };
                if ask {
                    tokio::spawn(fetch_roster(Arc::clone(self), node));
                }
            }
            // Our own, should the server echo them after all.
            _ => {}
        }
    }

    /// Tells this node's friends of each of `changes`' users that they came online or went
    /// offline, reading the friends from the store (the change came without them).
    async fn announce_all(&self, changes: Vec<(String, bool)>) {
        for (user, online) in changes {
            match self.node.friends_of(&user).await {
                Ok(friends) => self.node.announce(&user, online, &friends),
                Err(err) => tracing::warn!(%err, user, "presence not sent: friends unavailable"),
            }
        }
    }
}

/// Sends what the node queued, in order.
async fn publish(shared: Arc<Shared>, mut outgoing: mpsc::Receiver<(String, Bytes, u64)>) {
    while let Some((subject, payload, queued_at)) = outgoing.recv().await {
        // When it was queued, in a header, so the receiving node can tell the bus's lag.
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(metrics::SENT_AT, queued_at.to_string().as_str());
        match shared
            .client
            .publish_with_headers(subject, headers, payload)
            .await
        {
            Ok(()) => metrics::published(),
            Err(err) => {
                metrics::publish_failed();
                tracing::warn!(node = %shared.id, %err, "bus publish failed");
            }
        }
    }
}

/// Hands every message of the bus to [`Shared::receive`].
async fn listen(shared: Arc<Shared>, mut events: async_nats::Subscriber) {
    while let Some(message) = events.next().await {
        let sent_at = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(metrics::SENT_AT))
            .and_then(|value| value.as_str().parse::<u64>().ok());
        metrics::received(sent_at);
        match serde_json::from_slice::<Wire>(&message.payload) {
            Ok(wire) => {
                let from = wire.node().to_owned();
                shared.receive(wire);
                // Counted once handled: its frames are in the sockets' queues by now.
                if from != shared.id {
                    *shared.lock().received.entry(from).or_default() += 1;
                }
            }
            Err(err) => tracing::warn!(%err, "unreadable bus message ignored"),
        }
    }
}

/// Answers other nodes' requests for this node's list of users.
async fn answer_rosters(shared: Arc<Shared>, mut requests: async_nats::Subscriber) {
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply else {
            continue;
        };
        let roster = {
            let state = shared.lock();
            Roster {
                seq: state.seq,
                users: shared.node.sessions.users(),
            }
        };
        match serde_json::to_vec(&roster) {
            Ok(payload) => {
                if let Err(err) = shared.client.publish(reply, payload.into()).await {
                    tracing::warn!(%err, "roster not sent");
                }
            }
            Err(err) => tracing::error!(%err, "roster not encoded"),
        }
    }
}

/// Hands other nodes' requests to the chat, and its answers back.
async fn answer_requests(shared: Arc<Shared>, mut requests: async_nats::Subscriber) {
    while let Some(request) = requests.next().await {
        let Some(reply_to) = request.reply else {
            continue;
        };
        let (reply, answer) = oneshot::channel();
        let event = BusEvent::Request {
            body: request.payload.to_vec(),
            reply,
        };
        if shared.events.try_send(event).is_err() {
            tracing::warn!(node = %shared.id, "a request from another node was dropped: too many waiting");
            continue;
        }
        // Answered in its own task: one request waiting for a call's turn holds up no other.
        let client = shared.client.clone();
        tokio::spawn(async move {
            if let Ok(answer) = answer.await {
                if let Err(err) = client.publish(reply_to, answer.into()).await {
                    tracing::warn!(%err, "an answer to another node was not sent");
                }
            }
        });
    }
}

/// Asks `node` for its list and puts it in place of what this node knew.
async fn fetch_roster(shared: Arc<Shared>, node: String) {
    let subject = format!("{}.roster.{node}", shared.prefix);
    let answer =
        tokio::time::timeout(ROSTER_TIMEOUT, shared.client.request(subject, Bytes::new())).await;
    let roster = match answer {
        Ok(Ok(message)) => serde_json::from_slice::<Roster>(&message.payload).ok(),
        Ok(Err(err)) => {
            tracing::debug!(%err, node, "roster request failed");
            None
        }
        Err(_) => None,
    };
    let changes = {
        let mut state = shared.lock();
        let Some(peer) = state.peers.get_mut(&node) else {
            return;
        };
        peer.asking = false;
        // A list older than a change applied meanwhile would undo it: asked again next time.
        let Some(roster) = roster.filter(|r| r.seq >= peer.seq) else {
            return;
        };
        let old = std::mem::replace(&mut peer.users, roster.users.into_iter().collect());
        peer.seq = roster.seq;
        peer.stale = false;
        let peer_users = peer.users.clone();
        let flipped: Vec<(String, bool)> = old
            .symmetric_difference(&peer_users)
            .map(|user| (user.clone(), peer_users.contains(user)))
            .collect();
        // Only a user whose being online anywhere changed is news: one on this node or on a
        // third node was online all along.
        flipped
            .into_iter()
            .filter(|(user, _)| {
                !shared.node.sessions.is_online(user)
                    && !state
                        .peers
                        .iter()
                        .any(|(id, p)| *id != node && p.users.contains(user))
            })
            .collect::<Vec<_>>()
    };
    shared.announce_all(changes).await;
}

/// Every `interval`: tells the others this node is alive, and forgets the nodes not heard from
/// within `timeout`, announcing their users offline.
async fn heartbeat(shared: Arc<Shared>, interval: Duration, timeout: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let gone = {
            let mut state = shared.lock();
            let seq = state.seq;
            shared.send(&Wire::Heartbeat {
                node: shared.id.clone(),
                seq,
            });
            let now = Instant::now();
            let dead: Vec<String> = state
                .peers
                .iter()
                .filter(|(_, p)| now.duration_since(p.heard_at) > timeout)
                .map(|(id, _)| id.clone())
                .collect();
            let mut gone = Vec::new();
            for id in &dead {
                tracing::warn!(node = %shared.id, peer = %id, "a node fell silent: its users are offline");
                if let Some(peer) = state.peers.remove(id) {
                    gone.extend(peer.users);
                }
                state.received.remove(id);
            }
            if !dead.is_empty() && shared.events.try_send(BusEvent::NodesGone(dead)).is_err() {
                tracing::warn!(node = %shared.id, "the chat was not told of nodes gone: too many events waiting");
            }
            gone.retain(|user| !shared.node.sessions.is_online(user) && !state.elsewhere(user));
            gone.sort();
            gone.dedup();
            gone.into_iter().map(|u| (u, false)).collect::<Vec<_>>()
        };
        shared.announce_all(gone).await;
    }
}
