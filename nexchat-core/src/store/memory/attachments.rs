//! [`AttachmentStore`] for [`MemoryStore`]: each record with the messages that name it.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{
    AttachmentRecord, AttachmentRef, AttachmentState, AttachmentStore, Reserved, StoreError,
    StoreResult,
};

#[derive(Debug)]
pub(super) struct Attachment {
    record: AttachmentRecord,
    refs: Vec<AttachmentRef>,
}

#[async_trait]
impl AttachmentStore for MemoryStore {
    async fn reserve_attachment(
        &self,
        record: &AttachmentRecord,
        quota: u64,
    ) -> StoreResult<Reserved> {
        let mut state = self.state.lock();
        if state.attachments.contains_key(&record.id) {
            return Err(StoreError::Conflict(format!(
                "attachment {} exists",
                record.id
            )));
        }
        let used: u64 = state
            .attachments
            .values()
            .filter(|a| a.record.owner == record.owner)
            .map(|a| a.record.size)
            .sum();
        if used.saturating_add(record.size) > quota {
            return Ok(Reserved::OverQuota { used });
        }
        state.attachments.insert(
            record.id.clone(),
            Attachment {
                record: record.clone(),
                refs: Vec::new(),
            },
        );
        Ok(Reserved::Reserved)
    }

    async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.attachments.get_mut(id) {
            Some(a) if a.record.state == AttachmentState::Uploading => {
                a.record.state = AttachmentState::Stored;
                a.record.size = size;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        Ok(self
            .state
            .lock()
            .attachments
            .get(id)
            .map(|a| a.record.clone()))
    }

    async fn reference_attachments(
        &self,
        owner: &str,
        ids: &[String],
        reference: &AttachmentRef,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        let all_named = ids.iter().all(|id| {
            state.attachments.get(id).is_some_and(|a| {
                a.record.owner == owner && a.record.state == AttachmentState::Stored
            })
        });
        if !all_named {
            return Ok(false);
        }
        for id in ids {
            if let Some(a) = state.attachments.get_mut(id)
                && !a.refs.contains(reference)
            {
                a.refs.push(reference.clone());
            }
        }
        Ok(true)
    }

    async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
        Ok(self
            .state
            .lock()
            .attachments
            .get(id)
            .map(|a| a.refs.clone())
            .unwrap_or_default())
    }

    async fn attachment_usage(&self, owner: &str) -> StoreResult<u64> {
        Ok(self
            .state
            .lock()
            .attachments
            .values()
            .filter(|a| a.record.owner == owner)
            .map(|a| a.record.size)
            .sum())
    }

    async fn collectable_attachments(
        &self,
        created_before: i64,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let state = self.state.lock();
        let mut ids: Vec<&Attachment> = state
            .attachments
            .values()
            .filter(|a| collectable(a, created_before))
            .collect();
        ids.sort_by_key(|a| a.record.created_at);
        Ok(ids
            .into_iter()
            .take(limit)
            .map(|a| a.record.id.clone())
            .collect())
    }

    async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.attachments.get_mut(id) {
            Some(a) if collectable(a, created_before) => {
                a.record.state = AttachmentState::Collecting;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn forget_attachment(&self, id: &str) -> StoreResult<()> {
        self.state.lock().attachments.remove(id);
        Ok(())
    }

    async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .state
            .lock()
            .attachments
            .values()
            .filter(|a| a.record.owner == owner)
            .map(|a| a.record.id.clone())
            .collect())
    }
}

/// Whether the collector may take `a`: already claimed, or old and named by no message.
fn collectable(a: &Attachment, created_before: i64) -> bool {
    a.record.state == AttachmentState::Collecting
        || (a.refs.is_empty() && a.record.created_at < created_before)
}
