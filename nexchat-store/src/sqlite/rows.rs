//! Reading rows into records, turning a row of the wrong shape into [`StoreError::Corrupt`]
//! (naming the table and the record) instead of a panic or a vague driver error.

use nexchat_core::store::StoreError;
use rusqlite::Row;
use rusqlite::types::{FromSql, ValueRef};

/// The columns of one row of `table`, with the id of the record for error messages.
pub(crate) struct Fields<'r, 's> {
    row: &'r Row<'s>,
    table: &'static str,
    id: String,
}

impl<'r, 's> Fields<'r, 's> {
    /// A row whose record id is in column `id_column`.
    pub(crate) fn new(row: &'r Row<'s>, table: &'static str, id_column: usize) -> Self {
        let id = match row.get_ref(id_column) {
            Ok(ValueRef::Text(text)) => String::from_utf8_lossy(text).into_owned(),
            Ok(other) => format!("{other:?}"),
            Err(e) => format!("unreadable ({e})"),
        };
        Self { row, table, id }
    }

    /// A row whose record id is made by the caller (a link has no id column).
    pub(crate) fn with_id(row: &'r Row<'s>, table: &'static str, id: String) -> Self {
        Self { row, table, id }
    }

    /// Column `index` (called `name`) as a `T`.
    pub(crate) fn get<T: FromSql>(&self, index: usize, name: &str) -> Result<T, StoreError> {
        self.row
            .get(index)
            .map_err(|e| self.corrupt(format!("column {name}: {e}")))
    }

    /// Column `index` (called `name`), a text naming one value of an enum.
    pub(crate) fn parse<T>(
        &self,
        index: usize,
        name: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text: String = self.get(index, name)?;
        parse(&text).ok_or_else(|| self.corrupt(format!("column {name}: unknown value {text:?}")))
    }

    /// A [`StoreError::Corrupt`] about this row.
    pub(crate) fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            collection: self.table.to_owned(),
            id: self.id.clone(),
            detail,
        }
    }
}

/// Reads every row of a query through `decode`, stopping at the first bad one.
pub(crate) fn collect<T>(
    mut rows: rusqlite::Rows<'_>,
    decode: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, super::Error> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}
