//! The counters that keep a group's limits (seats, a user's group slots, admins), taken and
//! given back around the membership they guard (see the module docs of [`super`]).

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;
use nexchat_core::protocol::{GroupMember, GroupRole};
use nexchat_core::store::StoreResult;

use super::members::member_from_doc;
use super::{count, key};
use crate::mongo::docs::Reader;
use crate::mongo::{MongoStore, backend, collections, is_duplicate_key};

impl MongoStore {
    /// Takes one of `user`'s group slots unless they hold `max` already.
    pub(super) async fn take_group_slot(&self, user: &str, max: usize) -> StoreResult<bool> {
        if max == 0 {
            return Ok(false);
        }
        let filter = doc! { "_id": user, "groups": { "$lt": count(max) } };
        let update = doc! { "$inc": { "groups": 1_i64 } };
        match self
            .group_counts
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
        {
            Ok(_) => Ok(true),
            // The document exists: either full, or created by a racing first upsert.
            Err(e) if is_duplicate_key(&e) => {
                let taken = self
                    .group_counts
                    .update_one(filter, update)
                    .await
                    .map_err(backend)?;
                Ok(taken.matched_count == 1)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Gives one of `user`'s group slots back (the document goes at 0).
    pub(super) async fn release_group_slot(&self, user: &str) -> StoreResult<()> {
        self.group_counts
            .update_one(doc! { "_id": user }, doc! { "$inc": { "groups": -1_i64 } })
            .await
            .map_err(backend)?;
        self.group_counts
            .delete_one(doc! { "_id": user, "groups": { "$lte": 0_i64 } })
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Gives a seat of `group` back; deletes the group when that was its last.
    pub(super) async fn release_seat(&self, group: &str) -> StoreResult<()> {
        let after = self
            .groups
            .find_one_and_update(doc! { "_id": group }, doc! { "$inc": { "size": -1_i64 } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?;
        if let Some(after) = after
            && Reader::new(collections::GROUPS, &after).i64("size")? <= 0
        {
            self.drop_group_if_empty(group).await?;
        }
        Ok(())
    }

    /// Deletes `group` with its messages and receipts if it has no seat taken; true when this
    /// call deleted it.
    pub(super) async fn drop_group_if_empty(&self, group: &str) -> StoreResult<bool> {
        let deleted = self
            .groups
            .delete_one(doc! { "_id": group, "size": { "$lte": 0_i64 } })
            .await
            .map_err(backend)?;
        if deleted.deleted_count == 0 {
            return Ok(false);
        }
        // Receipts first: a message without receipts is seen by nobody.
        self.group_receipts
            .delete_many(doc! { "group": group })
            .await
            .map_err(backend)?;
        self.group_messages
            .delete_many(doc! { "group": group })
            .await
            .map_err(backend)?;
        self.group_members
            .delete_many(doc! { "group": group })
            .await
            .map_err(backend)?;
        Ok(true)
    }

    pub(super) async fn add_admins(&self, group: &str, by: i64) -> StoreResult<()> {
        self.groups
            .update_one(doc! { "_id": group }, doc! { "$inc": { "admins": by } })
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub(super) async fn membership(
        &self,
        group: &str,
        user: &str,
    ) -> StoreResult<Option<GroupMember>> {
        self.group_members
            .find_one(doc! { "_id": key(group, user) })
            .await
            .map_err(backend)?
            .map(|d| member_from_doc(&d))
            .transpose()
    }

    pub(super) async fn group_exists(&self, group: &str) -> StoreResult<bool> {
        Ok(self
            .groups
            .find_one(doc! { "_id": group })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .is_some())
    }

    /// When `group` has no admin: makes its longest-standing member admin, and names them.
    pub(super) async fn promote_if_no_admin(&self, group: &str) -> StoreResult<Option<String>> {
        loop {
            let members = self.members_impl(group).await?;
            if members.iter().any(|m| m.role == GroupRole::Admin) {
                return Ok(None);
            }
            let Some(first) = members.first() else {
                return Ok(None);
            };
            let promoted = self
                .group_members
                .update_one(
                    doc! { "_id": key(group, &first.username), "role": GroupRole::Member.as_str() },
                    doc! { "$set": { "role": GroupRole::Admin.as_str() } },
                )
                .await
                .map_err(backend)?;
            if promoted.modified_count == 1 {
                self.add_admins(group, 1).await?;
                return Ok(Some(first.username.clone()));
            }
            // They left or were made admin meanwhile: look again.
        }
    }
}
