//! Group messages and their receipts. `seq` (the rowid) is storage order; receipts name their
//! message by it, so each read is a range of a receipts index joined to the messages by rowid.
//! Statuses are stored as integers (see [`code`]) so "below a status" is a range.

use nexchat_core::protocol::{GroupMessage, MessageStatus, Receipt};
use nexchat_core::store::{GroupEntry, GroupInserted, GroupTicks, Page, Settled, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::sqlite::rows::{Fields, collect};
use crate::sqlite::writer::WriterState;
use crate::sqlite::{Error, sql_limit};

/// The columns of a [`GroupMessage`] of `group_messages m`, in `decode_message`'s order. A
/// macro so that the SQL using it is one literal.
macro_rules! columns {
    () => {
        "m.id, m.group_id, m.sender, m.to_user, m.key_id, m.ciphertext, m.iv, m.timestamp, m.status"
    };
}

pub(super) const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_messages m WHERE m.id = ?1"
);
pub(super) const IS_MEMBER: &str =
    "SELECT 1 FROM group_members WHERE group_id = ?1 AND username = ?2";
pub(super) const INSERT: &str = "INSERT INTO group_messages
     (id, group_id, sender, to_user, key_id, ciphertext, iv, timestamp, status)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)";
pub(super) const RECIPIENTS: &str =
    "SELECT username FROM group_members WHERE group_id = ?1 ORDER BY joined_at, seq";
pub(super) const INSERT_RECEIPT: &str =
    "INSERT INTO group_receipts (message, group_id, member, status) VALUES (?1, ?2, ?3, ?4)";
pub(super) const ADVANCE_ALL: &str = "UPDATE group_receipts SET status = ?3
     WHERE member = ?2 AND status < ?3 AND group_id = ?1
     RETURNING message";
/// The unary `+`s keep SQLite from ranging over the member's receipts by status, or the
/// group's messages, instead of looking each listed id up.
pub(super) const ADVANCE_IDS: &str = "UPDATE group_receipts SET status = ?3
     WHERE member = ?2 AND +status < ?3 AND message IN
         (SELECT seq FROM group_messages
          WHERE id IN (SELECT value FROM json_each(?4)) AND +group_id = ?1)
     RETURNING message";
pub(super) const IDS_OF: &str = "SELECT seq, id FROM group_messages
     WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq";
/// Raises each listed message to the lowest status of its receipts but the sender's (never
/// lowers it; no such receipt leaves it be).
pub(super) const SETTLE: &str = "UPDATE group_messages SET status =
         (SELECT min(r.status) FROM group_receipts r
          WHERE r.message = group_messages.seq AND r.member <> group_messages.sender)
     WHERE seq IN (SELECT value FROM json_each(?1))
       AND status < (SELECT min(r.status) FROM group_receipts r
                     WHERE r.message = group_messages.seq AND r.member <> group_messages.sender)
     RETURNING seq, id, sender, status";
/// Oldest membership first; a receipt always has its membership (a removal takes both).
pub(super) const RECEIPTS: &str = "SELECT r.member, r.status
     FROM group_messages m
     JOIN group_receipts r ON r.message = m.seq
     LEFT JOIN group_members g ON g.group_id = r.group_id AND g.username = r.member
     WHERE m.id = ?1 AND r.member <> m.sender
     ORDER BY g.joined_at, g.seq";
pub(super) const HISTORY_FROM: &str = "SELECT m.seq FROM group_messages m
     JOIN group_receipts r ON r.message = m.seq AND r.member = ?3
     WHERE m.id = ?1 AND m.group_id = ?2";
pub(super) const HISTORY: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_receipts r JOIN group_messages m ON m.seq = r.message
     WHERE r.group_id = ?1 AND r.member = ?2 AND r.message < ?3
     ORDER BY r.message DESC LIMIT ?4"
);
pub(super) const SEQ_OF: &str = "SELECT seq FROM group_messages WHERE id = ?1";
pub(super) const BACKLOG: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_receipts r JOIN group_messages m ON m.seq = r.message
     WHERE r.member = ?1 AND r.status = 0 AND r.message > ?2
     ORDER BY r.message LIMIT ?3"
);
pub(super) const MEMBERSHIPS: &str =
    "SELECT group_id, joined_at FROM group_members WHERE username = ?1";
/// The newest receipts of the member in the group first, skipping the few key messages.
pub(super) const LAST_CHAT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_receipts r JOIN group_messages m ON m.seq = r.message
     WHERE r.group_id = ?1 AND r.member = ?2 AND m.to_user IS NULL
     ORDER BY r.message DESC LIMIT 1"
);
pub(super) const UNREAD: &str = "SELECT r.group_id, count(*)
     FROM group_receipts r JOIN group_messages m ON m.seq = r.message
     WHERE r.member = ?1 AND r.status < 2 AND m.sender <> ?1 AND m.to_user IS NULL
     GROUP BY r.group_id";
pub(super) const LAST_SEQ: &str = "SELECT coalesce(max(seq), 0) FROM group_messages";
pub(super) const ERASE_RECEIPTS: &str = "DELETE FROM group_receipts WHERE message IN
     (SELECT seq FROM group_messages WHERE seq > ?1 AND seq <= ?2 AND sender = ?3)";
pub(super) const ERASE_MESSAGES: &str =
    "DELETE FROM group_messages WHERE seq > ?1 AND seq <= ?2 AND sender = ?3";

/// The stored form of a status: ordered as the statuses are.
pub(super) fn code(status: MessageStatus) -> i64 {
    match status {
        MessageStatus::Sent => 0,
        MessageStatus::Delivered => 1,
        MessageStatus::Seen => 2,
    }
}

fn status_of(code: i64) -> Option<MessageStatus> {
    match code {
        0 => Some(MessageStatus::Sent),
        1 => Some(MessageStatus::Delivered),
        2 => Some(MessageStatus::Seen),
        _ => None,
    }
}

/// The checks (the id, the sender's and `to`'s membership) read only; then the message and its
/// receipts are written, which can fail only with the database, so the job needs no savepoint.
pub(super) fn insert(
    conn: &Connection,
    state: &mut WriterState,
    mut message: GroupMessage,
) -> Result<GroupInserted, Error> {
    if let Some(existing) = get(conn, &message.id)? {
        return Ok(GroupInserted::Existing(existing));
    }
    let is_member = |user: &str| -> Result<bool, Error> {
        Ok(conn
            .prepare_cached(IS_MEMBER)?
            .query_row([message.group.as_str(), user], |_| Ok(()))
            .optional()?
            .is_some())
    };
    if !is_member(&message.sender)? {
        return Ok(GroupInserted::NotMember(message.sender.clone()));
    }
    let receipts: Vec<(String, MessageStatus)> = match &message.to {
        Some(to) if !is_member(to)? => return Ok(GroupInserted::NotMember(to.clone())),
        Some(to) => vec![(to.clone(), MessageStatus::Sent)],
        None => {
            let mut stmt = conn.prepare_cached(RECIPIENTS)?;
            let names = stmt
                .query_map([&message.group], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            names
                .into_iter()
                .map(|name| {
                    let status = if name == message.sender {
                        MessageStatus::Seen
                    } else {
                        MessageStatus::Sent
                    };
                    (name, status)
                })
                .collect()
        }
    };
    message.timestamp = message.timestamp.max(state.last_group_timestamp);
    message.status = MessageStatus::Sent;
    conn.prepare_cached(INSERT)?.execute(params![
        message.id,
        message.group,
        message.sender,
        message.to,
        message.key_id,
        message.ciphertext,
        message.iv,
        message.timestamp
    ])?;
    let seq = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(INSERT_RECEIPT)?;
    for (member, status) in &receipts {
        stmt.execute(params![seq, message.group, member, code(*status)])?;
    }
    // Raised only once the rows are in; if the batch fails to commit, the writer restores the
    // state it had before the batch.
    state.last_group_timestamp = message.timestamp;
    Ok(GroupInserted::New {
        message,
        recipients: receipts.into_iter().map(|(member, _)| member).collect(),
    })
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<GroupMessage>, Error> {
    let found = conn
        .prepare_cached(GET)?
        .query_row([id], |row| Ok(decode_message(row)))
        .optional()?;
    Ok(found.transpose()?)
}

/// Moves the receipts (one statement, the only one that decides anything), then settles their
/// messages. Both report only rows this job changed: the writer runs one job at a time.
pub(super) fn advance(
    conn: &Connection,
    group: &str,
    member: &str,
    ids: Option<&[String]>,
    to: MessageStatus,
) -> Result<GroupTicks, Error> {
    if to == MessageStatus::Sent || ids.is_some_and(<[String]>::is_empty) {
        return Ok(GroupTicks::default());
    }
    let moved: Vec<i64> = match ids {
        None => conn
            .prepare_cached(ADVANCE_ALL)?
            .query_map(params![group, member, code(to)], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        Some(ids) => conn
            .prepare_cached(ADVANCE_IDS)?
            .query_map(
                params![
                    group,
                    member,
                    code(to),
                    serde_json::to_string(ids).map_err(encoding)?
                ],
                |row| row.get(0),
            )?
            .collect::<Result<_, _>>()?,
    };
    if moved.is_empty() {
        return Ok(GroupTicks::default());
    }
    let settled = settle(conn, &moved)?;
    let moved = conn
        .prepare_cached(IDS_OF)?
        .query_map([serde_json::to_string(&moved).map_err(encoding)?], |row| {
            row.get::<_, String>(1)
        })?
        .collect::<Result<_, _>>()?;
    Ok(GroupTicks { moved, settled })
}

/// Raises the messages (by `seq`) to the lowest status of their other receipts; the ones that
/// moved, in storage order, with their new status.
pub(super) fn settle(conn: &Connection, seqs: &[i64]) -> Result<Vec<Settled>, Error> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let seqs = serde_json::to_string(seqs).map_err(encoding)?;
    let mut stmt = conn.prepare_cached(SETTLE)?;
    let mut rows = stmt.query([seqs])?;
    let mut settled: Vec<(i64, Settled)> = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(1)?;
        let f = Fields::with_id(row, "group_messages", id.clone());
        let message = Settled {
            id,
            sender: row.get(2)?,
            status: decode_status(&f, 3)?,
        };
        settled.push((row.get(0)?, message));
    }
    settled.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(settled.into_iter().map(|(_, message)| message).collect())
}

fn encoding(err: serde_json::Error) -> Error {
    StoreError::backend("encoding a list for SQLite", err).into()
}

pub(super) fn receipts(conn: &Connection, message_id: &str) -> Result<Vec<Receipt>, Error> {
    let mut stmt = conn.prepare_cached(RECEIPTS)?;
    let mut rows = stmt.query([message_id])?;
    let mut receipts = Vec::new();
    while let Some(row) = rows.next()? {
        let f = Fields::with_id(row, "group_receipts", message_id.to_owned());
        receipts.push(Receipt {
            username: f.get(0, "member")?,
            status: decode_status(&f, 1)?,
        });
    }
    Ok(receipts)
}

pub(super) fn history(
    conn: &Connection,
    group: &str,
    member: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Page<GroupMessage>, Error> {
    let before_seq: i64 = match before {
        None => i64::MAX,
        Some(id) => conn
            .prepare_cached(HISTORY_FROM)?
            .query_row([id, group, member], |row| row.get(0))
            .optional()?
            .ok_or_else(|| {
                StoreError::NotFound(format!("message {id} is not in group {group} for {member}"))
            })?,
    };
    let mut stmt = conn.prepare_cached(HISTORY)?;
    // One row past the page says whether more follow.
    let rows = stmt.query(params![
        group,
        member,
        before_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(collect(rows, decode_message)?, limit))
}

/// After `after` in storage order (an empty page when it is no group message).
pub(super) fn undelivered(
    conn: &Connection,
    member: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<GroupMessage>, Error> {
    let after_seq: i64 = match after {
        None => 0,
        Some(id) => match conn
            .prepare_cached(SEQ_OF)?
            .query_row([id], |row| row.get(0))
            .optional()?
        {
            Some(seq) => seq,
            None => return Ok(Page::from_one_more(Vec::new(), limit)),
        },
    };
    let mut stmt = conn.prepare_cached(BACKLOG)?;
    let rows = stmt.query(params![
        member,
        after_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(collect(rows, decode_message)?, limit))
}

/// The member's groups (an index range), the unread counts of all of them (one range of their
/// receipts not seen yet), and each group's latest chat message (the end of one range each).
pub(super) fn entries(conn: &Connection, member: &str) -> Result<Vec<GroupEntry>, Error> {
    let memberships: Vec<(String, i64)> = conn
        .prepare_cached(MEMBERSHIPS)?
        .query_map([member], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let unread: std::collections::HashMap<String, i64> = conn
        .prepare_cached(UNREAD)?
        .query_map([member], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut last = conn.prepare_cached(LAST_CHAT)?;
    let mut entries = Vec::with_capacity(memberships.len());
    for (group, joined_at) in memberships {
        let last_message = last
            .query_row([group.as_str(), member], |row| Ok(decode_message(row)))
            .optional()?
            .transpose()?;
        entries.push(GroupEntry {
            unread: unread
                .get(&group)
                .map_or(0, |n| u64::try_from(*n).unwrap_or(0)),
            group,
            last_message,
            joined_at,
        });
    }
    Ok(entries)
}

/// Deletes `user`'s group messages with `seq` in `from..=to` (exclusive of `from`), receipts
/// first.
pub(super) fn erase_range(conn: &Connection, user: &str, from: i64, to: i64) -> Result<(), Error> {
    conn.prepare_cached(ERASE_RECEIPTS)?
        .execute(params![from, to, user])?;
    conn.prepare_cached(ERASE_MESSAGES)?
        .execute(params![from, to, user])?;
    Ok(())
}

fn decode_status(f: &Fields<'_, '_>, index: usize) -> Result<MessageStatus, StoreError> {
    let code: i64 = f.get(index, "status")?;
    status_of(code).ok_or_else(|| f.corrupt(format!("column status: unknown value {code}")))
}

fn decode_message(row: &Row<'_>) -> Result<GroupMessage, StoreError> {
    let f = Fields::new(row, "group_messages", 0);
    Ok(GroupMessage {
        id: f.get(0, "id")?,
        group: f.get(1, "group_id")?,
        sender: f.get(2, "sender")?,
        to: f.get(3, "to_user")?,
        key_id: f.get(4, "key_id")?,
        ciphertext: f.get(5, "ciphertext")?,
        iv: f.get(6, "iv")?,
        timestamp: f.get(7, "timestamp")?,
        status: decode_status(&f, 8)?,
    })
}
