//! The socket of a connected client: one task that owns it, opens it again with backoff when it
//! is lost, and sends again, with their ids, the messages the server has not acknowledged.
//!
//! Data flows one way: commands from [`crate::Client`] come in on a channel, frames go out on
//! the socket, frames from the server are decrypted and go out as [`Event`]s.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use nexchat_core::protocol::rest::WsTicketResponse;
use nexchat_core::protocol::{
    ClientEvent, ErrorCode, Group, GroupChange, GroupChangeKind, GroupMessage, MessageStatus,
    ServerEvent, StoredMessage,
};

use crate::api::Api;
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::event::{Event, GroupChatMessage, Message};
use crate::keys::Keys;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = futures::stream::SplitSink<Socket, Frame>;

/// The server pings every 20 s (`docs/protocol.md`, close code 1001): a socket silent for much
/// longer than that is dead even if TCP has not noticed.
const SILENCE: Duration = Duration::from_secs(50);
/// Ticks waiting for a socket; older ones are dropped first (a lost `delivered` comes back: the
/// message is sent again at the next connect and acknowledged then).
const MAX_WAITING_TICKS: usize = 256;
/// Message ids remembered to drop the repeats of at-least-once delivery.
const RECENT_IDS: usize = 4096;
/// Pages of a group's history (200 messages each) read for the key message of a message whose
/// sender key this client does not have: a client started after the key was handed out finds
/// it there (`fetch_group_history` includes the key messages to the caller).
const KEY_SEARCH_PAGES: u8 = 5;

/// A message the server acknowledged: it is stored (one tick).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// Its receiver, as registered.
    pub to: String,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub timestamp: i64,
}

/// One page of history as the server sent it, still encrypted.
pub(crate) struct HistoryFrame {
    pub(crate) messages: Vec<StoredMessage>,
    pub(crate) has_more: bool,
}

/// What a [`crate::Client`] asks of its socket.
pub(crate) enum Command {
    /// A `send_message` frame, kept until the server answers it, and sent again as it is (same
    /// id, same ciphertext) on every new socket until then.
    Send {
        id: String,
        frame: String,
        /// A group key message: acknowledged without an event.
        quiet: bool,
        done: oneshot::Sender<Result<Sent>>,
    },
    /// A `message_delivered` or `message_seen` frame: kept until a socket takes it.
    Tick(String),
    /// A `typing` frame: only worth sending now.
    Typing(String),
    /// A `fetch_history` frame for `peer`, answered by the next `history_response` for `peer`.
    History {
        peer: String,
        frame: String,
        done: oneshot::Sender<Result<HistoryFrame>>,
    },
}

/// How a connection can be set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Acknowledge every message to this user as `delivered` once it is decrypted and handed on.
    pub(crate) deliver_receipts: bool,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
}

/// Why a socket is no longer in use.
enum Outcome {
    /// Every [`crate::Client`] handle is gone.
    Shutdown,
    /// The login is over: no new socket can be opened with it.
    SessionEnded(String),
    /// The socket broke or could not be opened: try again later.
    Lost(String),
}

struct PendingSend {
    id: String,
    frame: String,
    quiet: bool,
    done: oneshot::Sender<Result<Sent>>,
}

struct PendingHistory {
    peer: String,
    frame: String,
    done: oneshot::Sender<Result<HistoryFrame>>,
}

/// What the greeting (`online_users`, the backlog, `sync_done`) has told so far.
#[derive(Default)]
struct Greeting {
    done: bool,
    online: Vec<String>,
    /// Backlog message ids to acknowledge per sender, in one frame each at `sync_done`.
    acks: BTreeMap<String, Vec<String>>,
    /// The same for group messages, per group.
    group_acks: BTreeMap<String, Vec<String>>,
}

/// The task that owns the socket.
pub(crate) struct Connection {
    keys: Arc<Keys>,
    api: Api,
    options: Options,
    events: mpsc::Sender<Event>,
    outbox: Vec<PendingSend>,
    histories: VecDeque<PendingHistory>,
    ticks: VecDeque<String>,
    recent: RecentIds,
    /// Ids of this client's key messages, whose receipts are not news to anyone.
    key_messages: RecentIds,
    /// Groups whose history is being read for missing sender keys: pages left.
    key_searches: HashMap<String, u8>,
    backoff: Backoff,
}

impl Connection {
    pub(crate) fn new(
        keys: Arc<Keys>,
        api: Api,
        options: Options,
        events: mpsc::Sender<Event>,
    ) -> Self {
        Self {
            keys,
            api,
            options,
            events,
            outbox: Vec::new(),
            histories: VecDeque::new(),
            ticks: VecDeque::new(),
            recent: RecentIds::default(),
            key_messages: RecentIds::default(),
            key_searches: HashMap::new(),
            backoff: Backoff::new(options.backoff_base, options.backoff_cap),
        }
    }

    /// Runs until every client handle is dropped or the session ends. `opened` learns whether
    /// the first socket could be opened; after that, failures are retried.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        opened: oneshot::Sender<Result<()>>,
    ) {
        let mut opened = Some(opened);
        loop {
            let outcome = match self.open().await {
                Ok(socket) => {
                    if let Some(opened) = opened.take() {
                        let _ = opened.send(Ok(()));
                    }
                    self.serve(socket, &mut commands).await
                }
                Err(error) => {
                    if let Some(opened) = opened.take() {
                        let _ = opened.send(Err(error));
                        return;
                    }
                    match error {
                        Error::SessionEnded(reason) => Outcome::SessionEnded(reason),
                        other => Outcome::Lost(brief(&other)),
                    }
                }
            };
            match outcome {
                Outcome::Shutdown => return,
                Outcome::SessionEnded(reason) => return self.end(reason).await,
                Outcome::Lost(reason) => {
                    let retry_in = self.backoff.next_delay();
                    tracing::debug!(%reason, ?retry_in, "socket lost");
                    self.emit(Event::Disconnected { reason, retry_in }).await;
                    let wait = tokio::time::sleep(retry_in);
                    tokio::pin!(wait);
                    loop {
                        tokio::select! {
                            () = &mut wait => break,
                            command = commands.recv() => match command {
                                Some(command) => self.hold(command),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
    }

    /// A ticket, then the upgrade with it (`docs/protocol.md`, "Tickets").
    async fn open(&self) -> Result<Socket> {
        let ticket: WsTicketResponse = self
            .api
            .post("/auth/ws-ticket", &serde_json::json!({}))
            .await
            .map_err(session_or)?;
        let url = self.api.socket_url(&ticket.ticket);
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status() == 401 =>
            {
                Err(Error::SessionEnded("the server refused the login".into()))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn serve(&mut self, socket: Socket, commands: &mut mpsc::Receiver<Command>) -> Outcome {
        let (mut sink, mut stream) = socket.split();
        // What waited goes first, in the order it was asked for: the server answers a socket's
        // sends in order, so resent messages keep their order.
        self.histories.retain(|h| !h.done.is_closed());
        let waiting: Vec<String> = self
            .outbox
            .iter()
            .map(|p| p.frame.clone())
            .chain(self.histories.iter().map(|h| h.frame.clone()))
            .chain(self.ticks.drain(..))
            .collect();
        for frame in waiting {
            if let Err(outcome) = write(&mut sink, frame).await {
                return outcome;
            }
        }
        // Searches in flight were answered on the socket that is gone; `sync_done` starts them
        // again for what still waits.
        self.key_searches.clear();
        let mut greeting = Greeting::default();
        loop {
            tokio::select! {
                frame = tokio::time::timeout(SILENCE, stream.next()) => {
                    let frame = match frame {
                        Err(_) => return Outcome::Lost("the server went silent".into()),
                        Ok(None) => return Outcome::Lost("the connection closed".into()),
                        Ok(Some(Err(error))) => return Outcome::Lost(error.to_string()),
                        Ok(Some(Ok(frame))) => frame,
                    };
                    match frame {
                        Frame::Text(text) => {
                            if let Err(outcome) = self.on_frame(&text, &mut greeting, &mut sink).await {
                                return outcome;
                            }
                        }
                        Frame::Close(close) => return closed(close.as_ref()),
                        _ => {}
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else {
                        let _ = sink.close().await;
                        return Outcome::Shutdown;
                    };
                    if let Err(outcome) = self.submit(command, &mut sink).await {
                        return outcome;
                    }
                }
            }
        }
    }

    /// Keeps a command for the next socket.
    fn hold(&mut self, command: Command) {
        match command {
            Command::Send {
                id,
                frame,
                quiet,
                done,
            } => self.outbox.push(PendingSend {
                id,
                frame,
                quiet,
                done,
            }),
            Command::History { peer, frame, done } => {
                self.histories
                    .push_back(PendingHistory { peer, frame, done });
            }
            Command::Tick(frame) => {
                if self.ticks.len() == MAX_WAITING_TICKS {
                    self.ticks.pop_front();
                }
                self.ticks.push_back(frame);
            }
            Command::Typing(_) => {}
        }
    }

    /// Keeps a command until it is answered, and sends it now.
    async fn submit(&mut self, command: Command, sink: &mut Sink) -> Result<(), Outcome> {
        let frame = match &command {
            Command::Send { frame, .. } | Command::History { frame, .. } => frame.clone(),
            Command::Tick(frame) | Command::Typing(frame) => frame.clone(),
        };
        let is_tick = matches!(command, Command::Tick(_));
        if !is_tick {
            self.hold(command);
        }
        let written = write(sink, frame.clone()).await;
        if written.is_err() && is_tick {
            self.hold(Command::Tick(frame));
        }
        written
    }

    async fn on_frame(
        &mut self,
        text: &str,
        greeting: &mut Greeting,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        let event = match serde_json::from_str::<ServerEvent>(text) {
            Ok(event) => event,
            Err(error) => {
                // A newer server's event, or one this SDK does not handle (calls, groups).
                tracing::debug!(%error, "frame not handled");
                return Ok(());
            }
        };
        match event {
            ServerEvent::OnlineUsers { users } => greeting.online = users,
            ServerEvent::ReceiveMessage(message) => {
                self.on_message(message, greeting, sink).await?;
            }
            ServerEvent::SyncDone {} => {
                greeting.done = true;
                for (sender, ids) in std::mem::take(&mut greeting.acks) {
                    write(sink, delivered_frame(sender, ids)).await?;
                }
                for (group, ids) in std::mem::take(&mut greeting.group_acks) {
                    write(sink, group_delivered_frame(group, ids)).await?;
                }
                self.backoff.reset();
                for group in self.keys.sender_keys().waiting_groups() {
                    self.search_keys(group, None, sink).await?;
                }
                let online = std::mem::take(&mut greeting.online);
                self.emit(Event::Connected { online }).await;
            }
            ServerEvent::MessageSent {
                id,
                receiver,
                timestamp,
            } => {
                let sent = Sent {
                    id,
                    to: receiver,
                    timestamp,
                };
                if let Some(pending) = self.take_send(&sent.id) {
                    let _ = pending.done.send(Ok(sent.clone()));
                }
                self.emit(Event::Sent {
                    id: sent.id,
                    to: sent.to,
                    timestamp,
                })
                .await;
            }
            ServerEvent::MessageDelivered { from, ids } => {
                self.receipt(from, ids, MessageStatus::Delivered).await;
            }
            ServerEvent::MessageSeen { from, ids } => {
                self.receipt(from, ids, MessageStatus::Seen).await;
            }
            ServerEvent::ReceiptSync {
                with_user,
                ids,
                status,
            } => {
                let event = Event::ReceiptElsewhere {
                    peer: with_user,
                    ids,
                    status,
                };
                self.emit(event).await;
            }
            ServerEvent::HistoryResponse {
                with_user,
                messages,
                has_more,
            } => {
                if let Some(pending) = self.take_history(&with_user) {
                    let _ = pending.done.send(Ok(HistoryFrame { messages, has_more }));
                }
            }
            ServerEvent::Typing { from, is_typing } => {
                self.emit(Event::Typing {
                    from,
                    typing: is_typing,
                })
                .await;
            }
            ServerEvent::KeyChanged {
                username,
                public_key,
            } => self.key_changed(username, public_key).await,
            ServerEvent::Presence { username, online } => {
                self.emit(Event::Presence {
                    user: username,
                    online,
                })
                .await;
            }
            ServerEvent::NewFriendRequest { from } => {
                self.emit(Event::FriendRequest { from }).await;
            }
            ServerEvent::FriendshipActivated {
                with,
                online,
                public_key,
            } => {
                if let Some(key) = public_key {
                    self.learn(&with, key);
                }
                self.emit(Event::FriendAdded { user: with, online }).await;
            }
            ServerEvent::FriendRequestRejected { from } => {
                self.emit(Event::FriendRejected { from }).await;
            }
            ServerEvent::FriendRemoved { from } => {
                self.emit(Event::FriendRemoved { user: from }).await;
            }
            ServerEvent::ReceiveGroupMessage(message) => {
                self.on_group_message(message, greeting, sink).await?;
            }
            ServerEvent::GroupMessageSent {
                id,
                group,
                timestamp,
            } => {
                if let Some(pending) = self.take_send(&id) {
                    let sent = Sent {
                        id: id.clone(),
                        to: group.clone(),
                        timestamp,
                    };
                    let _ = pending.done.send(Ok(sent));
                    if pending.quiet {
                        self.key_messages.insert(&id);
                    } else {
                        self.emit(Event::GroupSent {
                            id,
                            group,
                            timestamp,
                        })
                        .await;
                    }
                }
            }
            ServerEvent::GroupDelivered { group, ids } => {
                self.group_receipt(group, ids, MessageStatus::Delivered)
                    .await;
            }
            ServerEvent::GroupSeen { group, ids } => {
                self.group_receipt(group, ids, MessageStatus::Seen).await;
            }
            ServerEvent::GroupHistoryResponse {
                group,
                messages,
                has_more,
            } => {
                self.on_key_search_page(group, messages, has_more, sink)
                    .await?
            }
            ServerEvent::GroupChanged { group, change } => {
                self.on_group_changed(&group, &change, sink).await?;
                self.emit(Event::GroupChanged { group, change }).await;
            }
            ServerEvent::GroupRemoved { group, by } => {
                self.keys.sender_keys().forget_own(&group);
                self.emit(Event::GroupRemoved { group, by }).await;
            }
            ServerEvent::Error {
                code,
                message,
                reference,
            } => self.on_error(code, message, reference).await,
            _ => {}
        }
        Ok(())
    }

    async fn on_message(
        &mut self,
        stored: StoredMessage,
        greeting: &mut Greeting,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        let me = self.keys.me();
        let to_me =
            stored.receiver.eq_ignore_ascii_case(me) && !stored.sender.eq_ignore_ascii_case(me);
        let ack = to_me && self.options.deliver_receipts && stored.status == MessageStatus::Sent;
        let (id, sender) = (stored.id.clone(), stored.sender.clone());
        if self.recent.insert(&id) {
            let event = match decrypt(&self.keys, stored).await {
                Ok(message) => Event::Message(message),
                Err(undecryptable) => undecryptable.into(),
            };
            self.emit(event).await;
        }
        if ack {
            if greeting.done {
                write(sink, delivered_frame(sender, vec![id])).await?;
            } else {
                greeting.acks.entry(sender).or_default().push(id);
            }
        }
        Ok(())
    }

    /// A group message: a key message hands this user a sender key (and opens the messages
    /// that waited for it); a chat message is opened under its sender's key, or waits for it.
    async fn on_group_message(
        &mut self,
        message: GroupMessage,
        greeting: &mut Greeting,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        let me = self.keys.me().to_owned();
        let from_other = !message.sender.eq_ignore_ascii_case(&me);
        // A key message to this user has a receipt even when another device of this user sent
        // it; unacknowledged, it would come back in every greeting.
        let to_me = message
            .to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case(&me));
        let ack = (from_other || to_me) && self.options.deliver_receipts;
        let (id, group) = (message.id.clone(), message.group.clone());
        if !self.recent.insert(&id) {
            // A repeat of at-least-once delivery: acknowledged again below, nothing else.
        } else if message.to.is_some() {
            self.take_key(&message).await;
        } else if let Some(key) = self.keys.sender_keys().key_of(&message) {
            self.emit(open_group_message(&key, message)).await;
        } else {
            let before = message.id.clone();
            if let Some(given_up) = self.keys.sender_keys().wait(message) {
                let reason = "its sender key never arrived".to_owned();
                self.emit(undecryptable_group(given_up, reason)).await;
            }
            if greeting.done {
                self.search_keys(group.clone(), Some(before), sink).await?;
            }
        }
        if ack {
            if greeting.done {
                write(sink, group_delivered_frame(group, vec![id])).await?;
            } else {
                greeting.group_acks.entry(group).or_default().push(id);
            }
        }
        Ok(())
    }

    /// Starts reading `group`'s history, older than `before`, for the key messages of the
    /// messages waiting there (unless a search runs already).
    async fn search_keys(
        &mut self,
        group: String,
        before: Option<String>,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        if self.key_searches.contains_key(&group) {
            return Ok(());
        }
        self.key_searches.insert(group.clone(), KEY_SEARCH_PAGES);
        write(sink, group_history_frame(group, before)).await
    }

    /// A page of a key search: takes the key messages in it; reads on while messages still
    /// wait and pages are left, else reports what still waits as undecryptable.
    async fn on_key_search_page(
        &mut self,
        group: String,
        messages: Vec<GroupMessage>,
        has_more: bool,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        let Some(left) = self.key_searches.get(&group).copied() else {
            return Ok(());
        };
        for message in messages.iter().filter(|m| m.to.is_some()) {
            self.take_key(message).await;
        }
        let sender_keys = self.keys.sender_keys();
        if !sender_keys.has_waiting(&group) {
            self.key_searches.remove(&group);
            return Ok(());
        }
        let oldest = messages.last().map(|m| m.id.clone());
        if has_more && left > 1 && oldest.is_some() {
            self.key_searches.insert(group.clone(), left - 1);
            return write(sink, group_history_frame(group, oldest)).await;
        }
        self.key_searches.remove(&group);
        for given_up in sender_keys.give_up(&group) {
            let reason = "its sender key was never handed to this user".to_owned();
            self.emit(undecryptable_group(given_up, reason)).await;
        }
        Ok(())
    }

    /// Receipts of this client's group messages; those of its key messages are left out.
    async fn group_receipt(&mut self, group: String, ids: Vec<String>, status: MessageStatus) {
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.key_messages.contains(id))
            .collect();
        if !ids.is_empty() {
            self.emit(Event::GroupReceipt { group, ids, status }).await;
        }
    }

    /// Opens a key message to this user and keeps the sender key it holds.
    async fn take_key(&mut self, message: &GroupMessage) {
        let to_me = message
            .to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case(self.keys.me()));
        if !to_me {
            return;
        }
        let key = match self.keys.message_key(&message.sender).await {
            Ok(pair) => pair.decrypt_key_message(message).map_err(Error::from),
            Err(error) => Err(error),
        };
        match key {
            Ok(key) => {
                let opened =
                    self.keys
                        .sender_keys()
                        .learn(&message.group, &message.sender, key.clone());
                for waiting in opened {
                    self.emit(open_group_message(&key, waiting)).await;
                }
            }
            Err(error) => {
                tracing::debug!(id = %message.id, %error, "a key message did not open");
            }
        }
    }

    /// Keeps this device's sender key to the members it is for (`docs/protocol.md`, "Sender
    /// keys"): a member who left makes it forget the key; a new member gets it.
    async fn on_group_changed(
        &mut self,
        group: &Group,
        change: &GroupChange,
        sink: &mut Sink,
    ) -> Result<(), Outcome> {
        let me = self.keys.me().to_owned();
        let Some(user) = change.user.as_deref() else {
            return Ok(());
        };
        if user.eq_ignore_ascii_case(&me) {
            return Ok(());
        }
        match change.kind {
            GroupChangeKind::MemberRemoved | GroupChangeKind::MemberLeft => {
                self.keys.sender_keys().forget_own(&group.id);
            }
            GroupChangeKind::MemberAdded => {
                let Some(key) = self.keys.sender_keys().current(&group.id) else {
                    return Ok(());
                };
                let Ok(pair) = self.keys.message_key(user).await else {
                    return Ok(());
                };
                let id = uuid::Uuid::new_v4().to_string();
                let frame = key_message_frame(&pair, &key, &group.id, &id, &me, user);
                // Nobody waits for this answer: the receiver side of `done` is dropped.
                let (done, _) = oneshot::channel();
                self.outbox.push(PendingSend {
                    id,
                    frame: frame.clone(),
                    quiet: true,
                    done,
                });
                write(sink, frame).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A refusal: of a message (`ref` its id), of a history page (`ref` its `withUser`), or of
    /// something else, which only the event tells.
    async fn on_error(&mut self, code: ErrorCode, message: String, reference: Option<String>) {
        let refused = || Error::Refused {
            code,
            message: message.clone(),
        };
        if let Some(pending) = reference.as_deref().and_then(|id| self.take_send(id)) {
            let _ = pending.done.send(Err(refused()));
        } else if let Some(pending) = reference
            .as_deref()
            .and_then(|peer| self.take_history(peer))
        {
            let _ = pending.done.send(Err(refused()));
            return;
        }
        self.emit(Event::Refused {
            code,
            message,
            id: reference,
        })
        .await;
    }

    /// A friend's new key: messages from now on use it, and the safety number changed.
    async fn key_changed(&self, user: String, key: nexchat_core::protocol::PublicKey) {
        if self.learn(&user, key) {
            self.emit(Event::KeyChanged { user }).await;
        }
    }

    async fn receipt(&self, peer: String, ids: Vec<String>, status: MessageStatus) {
        self.emit(Event::Receipt { peer, ids, status }).await;
    }

    /// The oldest history request for `peer`, which the server answers next (it answers a
    /// socket's requests in order). Requests whose caller stopped waiting (timed out) go on the
    /// way, so they never take another request's answer.
    fn take_history(&mut self, peer: &str) -> Option<PendingHistory> {
        loop {
            let at = self
                .histories
                .iter()
                .position(|h| h.peer.eq_ignore_ascii_case(peer))?;
            let pending = self.histories.remove(at)?;
            if !pending.done.is_closed() {
                return Some(pending);
            }
        }
    }

    fn take_send(&mut self, id: &str) -> Option<PendingSend> {
        let at = self.outbox.iter().position(|p| p.id == id)?;
        Some(self.outbox.remove(at))
    }

    /// Takes a key the server pushed; `true` when it replaced a known one.
    fn learn(&self, user: &str, key: nexchat_core::protocol::PublicKey) -> bool {
        match self.keys.learn_changed(user, key) {
            Ok(changed) => changed,
            Err(error) => {
                tracing::warn!(%user, %error, "the server sent a key that is not a P-256 point");
                false
            }
        }
    }

    async fn emit(&self, event: Event) {
        // Dropped events are not an error: the client may only send. While they are kept but
        // not read, this waits, and so does everything behind it (the documented backpressure).
        let _ = self.events.send(event).await;
    }

    /// The session is over: everything waiting fails, and the events end with why.
    async fn end(mut self, reason: String) {
        for pending in self.outbox.drain(..) {
            let _ = pending.done.send(Err(Error::SessionEnded(reason.clone())));
        }
        for pending in self.histories.drain(..) {
            let _ = pending.done.send(Err(Error::SessionEnded(reason.clone())));
        }
        self.emit(Event::SessionEnded { reason }).await;
    }
}

/// Decrypts a stored message with the key of its two users.
///
/// # Errors
/// The message as [`Undecryptable`], with why.
pub(crate) async fn decrypt(keys: &Keys, stored: StoredMessage) -> Result<Message, Undecryptable> {
    let peer = if stored.sender.eq_ignore_ascii_case(keys.me()) {
        &stored.receiver
    } else {
        &stored.sender
    };
    let opened = match keys.message_key(peer).await {
        Ok(key) => key.decrypt(&stored).map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match opened {
        Ok(body) => Ok(Message {
            id: stored.id,
            sender: stored.sender,
            receiver: stored.receiver,
            text: body.text,
            attachments: body.attachments,
            timestamp: stored.timestamp,
            status: stored.status,
        }),
        Err(reason) => Err(Undecryptable {
            id: stored.id,
            sender: stored.sender,
            receiver: stored.receiver,
            timestamp: stored.timestamp,
            reason,
        }),
    }
}

/// A stored message that did not open: a wrong or changed key, a forged or damaged ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message {id} from {sender} could not be decrypted: {reason}")]
pub struct Undecryptable {
    /// Its id.
    pub id: String,
    /// Its claimed sender.
    pub sender: String,
    /// Its receiver.
    pub receiver: String,
    /// When it was stored (ms).
    pub timestamp: i64,
    /// What went wrong, for people.
    pub reason: String,
}

impl From<Undecryptable> for Event {
    fn from(u: Undecryptable) -> Self {
        Event::Undecryptable {
            id: u.id,
            sender: u.sender,
            receiver: u.receiver,
            timestamp: u.timestamp,
            reason: u.reason,
        }
    }
}

/// The event of a group chat message opened (or not) under `key`.
fn open_group_message(key: &crate::crypto::SenderKey, message: GroupMessage) -> Event {
    match key.decrypt(&message) {
        Ok(body) => Event::GroupMessage(GroupChatMessage {
            id: message.id,
            group: message.group,
            sender: message.sender,
            key_id: message.key_id.unwrap_or_default(),
            text: body.text,
            attachments: body.attachments,
            timestamp: message.timestamp,
            status: message.status,
        }),
        Err(error) => undecryptable_group(message, error.to_string()),
    }
}

fn undecryptable_group(message: GroupMessage, reason: String) -> Event {
    Event::Undecryptable {
        id: message.id,
        sender: message.sender,
        receiver: message.group,
        timestamp: message.timestamp,
        reason,
    }
}

/// A `send_group_message` frame handing `key` to `to` under the pair key of `sender` and `to`.
pub(crate) fn key_message_frame(
    pair: &crate::crypto::MessageKey,
    key: &crate::crypto::SenderKey,
    group: &str,
    id: &str,
    sender: &str,
    to: &str,
) -> String {
    let sealed = pair.encrypt_key_message(key, group, id, sender, to);
    encode(&ClientEvent::SendGroupMessage {
        group: group.to_owned(),
        ciphertext: sealed.ciphertext,
        iv: sealed.iv,
        key_id: None,
        to: Some(to.to_owned()),
        id: Some(id.to_owned()),
        attachments: Vec::new(),
    })
}

fn group_history_frame(group: String, before: Option<String>) -> String {
    encode(&ClientEvent::FetchGroupHistory {
        group,
        before,
        limit: Some(200),
    })
}

fn group_delivered_frame(group: String, ids: Vec<String>) -> String {
    encode(&ClientEvent::GroupDelivered {
        group,
        ids: Some(ids),
    })
}

async fn write(sink: &mut Sink, frame: String) -> Result<(), Outcome> {
    sink.send(Frame::text(frame))
        .await
        .map_err(|error| Outcome::Lost(error.to_string()))
}

fn delivered_frame(to: String, ids: Vec<String>) -> String {
    encode(&ClientEvent::MessageDelivered { to, ids: Some(ids) })
}

/// The JSON text of a client event.
pub(crate) fn encode(event: &ClientEvent) -> String {
    serde_json::to_string(event).expect("client events serialize to JSON")
}

/// 4001 and 4003 end the session (`docs/protocol.md`, "Close codes"); anything else is worth
/// another socket.
fn closed(close: Option<&CloseFrame>) -> Outcome {
    match close.map(|c| (u16::from(c.code), c.reason.to_string())) {
        Some((4001, _)) => Outcome::SessionEnded("the login expired".into()),
        Some((4003, _)) => Outcome::SessionEnded("the session was ended".into()),
        Some((code, reason)) => Outcome::Lost(format!("closed by the server ({code} {reason})")),
        None => Outcome::Lost("closed by the server".into()),
    }
}

/// Why a socket could not be opened, short enough for a status line: "cannot reach the
/// server (Connection refused …)" rather than reqwest's URL and wrapper errors.
fn brief(error: &Error) -> String {
    match error {
        Error::Http(http) => {
            let mut cause: &dyn std::error::Error = http;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            format!("cannot reach the server ({cause})")
        }
        Error::Api { status, .. } => format!("the server answered {status}"),
        other => other.to_string(),
    }
}

/// A 401 from the ticket route means the token is no longer good.
fn session_or(error: Error) -> Error {
    match error {
        Error::Api {
            status: 401,
            message,
            ..
        } => Error::SessionEnded(message),
        other => other,
    }
}

/// The last few thousand message ids, to drop repeats.
#[derive(Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// `true` when `id` is new.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id.to_owned());
        self.set.insert(id.to_owned());
        true
    }
}
