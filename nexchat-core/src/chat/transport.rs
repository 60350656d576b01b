//! For adapter authors: what a socket adapter such as `nexchat-axum` needs to run nexchat's
//! WebSocket sessions. An app that mounts an existing adapter never touches this module.
//!
//! The adapter gets a [`Transport`] from [`Chat::transport`] and, for each socket:
//!
//! 1. turns the request into a [`Caller`] ([`Transport::redeem_ticket`] or [`Chat::caller`])
//!    and refuses the upgrade when [`Transport::can_connect`] says no;
//! 2. opens the [`Session`] with [`Transport::connect`], which hands back the
//!    [`SessionOutbox`] a writer task drains into the socket ([`Outbound`] frames, then one
//!    close with its [`CloseReason`]);
//! 3. sends the greeting with [`Transport::greet`] while that writer already runs;
//! 4. feeds every frame it reads, one at a time and in order, to
//!    [`Transport::handle_frame`] (or [`Transport::handle_binary_frame`]);
//! 5. hands the session to [`Transport::disconnect`] once the socket is gone.
//!
//! The timers run by themselves; tests that move a [`crate::ManualClock`] run them at once
//! with [`Transport::sweep`]. [`Transport::stats`] and [`Transport::user_stats`] read the
//! sockets' accounting.

use std::net::IpAddr;

use super::Chat;
use crate::error::{ChatError, ChatResult};
use crate::identity::Principal;
use crate::protocol::{ClientEvent, ServerEvent};

pub use crate::fanout::BusCounts;
pub use crate::session::{CloseReason, Outbound, Session, SessionId, SessionOutbox};

/// Who made a request: the user, and the login session their token names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Caller {
    /// The user.
    pub principal: Principal,
    /// The nexchat login session of the token; `None` for an embedder's own identity.
    pub session: Option<String>,
}

impl From<Principal> for Caller {
    /// A caller without a nexchat login session (an embedder's own identity).
    fn from(principal: Principal) -> Self {
        Self {
            principal,
            session: None,
        }
    }
}

/// What the transport knows about where a request came from. Built with
/// [`ClientInfo::new`] (or `Default`, when the transport knows nothing).
///
/// ```
/// use nexchat_core::transport::ClientInfo;
/// let client = ClientInfo::new(Some([203, 0, 113, 7].into()), "Mozilla/5.0");
/// assert_eq!(client.user_agent, "Mozilla/5.0");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client's address (the socket's peer, or what a trusted proxy reports); `None` when
    /// the transport cannot tell, and then the per-address limits do not apply.
    pub address: Option<IpAddr>,
    /// The request's `User-Agent` header, empty when absent.
    pub user_agent: String,
}

impl ClientInfo {
    /// A client at `address` (if known) whose `User-Agent` is `user_agent`.
    pub fn new(address: Option<IpAddr>, user_agent: impl Into<String>) -> Self {
        Self {
            address,
            user_agent: user_agent.into(),
        }
    }
}

/// The sockets' accounting on this node: cheap to read (one pass over this node's sockets
/// under a read lock), never changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Users with at least one socket open, on any node.
    pub online_users: usize,
    /// Sockets open on this node.
    pub sessions: usize,
    /// Bytes queued to this node's sockets and not yet taken by their writers.
    pub queued_bytes: usize,
}

/// The accounting of one user's sockets on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserStats {
    /// The user's sockets open on this node.
    pub sessions: usize,
    /// Bytes queued to those sockets and not yet taken by their writers, each socket within
    /// [`crate::Limits::outbox_bytes`].
    pub queued_bytes: usize,
}

/// The socket side of a [`Chat`], for adapters (see the [module docs](self)). Cheap to clone;
/// clones drive the same chat.
#[derive(Debug, Clone)]
pub struct Transport {
    chat: Chat,
}

impl Chat {
    /// The socket side of this chat, for adapter authors (see [`crate::transport`]).
    pub fn transport(&self) -> Transport {
        Transport { chat: self.clone() }
    }

    /// Answers a refused frame with an `error` event; a socket that draws too many
    /// `too_large`/`rate_limited` refusals is closed with 1008.
    pub(super) fn refuse(&self, session: &Session, err: &ChatError, reference: Option<String>) {
        let chat = self;
        let limits = &chat.inner.config.limits;
        if let ChatError::Internal(detail) = err {
            tracing::error!(user = session.user(), %detail, "event failed");
        }
        chat.answer(
            session,
            &ServerEvent::Error {
                code: err.code(),
                message: err.to_string(),
                reference,
            },
        );
        if matches!(err, ChatError::TooLarge(_) | ChatError::RateLimited { .. }) {
            let window = i64::try_from(limits.abuse_window.as_millis()).unwrap_or(i64::MAX);
            if session.count_refusal(chat.now(), limits.abuse_refusals, window) {
                tracing::info!(
                    user = session.user(),
                    "closing a socket after repeated refusals"
                );
                session.close(CloseReason::POLICY);
            }
        }
    }
}

impl Transport {
    /// Whether `user` may open one more socket.
    pub fn can_connect(&self, user: &str) -> bool {
        let inner = &self.chat.inner;
        inner.hub.session_count(user) < inner.config.limits.sockets_per_user
    }

    /// Uses up a WebSocket ticket (whatever the answer, it never works again) and returns who
    /// it opens a socket for.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`] for a used, expired or unknown ticket, or one whose session
    /// ended or whose token expired.
    pub async fn redeem_ticket(&self, ticket: &str) -> ChatResult<Caller> {
        self.chat.redeem_ticket(ticket).await
    }

    /// Opens a session for an authenticated user; friends learn the user came online when this
    /// is their first socket. Pushes to it are held until [`Transport::greet`] has sent the
    /// greeting, which the adapter runs next, before it reads the socket's first frame, while
    /// its writer drains the outbox.
    ///
    /// The socket is attached to the caller's login session, so that ending the session closes
    /// it.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`] when the caller's login session has ended meanwhile;
    /// [`ChatError::RateLimited`] when the user already has
    /// [`Limits::sockets_per_user`](crate::Limits::sockets_per_user) sockets open; a store
    /// failure reading the user's friends.
    pub async fn connect(&self, caller: &Caller) -> ChatResult<(Session, SessionOutbox)> {
        let inner = &self.chat.inner;
        let principal = &caller.principal;
        let user = principal.username.as_str();
        let (session, outbox) = Session::new(user, principal.expires_at, &inner.config.limits);
        if let Some(login) = &caller.session {
            if !inner.live_sessions.attach(login, session.handle()) {
                return Err(ChatError::Unauthorized);
            }
        }
        let first = inner
            .hub
            .register(
                user,
                session.handle().clone(),
                inner.config.limits.sockets_per_user,
            )
            .map_err(|_| {
                inner.live_sessions.detach(session.id());
                ChatError::RateLimited {
                    retry_after_secs: 1,
                }
            })?;
        if first {
            match self.chat.friends_of(user).await {
                Ok(friends) => inner.hub.presence(user, true, &friends),
                Err(err) => {
                    self.disconnect(&session).await;
                    return Err(err);
                }
            }
        }
        Ok((session, outbox))
    }

    /// Sends what the protocol sends first on a new socket: `online_users`, every message and group message still
    /// `sent` to the user (oldest first), then `sync_done`; then the pushes held meanwhile. The
    /// offline messages come a page at a time, each page waiting for room in the socket's
    /// budget, so a long backlog costs one page of memory per socket, not the whole backlog.
    ///
    /// # Errors
    /// A store failure; the socket is then closed with 1011.
    pub async fn greet(&self, session: &Session) -> ChatResult<()> {
        let greeted = self.send_greeting(session).await;
        match &greeted {
            Ok(()) => session.release_held(),
            Err(err) => {
                tracing::error!(
                    user = session.user(),
                    ?err,
                    "greeting failed; closing the socket"
                );
                session.close(CloseReason::SERVER_ERROR);
            }
        }
        greeted
    }

    async fn send_greeting(&self, session: &Session) -> ChatResult<()> {
        let chat = &self.chat;
        let user = session.user();
        // Before the list is read: what it reads makes the presence events held until now
        // redundant (a friend who came online meanwhile would otherwise be announced twice).
        session.forget_held_presence();
        let friends = chat.friends_of(user).await?;
        let users = chat
            .inner
            .hub
            .online_among(friends.iter().map(String::as_str));
        chat.answer(session, &ServerEvent::OnlineUsers { users });
        let per_page = chat.inner.config.limits.messages_per_answer();
        let store = chat.store();
        let mut direct = Backlog::default();
        let mut grouped = Backlog::default();
        loop {
            let slot = session.answer_slot().await;
            let mut frames = Vec::with_capacity(per_page);
            while frames.len() < per_page {
                if direct.wants_more() {
                    let page = store
                        .undelivered(user, direct.after.as_deref(), per_page)
                        .await?;
                    direct.refill(page, |m| (m.id.clone(), m.timestamp));
                }
                if grouped.wants_more() {
                    let page = store
                        .undelivered_group_messages(user, grouped.after.as_deref(), per_page)
                        .await?;
                    grouped.refill(page, |m| (m.id.clone(), m.timestamp));
                }
                // The two backlogs merged by timestamp; of equal ones, the 1:1 message first.
                let direct_first = match (direct.next_timestamp(), grouped.next_timestamp()) {
                    (None, None) => break,
                    (Some(a), Some(b)) => a <= b,
                    (a, _) => a.is_some(),
                };
                let frame = if direct_first {
                    direct.pop().map(ServerEvent::ReceiveMessage)
                } else {
                    grouped.pop().map(ServerEvent::ReceiveGroupMessage)
                };
                frames.extend(frame.map(|event| event.encode().into()));
            }
            let done = frames.len() < per_page;
            session.send_answer(frames, slot);
            if done {
                break;
            }
        }
        chat.answer(session, &ServerEvent::SyncDone {});
        Ok(())
    }

    /// Closes out a session whose socket closed: ends its calls, tells the friends it was the
    /// latest to report typing to that typing stopped and, when it was the user's last socket,
    /// tells their friends they went offline.
    pub async fn disconnect(&self, session: &Session) {
        let chat = &self.chat;
        let inner = &chat.inner;
        let user = session.user();
        inner.live_sessions.detach(session.id());
        let last = inner.hub.unregister(user, session.id());
        chat.end_calls_of_session(session, last).await;
        let stopped = ServerEvent::Typing {
            from: user.to_owned(),
            is_typing: false,
        };
        for friend in inner.typists.close(user, session.id()) {
            inner.hub.push(&friend, &stopped, None);
        }
        if last {
            let friends = chat.friends_of(user).await.unwrap_or_else(|err| {
                tracing::warn!(?err, "presence not sent: friends unavailable");
                Vec::new()
            });
            // Told even without the friends, so that the other nodes know the user left this one.
            inner.hub.presence(user, false, &friends);
        }
    }

    /// Handles one text frame from a session: decodes it, applies the limits, runs it, and
    /// answers a refusal with an `error` event on that socket. A socket that draws too many
    /// `too_large`/`rate_limited` refusals is closed with 1008.
    ///
    /// The frames of one session must be handed over one at a time, in the order they came.
    /// A send or a tick returns once queued, before it is stored; its answer (`message_sent`,
    /// or an `error`) follows on the socket, in the order the sends came.
    pub async fn handle_frame(&self, session: &Session, text: &str) {
        if !self.may_act(session) {
            return;
        }
        let decoded = match self.frame_too_large(text.len()) {
            // The refusal still names the message or call the frame was about.
            Some(err) => Err((err, ClientEvent::reference_in(text))),
            None => ClientEvent::decode(text)
                .map_err(|err| (ChatError::BadRequest(err.message), err.reference)),
        };
        let outcome = match decoded {
            Ok(event) => {
                let reference = event.reference().map(str::to_owned);
                self.chat
                    .handle(session, event)
                    .await
                    .map_err(|e| (e, reference))
            }
            Err(refusal) => {
                session.writes().drained().await;
                Err(refusal)
            }
        };
        if let Err((err, reference)) = outcome {
            self.chat.refuse(session, &err, reference);
        }
    }

    /// Answers a binary frame of `len` bytes: the protocol speaks JSON text only, so it is a
    /// `bad_request`, or `too_large` past the frame limit like any other frame.
    pub fn handle_binary_frame(&self, session: &Session, len: usize) {
        if !self.may_act(session) {
            return;
        }
        let err = self.frame_too_large(len).unwrap_or_else(|| {
            ChatError::bad_request("binary frames are not part of the protocol: send JSON text")
        });
        self.chat.refuse(session, &err, None);
    }

    /// A frame larger than the hard limit
    /// ([`Limits::max_frame_hard_bytes`](crate::Limits::max_frame_hard_bytes)) arrived: the
    /// socket is closed with 1008.
    pub fn frame_over_hard_limit(&self, session: &Session) {
        session.close(CloseReason::POLICY);
    }

    /// Whether a frame from `session` may be acted on: not once the socket is being closed
    /// (its login session ended, say), nor once its token has expired, which closes it with
    /// 4001 here rather than at the timer's next run.
    fn may_act(&self, session: &Session) -> bool {
        if session.is_closing() {
            return false;
        }
        if session.expires_at().is_some_and(|at| at <= self.chat.now()) {
            session.close(CloseReason::TOKEN_EXPIRED);
            return false;
        }
        true
    }

    fn frame_too_large(&self, len: usize) -> Option<ChatError> {
        let max = self.chat.inner.config.limits.max_frame_bytes;
        (len > max).then(|| {
            ChatError::TooLarge(format!("frame of {len} bytes is over the {max} byte limit"))
        })
    }

    /// Runs the timers against the chat's clock: ends calls that rang too long, closes sockets
    /// whose token expired or whose login session ended on another node, and forgets expired
    /// tickets, sessions and throttle entries. The chat runs it every second by itself; tests
    /// call it after moving a [`crate::ManualClock`].
    pub async fn sweep(&self) {
        self.chat.sweep().await;
    }

    /// The accounting of this node's sockets.
    pub fn stats(&self) -> Stats {
        let hub = &self.chat.inner.hub;
        let (sessions, queued_bytes) = hub.local_totals();
        Stats {
            online_users: hub.online_count(),
            sessions,
            queued_bytes,
        }
    }

    /// How far this node is on the bus between nodes (see [`BusCounts`]); `None` for a node
    /// alone. Tests of several nodes use it to wait until a node has handled what the others
    /// sent before a moment; operators have the same figures as metrics.
    pub fn bus_counts(&self) -> Option<BusCounts> {
        self.chat.inner.hub.bus_counts()
    }

    /// The accounting of `user`'s sockets on this node (zeros for a user with none).
    pub fn user_stats(&self, user: &str) -> UserStats {
        let hub = &self.chat.inner.hub;
        UserStats {
            sessions: hub.session_count(user),
            queued_bytes: hub.queued_bytes(user),
        }
    }
}

/// One of the greeting's two backlogs (1:1 and group messages), read a page at a time.
struct Backlog<T> {
    /// Read and not yet sent, with their timestamps.
    items: std::collections::VecDeque<(i64, T)>,
    /// The id of the last item read: the next page starts after it.
    after: Option<String>,
    more: bool,
}

impl<T> Default for Backlog<T> {
    fn default() -> Self {
        Self {
            items: std::collections::VecDeque::new(),
            after: None,
            more: true,
        }
    }
}

impl<T> Backlog<T> {
    fn wants_more(&self) -> bool {
        self.items.is_empty() && self.more
    }

    fn refill(&mut self, page: crate::store::Page<T>, key: impl Fn(&T) -> (String, i64)) {
        for item in page.items {
            let (id, timestamp) = key(&item);
            self.after = Some(id);
            self.items.push_back((timestamp, item));
        }
        // A page that read nothing cannot move the cursor: it is the end whatever it says.
        self.more = page.has_more && !self.items.is_empty();
    }

    fn next_timestamp(&self) -> Option<i64> {
        self.items.front().map(|(timestamp, _)| *timestamp)
    }

    fn pop(&mut self) -> Option<T> {
        self.items.pop_front().map(|(_, item)| item)
    }
}
