//! The records of attachments and the messages that name them (schema version 11).
//!
//! Every write is one writer job, and the writer runs one job at a time and commits it whole,
//! so each of the three steps the trait wants atomic is a check and its change in one job, with
//! no other write in between:
//! - reserving: the id is free and the owner's sizes plus the new one fit the quota, then the
//!   insert;
//! - naming: every id is the sender's and `stored`, then the references;
//! - claiming: nothing names the attachment, then `collecting` (one conditional update).
//!
//! Naming refuses an attachment that is not `stored` (so not one the collector claimed), and
//! claiming refuses one that is named: whichever job the writer runs first wins.
//!
//! `attachments.named` says whether any message names the attachment. It is what lets the
//! collector find what nothing names through a small partial index (`attachments_unnamed`)
//! instead of looking up the references of every old attachment, most of which are named and
//! stay. It only ever goes from 0 to 1: references are deleted only with their attachment.

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use async_trait::async_trait;
use nexchat_core::store::{
    AttachmentRecord, AttachmentRef, AttachmentState, AttachmentStore, Reserved, StoreError,
    StoreResult,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::Fields;
use super::{Error, SqliteStore, sql_limit};

pub(super) const RECORD: &str =
    "SELECT id, owner, size, state, created_at FROM attachments WHERE id = ?1";
pub(super) const EXISTS: &str = "SELECT 1 FROM attachments WHERE id = ?1";
pub(super) const USAGE: &str = "SELECT coalesce(sum(size), 0) FROM attachments WHERE owner = ?1";
pub(super) const INSERT: &str =
    "INSERT INTO attachments (id, owner, size, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(super) const FINISH: &str =
    "UPDATE attachments SET state = 'stored', size = ?2 WHERE id = ?1 AND state = 'uploading'";
/// How many of the listed ids (each counted once) are `owner`'s and stored. `+owner` keeps
/// SQLite from going through all of the owner's attachments instead of the few listed.
pub(super) const NAMEABLE: &str = "SELECT count(*) FROM attachments
     WHERE id IN (SELECT value FROM json_each(?1)) AND +owner = ?2 AND state = 'stored'";
/// A resend names the same attachments in the same message again, and an id listed twice
/// names its attachment twice: neither adds a row.
pub(super) const ADD_REFS: &str = "INSERT INTO attachment_refs (attachment, kind, message, target)
     SELECT value, ?2, ?3, ?4 FROM json_each(?1) WHERE true
     ON CONFLICT (attachment, kind, message) DO NOTHING";
pub(super) const MARK_NAMED: &str = "UPDATE attachments SET named = 1
     WHERE id IN (SELECT value FROM json_each(?1)) AND named = 0";
pub(super) const REFS: &str =
    "SELECT kind, message, target FROM attachment_refs WHERE attachment = ?1";
pub(super) const OF_OWNER: &str = "SELECT id FROM attachments WHERE owner = ?1";
/// Those already claimed first (a pass that died midway left them), then the oldest that
/// nothing names. The two parts are disjoint (the second leaves out `collecting`), so no id
/// comes twice, and `LIMIT` stops the second part's index range early.
pub(super) const COLLECTABLE: &str = "SELECT id FROM attachments WHERE state = 'collecting'
     UNION ALL
     SELECT id FROM attachments WHERE named = 0 AND state <> 'collecting' AND created_at < ?1
     LIMIT ?2";
/// Also true for one already collecting (the update matches the row whatever it sets).
pub(super) const CLAIM: &str = "UPDATE attachments SET state = 'collecting'
     WHERE id = ?1 AND named = 0 AND (state = 'collecting' OR created_at < ?2)";
pub(super) const FORGET_REFS: &str = "DELETE FROM attachment_refs WHERE attachment = ?1";
pub(super) const FORGET: &str = "DELETE FROM attachments WHERE id = ?1";

/// The most bytes an owner's attachments may take together, whatever the quota: SQLite's
/// `sum` fails past `i64::MAX`, so no reservation may bring an owner's total there.
const MAX_TOTAL: u64 = i64::MAX.unsigned_abs();

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn reserve_attachment(
        &self,
        record: &AttachmentRecord,
        quota: u64,
    ) -> StoreResult<Reserved> {
        let record = record.clone();
        // Checks first, then the one insert: only the insert changes the database.
        self.write_statement(move |conn, _| reserve(conn, &record, quota))
            .await
    }

    async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool> {
        let id = id.to_owned();
        let size = sql_size(&id, size)?;
        self.write_statement(move |conn, _| {
            let changed = conn.prepare_cached(FINISH)?.execute(params![id, size])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let found = conn
                .prepare_cached(RECORD)?
                .query_row([&id], |row| Ok(decode_record(row)))
                .optional()?;
            Ok(found.transpose()?)
        })
        .await
    }

    async fn reference_attachments(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool> {
        if ids.is_empty() {
            // Every one of none is the owner's and stored; there is nothing to record.
            return Ok(true);
        }
        let wanted = ids.iter().collect::<HashSet<_>>().len();
        let ids = serde_json::to_string(ids)
            .map_err(|e| StoreError::backend("encoding attachment ids", e))?;
        let owner = owner.to_owned();
        let (kind, message, target) = ref_columns(reference)?;
        // The check, then two changes that cannot fail for a reason of their own (a reference
        // already there is skipped, not refused): no savepoint needed, see `writer.rs`.
        self.write_statement(move |conn, _| {
            let nameable: i64 = conn
                .prepare_cached(NAMEABLE)?
                .query_row(params![ids, owner], |row| row.get(0))?;
            if usize::try_from(nameable).ok() != Some(wanted) {
                return Ok(false);
            }
            conn.prepare_cached(ADD_REFS)?
                .execute(params![ids, kind, message, target])?;
            conn.prepare_cached(MARK_NAMED)?.execute([&ids])?;
            Ok(true)
        })
        .await
    }

    async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(REFS)?;
            let mut rows = stmt.query([&id])?;
            let mut refs = Vec::new();
            while let Some(row) = rows.next()? {
                refs.push(decode_ref(row, &id)?);
            }
            Ok(refs)
        })
        .await
    }

    async fn attachment_usage(&self, owner: &str) -> StoreResult<u64> {
        let owner = owner.to_owned();
        self.read(move |conn| usage(conn, &owner)).await
    }

    async fn collectable_attachments(
        &self,
        created_before: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.read(move |conn| {
            let ids = conn
                .prepare_cached(COLLECTABLE)?
                .query_map(params![created_before, sql_limit(limit)], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write_statement(move |conn, _| {
            let changed = conn
                .prepare_cached(CLAIM)?
                .execute(params![id, created_before])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn forget_attachment(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        // Rare, and two deletes: in a savepoint, so neither stands without the other.
        self.write(move |conn, _| {
            conn.prepare_cached(FORGET_REFS)?.execute([&id])?;
            conn.prepare_cached(FORGET)?.execute([&id])?;
            Ok(())
        })
        .await
    }

    async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>> {
        let owner = owner.to_owned();
        self.read(move |conn| {
            let ids = conn
                .prepare_cached(OF_OWNER)?
                .query_map([&owner], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }
}

/// A taken id is a conflict (whoever holds it), checked before the quota as the memory store
/// does; then the quota; then the insert.
fn reserve(conn: &Connection, record: &AttachmentRecord, quota: u64) -> Result<Reserved, Error> {
    let size = sql_size(&record.id, record.size)?;
    let taken = conn
        .prepare_cached(EXISTS)?
        .query_row([&record.id], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::Conflict(format!("attachment {} exists", record.id)).into());
    }
    let used = usage(conn, &record.owner)?;
    if used.saturating_add(record.size) > quota.min(MAX_TOTAL) {
        return Ok(Reserved::OverQuota { used });
    }
    conn.prepare_cached(INSERT)?.execute(params![
        record.id,
        record.owner,
        size,
        record.state.as_str(),
        record.created_at
    ])?;
    Ok(Reserved::Reserved)
}

/// The bytes `owner`'s attachments take, in every state.
fn usage(conn: &Connection, owner: &str) -> Result<u64, Error> {
    let used: i64 = conn
        .prepare_cached(USAGE)?
        .query_row([owner], |row| row.get(0))?;
    // Sizes are never negative (a CHECK says so), nor then is their sum.
    Ok(u64::try_from(used).map_err(|_| {
        StoreError::backend_failure(format!("attachments of {owner} sum to {used} bytes"))
    })?)
}

/// A size as SQLite stores it (a signed integer).
fn sql_size(id: &str, size: u64) -> Result<i64, StoreError> {
    i64::try_from(size).map_err(|_| {
        StoreError::backend_failure(format!("attachment {id}: size {size} out of range"))
    })
}

/// The `kind`, `message` and `target` columns of a reference.
fn ref_columns(reference: &AttachmentRef) -> StoreResult<(&'static str, String, String)> {
    match reference {
        AttachmentRef::Direct { message, receiver } => {
            Ok(("direct", message.clone(), receiver.clone()))
        }
        AttachmentRef::Group { message, group } => Ok(("group", message.clone(), group.clone())),
        other => Err(StoreError::backend_failure(format!(
            "this SQLite store cannot record {other:?}"
        ))),
    }
}

fn decode_record(row: &Row<'_>) -> Result<AttachmentRecord, StoreError> {
    let f = Fields::new(row, "attachments", 0);
    let size: i64 = f.get(2, "size")?;
    Ok(AttachmentRecord {
        id: f.get(0, "id")?,
        owner: f.get(1, "owner")?,
        size: u64::try_from(size)
            .map_err(|_| f.corrupt(format!("column size: negative value {size}")))?,
        state: f.parse(3, "state", AttachmentState::parse)?,
        created_at: f.get(4, "created_at")?,
    })
}

/// A reference to attachment `attachment`, which names the row in errors (the table has no
/// id column of its own).
fn decode_ref(row: &Row<'_>, attachment: &str) -> Result<AttachmentRef, StoreError> {
    let f = Fields::with_id(row, "attachment_refs", attachment.to_owned());
    let message: String = f.get(1, "message")?;
    let target: String = f.get(2, "target")?;
    match f.get::<String>(0, "kind")?.as_str() {
        "direct" => Ok(AttachmentRef::Direct {
            message,
            receiver: target,
        }),
        "group" => Ok(AttachmentRef::Group {
            message,
            group: target,
        }),
        kind => Err(f.corrupt(format!("column kind: unknown value {kind:?}"))),
    }
}
