//! [`AttachmentStore`]: the records of attachments (`attachments`), the messages that name them
//! (`attachment_refs`) and each owner's usage (`attachment_usage`). The bytes live in a blob
//! store ([`super::GridFsBlobStore`] or another).
//!
//! Documents, all flat (the test server mishandles arrays of documents):
//! - `attachments`: `_id` the id, `owner`, `size`, `state` (`"uploading"`, `"stored"`,
//!   `"collecting"`), `createdAt`, and `refs`, a count of the messages that name it.
//! - `attachment_refs`: one per attachment and message, `attachment`, `kind` (`"direct"`,
//!   `"group"`), `message`, and `receiver` or `group`; a unique index on
//!   `{attachment, kind, message}` keeps it one.
//! - `attachment_usage`: `_id` the owner, `used` the bytes their attachments take (reserved
//!   while uploading, stored afterwards). It stays at 0 rather than being deleted, so that a
//!   reservation never races a deletion.
//!
//! Without transactions each atomic step of the trait is one conditional single-document write:
//! - **Reserving** takes the bytes with a conditional `$inc` on the usage counter
//!   (`used <= quota - size`), so of racing uploads only as many as fit get through; the record
//!   is inserted after, and a taken id gives the bytes back.
//! - **Naming** ([`refs`]) holds each attachment with a conditional `$inc` of `refs` on
//!   `{_id, owner, state: "stored"}`, and writes the reference documents only once every id is
//!   held; an id that cannot be held makes the call give back the holds it took.
//! - **Claiming** is a conditional `$set` of `state` to `"collecting"` on
//!   `{_id, refs: 0, state: stored or uploading, createdAt < cutoff}`. A hold and a claim are
//!   updates of the same document, so the server orders them: a held attachment (`refs > 0`)
//!   cannot be claimed, and a claimed one (no longer `"stored"`) cannot be held.
//!
//! Steps that follow one another may be cut by a crash. They are ordered so that what is left
//! only ever keeps an attachment, never loses one: a `refs` count too high (a hold without its
//! reference document) only keeps an attachment from being collected, and a usage counter too
//! high (bytes not given back) only holds quota. Neither is ever too low.

mod quota;
mod refs;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use nexchat_core::store::{
    AttachmentRecord, AttachmentRef, AttachmentState, AttachmentStore, Reserved, StoreError,
    StoreResult,
};

use super::docs::Reader;
use super::{MongoStore, backend, collections, is_duplicate_key};

/// A size, limit or count as BSON's `i64` (none comes near its end).
fn bson_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored size, which is never negative.
fn stored_u64(r: &Reader<'_>, key: &str) -> StoreResult<u64> {
    let n = r.i64(key)?;
    u64::try_from(n).map_err(|_| r.corrupt(format!("field {key} is negative ({n})")))
}

fn record_to_doc(record: &AttachmentRecord) -> Document {
    doc! {
        "_id": &record.id,
        "owner": &record.owner,
        "size": bson_u64(record.size),
        "state": record.state.as_str(),
        "createdAt": record.created_at,
        "refs": 0_i64,
    }
}

fn record_from_doc(doc: &Document) -> StoreResult<AttachmentRecord> {
    let r = Reader::new(collections::ATTACHMENTS, doc);
    let state = r.str("state")?;
    Ok(AttachmentRecord {
        id: r.str("_id")?,
        owner: r.str("owner")?,
        size: stored_u64(&r, "size")?,
        state: AttachmentState::parse(&state)
            .ok_or_else(|| r.corrupt(format!("field state has unknown value {state:?}")))?,
        created_at: r.i64("createdAt")?,
    })
}

/// The ids of `found` (documents projected to `_id`).
fn ids_of(found: &[Document]) -> StoreResult<Vec<String>> {
    found
        .iter()
        .map(|d| Reader::new(collections::ATTACHMENTS, d).str("_id"))
        .collect()
}

#[async_trait]
impl AttachmentStore for MongoStore {
    async fn reserve_attachment(
        &self,
        record: &AttachmentRecord,
        quota: u64,
    ) -> StoreResult<Reserved> {
        let conflict = || StoreError::Conflict(format!("attachment {} exists", record.id));
        // A taken id is refused before any quota moves (the insert below still decides races).
        if self.attachment(&record.id).await?.is_some() {
            return Err(conflict());
        }
        let reserved = self.take_quota(&record.owner, record.size, quota).await?;
        if reserved != Reserved::Reserved {
            return Ok(reserved);
        }
        match self.attachments.insert_one(record_to_doc(record)).await {
            Ok(_) => Ok(Reserved::Reserved),
            Err(e) if is_duplicate_key(&e) => {
                self.add_usage(&record.owner, -bson_u64(record.size))
                    .await?;
                Err(conflict())
            }
            // Whether the record was written is unknown: the bytes stay taken (the safe side;
            // if it was, the collector gives them back with it).
            Err(e) => Err(backend(e)),
        }
    }

    async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool> {
        let before = self
            .attachments
            .find_one_and_update(
                doc! { "_id": id, "state": AttachmentState::Uploading.as_str() },
                doc! { "$set": {
                    "state": AttachmentState::Stored.as_str(),
                    "size": bson_u64(size),
                } },
            )
            .return_document(ReturnDocument::Before)
            .await
            .map_err(backend)?;
        let Some(before) = before else {
            return Ok(false);
        };
        // The state first, the counter after: a crash between leaves the reservation held.
        let before = record_from_doc(&before)?;
        self.add_usage(&before.owner, bson_u64(size) - bson_u64(before.size))
            .await?;
        Ok(true)
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        self.attachments
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| record_from_doc(&d))
            .transpose()
    }

    async fn reference_attachments(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool> {
        self.reference_attachments_impl(owner, ids, reference).await
    }

    async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
        self.attachment_refs_impl(id).await
    }

    async fn attachment_usage(&self, owner: &str) -> StoreResult<u64> {
        self.usage(owner).await
    }

    async fn collectable_attachments(
        &self,
        created_before: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        // A limit of 0 would mean "no limit" to the server.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let bson_limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let projection = doc! { "_id": 1, "createdAt": 1 };
        // Two queries rather than one `$or` (a scan of the whole collection on the test server).
        let claimed: Vec<Document> = self
            .attachments
            .find(doc! { "state": AttachmentState::Collecting.as_str() })
            .sort(doc! { "state": 1, "createdAt": 1 })
            .projection(projection.clone())
            .limit(bson_limit)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let unnamed: Vec<Document> = self
            .attachments
            .find(doc! {
                "refs": 0_i64,
                "createdAt": { "$lt": created_before },
                "state": { "$in": [
                    AttachmentState::Uploading.as_str(),
                    AttachmentState::Stored.as_str(),
                ] },
            })
            .sort(doc! { "refs": 1, "createdAt": 1 })
            .projection(projection)
            .limit(bson_limit)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let mut found = Vec::with_capacity(claimed.len() + unnamed.len());
        for d in claimed.iter().chain(&unnamed) {
            let r = Reader::new(collections::ATTACHMENTS, d);
            found.push((r.i64("createdAt")?, r.str("_id")?));
        }
        // Oldest first across both, as each query gave them.
        found.sort();
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool> {
        let claimed = self
            .attachments
            .update_one(
                doc! {
                    "_id": id,
                    "refs": 0_i64,
                    "state": { "$in": [
                        AttachmentState::Stored.as_str(),
                        AttachmentState::Uploading.as_str(),
                    ] },
                    "createdAt": { "$lt": created_before },
                },
                doc! { "$set": { "state": AttachmentState::Collecting.as_str() } },
            )
            .await
            .map_err(backend)?;
        if claimed.matched_count == 1 {
            return Ok(true);
        }
        // Claimed before (a pass that died midway): the collector finishes it.
        let collecting = self
            .attachments
            .find_one(doc! { "_id": id, "state": AttachmentState::Collecting.as_str() })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?;
        Ok(collecting.is_some())
    }

    async fn forget_attachment(&self, id: &str) -> StoreResult<()> {
        // References first: a crash after this leaves the record (collectable again if it was
        // claimed, listed again by `attachments_of` if its owner is being erased), never
        // references to a record that is gone.
        self.attachment_refs
            .delete_many(doc! { "attachment": id })
            .await
            .map_err(backend)?;
        let deleted = self
            .attachments
            .find_one_and_delete(doc! { "_id": id })
            .await
            .map_err(backend)?;
        if let Some(deleted) = deleted {
            // The record first, the counter after: a crash between leaves the bytes counted.
            let deleted = record_from_doc(&deleted)?;
            self.add_usage(&deleted.owner, -bson_u64(deleted.size))
                .await?;
        }
        Ok(())
    }

    async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>> {
        let found: Vec<Document> = self
            .attachments
            .find(doc! { "owner": owner })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        ids_of(&found)
    }
}
