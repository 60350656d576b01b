//! `friend_requests`: one document per pair, `_id` made from the pair, so two nodes racing to
//! create a pair's link meet the unique `_id`, and every transition is one update filtered on
//! the current `status`.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::store::{FriendLink, FriendStore, LinkStatus, StoreError, StoreResult};

use super::docs::{self, pair_key};
use super::{MongoStore, backend, is_duplicate_key};

/// How often `create_request` goes round when other nodes keep changing the pair's link under
/// it (each round ends as soon as it sees a stable state, so this is only reached under a
/// pathological storm of concurrent requests and deletes).
const MAX_ROUNDS: usize = 16;

#[async_trait]
impl FriendStore for MongoStore {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        self.friends
            .find_one(doc! { "_id": pair_key(a, b) })
            .await
            .map_err(backend)?
            .map(|d| docs::link_from_doc(&d))
            .transpose()
    }

    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        let key = pair_key(sender, receiver);
        let pending = doc! {
            "sender": sender,
            "receiver": receiver,
            "status": LinkStatus::Pending.as_str(),
        };
        for _ in 0..MAX_ROUNDS {
            let mut fresh = pending.clone();
            fresh.insert("_id", &key);
            match self.friends.insert_one(fresh).await {
                Ok(_) => return Ok(true),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(backend(e)),
            }
            // The pair has a link: only a rejected one may be turned into a new request.
            let reopened = self
                .friends
                .update_one(
                    doc! { "_id": &key, "status": LinkStatus::Rejected.as_str() },
                    doc! { "$set": pending.clone() },
                )
                .await
                .map_err(backend)?;
            if reopened.matched_count == 1 {
                return Ok(true);
            }
            // Not rejected, or gone meanwhile (deleted by a racing node): look again.
            match self.link(sender, receiver).await? {
                Some(link) if link.status != LinkStatus::Rejected => return Ok(false),
                _ => continue,
            }
        }
        Err(StoreError::backend_failure(format!(
            "friend request {sender} → {receiver}: the pair's link kept changing"
        )))
    }

    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        let result = self
            .friends
            .update_one(
                link_filter(sender, receiver, from),
                doc! { "$set": { "status": to.as_str() } },
            )
            .await
            .map_err(backend)?;
        Ok(result.matched_count == 1)
    }

    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool> {
        let result = self
            .friends
            .delete_one(link_filter(sender, receiver, status))
            .await
            .map_err(backend)?;
        Ok(result.deleted_count == 1)
    }

    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        // Two indexed queries rather than one `$or`, which nx-27017 answers by scanning the
        // whole collection. The second leaves out a link with `user` on both ends, listed once
        // by the first.
        let mut links = Vec::new();
        for filter in [
            doc! { "sender": user },
            doc! { "receiver": user, "sender": { "$ne": user } },
        ] {
            let found: Vec<Document> = self
                .friends
                .find(filter)
                .await
                .map_err(backend)?
                .try_collect()
                .await
                .map_err(backend)?;
            for d in &found {
                links.push(docs::link_from_doc(d)?);
            }
        }
        Ok(links)
    }

    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        let found = self
            .friends
            .find_one(doc! { "_id": pair_key(a, b), "status": LinkStatus::Accepted.as_str() })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        for side in ["sender", "receiver"] {
            self.friends
                .delete_many(doc! { side: user })
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

/// The link `sender → receiver` (that direction only) in state `status`.
fn link_filter(sender: &str, receiver: &str, status: LinkStatus) -> Document {
    doc! {
        "_id": pair_key(sender, receiver),
        "sender": sender,
        "receiver": receiver,
        "status": status.as_str(),
    }
}
