//! The call log, paged like messages by storage order (`seq`).

use async_trait::async_trait;
use nexchat_core::protocol::{CallKind, CallRecord, CallStatus, EndReason};
use nexchat_core::store::{CallLine, CallStore, LineTaken, Page, StoreError, StoreResult};
use rusqlite::{OptionalExtension, Row, params};

use super::paging::PairLog;
use super::rows::{Fields, collect};
use super::{SqliteStore, erasure, is_unique_violation};

const COLUMNS: &str = "call_id, caller, callee, kind, status, started_at, answered_at, ended_at, \
     duration, end_reason";

#[async_trait]
impl CallStore for SqliteStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        let call = call.clone();
        self.write(move |conn, _| {
            let inserted = conn
                .prepare_cached(&format!(
                    "INSERT INTO calls ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?
                .execute(params![
                    call.call_id,
                    call.caller,
                    call.callee,
                    call.kind.as_str(),
                    call.status.as_str(),
                    call.started_at,
                    call.answered_at,
                    call.ended_at,
                    duration(&call)?,
                    call.end_reason.map(EndReason::as_str)
                ]);
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("call {}", call.call_id)).into())
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        let call = call.clone();
        self.write(move |conn, _| {
            let changed = conn
                .prepare_cached(
                    "UPDATE calls SET caller = ?2, callee = ?3, kind = ?4, status = ?5,
                        started_at = ?6, answered_at = ?7, ended_at = ?8, duration = ?9,
                        end_reason = ?11
                     WHERE call_id = ?1 AND status = ?10",
                )?
                .execute(params![
                    call.call_id,
                    call.caller,
                    call.callee,
                    call.kind.as_str(),
                    call.status.as_str(),
                    call.started_at,
                    call.answered_at,
                    call.ended_at,
                    duration(&call)?,
                    expected.as_str(),
                    call.end_reason.map(EndReason::as_str)
                ])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        let call_id = call_id.to_owned();
        self.read(move |conn| {
            let found = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM calls WHERE call_id = ?1"))?
                .query_row([&call_id], |row| Ok(decode_call(row)))
                .optional()?;
            Ok(found.transpose()?)
        })
        .await
    }

    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        let (a, b) = (a.to_owned(), b.to_owned());
        let before = before.map(str::to_owned);
        self.read(move |conn| HISTORY.page_before(conn, &a, &b, before.as_deref(), limit))
            .await
    }

    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM calls
                 WHERE status IN ('ringing', 'in_progress') ORDER BY seq"
            ))?;
            let rows = stmt.query([])?;
            collect(rows, decode_call)
        })
        .await
    }

    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        self.delete_rows_of(erasure::CALLS, user).await
    }

    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        let lines = CallLine::of_call(call, node);
        let callee = call.callee.clone();
        // The one writer runs this whole job before the next: the check and the inserts are
        // one step for every node sharing the file.
        self.write(move |conn, _| {
            let busy = conn
                .prepare_cached("SELECT 1 FROM call_lines WHERE user = ?1")?
                .exists([&callee])?;
            if busy {
                return Ok(LineTaken::Busy(callee));
            }
            let mut insert = conn.prepare_cached(
                "INSERT INTO call_lines (user, peer, call_id, node) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for line in &lines {
                insert.execute(params![line.user, line.peer, line.call_id, line.node])?;
            }
            Ok(LineTaken::Taken)
        })
        .await
    }

    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        let call_id = call_id.to_owned();
        self.write(move |conn, _| {
            conn.prepare_cached("DELETE FROM call_lines WHERE call_id = ?1")?
                .execute([&call_id])?;
            Ok(())
        })
        .await
    }

    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        let user = user.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user, peer, call_id, node FROM call_lines WHERE user = ?1",
            )?;
            let lines = stmt
                .query_map([&user], decode_line)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(lines)
        })
        .await
    }

    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT user, peer, call_id, node FROM call_lines")?;
            let lines = stmt
                .query_map([], decode_line)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(lines)
        })
        .await
    }
}

fn decode_line(row: &Row<'_>) -> rusqlite::Result<CallLine> {
    Ok(CallLine {
        user: row.get(0)?,
        peer: row.get(1)?,
        call_id: row.get(2)?,
        node: row.get(3)?,
    })
}

fn duration(call: &CallRecord) -> Result<i64, StoreError> {
    i64::try_from(call.duration).map_err(|_| {
        StoreError::backend_failure(format!(
            "call {}: duration {} out of range",
            call.call_id, call.duration
        ))
    })
}

/// The call log of a pair (see [`PairLog`]).
const HISTORY: PairLog<CallRecord> = PairLog {
    table: "calls",
    id_column: "call_id",
    columns: COLUMNS,
    noun: "call",
    decode: decode_call,
};

fn decode_call(row: &Row<'_>) -> Result<CallRecord, StoreError> {
    let f = Fields::new(row, "calls", 0);
    let duration: i64 = f.get(8, "duration")?;
    Ok(CallRecord {
        call_id: f.get(0, "call_id")?,
        caller: f.get(1, "caller")?,
        callee: f.get(2, "callee")?,
        kind: f.parse(3, "kind", CallKind::parse)?,
        status: f.parse(4, "status", CallStatus::parse)?,
        started_at: f.get(5, "started_at")?,
        answered_at: f.get(6, "answered_at")?,
        ended_at: f.get(7, "ended_at")?,
        duration: u64::try_from(duration)
            .map_err(|_| f.corrupt(format!("column duration: negative value {duration}")))?,
        end_reason: match f.get::<Option<String>>(9, "end_reason")? {
            None => None,
            Some(text) => {
                Some(EndReason::parse(&text).ok_or_else(|| {
                    f.corrupt(format!("column end_reason: unknown value {text:?}"))
                })?)
            }
        },
    })
}
