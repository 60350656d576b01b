//! The attachment half of [`MeteredStore`]: every call forwarded and timed.

use async_trait::async_trait;

use super::store::{MeteredStore, timed};
use crate::store::{AttachmentRecord, AttachmentRef, AttachmentStore, Reserved, StoreResult};

#[async_trait]
impl AttachmentStore for MeteredStore {
    async fn reserve_attachment(
        &self,
        record: &AttachmentRecord,
        quota: u64,
    ) -> StoreResult<Reserved> {
        timed(
            "reserve_attachment",
            self.inner.reserve_attachment(record, quota),
        )
        .await
    }
    async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool> {
        timed("finish_attachment", self.inner.finish_attachment(id, size)).await
    }
    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        timed("attachment", self.inner.attachment(id)).await
    }
    async fn reference_attachments(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool> {
        timed(
            "reference_attachments",
            self.inner.reference_attachments(owner, ids, reference),
        )
        .await
    }
    async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
        timed("attachment_refs", self.inner.attachment_refs(id)).await
    }
    async fn attachment_usage(&self, owner: &str) -> StoreResult<u64> {
        timed("attachment_usage", self.inner.attachment_usage(owner)).await
    }
    async fn collectable_attachments(
        &self,
        created_before: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        timed(
            "collectable_attachments",
            self.inner.collectable_attachments(created_before, limit),
        )
        .await
    }
    async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool> {
        timed(
            "claim_attachment",
            self.inner.claim_attachment(id, created_before),
        )
        .await
    }
    async fn forget_attachment(&self, id: &str) -> StoreResult<()> {
        timed("forget_attachment", self.inner.forget_attachment(id)).await
    }
    async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>> {
        timed("attachments_of", self.inner.attachments_of(owner)).await
    }
}
