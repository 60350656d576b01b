//! `calls`: the call id is the `_id`; state changes are updates filtered on the expected
//! `status`; the log is in storage order (`seq`), like messages.
//!
//! `call_lines`: one document per party of a live call. A callee's has the `_id`
//! `callee:USER`, one per user, so the unique `_id` decides which of two calls to one user
//! rings; a caller's has `caller:CALL:USER` (a user may ring several friends at once). A call
//! taking a callee's line looks for a caller's line of theirs afterwards, and a caller's line
//! is written before the callee's: of two users calling each other at once, at most one rings
//! (both may get `busy`, never both a ringing call).

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::protocol::{CallRecord, CallStatus};
use nexchat_core::store::{CallLine, CallStore, LineTaken, Page, StoreError, StoreResult};

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

    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        let [callee, caller] = CallLine::of_call(call, node);
        let line_doc = |id: String, line: &CallLine| {
            doc! {
                "_id": id,
                "user": &line.user,
                "peer": &line.peer,
                "callId": &line.call_id,
                "node": &line.node,
            }
        };
        // The caller's line first, under an id of this call (a caller may hold several), so
        // that a call to them placed meanwhile finds it below.
        self.call_lines
            .insert_one(line_doc(caller_line_id(&caller), &caller))
            .await
            .map_err(backend)?;
        // The callee's under the id of the one line a user may be called on: of two calls to
        // one user, the `_id` lets one insert through.
        let inserted = self
            .call_lines
            .insert_one(line_doc(callee_line_id(&callee.user), &callee))
            .await;
        let busy = match inserted {
            Ok(_) => {
                // A callee who is calling someone holds a caller's line: busy as well.
                let calling = self
                    .call_lines
                    .find_one(doc! {
                        "user": &callee.user,
                        "_id": { "$ne": callee_line_id(&callee.user) },
                    })
                    .await
                    .map_err(backend)?;
                calling.is_some()
            }
            Err(e) if is_duplicate_key(&e) => true,
            Err(e) => {
                self.release_call_lines(&call.call_id).await?;
                return Err(backend(e));
            }
        };
        if busy {
            self.release_call_lines(&call.call_id).await?;
            return Ok(LineTaken::Busy(callee.user));
        }
        Ok(LineTaken::Taken)
    }

    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        self.call_lines
            .delete_many(doc! { "callId": call_id })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        self.find_lines(doc! { "user": user }).await
    }

    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        self.find_lines(doc! {}).await
    }
}

impl MongoStore {
    async fn find_lines(&self, filter: Document) -> StoreResult<Vec<CallLine>> {
        let found: Vec<Document> = self
            .call_lines
            .find(filter)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found.iter().map(line_from_doc).collect()
    }
}

/// The `_id` of the line `user` is called on: one per user.
fn callee_line_id(user: &str) -> String {
    format!("callee:{user}")
}

/// The `_id` of a caller's line: one per call.
fn caller_line_id(line: &CallLine) -> String {
    format!("caller:{}:{}", line.call_id, line.user)
}

fn line_from_doc(doc: &Document) -> StoreResult<CallLine> {
    let reader = docs::Reader::new(collections::CALL_LINES, doc);
    Ok(CallLine {
        user: reader.str("user")?,
        peer: reader.str("peer")?,
        call_id: reader.str("callId")?,
        node: reader.str("node")?,
    })
}
