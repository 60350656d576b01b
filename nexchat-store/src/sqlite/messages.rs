//! Messages. `seq` (the rowid) is storage order: history pages and `before` use it, never the
//! timestamp, so messages stored in the same millisecond keep their order.

use async_trait::async_trait;
use nexchat_core::protocol::{MessageStatus, StoredMessage};
use nexchat_core::store::{Inserted, MessageStore, Page, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::writer::WriterState;
use super::{Error, SqliteStore, pair, sql_limit};

const COLUMNS: &str = "id, sender, receiver, ciphertext, iv, timestamp, status";

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        let message = message.clone();
        self.write(move |conn, state| insert_message(conn, state, message))
            .await
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
        self.write(move |conn, _| advance_status(conn, &sender, &receiver, ids.as_deref(), to))
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

    async fn undelivered(&self, receiver: &str) -> StoreResult<Vec<StoredMessage>> {
        let receiver = receiver.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages
                 WHERE receiver = ?1 AND status = 'sent' ORDER BY seq"
            ))?;
            let rows = stmt.query([&receiver])?;
            collect(rows, decode_message)
        })
        .await
    }
}

fn insert_message(
    conn: &Connection,
    state: &mut WriterState,
    mut message: StoredMessage,
) -> Result<Inserted, Error> {
    if let Some(existing) = get_message(conn, &message.id)? {
        return Ok(Inserted::Existing(existing));
    }
    message.timestamp = message.timestamp.max(state.last_timestamp);
    conn.prepare_cached(&format!(
        "INSERT INTO messages ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
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
    // Raised only once the row is in; if the batch later fails to commit, the writer restores
    // the state it had before the batch.
    state.last_timestamp = message.timestamp;
    Ok(Inserted::New(message))
}

fn get_message(conn: &Connection, id: &str) -> Result<Option<StoredMessage>, Error> {
    let found = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], |row| Ok(decode_message(row)))
        .optional()?;
    Ok(found.transpose()?)
}

/// The statuses a message must have to be raised to `to` (the ones below it).
fn lower_than(to: MessageStatus) -> &'static [&'static str] {
    match to {
        MessageStatus::Sent => &[],
        MessageStatus::Delivered => &["sent"],
        MessageStatus::Seen => &["sent", "delivered"],
    }
}

fn advance_status(
    conn: &Connection,
    sender: &str,
    receiver: &str,
    ids: Option<&[String]>,
    to: MessageStatus,
) -> Result<Vec<String>, Error> {
    let lower = lower_than(to);
    let (Some(&low), Some(&high)) = (lower.first(), lower.last()) else {
        return Ok(Vec::new());
    };
    let mut moved: Vec<(i64, String)> = Vec::new();
    match ids {
        None => {
            let mut stmt = conn.prepare_cached(
                "UPDATE messages SET status = ?3
                 WHERE receiver = ?2 AND status IN (?4, ?5) AND sender = ?1
                 RETURNING seq, id",
            )?;
            let mut rows = stmt.query(params![sender, receiver, to.as_str(), low, high])?;
            while let Some(row) = rows.next()? {
                moved.push((row.get(0)?, row.get(1)?));
            }
        }
        Some(ids) => {
            let mut stmt = conn.prepare_cached(
                "UPDATE messages SET status = ?4
                 WHERE id = ?1 AND sender = ?2 AND receiver = ?3 AND status IN (?5, ?6)
                 RETURNING seq, id",
            )?;
            // An id listed twice moves (and is reported) once: the second time its status is
            // no longer lower.
            for id in ids {
                let mut rows = stmt.query(params![id, sender, receiver, to.as_str(), low, high])?;
                while let Some(row) = rows.next()? {
                    moved.push((row.get(0)?, row.get(1)?));
                }
            }
        }
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
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages
         WHERE pair_lo = ?1 AND pair_hi = ?2 AND seq < ?3
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    // One row past the page says whether older ones exist.
    let rows = stmt.query(params![
        lo,
        hi,
        before_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    let mut items = collect(rows, decode_message)?;
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Page { items, has_more })
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
