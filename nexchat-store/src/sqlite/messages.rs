//! Messages. `seq` (the rowid) is storage order: history pages and `before` use it, never the
//! timestamp, so messages stored in the same millisecond keep their order.

use async_trait::async_trait;
use nexchat_core::protocol::{Conversation, MessageStatus, StoredMessage};
use nexchat_core::store::{Inserted, MessageStore, Page, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::writer::{Isolation, WriterState};
use super::{Error, SqliteStore, erasure, pair, sql_limit};

/// The columns of a [`StoredMessage`], in `decode_message`'s order. A macro so that the SQL
/// using it is one literal (no string built per call, one statement-cache entry each).
macro_rules! columns {
    () => {
        "id, sender, receiver, ciphertext, iv, timestamp, status"
    };
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        let message = message.clone();
        self.write_statement(move |conn, state| insert_message(conn, state, message))
            .await
    }

    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        // Every job is on the writer's queue, in order, before the first answer is awaited:
        // they share a group commit and keep their order in storage.
        let answers: Vec<_> = messages
            .into_iter()
            .map(|message| {
                self.submit_as(Isolation::Statement, move |conn, state| {
                    insert_message(conn, state, message)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.await);
        }
        results
    }

    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        let id = id.to_owned();
        self.read(move |conn| get_message(conn, &id)).await
    }

    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        let (sender, receiver) = (sender.to_owned(), receiver.to_owned());
        let ids = ids.map(<[String]>::to_vec);
        let isolation = advance_isolation(ids.as_deref(), to);
        self.submit_as(isolation, move |conn, _| {
            advance_status(conn, &sender, &receiver, ids.as_deref(), to)
        })
        .await
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        let (a, b) = (a.to_owned(), b.to_owned());
        let before = before.map(str::to_owned);
        self.read(move |conn| history(conn, &a, &b, before.as_deref(), limit))
            .await
    }

    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        let receiver = receiver.to_owned();
        let after = after.map(str::to_owned);
        self.read(move |conn| undelivered(conn, &receiver, after.as_deref(), limit))
            .await
    }

    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        let user = user.to_owned();
        let before = before.map(str::to_owned);
        self.read(move |conn| conversations(conn, &user, before.as_deref(), limit))
            .await
    }

    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        // The list entries first: none is left naming a message already deleted.
        let owner = user.to_owned();
        self.write_statement(move |conn, _| {
            conn.prepare_cached(
                "DELETE FROM conversations WHERE owner IN
                     (SELECT with_user FROM conversations WHERE owner = ?1)
                   AND with_user = ?1",
            )?
            .execute([&owner])?;
            conn.prepare_cached("DELETE FROM conversations WHERE owner = ?1")?
                .execute([&owner])?;
            Ok(())
        })
        .await?;
        self.delete_rows_of(erasure::MESSAGES, user).await?;
        let user = user.to_owned();
        self.write_statement(move |conn, _| {
            conn.prepare_cached("DELETE FROM unseen_since WHERE receiver = ?1 OR sender = ?1")?
                .execute([user])?;
            Ok(())
        })
        .await
    }
}

/// The insert, which does nothing when the id exists (then the stored message is read back,
/// changing nothing), the pair's `unseen_since` floor and both users' conversation entries. A
/// failure of the later statements after the first did its part can only be the database
/// failing; the writer then rolls back the batch.
fn insert_message(
    conn: &Connection,
    state: &mut WriterState,
    mut message: StoredMessage,
) -> Result<Inserted, Error> {
    message.timestamp = message.timestamp.max(state.last_timestamp);
    let inserted = conn
        .prepare_cached(concat!(
            "INSERT INTO messages (",
            columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING"
        ))?
        .execute(params![
            message.id,
            message.sender,
            message.receiver,
            message.ciphertext,
            message.iv,
            message.timestamp,
            message.status.as_str()
        ])?;
    if inserted == 0 {
        return match get_message(conn, &message.id)? {
            Some(existing) => Ok(Inserted::Existing(existing)),
            None => Err(StoreError::Backend(format!(
                "message {} conflicted with no stored message",
                message.id
            ))
            .into()),
        };
    }
    let seq = conn.last_insert_rowid();
    // The first message the receiver has not seen since they last saw them all sets the floor
    // that "seen" without ids starts from; later ones find it there and write nothing.
    conn.prepare_cached(
        "INSERT INTO unseen_since (receiver, sender, seq) VALUES (?1, ?2, ?3)
         ON CONFLICT (receiver, sender) DO NOTHING",
    )?
    .execute(params![message.receiver, message.sender, seq])?;
    // Both users' conversation entries now name this message; the receiver's counts it unread.
    conn.prepare_cached(
        "INSERT INTO conversations (owner, with_user, last_seq, unread) VALUES (?1, ?2, ?3, 0)
         ON CONFLICT (owner, with_user) DO UPDATE SET last_seq = excluded.last_seq",
    )?
    .execute(params![message.sender, message.receiver, seq])?;
    conn.prepare_cached(
        "INSERT INTO conversations (owner, with_user, last_seq, unread) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (owner, with_user)
         DO UPDATE SET last_seq = excluded.last_seq, unread = unread + excluded.unread",
    )?
    .execute(params![
        message.receiver,
        message.sender,
        seq,
        i64::from(message.status != MessageStatus::Seen)
    ])?;
    // Raised only once the row is in; if the batch later fails to commit, the writer restores
    // the state it had before the batch.
    state.last_timestamp = message.timestamp;
    Ok(Inserted::New(message))
}

fn get_message(conn: &Connection, id: &str) -> Result<Option<StoredMessage>, Error> {
    let found = conn
        .prepare_cached(concat!(
            "SELECT ",
            columns!(),
            " FROM messages WHERE id = ?1"
        ))?
        .query_row([id], |row| Ok(decode_message(row)))
        .optional()?;
    Ok(found.transpose()?)
}

/// Whether [`advance_status`] with these arguments runs in one statement (see
/// [`Isolation`]): all do but "seen" without ids, which also clears the pair's floor.
fn advance_isolation(ids: Option<&[String]>, to: MessageStatus) -> Isolation {
    match (ids, to) {
        (None, MessageStatus::Seen) => Isolation::Savepoint,
        _ => Isolation::Statement,
    }
}

/// Moves the ticks, and takes the messages that became seen off the receiver's unread count
/// (a statement that cannot fail for a reason of its own, so the job needs no savepoint).
fn advance_status(
    conn: &Connection,
    sender: &str,
    receiver: &str,
    ids: Option<&[String]>,
    to: MessageStatus,
) -> Result<Vec<String>, Error> {
    let moved = move_status(conn, sender, receiver, ids, to)?;
    if to == MessageStatus::Seen && !moved.is_empty() {
        conn.prepare_cached(
            "UPDATE conversations SET unread = unread - ?3 WHERE owner = ?2 AND with_user = ?1",
        )?
        .execute(params![
            sender,
            receiver,
            i64::try_from(moved.len()).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(moved)
}

/// Each way of moving ticks is one statement ("seen" without ids has a second, clearing the
/// floor). Statuses are literals where they choose an index: SQLite uses a partial index only
/// when the query names its condition.
fn move_status(
    conn: &Connection,
    sender: &str,
    receiver: &str,
    ids: Option<&[String]>,
    to: MessageStatus,
) -> Result<Vec<String>, Error> {
    match (to, ids) {
        (MessageStatus::Sent, _) | (_, Some([])) => Ok(Vec::new()),
        // The common case, a client acknowledging the one message it just received: the count
        // of changed rows says whether it moved (RETURNING would cost a temporary table).
        (_, Some([id])) => {
            let sql = if to == MessageStatus::Delivered {
                "UPDATE messages SET status = 'delivered'
                 WHERE id = ?3 AND sender = ?1 AND receiver = ?2 AND status = 'sent'"
            } else {
                "UPDATE messages SET status = 'seen'
                 WHERE id = ?3 AND sender = ?1 AND receiver = ?2
                   AND status IN ('sent', 'delivered')"
            };
            let moved = conn
                .prepare_cached(sql)?
                .execute(params![sender, receiver, id])?;
            Ok(if moved == 0 {
                Vec::new()
            } else {
                vec![id.clone()]
            })
        }
        // Several ids: one statement over the list (an id listed twice is one row, so it moves
        // and is reported once).
        (_, Some(ids)) => {
            let ids = serde_json::to_string(ids)
                .map_err(|e| StoreError::Backend(format!("encoding message ids: {e}")))?;
            let high = if to == MessageStatus::Delivered {
                "sent"
            } else {
                "delivered"
            };
            let mut stmt = conn.prepare_cached(
                "UPDATE messages SET status = ?4
                 WHERE id IN (SELECT value FROM json_each(?3))
                   AND sender = ?1 AND receiver = ?2 AND status IN ('sent', ?5)
                 RETURNING seq, id",
            )?;
            advanced(stmt.query(params![sender, receiver, ids, to.as_str(), high])?)
        }
        (MessageStatus::Delivered, None) => {
            let mut stmt = conn.prepare_cached(
                "UPDATE messages SET status = 'delivered'
                 WHERE receiver = ?2 AND status = 'sent' AND sender = ?1
                 RETURNING seq, id",
            )?;
            advanced(stmt.query(params![sender, receiver])?)
        }
        (MessageStatus::Seen, None) => {
            // Every message not seen yet is at or after the floor; without a floor there is
            // none (the subquery is NULL, and so is the comparison).
            let (lo, hi) = pair(sender, receiver);
            let mut stmt = conn.prepare_cached(
                "UPDATE messages SET status = 'seen'
                 WHERE pair_lo = ?3 AND pair_hi = ?4
                   AND seq >= (SELECT seq FROM unseen_since WHERE receiver = ?2 AND sender = ?1)
                   AND sender = ?1 AND receiver = ?2 AND status IN ('sent', 'delivered')
                 RETURNING seq, id",
            )?;
            let moved = advanced(stmt.query(params![sender, receiver, lo, hi])?)?;
            conn.prepare_cached("DELETE FROM unseen_since WHERE receiver = ?2 AND sender = ?1")?
                .execute(params![sender, receiver])?;
            Ok(moved)
        }
    }
}

/// The ids an `UPDATE ... RETURNING seq, id` moved, in storage order.
fn advanced(mut rows: rusqlite::Rows<'_>) -> Result<Vec<String>, Error> {
    let mut moved: Vec<(i64, String)> = Vec::new();
    while let Some(row) = rows.next()? {
        moved.push((row.get(0)?, row.get(1)?));
    }
    moved.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(moved.into_iter().map(|(_, id)| id).collect())
}

fn history(
    conn: &Connection,
    a: &str,
    b: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Page<StoredMessage>, Error> {
    let (lo, hi) = pair(a, b);
    let before_seq = match before {
        None => i64::MAX,
        Some(id) => conn
            .prepare_cached(
                "SELECT seq FROM messages WHERE id = ?1 AND pair_lo = ?2 AND pair_hi = ?3",
            )?
            .query_row([id, lo, hi], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("message {id} between {a} and {b}")))?,
    };
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM messages WHERE pair_lo = ?1 AND pair_hi = ?2 AND seq < ?3
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    // One row past the page says whether older ones exist.
    let rows = stmt.query(params![
        lo,
        hi,
        before_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(collect(rows, decode_message)?, limit))
}

fn undelivered(
    conn: &Connection,
    receiver: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<StoredMessage>, Error> {
    let after_seq = match after {
        None => 0,
        Some(id) => {
            let seq = conn
                .prepare_cached("SELECT seq FROM messages WHERE id = ?1 AND receiver = ?2")?
                .query_row([id, receiver], |row| row.get::<_, i64>(0))
                .optional()?;
            match seq {
                Some(seq) => seq,
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        has_more: false,
                    });
                }
            }
        }
    };
    // `status = 'sent'` as a literal: it is what lets SQLite use the partial index.
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM messages WHERE receiver = ?1 AND status = 'sent' AND seq > ?2
         ORDER BY seq LIMIT ?3"
    ))?;
    // One row past the page says whether more follow.
    let rows = stmt.query(params![
        receiver,
        after_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(collect(rows, decode_message)?, limit))
}

/// A page of the conversation list: the entry of `before` (a key lookup), then one range of
/// `conversations_recent`, each entry's latest message found by rowid.
fn conversations(
    conn: &Connection,
    user: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Page<Conversation>, Error> {
    let before_seq = match before {
        None => i64::MAX,
        Some(with) => conn
            .prepare_cached(
                "SELECT last_seq FROM conversations WHERE owner = ?1 AND with_user = ?2",
            )?
            .query_row([user, with], |row| row.get(0))
            .optional()?
            .ok_or_else(|| {
                StoreError::NotFound(format!("{user} has no conversation with {with}"))
            })?,
    };
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.sender, m.receiver, m.ciphertext, m.iv, m.timestamp, m.status,
                c.with_user, c.unread
         FROM conversations c JOIN messages m ON m.seq = c.last_seq
         WHERE c.owner = ?1 AND c.last_seq < ?2
         ORDER BY c.last_seq DESC LIMIT ?3",
    )?;
    // One row past the page says whether more follow.
    let rows = stmt.query(params![
        user,
        before_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(
        collect(rows, decode_conversation)?,
        limit,
    ))
}

fn decode_conversation(row: &Row<'_>) -> Result<Conversation, StoreError> {
    let last_message = decode_message(row)?;
    let f = Fields::new(row, "conversations", 7);
    let unread: i64 = f.get(8, "unread")?;
    Ok(Conversation {
        with_user: f.get(7, "with_user")?,
        last_message,
        // Never below zero in a consistent database; a count is not a reason to fail a list.
        unread: u64::try_from(unread).unwrap_or(0),
    })
}

fn decode_message(row: &Row<'_>) -> Result<StoredMessage, StoreError> {
    let f = Fields::new(row, "messages", 0);
    Ok(StoredMessage {
        id: f.get(0, "id")?,
        sender: f.get(1, "sender")?,
        receiver: f.get(2, "receiver")?,
        ciphertext: f.get(3, "ciphertext")?,
        iv: f.get(4, "iv")?,
        timestamp: f.get(5, "timestamp")?,
        status: f.parse(6, "status", MessageStatus::parse)?,
    })
}
