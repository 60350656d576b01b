//! Storage traits: what the chat needs from a database, and nothing about how.
//!
//! Backends live in `nexchat-store`. Every operation that a racing second node could break is a
//! single conditional step here (insert-or-return-existing, move a status forward only from an
//! expected value), so a backend without transactions can still be correct.
//!
//! Usernames handed to these methods are canonical (as registered), except in
//! [`UserStore::find_user`], [`UserStore::search_users`], [`UserStore::replace_credentials`] and
//! [`UserStore::mark_erasing`], which match case-insensitively.

use async_trait::async_trait;

use crate::protocol::{CallRecord, CallStatus, Conversation, MessageStatus, StoredMessage};

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (name taken, id used).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record referred to does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored record has the wrong shape.
    #[error("corrupt record in {collection} (id {id}): {detail}")]
    Corrupt {
        /// Table or collection.
        collection: String,
        /// The record's id.
        id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The database failed.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Result with a [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The name as registered (unique case-insensitively).
    pub username: String,
    /// bcrypt hash; empty for users provisioned by an external identity (password login refused).
    pub password_hash: String,
    /// Public key JWK as canonical JSON text; empty until the user has one.
    pub public_key: String,
    /// Password-wrapped private key, JSON text stored unread; empty when none.
    pub encrypted_private_key: String,
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
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Finds a live user by name, case-insensitively.
    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces a live user's public key (canonical JSON text).
    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()>;
    /// Names of live users starting with `prefix` (case-insensitive), `exclude` left out, sorted
    /// case-insensitively, at most `limit`.
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
    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool>;
    /// Marks a live user as being erased, in one step; false when no live user has that name.
    /// The first step of an erasure: whatever happens after it, the account never comes back.
    async fn mark_erasing(&self, username: &str) -> StoreResult<bool>;
    /// Users marked by [`UserStore::mark_erasing`] and not yet tombstoned (a previous run
    /// stopped midway), as registered.
    async fn erasing_users(&self) -> StoreResult<Vec<String>>;
    /// The last step of an erasure: clears the password hash, public key, key backup and `kdf`
    /// of a user marked erasing and keeps only its name, reserved. Nothing for a live user or
    /// one already tombstoned.
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
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>>;
    /// Records `sender` asking `receiver`: inserts a pending link, or turns a rejected link of
    /// the pair (either direction) into a pending one from `sender`. Returns false, changing
    /// nothing, when the pair has a pending or accepted link.
    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool>;
    /// Moves the link `sender → receiver` from `from` to `to` in one conditional step; false
    /// when no such link is in state `from`.
    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool>;
    /// Deletes the link `sender → receiver` if it is in state `status`; false when none was.
    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool>;
    /// Every link with `user` on either end.
    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>>;
    /// Whether the two users are friends now.
    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool>;
    /// Deletes every link with `user` on either end, in any state (account erasure).
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
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted>;
    /// Stores several messages as [`Self::insert_message`] would, one result per message in
    /// the same order, and in storage order as given: a later message never lands before an
    /// earlier one. A backend may overlap the writes (SQLite commits them together); this
    /// default writes them one after another ([`insert_in_turn`]).
    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        insert_in_turn(self, &messages).await
    }
    /// Finds a message by id.
    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>>;
    /// Raises to `to` the status of messages `sender → receiver` whose status is lower,
    /// restricted to `ids` when given; returns the ids that moved, in storage order.
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
    /// [`StoreError::NotFound`] when `before` has no entry in `user`'s list.
    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>>;
    /// Deletes every message `user` sent or received (account erasure), and with them the
    /// conversation entries of `user` and those of others with `user`. A backend may delete
    /// in several steps; run again after an interruption, it finishes the job.
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
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()>;
    /// Replaces a call's record if its stored status is still `expected`; false otherwise.
    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool>;
    /// Finds a call by id.
    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>>;
    /// Calls between `a` and `b` (either direction), newest first, at most `limit`, strictly
    /// older than the call `before`; [`StoreError::NotFound`] when `before` is not a call of
    /// this pair.
    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>>;
    /// Calls still ringing or in progress (to close out after a restart).
    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>>;
    /// Deletes every call `user` placed or received (account erasure).
    async fn delete_calls_of(&self, user: &str) -> StoreResult<()>;
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
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// Finds a session by id.
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// The sessions of `username`, newest `created_at` first (expired ones included).
    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>>;
    /// Which of `ids` are stored, in any order: lets a node check all the sessions it holds
    /// sockets for in one step.
    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>>;
    /// Raises a session's `last_seen_at` to `at`; never lowers it. An unknown id changes
    /// nothing and is not an error (the session may have just ended).
    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()>;
    /// Deletes a session; false when there was none.
    async fn delete_session(&self, id: &str) -> StoreResult<bool>;
    /// Deletes the sessions of `username` that expired at or before `now` (ms); returns how
    /// many.
    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64>;
}

/// Everything the chat stores. Implemented for every type that implements the five parts.
pub trait Store:
    UserStore + FriendStore + MessageStore + CallStore + SessionStore + 'static
{
}

impl<T: UserStore + FriendStore + MessageStore + CallStore + SessionStore + 'static> Store for T {}
