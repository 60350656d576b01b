//! The one history pager of this backend, for messages and calls alike: a pair's rows newest
//! first by `seq` (storage order), strictly before a row of that pair, reading one row past the
//! page to learn whether more follow.

use nexchat_core::store::{Page, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rows::collect;
use super::{Error, pair, sql_limit};

/// A table with `seq`, `pair_lo` and `pair_hi` columns and an index on `(pair_lo, pair_hi,
/// seq)`, paged by pair.
pub(crate) struct PairLog<T: 'static> {
    /// The table.
    pub(crate) table: &'static str,
    /// Its id column (what `before` names).
    pub(crate) id_column: &'static str,
    /// The columns `decode` reads, in its order.
    pub(crate) columns: &'static str,
    /// What a row is, for the `NotFound` of an unknown `before` ("message", "call").
    pub(crate) noun: &'static str,
    /// Reads one row.
    pub(crate) decode: fn(&Row<'_>) -> Result<T, StoreError>,
}

impl<T> PairLog<T> {
    /// At most `limit` rows between `a` and `b`, newest first, older than the row `before`;
    /// [`StoreError::NotFound`] when `before` is not a row of this pair.
    pub(crate) fn page_before(
        &self,
        conn: &Connection,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>, Error> {
        let (lo, hi) = pair(a, b);
        let before_seq: i64 = match before {
            None => i64::MAX,
            Some(id) => conn
                .prepare_cached(&format!(
                    "SELECT seq FROM {} WHERE {} = ?1 AND pair_lo = ?2 AND pair_hi = ?3",
                    self.table, self.id_column
                ))?
                .query_row([id, lo, hi], |row| row.get(0))
                .optional()?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("{} {id} between {a} and {b}", self.noun))
                })?,
        };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM {} WHERE pair_lo = ?1 AND pair_hi = ?2 AND seq < ?3
             ORDER BY seq DESC LIMIT ?4",
            self.columns, self.table
        ))?;
        let rows = stmt.query(params![
            lo,
            hi,
            before_seq,
            sql_limit(limit.saturating_add(1))
        ])?;
        Ok(Page::from_one_more(collect(rows, self.decode)?, limit))
    }
}
