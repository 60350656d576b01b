//! [`Chat`]: the facade embedders construct. It owns the configuration, the store, the hub of
//! open sessions and the clock, and every REST call and socket frame goes through it.

mod accounts;
mod attachments;
mod bus;
mod calls;
mod conversations;
mod credentials;
mod friends;
mod groups;
mod messages;
mod pipeline;
mod sessions;
#[cfg(test)]
mod tests;
pub mod transport;
mod typing;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::blobs::BlobStore;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{ChatError, ChatResult};
use crate::fanout::{self, FanOut, InProcess, Node};
use crate::friend_guard::FriendGuard;
use crate::hub::Hub;
use crate::identity::{DynIdentity, Identity, JwtIdentity, Principal};
use crate::live_sessions::LiveSessions;
use crate::password::Hasher;
use crate::protocol::{ClientEvent, MessageStatus, ServerEvent};
use crate::rate::RateLimiter;
use crate::session::{CloseReason, Session};
use crate::store::Store;
use crate::throttle::Throttle;
use crate::tickets::Tickets;

use calls::ActiveCalls;
pub(crate) use pipeline::WritePipeline;
use transport::ClientInfo;
use typing::Typists;

/// How often the timer runs [`transport::Transport::sweep`] (ms).
const SWEEP_EVERY_MS: i64 = 1000;

/// The chat server, independent of any transport. Cheap to clone.
///
/// ```no_run
/// # async fn demo(store: impl nexchat_core::store::Store) -> nexchat_core::ChatResult<()> {
/// use nexchat_core::{Chat, Config};
/// let config = Config::new("a secret of at least 32 bytes, from your vault").expect("long enough");
/// let chat = Chat::builder(config, store).build().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    hub: Hub,
    clock: Arc<dyn Clock>,
    /// The embedder's own identity, when there is one: then nexchat has no login sessions
    /// unless `own_accounts` keeps them.
    custom_identity: Option<Arc<dyn DynIdentity>>,
    /// Whether nexchat's own accounts (registration, password login, login sessions) exist.
    own_accounts: bool,
    jwt: JwtIdentity,
    guard: FriendGuard,
    message_rate: RateLimiter,
    typing_rate: RateLimiter,
    join_rate: RateLimiter,
    call_offer_rate: RateLimiter,
    hasher: Hasher,
    throttle: Throttle,
    live_sessions: Arc<LiveSessions>,
    tickets: Tickets,
    calls: ActiveCalls,
    typists: Typists,
    /// The last timestamp handed to a message, so timestamps never run backwards on this node.
    last_timestamp: AtomicI64,
    /// Where attachments' bytes live; `None`: this chat takes no attachments.
    blobs: Option<Arc<dyn BlobStore>>,
    /// When the timer next collects unnamed uploads (ms); 0 while a collection runs.
    next_collection: AtomicI64,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat")
            .field("online_users", &self.inner.hub.online_count())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Chat`]; see [`Chat::builder`].
pub struct ChatBuilder {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    identity: Option<Arc<dyn DynIdentity>>,
    own_accounts: Option<bool>,
    blobs: Option<Arc<dyn BlobStore>>,
}

// Not the config: it holds the token secret.
impl std::fmt::Debug for ChatBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatBuilder")
            .field("own_identity", &self.identity.is_some())
            .field("own_accounts", &self.own_accounts)
            .finish_non_exhaustive()
    }
}

impl ChatBuilder {
    /// Uses `clock` instead of the system clock (tests move a [`crate::ManualClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Trusts `identity` to say who a token belongs to, instead of nexchat's own JWTs. nexchat's
    /// own accounts are then off (see [`ChatBuilder::own_accounts`]): nobody can register or
    /// log in with a password, so nobody can take a name before the app's user first comes.
    pub fn identity(mut self, identity: impl Identity) -> Self {
        self.identity = Some(Arc::new(identity));
        self
    }

    /// Whether nexchat's own accounts exist: registration, password login, the `kdf`
    /// parameters, password change, account deletion and login sessions (on by default; off
    /// by default with an [`Identity`] of the app's own). An adapter mounts their routes only
    /// when they are on ([`Chat::has_own_accounts`]).
    ///
    /// Turned on beside an app's identity, the two kinds of account share one namespace but
    /// never cross: tokens nexchat signed are checked first and any other token goes to the
    /// identity; an account the identity created has no password, so nobody can log in as
    /// it or register its name, and a name registered with a password is refused to the
    /// identity (403) rather than handed over.
    pub fn own_accounts(mut self, on: bool) -> Self {
        self.own_accounts = Some(on);
        self
    }

    /// Takes attachments (protocol version 1.3), keeping their bytes in `blobs`: the
    /// attachment routes exist only then. Every node of a chat needs the same blob store, as
    /// it needs the same [`Store`].
    pub fn blobs(mut self, blobs: impl BlobStore) -> Self {
        self.blobs = Some(Arc::new(blobs));
        self
    }

    /// Closes out calls a previous run left open, finishes account erasures it left midway,
    /// starts the timer that ends unanswered calls and expired sockets, and returns the chat.
    /// Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] when the configuration breaks a rule that [`Config::new`]
    /// checks (a token secret shorter than [`Config::MIN_SECRET_BYTES`] set afterwards); a
    /// store failure.
    pub async fn build(mut self) -> ChatResult<Chat> {
        // Every store call is timed for the operators (`crate::metrics`).
        self.store = Arc::new(crate::metrics::MeteredStore::new(self.store));
        self.config
            .check()
            .map_err(|err| ChatError::BadRequest(err.to_string()))?;
        let limits = &self.config.limits;
        let jwt = JwtIdentity::new(
            &self.config.jwt_secret,
            self.config.token_ttl,
            Arc::clone(&self.clock),
        );
        let live_sessions = Arc::new(LiveSessions::default());
        let node = Arc::new(Node::new(
            Arc::clone(&live_sessions),
            Arc::clone(&self.store),
        ));
        let fanout = fan_out(&self.config, &node).await?;
        let inner = Inner {
            message_rate: RateLimiter::new(limits.message_burst, limits.messages_per_sec),
            typing_rate: RateLimiter::new(limits.typing_per_sec, f64::from(limits.typing_per_sec)),
            join_rate: RateLimiter::new(limits.join_burst, limits.joins_per_sec),
            call_offer_rate: RateLimiter::new(limits.call_offer_burst, limits.call_offers_per_sec),
            hasher: Hasher::new(limits.hashes_at_once, limits.hashes_waiting),
            throttle: Throttle::new(limits),
            live_sessions,
            tickets: Tickets::new(node.id.clone()),
            own_accounts: self.own_accounts.unwrap_or(self.identity.is_none()),
            custom_identity: self.identity,
            jwt,
            guard: FriendGuard::new(
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                self.config.friend_cache_ttl,
            ),
            hub: Hub::new(node, fanout),
            calls: ActiveCalls::default(),
            typists: Typists::default(),
            last_timestamp: AtomicI64::new(0),
            blobs: self.blobs,
            next_collection: AtomicI64::new(0),
            store: self.store,
            clock: self.clock,
            config: self.config,
        };
        let chat = Chat {
            inner: Arc::new(inner),
        };
        chat.listen_to_bus();
        chat.close_out_unfinished_calls().await?;
        chat.finish_erasures().await?;
        spawn_timer(Arc::downgrade(&chat.inner));
        Ok(chat)
    }
}

/// The fan-out the configuration asks for: a bus to the other nodes, or this node alone.
async fn fan_out(config: &Config, node: &Arc<Node>) -> ChatResult<Arc<dyn FanOut>> {
    match &config.bus {
        None => Ok(Arc::new(InProcess::new(Arc::clone(node)))),
        #[cfg(feature = "nats")]
        Some(bus) => Ok(Arc::new(
            fanout::Nats::connect(bus, Arc::clone(node)).await?,
        )),
        #[cfg(not(feature = "nats"))]
        Some(_) => Err(ChatError::Internal(
            "a bus is configured but nexchat-core was built without the nats feature".into(),
        )),
    }
}

/// Runs [`transport::Transport::sweep`] every second for as long as the chat exists.
fn spawn_timer(chat: Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(SWEEP_EVERY_MS as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = chat.upgrade() else { break };
            Chat { inner }.sweep().await;
        }
    });
}

impl Chat {
    /// Starts building a chat over `store`.
    pub fn builder(config: Config, store: impl Store) -> ChatBuilder {
        ChatBuilder {
            config,
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            identity: None,
            own_accounts: None,
            blobs: None,
        }
    }

    /// Starts building a chat over a store it shares with other chats: several nodes in one
    /// process, as the tests of what nodes sharing a database see of each other do.
    pub fn builder_shared(config: Config, store: Arc<dyn Store>) -> ChatBuilder {
        ChatBuilder {
            config,
            store,
            clock: Arc::new(SystemClock),
            identity: None,
            own_accounts: None,
            blobs: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether nexchat's own accounts exist (see [`ChatBuilder::own_accounts`]): adapters
    /// mount the routes of registration, password login and login sessions only then.
    pub fn has_own_accounts(&self) -> bool {
        self.inner.own_accounts
    }

    /// This node's id: random, new at every start, the same the bus names the node by. Logs of a
    /// request or socket carry it (`node=`), so the lines of one node can be told apart.
    pub fn node_id(&self) -> &str {
        self.inner.hub.node_id()
    }

    /// Whether `user` (a canonical name) has a socket open on any node: what their friends see
    /// as online. With a bus, other nodes' sockets count as soon as their node has announced
    /// them.
    pub fn is_online(&self, user: &str) -> bool {
        self.inner.hub.is_online(user)
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Who the token belongs to, with an account provisioned for a name an external
    /// [`Identity`] vouches for but nexchat has not seen yet. A token of nexchat's own whose
    /// login session ended is refused ([`Chat::caller`] also says which session it names).
    ///
    /// # Errors
    /// As [`Chat::caller`].
    pub async fn authenticate(&self, token: &str) -> ChatResult<Principal> {
        self.caller(token).await.map(|caller| caller.principal)
    }

    /// Runs one decoded event for a session.
    ///
    /// Sends and ticks are queued and run beside the session's other writes (see the module
    /// `pipeline`): their refusals come as `error` events on the socket, and their `Ok` here
    /// means only "queued". Sends are answered in the order they came. Any other event first
    /// waits until the writes before it are answered.
    async fn handle(&self, session: &Session, event: ClientEvent) -> ChatResult<()> {
        if !matches!(
            event,
            ClientEvent::SendMessage { .. }
                | ClientEvent::MessageDelivered { .. }
                | ClientEvent::MessageSeen { .. }
        ) {
            session.writes().drained().await;
        }
        match event {
            ClientEvent::Join { public_key } => self.join(session, public_key).await,
            ClientEvent::RequestPublicKey { receiver } => {
                let (username, public_key) = self.public_key_of(&receiver).await?;
                self.answer(
                    session,
                    &ServerEvent::PublicKeyResponse {
                        username,
                        public_key,
                    },
                );
                Ok(())
            }
            ClientEvent::SendMessage {
                receiver,
                ciphertext,
                iv,
                id,
                attachments,
            } => {
                self.queue_send(session, &receiver, ciphertext, iv, id, attachments)
                    .await;
                Ok(())
            }
            ClientEvent::MessageDelivered { to, ids } => {
                self.queue_tick(session, to, ids, MessageStatus::Delivered)
                    .await;
                Ok(())
            }
            ClientEvent::MessageSeen { to, ids } => {
                self.queue_tick(session, to, ids, MessageStatus::Seen).await;
                Ok(())
            }
            ClientEvent::FetchHistory {
                with_user,
                before,
                limit,
            } => self.fetch_history(session, &with_user, before, limit).await,
            ClientEvent::Typing { to, is_typing } => self.typing(session, &to, is_typing).await,
            ClientEvent::CallOffer {
                to,
                offer,
                with_video,
            } => self.call_offer(session, &to, offer, with_video).await,
            ClientEvent::CallAnswer {
                to,
                answer,
                call_id,
            } => self.call_answer(session, &to, answer, call_id).await,
            ClientEvent::CallIce {
                to,
                candidate,
                call_id,
            } => self.call_ice(session, &to, candidate, call_id).await,
            ClientEvent::CallEnded { to, call_id } => self.call_end(session, &to, call_id).await,
            ClientEvent::FetchCallHistory {
                with_user,
                before,
                limit,
            } => {
                self.fetch_call_history(session, &with_user, before, limit)
                    .await
            }
            ClientEvent::SendGroupMessage {
                group,
                ciphertext,
                iv,
                key_id,
                to,
                id,
                attachments,
            } => {
                let send = groups::GroupSend {
                    group,
                    ciphertext,
                    iv,
                    key_id,
                    to,
                    id,
                    attachments,
                };
                self.send_group_message(session, send).await
            }
            ClientEvent::GroupDelivered { group, ids } => {
                self.group_tick(session, &group, ids, MessageStatus::Delivered)
                    .await
            }
            ClientEvent::GroupSeen { group, ids } => {
                self.group_tick(session, &group, ids, MessageStatus::Seen)
                    .await
            }
            ClientEvent::FetchGroupHistory {
                group,
                before,
                limit,
            } => {
                self.fetch_group_history(session, &group, before, limit)
                    .await
            }
            ClientEvent::GroupTyping { group, is_typing } => {
                self.group_typing(session, &group, is_typing).await
            }
        }
    }

    /// Runs the timers (see [`transport::Transport::sweep`]).
    async fn sweep(&self) {
        let now = self.now();
        self.inner.hub.close_expired(now);
        self.inner.guard.prune();
        for rate in [
            &self.inner.message_rate,
            &self.inner.typing_rate,
            &self.inner.join_rate,
            &self.inner.call_offer_rate,
        ] {
            rate.prune(now);
        }
        self.inner.tickets.prune(now);
        self.inner.throttle.prune(now);
        self.inner.live_sessions.prune(now);
        self.check_live_sessions(now).await;
        self.end_unanswered_calls(now).await;
        self.collect_attachments_when_due(now);
    }

    /// Whether this node can serve: its store answers and, with a bus, the bus is connected
    /// (what a load balancer's readiness probe asks).
    ///
    /// # Errors
    /// [`ChatError::Internal`] saying which of the two is unreachable.
    pub async fn ready(&self) -> ChatResult<()> {
        if !self.inner.hub.bus_connected() {
            return Err(ChatError::Internal("the bus is not connected".into()));
        }
        // One lookup by key: the cheapest question every store answers.
        self.store()
            .find_session("readiness-probe")
            .await
            .map(drop)
            .map_err(|err| ChatError::Internal(format!("the store does not answer: {err}")))
    }

    /// Closes every socket (graceful shutdown).
    pub fn shutdown(&self) {
        self.inner.hub.close_all(&CloseReason::GOING_AWAY);
    }

    fn answer(&self, session: &Session, event: &ServerEvent) {
        session.send(event.encode().into());
    }

    /// Canonical names of the user's friends.
    async fn friends_of(&self, user: &str) -> ChatResult<Vec<String>> {
        Ok(fanout::friends_of(self.store(), user).await?)
    }

    /// A timestamp from the clock, never earlier than the last one this node handed out.
    fn next_timestamp(&self) -> i64 {
        let now = self.now();
        let prev = self.inner.last_timestamp.fetch_max(now, Ordering::SeqCst);
        prev.max(now)
    }
}

/// Reads a page of at most `limit` entries through `fetch` (called with a cursor and a count,
/// `chunk` entries at a time, so no more than a chunk is read beyond what is kept) that fits
/// `max_bytes` of JSON: past it the page ends early with `has_more`, though never empty.
/// `id_of` names an entry as the next cursor.
async fn fill_page<T, F, Fut>(
    limit: usize,
    max_bytes: usize,
    chunk: usize,
    first_cursor: Option<String>,
    mut fetch: F,
    id_of: impl Fn(&T) -> String,
) -> ChatResult<crate::store::Page<T>>
where
    T: serde::Serialize,
    F: FnMut(Option<String>, usize) -> Fut,
    Fut: std::future::Future<Output = ChatResult<crate::store::Page<T>>>,
{
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut cursor = first_cursor;
    loop {
        let want = (limit - items.len()).min(chunk.max(1));
        let page = fetch(cursor.take(), want).await?;
        for item in page.items {
            // The entry as it will be encoded, plus its separating comma.
            let len = serde_json::to_string(&item).map_or(0, |s| s.len()) + 1;
            if !items.is_empty() && bytes + len > max_bytes {
                return Ok(crate::store::Page {
                    items,
                    has_more: true,
                });
            }
            bytes += len;
            cursor = Some(id_of(&item));
            items.push(item);
        }
        if !page.has_more || items.len() >= limit || cursor.is_none() {
            return Ok(crate::store::Page {
                items,
                has_more: page.has_more,
            });
        }
    }
}

/// Converts a client's page size: default 50, at most 200, below 1 refused.
fn page_limit(limit: Option<i64>) -> ChatResult<usize> {
    match limit {
        None => Ok(50),
        Some(n) if n < 1 => Err(ChatError::bad_request("limit must be at least 1")),
        Some(n) => Ok(usize::try_from(n.min(200)).unwrap_or(200)),
    }
}
