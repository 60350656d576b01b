//! Connections, pragmas and the versioned schema.
//!
//! Migrations are an append-only list; `PRAGMA user_version` records how many have run. Never
//! edit a released migration: add the next one. Every table is `STRICT`, so a value of the
//! wrong type cannot be stored; the readers still check enum-like text columns (`rows`).

use std::path::Path;
use std::time::Duration;

use nexchat_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Error;

/// How long a connection waits for a lock held by another connection (another process, or a
/// checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements each connection keeps prepared: more than the ~85 distinct ones, so none is
/// prepared again once each has run.
const STATEMENT_CACHE: usize = 128;

/// The writer's page cache, in KiB. The pages a busy server writes again and again (the ends of
/// the table and of its indexes, one place per conversation in the history index) must stay in
/// it, or each commit reads them back from the file first; SQLite's default is 2 MiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The size the WAL file is cut back to when it starts over (bytes): about what
/// [`super::checkpoint::WalTuning::DEFAULT`] lets it grow to at full speed, so that in steady
/// state the file is reused, not cut and grown again (growing a file makes each sync dearer);
/// it trims the file after a burst, such as one huge transaction.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Version 1: the tables and what makes a record unique.
///
/// `pair_lo`/`pair_hi` name a conversation independently of direction, so "the pair's link" and
/// "the pair's history" are single index ranges. `seq` (the rowid) is storage order.
const V1: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    public_key TEXT NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE friend_links (
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(sender, receiver)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(sender, receiver)) VIRTUAL,
    PRIMARY KEY (sender, receiver)
) STRICT;
CREATE UNIQUE INDEX friend_links_pair ON friend_links (pair_lo, pair_hi);

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    iv TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    status TEXT NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(sender, receiver)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(sender, receiver)) VIRTUAL
) STRICT;

CREATE TABLE calls (
    seq INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    duration INTEGER NOT NULL,
    pair_lo TEXT GENERATED ALWAYS AS (min(caller, callee)) VIRTUAL,
    pair_hi TEXT GENERATED ALWAYS AS (max(caller, callee)) VIRTUAL
) STRICT;
";

/// Version 2: an index for each query that is not a lookup by key. Kept apart from version 1 so
/// the upgrade path is exercised (and tested) from the first release on.
const V2: &str = "
-- links_of: the primary key serves `sender = ?`, this serves `receiver = ?`.
CREATE INDEX friend_links_receiver ON friend_links (receiver);
-- history: one conversation in storage order.
CREATE INDEX messages_history ON messages (pair_lo, pair_hi, seq);
-- undelivered (receiver, 'sent') and advance_status (receiver, status, sender).
CREATE INDEX messages_inbox ON messages (receiver, status, sender);
-- call_history: one pair's calls in storage order.
CREATE INDEX calls_history ON calls (pair_lo, pair_hi, seq);
-- unfinished_calls: partial, so it only ever holds the few live calls.
CREATE INDEX calls_unfinished ON calls (status) WHERE status IN ('ringing', 'in_progress');
";

/// Version 3: fewer pages written per message and tick. Every page a transaction changes is
/// written to the WAL at its commit, and under load each index keyed by user adds about one
/// page per message. In version 2, `messages_inbox` indexed every message by
/// `(receiver, status, sender)` forever, and each tick moved its entry. Now:
/// - `messages_inbox` holds a message only while it is `sent` (from the insert to the delivered
///   tick), so it stays a few pages that every commit shares.
/// - No index holds delivered-but-unseen messages by user (one by receiver and sender was
///   about half of the pages a commit wrote under load). `unseen_since` instead keeps, per
///   sender → receiver, a `seq` at or below every message of theirs that is not seen yet:
///   written by the first message after the receiver last saw them all (later ones only read
///   it), used and deleted by "seen" without ids, which scans the pair's history from there.
///   Any message not seen has its floor row.
const V3: &str = "
DROP INDEX messages_inbox;
-- undelivered, and advance_status to delivered without ids; storage order within a receiver.
CREATE INDEX messages_inbox ON messages (receiver) WHERE status = 'sent';
CREATE TABLE unseen_since (
    receiver TEXT NOT NULL,
    sender TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (receiver, sender)
) STRICT, WITHOUT ROWID;
INSERT INTO unseen_since (receiver, sender, seq)
    SELECT receiver, sender, min(seq) FROM messages WHERE status <> 'seen'
    GROUP BY receiver, sender;
";

/// Sessions: one row per open login session (ended ones are deleted), listed per user newest
/// first.
const V_SESSIONS: &str = "
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    user_agent TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (username, created_at);
";

/// Accounts only their owner can unlock, and their erasure: each account's `kdf` parameters
/// (JSON text, NULL for accounts created without them), and `erasure`, NULL while the account
/// is live, `pending` from the first step of its erasure, `done` for the tombstone that keeps
/// its name taken. Touches only `users`, so it applies in any order with other migrations.
const ACCOUNT_KEYS: &str = "
ALTER TABLE users ADD COLUMN kdf TEXT;
ALTER TABLE users ADD COLUMN erasure TEXT CHECK (erasure IN ('pending', 'done'));
-- erasing_users at start: partial, so it holds only erasures a previous run left midway.
CREATE INDEX users_erasure_pending ON users (erasure) WHERE erasure = 'pending';
";

/// The conversation list: one row per user and each user they have messages with, naming the
/// pair's latest message (`last_seq`, storage order) and counting the messages to `owner` from
/// `with_user` not seen yet (`unread`). Kept by the writer in the transaction of each insert,
/// tick to seen and erasure, so a page of the list is one range of `conversations_recent`
/// joined to `messages` by rowid, whatever the number of messages. Filled from the messages
/// already stored.
const CONVERSATIONS: &str = "
CREATE TABLE conversations (
    owner TEXT NOT NULL,
    with_user TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    unread INTEGER NOT NULL,
    PRIMARY KEY (owner, with_user)
) STRICT, WITHOUT ROWID;
CREATE INDEX conversations_recent ON conversations (owner, last_seq);
INSERT INTO conversations (owner, with_user, last_seq, unread)
    SELECT owner, with_user, max(seq), sum(unseen) FROM (
        SELECT sender AS owner, receiver AS with_user, seq, 0 AS unseen FROM messages
        UNION ALL
        SELECT receiver, sender, seq, status <> 'seen' FROM messages
    ) GROUP BY owner, with_user;
";

/// How each call ended (`hangup`, `declined`, ...), NULL while it has not and for calls that
/// ended before the column existed.
const CALL_END_REASON: &str = "
ALTER TABLE calls ADD COLUMN end_reason TEXT CHECK (end_reason IN
    ('hangup', 'declined', 'cancelled', 'no_answer', 'offline', 'busy', 'disconnected'));
";

/// The line each party of a live call holds (see `CallStore::take_call_lines`): what makes a
/// call to them busy on every node.
const CALL_LINES: &str = "
CREATE TABLE call_lines (
    user TEXT NOT NULL,
    call_id TEXT NOT NULL,
    peer TEXT NOT NULL,
    node TEXT NOT NULL,
    PRIMARY KEY (user, call_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX call_lines_call ON call_lines (call_id);
";

/// An account's password hash, public key and key backup are NULL when it has none (an account
/// an app's identity provisioned, one that has not published a key yet, a tombstone), where
/// earlier versions stored ''. SQLite cannot drop a column's NOT NULL, so `users` is rebuilt
/// (same columns, same order, same indexes) and every '' becomes NULL on the way.
const USER_OPTIONALS: &str = "
CREATE TABLE users_optionals (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL COLLATE NOCASE,
    password_hash TEXT,
    public_key TEXT,
    encrypted_private_key TEXT,
    created_at INTEGER NOT NULL,
    kdf TEXT,
    erasure TEXT CHECK (erasure IN ('pending', 'done'))
) STRICT;
INSERT INTO users_optionals
    (id, username, password_hash, public_key, encrypted_private_key, created_at, kdf, erasure)
    SELECT id, username, nullif(password_hash, ''), nullif(public_key, ''),
           nullif(encrypted_private_key, ''), created_at, kdf, erasure
    FROM users;
DROP TABLE users;
ALTER TABLE users_optionals RENAME TO users;
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_erasure_pending ON users (erasure) WHERE erasure = 'pending';
";

/// Groups (version 10): each group, its members, each group message once, and a receipt per
/// member a message was sent to, holding that member's status of it (0 `sent`, 1 `delivered`,
/// 2 `seen`: integers, so "not yet at" is a range). Receipts name their message by its `seq`
/// (storage order) and are keyed by it, so the 256 receipts of a message to a full group are
/// one run of a few pages at the end of `group_receipts`.
///
/// No index is keyed by member: one would put each of a message's receipts on a page of its
/// own, and every commit would write all of them (about 2 MB per message to a group of 256).
/// A member's messages are instead read through the group's: `group_messages_group`
/// (group, seq) newest or oldest first, each joined to its receipt by primary key, from a
/// bound kept in the membership row. `group_members`, a few pages per group, holds per member:
/// - `first_message`: the `seq` of the member's first receipt in the group (NULL before it),
///   so that history, the latest message and a removal stop there.
/// - `sent_from`: at or below every receipt of the member in the group still `sent` (NULL when
///   none is): where the backlog and "delivered" without ids start.
/// - `unseen_from`: the same for receipts not `seen`: where "seen" without ids and a removal
///   start.
/// - `unread`: how many chat messages from others the member has not seen.
///
/// Each message rewrites its group's membership rows (the same few pages every time); a tick
/// raises a floor past receipts it moved, and only its member's row. `group_members.seq`
/// numbers the memberships of a group in the order they were added, so of equal `joined_at`
/// the first added comes first. Only new tables: a database of an earlier version has no
/// groups to carry over.
const GROUPS: &str = "
CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    title TEXT,
    avatar TEXT
) STRICT, WITHOUT ROWID;
CREATE TABLE group_members (
    group_id TEXT NOT NULL,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    first_message INTEGER,
    sent_from INTEGER,
    unseen_from INTEGER,
    unread INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, username)
) STRICT, WITHOUT ROWID;
-- groups_of, the groups limit and the list of a member's groups.
CREATE INDEX group_members_user ON group_members (username);
-- members oldest first, and who is promoted when the last admin leaves.
CREATE INDEX group_members_order ON group_members (group_id, joined_at, seq);
CREATE TABLE group_messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    group_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    to_user TEXT,
    key_id TEXT,
    ciphertext TEXT NOT NULL,
    iv TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    status INTEGER NOT NULL
) STRICT;
-- a group's messages in storage order (the rowid ends every index): every read of a member's
-- messages, and deleting a group with them.
CREATE INDEX group_messages_group ON group_messages (group_id);
CREATE TABLE group_receipts (
    message INTEGER NOT NULL,
    member TEXT NOT NULL,
    status INTEGER NOT NULL,
    PRIMARY KEY (message, member)
) STRICT, WITHOUT ROWID;
";

/// Attachments (version 11): each upload's record, and which messages name it.
///
/// - `attachments`: `size` counts against the owner's quota (reserved while `uploading`,
///   stored afterwards); `named` is 1 once a message names it, and never goes back (a reference
///   is deleted only with its attachment), so that what the collector looks for, old uploads
///   nothing names, is one small partial index and not a lookup per attachment.
/// - `attachment_refs`: one row per message that names an attachment: the message's kind
///   (`direct` or `group`: their ids are of two tables), its id, and who may download through
///   it (the receiver, or the group). Keyed by attachment first: "who may download this" and
///   forgetting an attachment are one range.
///
/// Only new tables: a database of an earlier version has no attachments to carry over.
const ATTACHMENTS: &str = "
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    state TEXT NOT NULL CHECK (state IN ('uploading', 'stored', 'collecting')),
    created_at INTEGER NOT NULL,
    named INTEGER NOT NULL DEFAULT 0 CHECK (named IN (0, 1))
) STRICT, WITHOUT ROWID;
-- attachment_usage, the quota of a reservation, attachments_of: covering (a WITHOUT ROWID
-- table's indexes end with its primary key, the id).
CREATE INDEX attachments_owner ON attachments (owner, size);
-- collectable_attachments: partial, so it holds only uploads nothing names yet (those within
-- their grace time, and those the collector has not claimed), oldest first.
CREATE INDEX attachments_unnamed ON attachments (created_at)
    WHERE named = 0 AND state <> 'collecting';
-- collectable_attachments: those claimed, on their way out.
CREATE INDEX attachments_collecting ON attachments (state) WHERE state = 'collecting';
CREATE TABLE attachment_refs (
    attachment TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    message TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (attachment, kind, message)
) STRICT, WITHOUT ROWID;
";

const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V3,
    V_SESSIONS,
    ACCOUNT_KEYS,
    CONVERSATIONS,
    CALL_END_REASON,
    CALL_LINES,
    USER_OPTIONALS,
    GROUPS,
    ATTACHMENTS,
];

/// The schema version this code writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the one read-write connection: WAL, and `synchronous=FULL` so that a committed
/// transaction survives power loss (with NORMAL, the last commits before a crash may vanish).
/// It never checkpoints on its own (`wal_autocheckpoint=0`): the checkpointer thread does.
pub(crate) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let created = !path.exists();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    if created {
        make_private(path)
            .map_err(|e| StoreError::backend(format!("protecting {}", path.display()), e))?;
    }
    configure(&conn).map_err(|e| opening(path, e))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| opening(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Still correct (readers then wait for the writer), only slower.
        tracing::warn!(path = %path.display(), %mode, "SQLite refused WAL journal mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| opening(path, e))?;
    configure_writes(&conn).map_err(|e| opening(path, e))?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(|e| opening(path, e))?;
    Ok(conn)
}

/// Opens the checkpointer's connection (after the writer has put the database in WAL mode).
/// `synchronous=FULL` matters here too: with it, a checkpoint syncs the database file before
/// it lets the WAL frames it copied be overwritten.
pub(crate) fn open_checkpointer(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    configure(&conn).map_err(|e| opening(path, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| opening(path, e))?;
    configure_writes(&conn).map_err(|e| opening(path, e))?;
    Ok(conn)
}

/// Makes a database file SQLite just created readable and writable by its owner only (0600 on
/// Unix), while it is still empty. SQLite creates the `-wal` and `-shm` files beside it with the
/// database file's permissions, so messages, password hashes and key backups are never readable
/// by other local users. (Changed by path, not by opening the file: closing a descriptor of a
/// file drops every POSIX lock this process holds on it, SQLite's included.) An existing file
/// keeps the permissions its operator chose.
fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn configure_writes(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    // Savepoint journals and sorts in memory, never in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")
}

/// Opens a read-only connection (after the writer has created and migrated the database).
pub(crate) fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| opening(path, e))?;
    configure(&conn).map_err(|e| opening(path, e))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn opening(path: &Path, err: rusqlite::Error) -> StoreError {
    StoreError::backend(format!("opening {}", path.display()), err)
}

/// Runs the migrations the database has not seen yet, all in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    migrate_inner(conn).map_err(|e| match StoreError::from(e) {
        StoreError::Backend { context, source } => StoreError::Backend {
            context: format!("migrating schema: {context}"),
            source,
        },
        other => other,
    })
}

fn migrate_inner(conn: &mut Connection) -> Result<(), Error> {
    migrate_to(conn, VERSION)
}

/// Runs the migrations up to `target` (a database of an earlier version, for the tests of the
/// upgrades from it; [`VERSION`] otherwise).
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), Error> {
    let target = target.min(VERSION);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if !(0..=VERSION).contains(&version) {
        return Err(StoreError::backend_failure(format!(
            "the database has schema version {version}; this build knows versions 0 to {VERSION}"
        ))
        .into());
    }
    let done = usize::try_from(version).unwrap_or(MIGRATIONS.len());
    let upto = usize::try_from(target).unwrap_or(MIGRATIONS.len());
    for (i, sql) in MIGRATIONS.iter().enumerate().take(upto).skip(done) {
        tracing::info!(version = i + 1, "applying SQLite schema migration");
        tx.execute_batch(sql)?;
    }
    if version < target {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}
