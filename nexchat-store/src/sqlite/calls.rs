//! The call log, paged like messages by storage order (`seq`).

use async_trait::async_trait;
use nexchat_core::protocol::{CallKind, CallRecord, CallStatus, EndReason};
use nexchat_core::store::{CallStore, Page, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::{Fields, collect};
use super::{Error, SqliteStore, erasure, is_unique_violation, pair, sql_limit};

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
        self.read(move |conn| call_history(conn, &a, &b, before.as_deref(), limit))
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
}

fn duration(call: &CallRecord) -> Result<i64, StoreError> {
    i64::try_from(call.duration).map_err(|_| {
        StoreError::Backend(format!(
            "call {}: duration {} out of range",
            call.call_id, call.duration
        ))
    })
}

fn call_history(
    conn: &Connection,
    a: &str,
    b: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<Page<CallRecord>, Error> {
    let (lo, hi) = pair(a, b);
    let before_seq = match before {
        None => i64::MAX,
        Some(id) => conn
            .prepare_cached(
                "SELECT seq FROM calls WHERE call_id = ?1 AND pair_lo = ?2 AND pair_hi = ?3",
            )?
            .query_row([id, lo, hi], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("call {id} between {a} and {b}")))?,
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM calls
         WHERE pair_lo = ?1 AND pair_hi = ?2 AND seq < ?3
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    let rows = stmt.query(params![
        lo,
        hi,
        before_seq,
        sql_limit(limit.saturating_add(1))
    ])?;
    Ok(Page::from_one_more(collect(rows, decode_call)?, limit))
}

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
