//! Naming attachments in a message, all or nothing, in two rounds of single-document writes:
//!
//! 1. **Hold** each attachment: a conditional `$inc` of `refs` on `{_id, owner, state:
//!    "stored"}`. It fails for an id that is unknown, someone else's, still uploading or claimed
//!    by the collector, and once it succeeds the collector can no longer claim the attachment
//!    (its claim wants `refs: 0`). When an id fails, the holds taken so far are given back and
//!    nothing is recorded.
//! 2. **Record** one `attachment_refs` document per attachment, only once every id is held, so
//!    no download is allowed on the strength of a message that ends up naming nothing. A
//!    document that exists already (the unique index refuses it) is a resend: its hold is given
//!    back, as the first send keeps one.
//!
//! A crash between the steps leaves a hold without its document: `refs` too high, which keeps
//! the attachment from being collected and nothing more. `refs` is only ever compared with 0,
//! and never falls below the number of documents, so drift can keep an attachment but never
//! lose one.

use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::store::{AttachmentRef, AttachmentState, StoreError, StoreResult};

use crate::mongo::docs::Reader;
use crate::mongo::{MongoStore, backend, collections, is_duplicate_key};

/// `kind` of a reference from a 1:1 message.
const DIRECT: &str = "direct";
/// `kind` of a reference from a group message.
const GROUP: &str = "group";

/// The document recording that `reference` names attachment `id`.
fn ref_doc(id: &str, reference: &AttachmentRef) -> StoreResult<Document> {
    Ok(match reference {
        AttachmentRef::Direct { message, receiver } => doc! {
            "attachment": id, "kind": DIRECT, "message": message, "receiver": receiver,
        },
        AttachmentRef::Group { message, group } => doc! {
            "attachment": id, "kind": GROUP, "message": message, "group": group,
        },
        other => {
            return Err(StoreError::backend_failure(format!(
                "mongodb: no document for the attachment reference {other:?}"
            )));
        }
    })
}

fn ref_from_doc(doc: &Document) -> StoreResult<AttachmentRef> {
    let r = Reader::new(collections::ATTACHMENT_REFS, doc);
    let message = r.str("message")?;
    match r.str("kind")?.as_str() {
        DIRECT => Ok(AttachmentRef::Direct {
            message,
            receiver: r.str("receiver")?,
        }),
        GROUP => Ok(AttachmentRef::Group {
            message,
            group: r.str("group")?,
        }),
        kind => Err(r.corrupt(format!("field kind has unknown value {kind:?}"))),
    }
}

/// The unique key of a reference document: its attachment, kind and message.
fn ref_key(doc: &Document) -> Document {
    let field = |name: &str| doc.get(name).cloned().unwrap_or_default();
    doc! {
        "attachment": field("attachment"),
        "kind": field("kind"),
        "message": field("message"),
    }
}

impl MongoStore {
    pub(super) async fn reference_attachments_impl(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool> {
        // Each attachment once, however often the message lists it.
        let mut unique: Vec<&str> = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(&id.as_str()) {
                unique.push(id);
            }
        }
        let docs = unique
            .iter()
            .map(|id| ref_doc(id, reference))
            .collect::<StoreResult<Vec<_>>>()?;

        for (i, id) in unique.iter().enumerate() {
            match self.hold(owner, id).await {
                Ok(true) => {}
                Ok(false) => {
                    self.undo(&unique[..i], &[]).await;
                    return Ok(false);
                }
                // Whether `id` was held is unknown: it is left as it stands (the safe side).
                Err(e) => {
                    self.undo(&unique[..i], &[]).await;
                    return Err(e);
                }
            }
        }

        // The ids whose documents this call wrote, and those documents.
        let mut kept: Vec<&str> = Vec::new();
        let mut recorded: Vec<&Document> = Vec::new();
        for (i, (id, doc)) in unique.iter().zip(&docs).enumerate() {
            let outcome = match self.attachment_refs.insert_one(doc).await {
                Ok(_) => {
                    kept.push(id);
                    recorded.push(doc);
                    Ok(())
                }
                // A resend: the first send holds the attachment already.
                Err(e) if is_duplicate_key(&e) => self.release(id).await,
                Err(e) => Err(backend(e)),
            };
            if let Err(e) = outcome {
                // `id` is left as the failed write left it (at worst held without a document:
                // the safe side); the documents written and every other hold go back.
                kept.extend_from_slice(&unique[i + 1..]);
                self.undo(&kept, &recorded).await;
                return Err(e);
            }
        }
        Ok(true)
    }

    pub(super) async fn attachment_refs_impl(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
        let found: Vec<Document> = self
            .attachment_refs
            .find(doc! { "attachment": id })
            .sort(doc! { "attachment": 1, "kind": 1, "message": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found.iter().map(ref_from_doc).collect()
    }

    /// Holds attachment `id` for a message of `owner`'s: true when it is `owner`'s and stored.
    async fn hold(&self, owner: &str, id: &str) -> StoreResult<bool> {
        let held = self
            .attachments
            .update_one(
                doc! { "_id": id, "owner": owner, "state": AttachmentState::Stored.as_str() },
                doc! { "$inc": { "refs": 1_i64 } },
            )
            .await
            .map_err(backend)?;
        Ok(held.matched_count == 1)
    }

    /// Gives back one hold on `id`.
    async fn release(&self, id: &str) -> StoreResult<()> {
        self.attachments
            .update_one(doc! { "_id": id }, doc! { "$inc": { "refs": -1_i64 } })
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Gives back one hold on each of `ids`; stops at the first failure (the holds left only
    /// keep their attachments).
    async fn release_all(&self, ids: &[&str]) -> StoreResult<()> {
        for id in ids {
            self.release(id).await?;
        }
        Ok(())
    }

    /// Undoes what a call that is failing anyway did: deletes the reference documents
    /// `recorded`, then gives back the holds on `ids`. Best effort: the call reports its own
    /// error, and what is left over (documents first, then holds, so that `refs` never falls
    /// below the documents) only keeps attachments.
    async fn undo(&self, ids: &[&str], recorded: &[&Document]) {
        for doc in recorded {
            if let Err(e) = self.attachment_refs.delete_one(ref_key(doc)).await {
                tracing::warn!(error = %e, "mongodb: undoing an attachment reference failed");
                return;
            }
        }
        if let Err(e) = self.release_all(ids).await {
            tracing::warn!(error = %e.chain(), "mongodb: giving back attachment holds failed");
        }
    }
}
