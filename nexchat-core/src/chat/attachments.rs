//! Attachments (protocol version 1.3): uploads reserved against the uploader's quota and
//! streamed to the [`BlobStore`], downloads for whoever a message named them to, references
//! from messages, and the collection of uploads nothing names.

use std::sync::atomic::Ordering;

use crate::blobs::{Blob, BlobError, BlobStore, ByteStream, RangeRequest};
use crate::error::{ChatError, ChatResult};
use crate::protocol::rest::{AttachmentStored, AttachmentUsage};
use crate::store::{AttachmentRecord, AttachmentRef, AttachmentState, Reserved};

use super::Chat;
use super::messages::validate_id;

/// How many attachments one collection step claims and deletes before it asks for more.
const COLLECT_BATCH: usize = 100;

/// The answer to anyone who may not read an attachment, whether it exists or not.
fn no_such_attachment() -> ChatError {
    ChatError::NotFound("no such attachment".into())
}

impl Chat {
    /// Whether this chat takes attachments: it was given a blob store
    /// ([`crate::ChatBuilder::blobs`]).
    pub fn takes_attachments(&self) -> bool {
        self.inner.blobs.is_some()
    }

    fn blobs(&self) -> ChatResult<&dyn BlobStore> {
        self.inner
            .blobs
            .as_deref()
            .ok_or_else(|| ChatError::NotFound("this server takes no attachments".into()))
    }

    /// Stores an upload of `user`'s: reserves `declared` bytes (the request's
    /// `Content-Length`, or [`crate::Limits::max_attachment_bytes`] without one) against the
    /// user's quota, streams `body` into the blob store, and answers once every byte is
    /// durable.
    ///
    /// # Errors
    /// [`ChatError::TooLarge`] when `declared` or the body passes the size limit;
    /// [`ChatError::QuotaExceeded`]; [`ChatError::BadRequest`] when the body breaks off or is
    /// longer than `declared`; [`ChatError::NotFound`] without a blob store; a storage failure.
    /// Nothing is kept in any of these cases.
    pub async fn upload_attachment(
        &self,
        user: &str,
        declared: Option<u64>,
        body: ByteStream,
    ) -> ChatResult<AttachmentStored> {
        let blobs = self.blobs()?;
        let limits = &self.inner.config.limits;
        let max = limits.max_attachment_bytes;
        if declared.is_some_and(|len| len > max) {
            return Err(too_large(max));
        }
        let record = AttachmentRecord {
            id: uuid::Uuid::new_v4().to_string(),
            owner: user.to_owned(),
            size: charged(declared.unwrap_or(max)),
            state: AttachmentState::Uploading,
            created_at: self.now(),
        };
        let quota = limits.attachment_quota_bytes;
        if let Reserved::OverQuota { used } =
            self.store().reserve_attachment(&record, quota).await?
        {
            return Err(ChatError::QuotaExceeded { used, quota });
        }
        // From here on the reservation and whatever was written go unless the upload is
        // acknowledged, also when this future is dropped (a transfer timeout, a client gone).
        let mut pending = PendingUpload {
            chat: self.clone(),
            id: record.id,
            done: false,
        };
        let id = pending.id.clone();
        let size = match blobs.put(&id, body, declared.unwrap_or(max)).await {
            Ok(size) => size,
            Err(err) => {
                // An upload whose record was taken meanwhile (its account erased) may have had
                // its bytes taken too, which the blob store reports as a failure: it was
                // cancelled, as below.
                let taken = !matches!(err, BlobError::TooLarge { .. } | BlobError::Upload(_))
                    && !self
                        .store()
                        .attachment(&id)
                        .await?
                        .is_some_and(|r| r.state == AttachmentState::Uploading);
                // At once, so the quota is free again by the time the client hears why.
                pending.discard().await;
                if taken {
                    return Err(cancelled());
                }
                return Err(upload_refused(err, declared, max));
            }
        };
        // A record that is no longer uploading was taken meanwhile (its account erased, or the
        // collector): the bytes just stored go too, and nothing is acknowledged.
        if !self.store().finish_attachment(&id, charged(size)).await? {
            pending.discard().await;
            return Err(cancelled());
        }
        pending.done = true;
        Ok(AttachmentStored { id, size })
    }

    /// Reads attachment `id` for `user`: the bytes `range` names, or all of them.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when there is no such attachment or `user` may not read it
    /// (the uploader, a 1:1 receiver while still a friend of the uploader, and a group member
    /// who received a message naming it may); [`ChatError::RangeNotSatisfiable`] for a range
    /// outside it; a storage failure.
    pub async fn download_attachment(
        &self,
        user: &str,
        id: &str,
        range: Option<RangeRequest>,
    ) -> ChatResult<Blob> {
        let blobs = self.blobs()?;
        validate_id(id).map_err(|_| no_such_attachment())?;
        let record = match self.store().attachment(id).await? {
            Some(record) if record.state == AttachmentState::Stored => record,
            _ => return Err(no_such_attachment()),
        };
        if !self.may_read(user, &record).await? {
            return Err(no_such_attachment());
        }
        let range = match range {
            None => None,
            Some(asked) => {
                // The record holds what the upload is charged; the bytes are the blob's.
                let size = blobs
                    .size(id)
                    .await
                    .map_err(|err| ChatError::Internal(format!("reading attachment {id}: {err}")))?
                    .ok_or_else(no_such_attachment)?;
                Some(
                    asked
                        .resolve(size)
                        .ok_or(ChatError::RangeNotSatisfiable { size })?,
                )
            }
        };
        match blobs.get(id, range).await {
            Ok(Some(blob)) => Ok(blob),
            Ok(None) => Err(no_such_attachment()),
            Err(err) => Err(ChatError::Internal(format!(
                "reading attachment {id}: {err}"
            ))),
        }
    }

    /// Whether `user` may read `record`: its uploader, or someone a stored message of the
    /// uploader's names it to. A reference is believed only together with its message: a send
    /// refused after its attachments were named (an id already in use) grants nothing.
    async fn may_read(&self, user: &str, record: &AttachmentRecord) -> ChatResult<bool> {
        if record.owner == user {
            return Ok(true);
        }
        let refs = self.store().attachment_refs(&record.id).await?;
        // Only the references that could be the user's are looked into further: ones to them,
        // and ones to groups they are in (at most `max_groups_per_user`).
        let mut groups: Option<Vec<String>> = None;
        for reference in refs {
            let allowed = match reference {
                AttachmentRef::Direct { message, receiver } => {
                    receiver == user
                        && self.store().are_friends(&record.owner, user).await?
                        && self
                            .store()
                            .get_message(&message)
                            .await?
                            .is_some_and(|m| m.sender == record.owner && m.receiver == receiver)
                }
                AttachmentRef::Group { message, group } => {
                    if groups.is_none() {
                        groups = Some(self.store().groups_of(user).await?);
                    }
                    let member = groups.as_ref().is_some_and(|gs| gs.contains(&group));
                    // A receipt is what a member was sent and still may see: a removal takes
                    // it.
                    member
                        && self
                            .store()
                            .get_group_message(&message)
                            .await?
                            .is_some_and(|m| m.sender == record.owner && m.group == group)
                        && self
                            .store()
                            .receipts(&message)
                            .await?
                            .iter()
                            .any(|receipt| receipt.username == user)
                }
            };
            if allowed {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The bytes `user`'s attachments take and the limits.
    ///
    /// # Errors
    /// [`ChatError::NotFound`] without a blob store; a storage failure.
    pub async fn attachment_usage(&self, user: &str) -> ChatResult<AttachmentUsage> {
        self.blobs()?;
        let limits = &self.inner.config.limits;
        Ok(AttachmentUsage {
            used_bytes: self.store().attachment_usage(user).await?,
            quota_bytes: limits.attachment_quota_bytes,
            max_bytes: limits.max_attachment_bytes,
        })
    }

    /// Records that a message of `user`'s names `ids`, after checking the list; does nothing
    /// for an empty one.
    ///
    /// # Errors
    /// [`ChatError::TooLarge`] past [`crate::Limits::max_attachments_per_message`];
    /// [`ChatError::BadRequest`] for an id that is not one of the user's finished uploads
    /// (alike whatever the reason), or without a blob store; a storage failure.
    pub(super) async fn name_attachments(
        &self,
        user: &str,
        ids: &[String],
        reference: AttachmentRef,
    ) -> ChatResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        if !self.takes_attachments() {
            return Err(ChatError::bad_request("this server takes no attachments"));
        }
        let mut unique: Vec<String> = Vec::with_capacity(ids.len());
        for id in ids {
            validate_id(id).map_err(|_| ChatError::bad_request("attachments must be UUIDs"))?;
            if !unique.contains(id) {
                unique.push(id.clone());
            }
        }
        if self
            .store()
            .reference_attachments(user, &unique, &reference)
            .await?
        {
            Ok(())
        } else {
            Err(ChatError::bad_request(
                "attachments must name your own finished uploads",
            ))
        }
    }

    /// Checks the size of a message's attachment list before anything else is done with it.
    ///
    /// # Errors
    /// [`ChatError::TooLarge`] past [`crate::Limits::max_attachments_per_message`].
    pub(super) fn check_attachment_count(&self, ids: &[String]) -> ChatResult<()> {
        let max = self.inner.config.limits.max_attachments_per_message;
        if ids.len() > max {
            return Err(ChatError::TooLarge(format!(
                "a message names at most {max} attachments"
            )));
        }
        Ok(())
    }

    /// Deletes uploads no message names once [`crate::Config::attachment_grace`] has passed
    /// since they began, and finishes deletions a pass before left midway; returns how many
    /// went. Runs by itself every `attachment_grace / 24`; any node may run it at any time.
    ///
    /// # Errors
    /// A storage failure (what was deleted before it stays deleted).
    pub async fn collect_attachments(&self) -> ChatResult<usize> {
        if self.inner.blobs.is_none() {
            return Ok(0);
        }
        let grace =
            i64::try_from(self.inner.config.attachment_grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff = self.now().saturating_sub(grace);
        let mut collected = 0;
        loop {
            let batch = self
                .store()
                .collectable_attachments(cutoff, COLLECT_BATCH)
                .await?;
            let last_batch = batch.len() < COLLECT_BATCH;
            let mut progress = false;
            for id in batch {
                if !self.store().claim_attachment(&id, cutoff).await? {
                    continue; // a message named it meanwhile
                }
                self.delete_attachment(&id).await?;
                collected += 1;
                progress = true;
            }
            if last_batch || !progress {
                return Ok(collected);
            }
        }
    }

    /// Starts a collection in the background when one is due and none is running: every
    /// `attachment_grace / 24`, at least once a second (the timer's pace).
    pub(super) fn collect_attachments_when_due(&self, now: i64) {
        let next = &self.inner.next_collection;
        let due = next.load(Ordering::Acquire);
        if self.inner.blobs.is_none()
            || now < due
            || next
                .compare_exchange(due, i64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let chat = self.clone();
        let every =
            i64::try_from(self.inner.config.attachment_grace.as_millis() / 24).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            match chat.collect_attachments().await {
                Ok(0) => {}
                Ok(collected) => tracing::info!(collected, "collected unnamed uploads"),
                Err(err) => tracing::warn!(error = %err, "collecting unnamed uploads failed"),
            }
            chat.inner
                .next_collection
                .store(chat.now().saturating_add(every), Ordering::Release);
        });
    }

    /// Deletes every upload of `user` (an erasure), blobs first.
    pub(super) async fn erase_attachments_of(&self, user: &str) -> ChatResult<()> {
        for id in self.store().attachments_of(user).await? {
            self.delete_attachment(&id).await?;
        }
        Ok(())
    }

    /// Deletes an unacknowledged upload, logging what it could not (the collector takes that
    /// after the grace).
    async fn discard_upload(&self, id: &str) {
        if let Err(err) = self.delete_attachment(id).await {
            tracing::warn!(%id, error = %err, "an unfinished upload stays until collected");
        }
    }

    /// Deletes attachment `id`'s bytes, then its record (which gives its quota back). The blob
    /// first: a record without its blob is served as missing, a blob without its record would
    /// never be found again.
    async fn delete_attachment(&self, id: &str) -> ChatResult<()> {
        if let Some(blobs) = self.inner.blobs.as_deref() {
            blobs
                .delete(id)
                .await
                .map_err(|err| ChatError::Internal(format!("deleting blob {id}: {err}")))?;
        }
        Ok(self.store().forget_attachment(id).await?)
    }
}

/// The least an attachment counts against its uploader's quota, however small: what a file
/// and a record cost the server whatever they hold, so that empty uploads are not free.
const MIN_CHARGE: u64 = 4096;

/// What an upload of `bytes` counts against the quota.
fn charged(bytes: u64) -> u64 {
    bytes.max(MIN_CHARGE)
}

/// An upload not yet acknowledged: when it is dropped unacknowledged, its record and bytes are
/// deleted in the background (the request may be gone, its future dropped mid-step).
struct PendingUpload {
    chat: Chat,
    id: String,
    done: bool,
}

impl PendingUpload {
    /// Deletes the upload's bytes and record now.
    async fn discard(&mut self) {
        self.done = true;
        self.chat.discard_upload(&self.id).await;
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (chat, id) = (self.chat.clone(), std::mem::take(&mut self.id));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime left: the collector takes it after the grace
        };
        runtime.spawn(async move { chat.discard_upload(&id).await });
    }
}

fn cancelled() -> ChatError {
    ChatError::Conflict("the upload was cancelled while it was sent".into())
}

fn too_large(max: u64) -> ChatError {
    ChatError::TooLarge(format!("an attachment is at most {max} bytes"))
}

/// What the uploader is told when the blob store refused an upload.
fn upload_refused(err: BlobError, declared: Option<u64>, max: u64) -> ChatError {
    match err {
        // The limit `put` enforced is the declared length when there was one.
        BlobError::TooLarge { .. } if declared.is_some() => {
            ChatError::bad_request("the body is longer than its Content-Length")
        }
        BlobError::TooLarge { .. } => too_large(max),
        BlobError::Upload(source) => {
            ChatError::bad_request(format!("the upload broke off: {source}"))
        }
        other => ChatError::Internal(format!("storing an upload: {other}")),
    }
}
