//! `calls`: the call id is the `_id`; state changes are updates filtered on the expected
//! `status`; the log is in storage order (`seq`), like messages.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::protocol::{CallRecord, CallStatus};
use nexchat_core::store::{CallStore, Page, StoreError, StoreResult};

use super::docs;
use super::paging::PairLog;
use super::{MongoStore, backend, collections, is_duplicate_key};

#[async_trait]
impl CallStore for MongoStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        let (seq, _) = self.next_seq(collections::CALLS, call.started_at).await?;
        match self.calls.insert_one(docs::call_to_doc(call, seq)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(format!(
                "call {} exists",
                call.call_id
            ))),
            Err(e) => Err(backend(e)),
        }
    }

    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        let (set, unset) = docs::call_fields(call);
        let mut update = doc! { "$set": set };
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let result = self
            .calls
            .update_one(
                doc! { "_id": &call.call_id, "status": expected.as_str() },
                update,
            )
            .await
            .map_err(backend)?;
        Ok(result.matched_count == 1)
    }

    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        self.calls
            .find_one(doc! { "_id": call_id })
            .await
            .map_err(backend)?
            .map(|d| docs::call_from_doc(&d))
            .transpose()
    }

    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        let log = PairLog {
            collection: &self.calls,
            name: collections::CALLS,
            noun: "call",
            decode: docs::call_from_doc,
        };
        log.page_before(a, b, before, limit).await
    }

    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        let unfinished = [CallStatus::Ringing, CallStatus::InProgress].map(CallStatus::as_str);
        let found: Vec<Document> = self
            .calls
            .find(doc! { "status": { "$in": unfinished.as_slice() } })
            .sort(doc! { "seq": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found.iter().map(docs::call_from_doc).collect()
    }

    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        // One indexed query per side (`$or` is a scan on some servers, see the module docs).
        for side in ["caller", "callee"] {
            self.calls
                .delete_many(doc! { side: user })
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}
