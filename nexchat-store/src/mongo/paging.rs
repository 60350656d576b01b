//! The one history pager of this backend, for messages and calls alike: a pair's documents
//! newest first by `seq` (storage order), strictly before a document of that pair, reading one
//! past the page to learn whether more follow.

use futures::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use nexchat_core::store::{Page, StoreError, StoreResult};

use super::backend;
use super::docs::{Reader, pair_key};

/// A collection with `pair` and `seq` fields and an index on `{pair, seq}`, paged by pair.
pub(super) struct PairLog<'c, T> {
    /// The collection.
    pub(super) collection: &'c Collection<Document>,
    /// Its name (one of [`super::collections`]), for errors about its documents.
    pub(super) name: &'static str,
    /// What a document is, for the `NotFound` of an unknown `before` ("message", "call").
    pub(super) noun: &'static str,
    /// Reads one document.
    pub(super) decode: fn(&Document) -> StoreResult<T>,
}

impl<T> PairLog<'_, T> {
    /// At most `limit` documents between `a` and `b`, newest first, older than the document
    /// `before`; [`StoreError::NotFound`] when `before` is not one of this pair.
    pub(super) async fn page_before(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<T>> {
        let pair = pair_key(a, b);
        let mut filter = doc! { "pair": &pair };
        if let Some(before) = before {
            let found = self
                .collection
                .find_one(doc! { "_id": before, "pair": &pair })
                .projection(doc! { "seq": 1 })
                .await
                .map_err(backend)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("{} {before} between {a} and {b}", self.noun))
                })?;
            let seq = Reader::new(self.name, &found).i64("seq")?;
            filter.insert("seq", doc! { "$lt": seq });
        }
        let found: Vec<Document> = self
            .collection
            .find(filter)
            .sort(doc! { "seq": -1 })
            .limit(limit_plus_one(limit))
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let items = found.iter().map(self.decode).collect::<StoreResult<_>>()?;
        Ok(Page::from_one_more(items, limit))
    }
}

/// A page size as the driver's `i64`, one more than asked so that `has_more` needs no count.
pub(super) fn limit_plus_one(limit: usize) -> i64 {
    i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1)
}
