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
    "INSERT INTO group_receipts (message, member, status) VALUES (?1, ?2, ?3)";
/// After a chat message `?2` from `?3`: every member has a receipt of it, each other member
/// one at `sent` and one more unread message. One range of the primary key: the group's rows,
/// the same few pages for every message.
pub(super) const MARK_CHAT: &str = "UPDATE group_members SET
         first_message = coalesce(first_message, ?2),
         sent_from = iif(username = ?3, sent_from, coalesce(sent_from, ?2)),
         unseen_from = iif(username = ?3, unseen_from, coalesce(unseen_from, ?2)),
         unread = unread + (username <> ?3)
     WHERE group_id = ?1";
/// After a key message `?2` to `?3`: their receipt of it, at `sent`.
pub(super) const MARK_KEY: &str = "UPDATE group_members SET
         first_message = coalesce(first_message, ?2),
         sent_from = coalesce(sent_from, ?2),
         unseen_from = coalesce(unseen_from, ?2)
     WHERE group_id = ?1 AND username = ?3";
/// A member's bounds in a group (no row: not a member, so no receipts).
pub(super) const BOUNDS: &str = "SELECT sent_from, unseen_from FROM group_members
     WHERE group_id = ?1 AND username = ?2";
/// The member's receipts below `?3` of the group's messages from `?4` (the member's floor for
/// them) on.
pub(super) const ADVANCE_ALL: &str = "UPDATE group_receipts SET status = ?3
     WHERE member = ?2 AND status < ?3 AND message IN
         (SELECT seq FROM group_messages WHERE group_id = ?1 AND seq >= ?4)
     RETURNING message";
/// The unary `+`s keep SQLite from ranging over the member's receipts by status, or the
/// group's messages, instead of looking each listed id up.
pub(super) const ADVANCE_IDS: &str = "UPDATE group_receipts SET status = ?3
     WHERE member = ?2 AND +status < ?3 AND message IN
         (SELECT seq FROM group_messages
          WHERE id IN (SELECT value FROM json_each(?4)) AND +group_id = ?1)
     RETURNING message";
/// The member's first receipt below `?4` of the group's messages from `?3` on: where a floor
/// moves to once receipts at it moved.
pub(super) const NEXT_BELOW: &str = "SELECT m.seq FROM group_messages m
     JOIN group_receipts r ON r.message = m.seq AND r.member = ?2
     WHERE m.group_id = ?1 AND m.seq >= ?3 AND r.status < ?4
     ORDER BY m.seq LIMIT 1";
pub(super) const SET_BOUNDS: &str = "UPDATE group_members
     SET sent_from = ?3, unseen_from = ?4, unread = unread - ?5
     WHERE group_id = ?1 AND username = ?2";
pub(super) const IDS_OF: &str = "SELECT seq, id, to_user IS NULL FROM group_messages
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
     LEFT JOIN group_members g ON g.group_id = m.group_id AND g.username = r.member
     WHERE m.id = ?1 AND r.member <> m.sender
     ORDER BY g.joined_at, g.seq";
pub(super) const HISTORY_FROM: &str = "SELECT m.seq FROM group_messages m
     JOIN group_receipts r ON r.message = m.seq AND r.member = ?3
     WHERE m.id = ?1 AND m.group_id = ?2";
/// The group's messages newest first, down to the member's first receipt, those the member
/// has a receipt for.
pub(super) const HISTORY: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_messages m JOIN group_receipts r ON r.message = m.seq AND r.member = ?2
     WHERE m.group_id = ?1 AND m.seq < ?3
       AND m.seq >= (SELECT first_message FROM group_members
                     WHERE group_id = ?1 AND username = ?2)
     ORDER BY m.seq DESC LIMIT ?4"
);
pub(super) const SEQ_OF: &str = "SELECT seq FROM group_messages WHERE id = ?1";
/// The member's groups where some receipt may still be `sent`, with where to look from.
pub(super) const BACKLOG_GROUPS: &str = "SELECT group_id, sent_from FROM group_members
     WHERE username = ?1 AND sent_from IS NOT NULL";
/// One group's part of the backlog: its messages from `?3` on with the member's receipt at
/// `sent`, oldest first.
pub(super) const BACKLOG: &str = concat!(
    "SELECT ",
    columns!(),
    ", m.seq FROM group_messages m JOIN group_receipts r ON r.message = m.seq AND r.member = ?2
     WHERE m.group_id = ?1 AND m.seq >= ?3 AND r.status = 0
     ORDER BY m.seq LIMIT ?4"
);
pub(super) const MEMBERSHIPS: &str = "SELECT group_id, joined_at, unread, first_message
     FROM group_members WHERE username = ?1";
/// The group's newest chat message the member has a receipt for, down to their first.
pub(super) const LAST_CHAT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM group_messages m JOIN group_receipts r ON r.message = m.seq AND r.member = ?2
     WHERE m.group_id = ?1 AND m.seq >= ?3 AND m.to_user IS NULL
     ORDER BY m.seq DESC LIMIT 1"
);
pub(super) const LAST_SEQ: &str = "SELECT coalesce(max(seq), 0) FROM group_messages";
/// Per member, the chat messages of the range they have not seen (the sender's own receipt is
/// `seen`). `CROSS JOIN` keeps the messages outside: the range's receipts of everyone's
/// messages are many more rows than the user's messages.
pub(super) const ERASE_UNREAD: &str = "SELECT m.group_id, r.member, count(*)
     FROM group_messages m CROSS JOIN group_receipts r ON r.message = m.seq
     WHERE m.seq > ?1 AND m.seq <= ?2 AND m.sender = ?3 AND m.to_user IS NULL AND r.status < 2
     GROUP BY m.group_id, r.member";
pub(super) const DROP_UNREAD: &str =
    "UPDATE group_members SET unread = unread - ?3 WHERE group_id = ?1 AND username = ?2";
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
        stmt.execute(params![seq, member, code(*status)])?;
    }
    match &message.to {
        None => {
            conn.prepare_cached(MARK_CHAT)?
                .execute(params![message.group, seq, message.sender])?
        }
        Some(to) => conn
            .prepare_cached(MARK_KEY)?
            .execute(params![message.group, seq, to])?,
    };
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
/// messages and moves the member's floors and unread count past them. All report only rows
/// this job changed: the writer runs one job at a time.
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
    let bounds: Option<(Option<i64>, Option<i64>)> = conn
        .prepare_cached(BOUNDS)?
        .query_row(params![group, member], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    // No membership, no receipts; no floor, no receipt below `to`.
    let Some((sent_from, unseen_from)) = bounds else {
        return Ok(GroupTicks::default());
    };
    let seen = to == MessageStatus::Seen;
    let Some(floor) = (if seen { unseen_from } else { sent_from }) else {
        return Ok(GroupTicks::default());
    };
    let moved: Vec<i64> = match ids {
        None => conn
            .prepare_cached(ADVANCE_ALL)?
            .query_map(params![group, member, code(to), floor], |row| row.get(0))?
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
    let mut chats: i64 = 0;
    let moved: Vec<String> = conn
        .prepare_cached(IDS_OF)?
        .query_map([serde_json::to_string(&moved).map_err(encoding)?], |row| {
            Ok((row.get::<_, String>(1)?, row.get::<_, bool>(2)?))
        })?
        .map(|row| {
            row.map(|(id, chat)| {
                chats += i64::from(chat);
                id
            })
        })
        .collect::<Result<_, _>>()?;
    // Each receipt moved was below `to`, and none was the sender's (`seen` from the start).
    let unread = if seen { chats } else { 0 };
    // Where a floor goes once receipts at or past it moved: the next receipt still below, found
    // from it on; none when every receipt below `to` moved.
    let next = |from: Option<i64>, below: MessageStatus| -> Result<Option<i64>, Error> {
        match from {
            Some(from) if ids.is_some() => Ok(conn
                .prepare_cached(NEXT_BELOW)?
                .query_row(params![group, member, from, code(below)], |row| row.get(0))
                .optional()?),
            _ => Ok(None),
        }
    };
    let new_sent = next(sent_from, MessageStatus::Delivered)?;
    let new_unseen = if seen {
        next(unseen_from, MessageStatus::Seen)?
    } else {
        unseen_from
    };
    if (new_sent, new_unseen, unread) != (sent_from, unseen_from, 0) {
        conn.prepare_cached(SET_BOUNDS)?
            .execute(params![group, member, new_sent, new_unseen, unread])?;
    }
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

/// After `after` in storage order (an empty page when it is no group message): the first
/// `limit + 1` of each group where the member may have some, merged.
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
    let groups: Vec<(String, i64)> = conn
        .prepare_cached(BACKLOG_GROUPS)?
        .query_map([member], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let wanted = limit.saturating_add(1);
    let mut stmt = conn.prepare_cached(BACKLOG)?;
    let mut found: Vec<(i64, GroupMessage)> = Vec::new();
    for (group, sent_from) in groups {
        let mut rows = stmt.query(params![
            group,
            member,
            sent_from.max(after_seq.saturating_add(1)),
            sql_limit(wanted)
        ])?;
        while let Some(row) = rows.next()? {
            found.push((row.get(9)?, decode_message(row)?));
        }
    }
    found.sort_unstable_by_key(|(seq, _)| *seq);
    found.truncate(wanted);
    let items = found.into_iter().map(|(_, message)| message).collect();
    Ok(Page::from_one_more(items, limit))
}

/// The member's groups (an index range) with their unread counts, and each group's latest
/// chat message (the first of the group's messages, newest first, with a receipt of theirs).
pub(super) fn entries(conn: &Connection, member: &str) -> Result<Vec<GroupEntry>, Error> {
    let memberships: Vec<(String, i64, i64, Option<i64>)> = conn
        .prepare_cached(MEMBERSHIPS)?
        .query_map([member], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut last = conn.prepare_cached(LAST_CHAT)?;
    let mut entries = Vec::with_capacity(memberships.len());
    for (group, joined_at, unread, first_message) in memberships {
        let last_message = match first_message {
            None => None,
            Some(first) => last
                .query_row(params![group, member, first], |row| Ok(decode_message(row)))
                .optional()?
                .transpose()?,
        };
        entries.push(GroupEntry {
            unread: u64::try_from(unread).unwrap_or(0),
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
    let unread: Vec<(String, String, i64)> = conn
        .prepare_cached(ERASE_UNREAD)?
        .query_map(params![from, to, user], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut drop = conn.prepare_cached(DROP_UNREAD)?;
    for (group, member, n) in unread {
        drop.execute(params![group, member, n])?;
    }
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
