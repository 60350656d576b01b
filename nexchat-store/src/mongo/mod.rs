//! MongoDB backend (cargo feature `mongodb`): one [`MongoStore`] shared by every node of a
//! deployment.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nexchat_core::store::StoreError> {
//! let store = nexchat_store::MongoStore::connect("mongodb://127.0.0.1:27017", "nexchat").await?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```
//!
//! # Collections
//! The seed design's four collections and field names, plus what correctness needs:
//!
//! | collection | `_id` | fields |
//! |---|---|---|
//! | `users` | ObjectId | `username`, `usernameLower` (unique), `password` (bcrypt hash), `publicKey`, `encryptedPrivateKey` (JSON text), `createdAt`, `kdf` (JSON text or null; missing in documents written before it existed), `erasure` (missing or null while the account is live, `"pending"`, `"done"`) |
//! | `messages` | message id | `sender`, `receiver`, `ciphertext`, `iv` (base64), `timestamp`, `status`, `seq`, `pair`, and `deliveredOp`/`seenOp` (see below) |
//! | `friend_requests` | the pair key (`"alice\|bob"`) | `sender`, `receiver`, `status` |
//! | `calls` | call id | `caller`, `callee`, `type`, `status`, `startedAt`, `answeredAt`, `endedAt`, `duration`, `endReason` (once ended; missing in calls ended before it existed), `seq`, `pair` |
//! | `conversations` | `"owner\|withUser"` (escaped like pair keys, in that order) | `owner`, `withUser`, `lastSeq` and `lastId` (the pair's latest message), `unread` (messages to `owner` from `withUser` not seen; missing reads as 0) |
//! | `counters` | `"messages"`, `"calls"`, `"group_messages"` | `seq`, `timestamp` |
//! | `sessions` | session id | `username`, `createdAt`, `lastSeenAt`, `expiresAt`, `userAgent` (one per open login session; deleted when it ends) |
//! | `call_lines` | `callee:USER` or `caller:CALL:USER` | `user`, `peer`, `callId`, `node` (one per party of a live call, deleted when it ends; the callee's `_id`, one per user, makes a second call to them busy) |
//! | `groups` | group id | `createdAt`, `title` and `avatar` (null or `{ciphertext, iv, keyId, by}`), and the counters `size` (seats taken), `admins`, `nextSeq` (order of memberships) |
//! | `group_members` | `"group\|user"` (escaped like pair keys, case kept) | `group`, `user`, `role` (`"admin"`, `"member"`), `joinedAt`, `seq` |
//! | `group_counts` | username | `groups` (how many groups the user is in; deleted at 0) |
//! | `group_messages` | message id | `group`, `sender`, `to` and `keyId` (null when absent), `ciphertext`, `iv`, `timestamp`, `status` (0 sent, 1 delivered, 2 seen), `seq` |
//! | `group_receipts` | `"messageId\|member"` | `messageId`, `group`, `member`, `sender`, `kind` (`"chat"`, `"key"`), `status` (as in `group_messages`), `seq`, `order` (membership order at sending), and `deliveredOp`/`seenOp` |
//! | `attachments` | attachment id | `owner`, `size`, `state` (`"uploading"`, `"stored"`, `"collecting"`), `createdAt`, `refs` (how many messages name it) |
//! | `attachment_refs` | ObjectId | `attachment`, `kind` (`"direct"`, `"group"`), `message`, and `receiver` or `group` (one per attachment and message that names it) |
//! | `attachment_usage` | username | `used` (bytes the user's attachments take, uploads in progress at what they reserved) |
//! | `blobs`, and GridFS's `blobs.files`, `blobs.chunks` | blob id; GridFS file ids | the blobs of [`GridFsBlobStore`], if the deployment keeps them here: see the module [`gridfs`] |
//!
//! Times are `i64` milliseconds and states are strings (`"pending"`, `"in_progress"`, ...), never
//! BSON dates or booleans. The pair key of two users is both names lowercased, sorted, escaped
//! and joined by `|`, the same in either direction.
//!
//! Indexes, created by [`MongoStore::connect`] (idempotent; default names, so the seed's
//! hand-made indexes are recognised): `users {usernameLower}` unique and `{erasure}`;
//! `messages {pair, seq}` (history), `{sender, receiver, seq}` (the seed's, in storage time;
//! ticks), `{receiver, status, seq}` (undelivered); `friend_requests {sender, receiver}` and
//! `{receiver, status}`; `calls {pair, seq}` (history), `{caller, callee, startedAt}` (the
//! seed's), `{status}` (unfinished calls) and `{callee}` (account erasure); `sessions
//! {username, createdAt}` (a user's sessions); `call_lines {callId}` (releasing a call's lines) and `{user}` (a user's lines); `conversations {owner, lastSeq}` (a page of a
//! user's list) and `{withUser}` (account erasure); `group_members {group, joinedAt, seq}` (a
//! group's members in order) and `{user}` (a user's groups); `group_messages {group}` (a deleted
//! group) and `{sender}` (account erasure); `group_receipts {member, group, seq}` (a member's
//! history, ticks, list entry, removal), `{member, status, seq}` (backlog), `{messageId, order}`
//! (a message's receipts), `{group}` and `{sender}`; `attachments {owner}` (account erasure),
//! `{state, createdAt}` and `{refs, createdAt}` (what the collector takes); `attachment_refs
//! {attachment, kind, message}` unique (one reference per message; an attachment's references).
//! Message and call ids are the unique `_id`.
//!
//! # Correct without transactions
//! Every write another node could race is one single-document conditional operation:
//! - Usernames are unique case-insensitively through the unique index on `usernameLower`.
//! - A message id is its `_id`: a resend is an insert that meets the unique `_id` (error 11000),
//!   and the stored message is read back and returned as [`Inserted::Existing`].
//! - A pair of users has one `friend_requests` document because its `_id` is the pair key: two
//!   racing requests meet the unique `_id`. Transitions are updates filtered on the current
//!   `status`, so only one of two racing accepts matches.
//! - A tick moves with an `updateMany` filtered on `status` being lower than the target, so it
//!   never moves backwards. To report exactly which messages *this* call moved, the update also
//!   writes a fresh operation id into `deliveredOp` or `seenOp` (a message reaches each status at
//!   most once, so that field is written at most once); they are read back by it only when the
//!   update modified fewer messages than it aimed at (a racing call took some).
//! - Call state changes are updates filtered on the expected `status`.
//! - Groups keep their limits with counters taken by conditional `$inc` before the membership
//!   document they guard is written, and a group message's receipts are checked against the
//!   members again after they are written; see the module `groups` for the order of steps.
//! - Attachments keep their quota with a per-user counter taken by conditional `$inc` before the
//!   record is written, and a message names attachments only after holding each with a
//!   conditional `$inc` of its `refs` that the collector's claim (`refs: 0`) races on the same
//!   document; see the module `attachments`. What a crash leaves between steps only ever keeps
//!   an attachment or holds quota, never loses either.
//! - A conversation entry's latest message moves with an upsert filtered on `lastSeq` being
//!   lower than the new message's `seq` (when it is not, the upsert meets the unique `_id` and
//!   changes nothing), so entries only move forward whatever order racing inserts land in.
//!   `unread` moves by `$inc` (+1 per stored message not seen, −n per tick that made n seen),
//!   so racing inserts and ticks add up. Each is one step after the message's own write: a node
//!   that dies between the two leaves that one message out of its entry (the next message of the
//!   pair puts the entry right again; an unread count stays one off until then).
//!
//! # Storage order and timestamps
//! Messages and calls get a `seq` from a counter document (`counters`, one per collection)
//! updated with `findOneAndUpdate {$inc: {seq: 1}, $max: {timestamp: t}}`, which returns the new
//! `seq` and the highest timestamp given so far in one atomic step. History, `before`,
//! `undelivered` and the call log order by `seq`: the order in which messages were allocated,
//! across all nodes. A message's stored timestamp is the counter's `timestamp` after that update,
//! so it is never earlier than that of any message stored before it, across all nodes, not only
//! per node. (A message whose insert loses to a slower one allocated earlier is still stored in
//! allocation order, so a reader may briefly see the later one first; nothing is ever reordered
//! once both are visible.) The cost is one extra round trip per message, and one hot document:
//! MongoDB serialises the updates of one document, which bounds the message rate of a whole
//! deployment by the update rate of that document. If that ever binds, the alternative is a
//! time-based `seq` (timestamp, node id, per-node counter), which gives up cross-node order.
//!
//! # Durability
//! Writes use the write concern of the connection string. On a replica set MongoDB 5+ defaults
//! to `majority`; add `w=majority&journal=true` to the URI to be explicit.
//!
//! # A portable subset of MongoDB
//! The backend uses only what behaves the same on MongoDB 6+ and on the wire-protocol server
//! its tests run against (the notes in `tests/mongodb.rs` say where that server differs): no
//! booleans or BSON dates, no collation, no index names, no `$or`, no transactions, no
//! aggregation, and only duplicate-key errors are told apart by code (11000); every other
//! error reply is a [`StoreError::Backend`] with the driver's error as its source.

mod attachments;
mod calls;
mod docs;
mod friends;
pub mod gridfs;
mod groups;
mod messages;
mod paging;
mod sessions;
mod users;

use mongodb::bson::{Document, doc};
use mongodb::error::{Error as MongoError, ErrorKind, WriteFailure};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use nexchat_core::store::{StoreError, StoreResult};

pub use gridfs::GridFsBlobStore;

#[cfg(doc)]
use nexchat_core::store::Inserted;

/// Names of the collections.
pub mod collections {
    /// Accounts.
    pub const USERS: &str = "users";
    /// Encrypted messages.
    pub const MESSAGES: &str = "messages";
    /// Friend requests and friendships, one document per pair.
    pub const FRIEND_REQUESTS: &str = "friend_requests";
    /// The call log.
    pub const CALLS: &str = "calls";
    /// Conversation lists: one document per user and each user they have messages with.
    pub const CONVERSATIONS: &str = "conversations";
    /// Sequence counters (storage order) of messages and calls.
    pub const COUNTERS: &str = "counters";
    /// Open login sessions.
    pub const SESSIONS: &str = "sessions";
    /// The lines of live calls, one document per user in a call (`_id` the user).
    pub const CALL_LINES: &str = "call_lines";
    /// Groups, one document per group, with the counters that keep its limits.
    pub const GROUPS: &str = "groups";
    /// Group memberships, one document per member of a group.
    pub const GROUP_MEMBERS: &str = "group_members";
    /// How many groups each user is in, one document per user in any.
    pub const GROUP_COUNTS: &str = "group_counts";
    /// Group messages, each stored once.
    pub const GROUP_MESSAGES: &str = "group_messages";
    /// Group message receipts, one per message and member it was sent to.
    pub const GROUP_RECEIPTS: &str = "group_receipts";
    /// The records of attachments, one per upload.
    pub const ATTACHMENTS: &str = "attachments";
    /// The messages that name attachments, one document per attachment and message.
    pub const ATTACHMENT_REFS: &str = "attachment_refs";
    /// The bytes each user's attachments take, one document per user who uploaded any.
    pub const ATTACHMENT_USAGE: &str = "attachment_usage";
    /// The blobs of [`super::GridFsBlobStore`], one document per blob: which GridFS file,
    /// and whether it is whole.
    pub const BLOBS: &str = "blobs";
    /// The GridFS bucket of [`super::GridFsBlobStore`].
    pub const BLOB_BUCKET: &str = "blobs";
    /// That bucket's files collection.
    pub const BLOB_FILES: &str = "blobs.files";
    /// That bucket's chunks collection.
    pub const BLOB_CHUNKS: &str = "blobs.chunks";
}

/// The MongoDB implementation of [`nexchat_core::store::Store`]. Cheap to clone; every clone
/// shares the driver's connection pool.
#[derive(Debug, Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<Document>,
    messages: Collection<Document>,
    friends: Collection<Document>,
    calls: Collection<Document>,
    conversations: Collection<Document>,
    counters: Collection<Document>,
    sessions: Collection<Document>,
    call_lines: Collection<Document>,
    groups: Collection<Document>,
    group_members: Collection<Document>,
    group_counts: Collection<Document>,
    group_messages: Collection<Document>,
    group_receipts: Collection<Document>,
    attachments: Collection<Document>,
    attachment_refs: Collection<Document>,
    attachment_usage: Collection<Document>,
}

impl MongoStore {
    /// Connects to `uri` (a MongoDB connection string), uses the database named `database`, and
    /// creates the indexes the store relies on (idempotent, so every node may do it at start).
    ///
    /// # Errors
    /// [`StoreError::Backend`], with the driver's error as its source, when the connection
    /// string is invalid, the server cannot be reached, or an index cannot be created.
    pub async fn connect(uri: &str, database: &str) -> StoreResult<Self> {
        let client = Client::with_uri_str(uri).await.map_err(backend)?;
        Self::new(client.database(database)).await
    }

    /// Uses an already configured database handle (for embedders that build their own
    /// [`Client`]), creating the indexes.
    ///
    /// # Errors
    /// [`StoreError::Backend`], with the driver's error as its source, when an index cannot be
    /// created.
    pub async fn new(db: Database) -> StoreResult<Self> {
        let store = Self {
            users: db.collection(collections::USERS),
            messages: db.collection(collections::MESSAGES),
            friends: db.collection(collections::FRIEND_REQUESTS),
            calls: db.collection(collections::CALLS),
            conversations: db.collection(collections::CONVERSATIONS),
            counters: db.collection(collections::COUNTERS),
            sessions: db.collection(collections::SESSIONS),
            call_lines: db.collection(collections::CALL_LINES),
            groups: db.collection(collections::GROUPS),
            group_members: db.collection(collections::GROUP_MEMBERS),
            group_counts: db.collection(collections::GROUP_COUNTS),
            group_messages: db.collection(collections::GROUP_MESSAGES),
            group_receipts: db.collection(collections::GROUP_RECEIPTS),
            attachments: db.collection(collections::ATTACHMENTS),
            attachment_refs: db.collection(collections::ATTACHMENT_REFS),
            attachment_usage: db.collection(collections::ATTACHMENT_USAGE),
            db,
        };
        store.create_indexes().await?;
        Ok(store)
    }

    /// The database this store uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Creates the indexes, with the driver's default names (`sender_1_receiver_1`, ...): the
    /// same names `createIndex` in a mongo shell gives, so indexes an operator made by hand
    /// from the seed's instructions are recognised instead of conflicting.
    async fn create_indexes(&self) -> StoreResult<()> {
        let index = |keys: Document| IndexModel::builder().keys(keys).build();
        let unique = |keys: Document| {
            let options = IndexOptions::builder().unique(true).build();
            IndexModel::builder().keys(keys).options(options).build()
        };
        self.users
            .create_indexes([
                unique(doc! { "usernameLower": 1 }),
                // Erasures a previous run left midway, found at start.
                index(doc! { "erasure": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.messages
            .create_indexes([
                // History of a pair, both directions, in storage order.
                index(doc! { "pair": 1, "seq": 1 }),
                // The seed's index (one direction; `seq` is the storage time): ticks to move.
                index(doc! { "sender": 1, "receiver": 1, "seq": 1 }),
                // Undelivered messages of a receiver.
                index(doc! { "receiver": 1, "status": 1, "seq": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.friends
            .create_indexes([
                index(doc! { "sender": 1, "receiver": 1 }),
                index(doc! { "receiver": 1, "status": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.calls
            .create_indexes([
                // Call history of a pair, both directions, in storage order.
                index(doc! { "pair": 1, "seq": 1 }),
                // The seed's index, for looking calls up by who and when.
                index(doc! { "caller": 1, "callee": 1, "startedAt": 1 }),
                // Unfinished calls after a restart.
                index(doc! { "status": 1 }),
                // A user's calls on the callee side, for account erasure (the seed's index
                // serves the caller side).
                index(doc! { "callee": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.conversations
            .create_indexes([
                // A page of a user's list, read backwards (latest first).
                index(doc! { "owner": 1, "lastSeq": 1 }),
                // Entries naming a user being erased.
                index(doc! { "withUser": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.sessions
            // A user's sessions (read backwards for newest first); expired ones of a user at login.
            .create_index(index(doc! { "username": 1, "createdAt": 1 }))
            .await
            .map_err(backend)?;
        self.call_lines
            // Releasing a call's lines; a user's lines.
            .create_indexes([index(doc! { "callId": 1 }), index(doc! { "user": 1 })])
            .await
            .map_err(backend)?;
        self.group_members
            .create_indexes([
                // A group's members, oldest membership first.
                index(doc! { "group": 1, "joinedAt": 1, "seq": 1 }),
                // A user's groups.
                index(doc! { "user": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.group_messages
            .create_indexes([
                // A deleted group's messages.
                index(doc! { "group": 1 }),
                // An erased account's messages.
                index(doc! { "sender": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.group_receipts
            .create_indexes([
                // A member's history in a group (newest first), ticks to move, list entries,
                // and a removed member's receipts.
                index(doc! { "member": 1, "group": 1, "seq": 1 }),
                // A member's backlog across groups.
                index(doc! { "member": 1, "status": 1, "seq": 1 }),
                // A message's receipts in membership order; what holds it back.
                index(doc! { "messageId": 1, "order": 1 }),
                // A deleted group's receipts.
                index(doc! { "group": 1 }),
                // An erased account's messages' receipts.
                index(doc! { "sender": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.attachments
            .create_indexes([
                // A user's uploads (account erasure).
                index(doc! { "owner": 1 }),
                // Attachments the collector claimed, oldest first.
                index(doc! { "state": 1, "createdAt": 1 }),
                // Attachments no message names, oldest first.
                index(doc! { "refs": 1, "createdAt": 1 }),
            ])
            .await
            .map_err(backend)?;
        self.attachment_refs
            // One reference per attachment and message (a resend meets it); an attachment's
            // references.
            .create_index(unique(doc! { "attachment": 1, "kind": 1, "message": 1 }))
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Takes the next `count` seqs of `counter` and raises the counter's timestamp to at least
    /// `timestamp`, in one atomic step; returns the first seq taken and the counter's timestamp
    /// as it was before.
    async fn reserve_seqs(
        &self,
        counter: &str,
        count: i64,
        timestamp: i64,
    ) -> StoreResult<(i64, i64)> {
        let before = self
            .counters
            .find_one_and_update(
                doc! { "_id": counter },
                doc! { "$inc": { "seq": count }, "$max": { "timestamp": timestamp } },
            )
            .upsert(true)
            .return_document(ReturnDocument::Before)
            .await
            .map_err(backend)?;
        match before {
            Some(before) => {
                let reader = docs::Reader::new(collections::COUNTERS, &before);
                Ok((reader.i64("seq")? + 1, reader.i64("timestamp")?))
            }
            // The counter was created by this update.
            None => Ok((1, i64::MIN)),
        }
    }

    /// Takes the next `seq` of `counter` and raises the counter's timestamp to at least
    /// `timestamp`, in one atomic step; returns `(seq, timestamp)` as they are after it.
    async fn next_seq(&self, counter: &str, timestamp: i64) -> StoreResult<(i64, i64)> {
        let updated = self
            .counters
            .find_one_and_update(
                doc! { "_id": counter },
                doc! { "$inc": { "seq": 1_i64 }, "$max": { "timestamp": timestamp } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?
            .ok_or_else(|| {
                StoreError::backend_failure(format!("counter {counter} missing after upsert"))
            })?;
        let reader = docs::Reader::new(collections::COUNTERS, &updated);
        Ok((reader.i64("seq")?, reader.i64("timestamp")?))
    }
}

/// A driver error as a [`StoreError::Backend`], kept whole as its source.
fn backend(error: MongoError) -> StoreError {
    StoreError::backend("mongodb", error)
}

/// Whether the server refused a write because of a unique index (error code 11000; the test
/// server sets a code on these replies and no others).
fn is_duplicate_key(error: &MongoError) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}
