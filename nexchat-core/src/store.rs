//! Storage traits: what the chat needs from a database, and nothing about how.
//!
//! Backends live in `nexchat-store`; [`memory::MemoryStore`] (feature `memory`) keeps
//! everything in memory, for tests and as the plainest reading of each promise. Every operation
//! that a racing second node could break is a single conditional step here
//! (insert-or-return-existing, move a status forward only from an expected value), so a backend
//! without transactions can still be correct.
//!
//! Usernames handed to these methods are canonical (as registered), except in
//! [`UserStore::find_user`], [`UserStore::search_users`], [`UserStore::replace_credentials`] and
//! [`UserStore::mark_erasing`], which match case-insensitively.
//!
//! Every trait is also implemented for [`Arc<S>`], so an application can hand the chat a store
//! and keep a handle to the same one.
//!
//! # Errors
//! Every method returns a [`StoreError`]: [`StoreError::Backend`] when the database fails
//! (whatever the method), and the other variants where a method's `# Errors` section names
//! them. A store never logs a failure it returns; whoever finally refuses the request does, once.
#![warn(clippy::missing_errors_doc)]

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::protocol::{CallRecord, CallStatus, Conversation, MessageStatus, StoredMessage};

mod attachments;
mod groups;
#[cfg(any(test, feature = "memory"))]
pub mod memory;

pub use attachments::{
    AttachmentRecord, AttachmentRef, AttachmentState, AttachmentStore, Reserved,
};
pub use groups::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Removal,
    RoleSet, Settled,
};

/// A storage failure. Cheap to clone: a driver's error is kept behind an [`Arc`], with its
/// whole chain of sources.
///
/// [`Error::source`] of a [`StoreError::Backend`] is the driver's error itself, so a caller can
/// downcast it (to `rusqlite::Error`, `mongodb::error::Error`, ...).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique constraint refused the write (name taken, id used).
    Conflict(String),
    /// The record referred to does not exist.
    NotFound(String),
    /// A stored record has the wrong shape.
    Corrupt {
        /// Table or collection.
        collection: String,
        /// The record's id.
        id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The database failed.
    Backend {
        /// What the store was doing (`"sqlite: opening chat.db"`).
        context: String,
        /// The driver's error, when there is one.
        source: Option<Arc<dyn Error + Send + Sync>>,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict(what) => write!(f, "already exists: {what}"),
            Self::NotFound(what) => write!(f, "not found: {what}"),
            Self::Corrupt {
                collection,
                id,
                detail,
            } => write!(f, "corrupt record in {collection} (id {id}): {detail}"),
            Self::Backend { context, .. } => write!(f, "storage backend: {context}"),
        }
    }
}

// Written out rather than derived: a derived `source` would return the `Arc` itself, which
// hides the driver's error from `downcast_ref`.
impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Backend {
                source: Some(source),
                ..
            } => Some(&**source),
            _ => None,
        }
    }
}

impl StoreError {
    /// A [`StoreError::Backend`] for a driver's `source` error met while doing `context`.
    pub fn backend(context: impl Into<String>, source: impl Error + Send + Sync + 'static) -> Self {
        Self::Backend {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A [`StoreError::Backend`] with no driver error behind it (a worker thread that stopped,
    /// a reply that never came).
    pub fn backend_failure(context: impl Into<String>) -> Self {
        Self::Backend {
            context: context.into(),
            source: None,
        }
    }

    /// This error and each of its sources, joined by `": "`: the whole story in one line, for
    /// the single log line a failure gets.
    ///
    /// ```
    /// use nexchat_core::store::StoreError;
    /// let io = std::io::Error::other("disk full");
    /// let err = StoreError::backend("sqlite: committing", io);
    /// assert_eq!(err.chain(), "storage backend: sqlite: committing: disk full");
    /// let driver = std::error::Error::source(&err).and_then(|e| e.downcast_ref::<std::io::Error>());
    /// assert_eq!(driver.map(|e| e.kind()), Some(std::io::ErrorKind::Other));
    /// ```
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = self.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

/// Result with a [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The name as registered (unique case-insensitively).
    pub username: String,
    /// bcrypt hash; `None` for an account an app's own identity provisioned (password login
    /// refused) and for an erased account's tombstone.
    pub password_hash: Option<String>,
    /// Public key JWK as canonical JSON text; `None` until the user publishes one.
    pub public_key: Option<String>,
    /// Password-wrapped private key, JSON text stored unread; `None` when there is none.
    pub encrypted_private_key: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// The client's key-derivation parameters (`kdf`), JSON text stored unread; `None` for
    /// accounts created without them (v1 clients, external identities).
    pub kdf: Option<String>,
}

/// What a password change replaces, together and in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The new bcrypt hash.
    pub password_hash: String,
    /// The new `kdf` parameters, JSON text; `None` for a client that keeps v1's scheme.
    pub kdf: Option<String>,
    /// The key backup re-wrapped under the new password, JSON text.
    pub encrypted_private_key: String,
}

/// Users.
///
/// An account is *live* until [`UserStore::mark_erasing`] marks it; from then on it is invisible
/// (to [`UserStore::find_user`], [`UserStore::search_users`], [`UserStore::set_public_key`] and
/// [`UserStore::replace_credentials`]) while its name stays taken, and
/// [`UserStore::tombstone_user`] finally leaves nothing of it but that name.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; [`StoreError::Conflict`] when the name is taken in any letter case (by a
    /// live account or an erased one).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the name is taken; [`StoreError::Backend`] when the database
    /// fails.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Finds a live user by name, case-insensitively.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the stored
    /// account has the wrong shape.
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces a live user's public key (canonical JSON text).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()>;
    /// Names of live users starting with `prefix` (case-insensitive), `exclude` left out, sorted
    /// case-insensitively, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// Replaces the password hash, `kdf` and key backup of a live user in one conditional step,
    /// only while its password hash is still `expected_hash`, so that of two racing password
    /// changes exactly one wins. Returns false, changing nothing, when the hash differs or the
    /// user is not live.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool>;
    /// Marks a live user as being erased, in one step; false when no live user has that name.
    /// The first step of an erasure: whatever happens after it, the account never comes back.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool>;
    /// Users marked by [`UserStore::mark_erasing`] and not yet tombstoned (a previous run
    /// stopped midway), as registered.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn erasing_users(&self) -> StoreResult<Vec<String>>;
    /// The last step of an erasure: clears the password hash, public key, key backup and `kdf`
    /// of a user marked erasing and keeps only its name, reserved. Nothing for a live user or
    /// one already tombstoned.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn tombstone_user(&self, username: &str) -> StoreResult<()>;
}

/// State of a link between two users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkStatus {
    /// `sender` asked `receiver`.
    Pending,
    /// Friends.
    Accepted,
    /// `receiver` said no; `sender` may ask again.
    Rejected,
}

impl LinkStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// The one link a pair of users has (a pair never has two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendLink {
    /// Who asked.
    pub sender: String,
    /// Who was asked.
    pub receiver: String,
    /// Where it stands.
    pub status: LinkStatus,
}

/// Friend requests and friendships. A pair of users has at most one link, whoever sent it.
#[async_trait]
pub trait FriendStore: Send + Sync {
    /// The link between two users, in either direction.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the stored
    /// link has the wrong shape.
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>>;
    /// Records `sender` asking `receiver`: inserts a pending link, or turns a rejected link of
    /// the pair (either direction) into a pending one from `sender`. Returns false, changing
    /// nothing, when the pair has a pending or accepted link.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool>;
    /// Moves the link `sender → receiver` from `from` to `to` in one conditional step; false
    /// when no such link is in state `from`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool>;
    /// Deletes the link `sender → receiver` if it is in state `status`; false when none was.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool>;
    /// Every link with `user` on either end.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored link
    /// has the wrong shape.
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>>;
    /// Whether the two users are friends now.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool>;
    /// Deletes every link with `user` on either end, in any state (account erasure).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn delete_links_of(&self, user: &str) -> StoreResult<()>;
}

/// Result of storing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Newly stored, with the timestamp the store gave it.
    New(StoredMessage),
    /// A message with this id already existed; this is it, unchanged.
    Existing(StoredMessage),
}

/// A page of a longer list, in the order the method returning it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether more items follow this page.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page of at most `limit` items from a read of up to `limit + 1`: a backend reads one
    /// item past the page, and that item only says whether more follow.
    ///
    /// ```
    /// use nexchat_core::store::Page;
    /// let page = Page::from_one_more(vec![1, 2, 3], 2);
    /// assert_eq!((page.items, page.has_more), (vec![1, 2], true));
    /// ```
    pub fn from_one_more(mut items: Vec<T>, limit: usize) -> Self {
        let has_more = items.len() > limit;
        items.truncate(limit);
        Self { items, has_more }
    }
}

/// Messages.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message durably before returning. The returned message's `timestamp` is
    /// `message.timestamp` raised, if needed, so it is never earlier than that of any message
    /// stored before it. When the id exists (any sender) nothing is written and the stored
    /// message is returned as [`Inserted::Existing`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the existing
    /// message has the wrong shape.
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted>;
    /// Stores several messages as [`Self::insert_message`] would, one result per message in
    /// the same order, and in storage order as given: a later message never lands before an
    /// earlier one. A backend may overlap the writes (SQLite commits them together); this
    /// default writes them one after another ([`insert_in_turn`]).
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        insert_in_turn(self, &messages).await
    }
    /// Finds a message by id.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the stored
    /// message has the wrong shape.
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>>;
    /// Raises to `to` the status of messages `sender → receiver` whose status is lower,
    /// restricted to `ids` when given; returns the ids that moved, in storage order.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>>;
    /// Messages between `a` and `b` (both directions), newest first, at most `limit`, strictly
    /// older (in storage order) than the message `before`; [`StoreError::NotFound`] when
    /// `before` is not a message of this pair.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when `before` is not a message of this pair;
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// message has the wrong shape.
    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>>;
    /// Messages to `receiver` still in status `sent`, oldest first (storage order), at most
    /// `limit`, strictly after (in storage order) the message `after` whatever its status now;
    /// an `after` that is not a message to `receiver` gives an empty page. Paged so that a
    /// socket is greeted with a long backlog a page at a time, never all of it in memory.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// message has the wrong shape.
    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>>;
    /// The conversation list of `user`: one [`Conversation`] per user they have messages with
    /// (sent or received, friends now or not), the one whose latest message is latest in
    /// storage order first (so newest `timestamp` first, ties the later stored first), at most
    /// `limit`, strictly after the entry of `before`. `unread` counts the messages from that
    /// user to `user` whose status is not `seen`.
    ///
    /// A backend answers a page with one indexed read (a summary per pair kept up to date as
    /// messages are stored, ticked and deleted is one way), never with one read per entry.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when `before` has no entry in `user`'s list;
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// message or entry has the wrong shape.
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>>;
    /// Deletes every message `user` sent or received (account erasure), and with them the
    /// conversation entries of `user` and those of others with `user`. A backend may delete
    /// in several steps; run again after an interruption, it finishes the job.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails (what was deleted before the failure stays
    /// deleted).
    async fn delete_messages_of(&self, user: &str) -> StoreResult<()>;
}

/// Inserts `messages` one after another, each once the one before is stored: the default of
/// [`MessageStore::insert_messages`], for backends to fall back on.
pub async fn insert_in_turn<S: MessageStore + ?Sized>(
    store: &S,
    messages: &[StoredMessage],
) -> Vec<StoreResult<Inserted>> {
    let mut results = Vec::with_capacity(messages.len());
    for message in messages {
        results.push(store.insert_message(message).await);
    }
    results
}

/// The call log.
#[async_trait]
pub trait CallStore: Send + Sync {
    /// Stores a new call; [`StoreError::Conflict`] when the id exists.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists; [`StoreError::Backend`] when the database
    /// fails.
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()>;
    /// Replaces a call's record if its stored status is still `expected`; false otherwise.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool>;
    /// Finds a call by id.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the stored
    /// call has the wrong shape.
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>>;
    /// Calls between `a` and `b` (either direction), newest first, at most `limit`, strictly
    /// older than the call `before`; [`StoreError::NotFound`] when `before` is not a call of
    /// this pair.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when `before` is not a call of this pair; [`StoreError::Backend`]
    /// when the database fails; [`StoreError::Corrupt`] when a stored call has the wrong shape.
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>>;
    /// Calls still ringing or in progress (to close out after a restart).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored call
    /// has the wrong shape.
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>>;
    /// Deletes every call `user` placed or received (account erasure).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()>;
    /// Takes a line for each of `call`'s two parties, relayed by `node`, in one conditional step:
    /// only when the callee holds no line (is in no call), else nothing changes and
    /// [`LineTaken::Busy`] names the callee. The caller's line is taken whatever they hold (a
    /// user may ring several friends at once). This step decides "busy" for every node sharing
    /// the store: of two calls to one user, at most one takes their line.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails (a line taken before the failure may
    /// stay held until [`CallStore::release_call_lines`]).
    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken>;
    /// Releases the lines held for call `call_id`; nothing when none is.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()>;
    /// The lines `user` holds, in any order.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// line has the wrong shape.
    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>>;
    /// Every line held, in any order (to close out the calls of nodes that are gone).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// line has the wrong shape.
    async fn call_lines(&self) -> StoreResult<Vec<CallLine>>;
}

/// One party's line in a live call: while a user holds one, a call to them is refused busy on
/// every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    /// The party holding the line.
    pub user: String,
    /// The other party of the call.
    pub peer: String,
    /// The call.
    pub call_id: String,
    /// The node relaying the call (its id on the bus).
    pub node: String,
}

impl CallLine {
    /// The two lines of `call`, relayed by `node`: the callee's first.
    pub fn of_call(call: &CallRecord, node: &str) -> [CallLine; 2] {
        let line = |user: &str, peer: &str| CallLine {
            user: user.to_owned(),
            peer: peer.to_owned(),
            call_id: call.call_id.clone(),
            node: node.to_owned(),
        };
        [
            line(&call.callee, &call.caller),
            line(&call.caller, &call.callee),
        ]
    }
}

/// What [`CallStore::take_call_lines`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineTaken {
    /// Both parties' lines are the call's now.
    Taken,
    /// The callee, named here, already holds a line (another call): nothing was taken.
    Busy(String),
}

/// A login session as stored: what a token names, and what the user sees in their list of
/// sessions. A session is open while its record exists and `expires_at` is in the future;
/// ending it deletes the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Random id (a UUID), named by the session's token.
    pub id: String,
    /// The user, as registered.
    pub username: String,
    /// When the login happened (ms).
    pub created_at: i64,
    /// When the session's token was last accepted (ms); updated coarsely.
    pub last_seen_at: i64,
    /// When the session's token expires (ms).
    pub expires_at: i64,
    /// The first 200 characters of the login request's `User-Agent`, empty when absent.
    pub user_agent: String,
}

/// Login sessions (see [`SessionRecord`]).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session; [`StoreError::Conflict`] when the id exists.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists; [`StoreError::Backend`] when the database
    /// fails.
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// Finds a session by id.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when the stored
    /// session has the wrong shape.
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// The sessions of `username`, newest `created_at` first (expired ones included).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Corrupt`] when a stored
    /// session has the wrong shape.
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>>;
    /// Which of `ids` are stored, in any order: lets a node check all the sessions it holds
    /// sockets for in one step.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>>;
    /// Raises a session's `last_seen_at` to `at`; never lowers it. An unknown id changes
    /// nothing and is not an error (the session may have just ended).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()>;
    /// Deletes a session; false when there was none.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn delete_session(&self, id: &str) -> StoreResult<bool>;
    /// Deletes the sessions of `username` that expired at or before `now` (ms); returns how
    /// many.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the database fails.
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64>;
}

/// Everything the chat stores. Implemented for every type that implements the six parts.
pub trait Store:
    UserStore
    + FriendStore
    + MessageStore
    + CallStore
    + SessionStore
    + GroupStore
    + AttachmentStore
    + 'static
{
}

impl<
    T: UserStore
        + FriendStore
        + MessageStore
        + CallStore
        + SessionStore
        + GroupStore
        + AttachmentStore
        + 'static,
> Store for T
{
}

// The store an application hands the chat may be one it keeps a handle to: `Arc<S>` is a store
// whenever `S` is, and forwards every method (the batch insert too, so a backend's own batching
// is kept).

#[async_trait]
impl<S: UserStore + ?Sized> UserStore for Arc<S> {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        (**self).create_user(user).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        (**self).find_user(username).await
    }
    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        (**self).set_public_key(username, public_key).await
    }
    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        (**self).search_users(prefix, exclude, limit).await
    }
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        (**self)
            .replace_credentials(username, expected_hash, credentials)
            .await
    }
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        (**self).mark_erasing(username).await
    }
    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        (**self).erasing_users().await
    }
    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        (**self).tombstone_user(username).await
    }
}

#[async_trait]
impl<S: FriendStore + ?Sized> FriendStore for Arc<S> {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        (**self).link(a, b).await
    }
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        (**self).create_request(sender, receiver).await
    }
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        (**self).transition_link(sender, receiver, from, to).await
    }
    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool> {
        (**self).delete_link(sender, receiver, status).await
    }
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        (**self).links_of(user).await
    }
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        (**self).are_friends(a, b).await
    }
    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        (**self).delete_links_of(user).await
    }
}

#[async_trait]
impl<S: MessageStore + ?Sized> MessageStore for Arc<S> {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        (**self).insert_message(message).await
    }
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        (**self).insert_messages(messages).await
    }
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        (**self).get_message(id).await
    }
    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        (**self).advance_status(sender, receiver, ids, to).await
    }
    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        (**self).history(a, b, before, limit).await
    }
    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        (**self).undelivered(receiver, after, limit).await
    }
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        (**self).conversations(user, before, limit).await
    }
    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        (**self).delete_messages_of(user).await
    }
}

#[async_trait]
impl<S: CallStore + ?Sized> CallStore for Arc<S> {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        (**self).insert_call(call).await
    }
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        (**self).update_call(call, expected).await
    }
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        (**self).get_call(call_id).await
    }
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        (**self).call_history(a, b, before, limit).await
    }
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        (**self).unfinished_calls().await
    }
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        (**self).delete_calls_of(user).await
    }
    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        (**self).take_call_lines(call, node).await
    }
    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        (**self).release_call_lines(call_id).await
    }
    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        (**self).call_lines_of(user).await
    }
    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        (**self).call_lines().await
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        (**self).create_session(session).await
    }
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        (**self).find_session(id).await
    }
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        (**self).sessions_of(username).await
    }
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        (**self).existing_sessions(ids).await
    }
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        (**self).touch_session(id, at).await
    }
    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        (**self).delete_session(id).await
    }
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        (**self).delete_expired_sessions(username, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::StoreError;
    use crate::error::ChatError;

    /// A driver error reaches the chat's refusal whole (the one place it is logged), and
    /// stays the store error's source for whoever wants to downcast it.
    #[test]
    fn a_backend_failure_keeps_its_driver_error() {
        let disk = std::io::Error::other("disk full");
        let err = StoreError::backend("sqlite: committing", disk);
        let copy = err.clone();
        let source = std::error::Error::source(&copy).expect("a source");
        assert_eq!(source.to_string(), "disk full");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(
            ChatError::from(err),
            ChatError::Internal("storage backend: sqlite: committing: disk full".into())
        );
        let bare = StoreError::backend_failure("the writer has stopped");
        assert!(std::error::Error::source(&bare).is_none());
        assert_eq!(bare.chain(), "storage backend: the writer has stopped");
    }
}
