//! `sessions`: one document per open login session (its id is the `_id`), deleted when it ends.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::store::{SessionRecord, SessionStore, StoreError, StoreResult};

use super::docs::Reader;
use super::{MongoStore, backend, collections, is_duplicate_key};

#[async_trait]
impl SessionStore for MongoStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        match self.sessions.insert_one(to_doc(session)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(StoreError::Conflict(format!("session {}", session.id)))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.sessions
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| from_doc(&d))
            .transpose()
    }

    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        let found: Vec<Document> = self
            .sessions
            .find(doc! { "username": username })
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found.iter().map(from_doc).collect()
    }

    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<Document> = self
            .sessions
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found
            .iter()
            .map(|d| Reader::new(collections::SESSIONS, d).str("_id"))
            .collect()
    }

    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        self.sessions
            .update_one(doc! { "_id": id }, doc! { "$max": { "lastSeenAt": at } })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        let result = self
            .sessions
            .delete_one(doc! { "_id": id })
            .await
            .map_err(backend)?;
        Ok(result.deleted_count > 0)
    }

    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        let result = self
            .sessions
            .delete_many(doc! { "username": username, "expiresAt": { "$lte": now } })
            .await
            .map_err(backend)?;
        Ok(result.deleted_count)
    }
}

fn to_doc(session: &SessionRecord) -> Document {
    doc! {
        "_id": &session.id,
        "username": &session.username,
        "createdAt": session.created_at,
        "lastSeenAt": session.last_seen_at,
        "expiresAt": session.expires_at,
        "userAgent": &session.user_agent,
    }
}

fn from_doc(doc: &Document) -> StoreResult<SessionRecord> {
    let r = Reader::new(collections::SESSIONS, doc);
    Ok(SessionRecord {
        id: r.str("_id")?,
        username: r.str("username")?,
        created_at: r.i64("createdAt")?,
        last_seen_at: r.i64("lastSeenAt")?,
        expires_at: r.i64("expiresAt")?,
        user_agent: r.str_or_empty("userAgent")?,
    })
}
