//! Groups and their members (`groups`, `group_members`, `group_counts`); the trait's message
//! half is in [`super::group_messages`].
//!
//! A membership is a document of its own (`_id` the group and the user, escaped and joined by
//! `|`), not an element of an array in the group's document: the test server mishandles arrays
//! of documents (`$ne` on `members.user` matches when *any* element differs, `members.N`
//! never exists, positional updates match nothing, and a `$push` after a `$pull` stores
//! the pushed document as JSON text). Every limit is therefore a counter in a document of its
//! own, taken with a conditional `$inc` before the membership is written and given back when
//! what follows fails:
//! - `groups.size` counts the group's seats: taken with `{size: {$lt: max}}`, so of racing adds
//!   only as many as fit get one; the same update takes `nextSeq`, the order of memberships of
//!   equal `joinedAt`.
//! - `group_counts.groups` (`_id` the user) counts a user's groups the same way.
//! - The membership's unique `_id` refuses a member twice.
//! - `groups.admins` never counts more admins than there are (a promotion counts after the
//!   role is written, a demotion before): a demotion takes one only while `admins > 1`, so it
//!   never demotes the last admin. A removal checks the members themselves afterwards and makes
//!   the longest-standing member admin when none is left.
//! - The group document is deleted (with its messages and receipts) only by the update that
//!   finds `size` at 0, so a racing add either took a seat first (and the group stays) or finds
//!   no group.
//!
//! Each counter moves one step before or after the document it guards: a node that dies
//! between the two leaves a counter one off (a seat or a group slot held by nobody) until an
//! operator corrects it; membership itself is never wrong.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use nexchat_core::protocol::SealedField;
use nexchat_core::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt};
use nexchat_core::store::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Page,
    Removal, RoleSet, StoreError, StoreResult,
};

use super::docs::Reader;
use super::{MongoStore, backend, collections, is_duplicate_key};

/// Two names as one key, unambiguous for any names: each with `\` and `|` escaped by a `\`,
/// joined by `|`. Case is kept (a group's members are compared exactly).
pub(super) fn key(a: &str, b: &str) -> String {
    let escape = |name: &str| name.replace('\\', "\\\\").replace('|', "\\|");
    format!("{}|{}", escape(a), escape(b))
}

/// A count as BSON's `i64` (limits never come near its end).
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sealed_to_bson(field: Option<&SealedField>) -> Bson {
    match field {
        None => Bson::Null,
        Some(f) => Bson::Document(doc! {
            "ciphertext": &f.ciphertext,
            "iv": &f.iv,
            "keyId": &f.key_id,
            "by": f.by.as_deref(),
        }),
    }
}

fn sealed_from_doc(r: &Reader<'_>, doc: &Document, key: &str) -> StoreResult<Option<SealedField>> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(sealed)) => {
            let field = |name: &str| match sealed.get(name) {
                Some(Bson::String(s)) => Ok(s.clone()),
                _ => Err(r.corrupt(format!("field {key}.{name} is not a string"))),
            };
            Ok(Some(SealedField {
                ciphertext: field("ciphertext")?,
                iv: field("iv")?,
                key_id: field("keyId")?,
                by: match sealed.get("by") {
                    None | Some(Bson::Null) => None,
                    Some(_) => Some(field("by")?),
                },
            }))
        }
        Some(other) => Err(r.corrupt(format!(
            "field {key} is {:?}, not a document",
            other.element_type()
        ))),
    }
}

fn group_from_doc(doc: &Document) -> StoreResult<GroupRecord> {
    let r = Reader::new(collections::GROUPS, doc);
    Ok(GroupRecord {
        id: r.str("_id")?,
        created_at: r.i64("createdAt")?,
        title: sealed_from_doc(&r, doc, "title")?,
        avatar: sealed_from_doc(&r, doc, "avatar")?,
    })
}

fn member_doc(group: &str, member: &GroupMember, seq: i64) -> Document {
    doc! {
        "_id": key(group, &member.username),
        "group": group,
        "user": &member.username,
        "role": member.role.as_str(),
        "joinedAt": member.joined_at,
        "seq": seq,
    }
}

fn member_from_doc(doc: &Document) -> StoreResult<GroupMember> {
    let r = Reader::new(collections::GROUP_MEMBERS, doc);
    let role = r.str("role")?;
    Ok(GroupMember {
        username: r.str("user")?,
        role: GroupRole::parse(&role)
            .ok_or_else(|| r.corrupt(format!("field role has unknown value {role:?}")))?,
        joined_at: r.i64("joinedAt")?,
    })
}

impl MongoStore {
    /// Takes one of `user`'s group slots unless they hold `max` already.
    async fn take_group_slot(&self, user: &str, max: usize) -> StoreResult<bool> {
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
    async fn release_group_slot(&self, user: &str) -> StoreResult<()> {
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
    async fn release_seat(&self, group: &str) -> StoreResult<()> {
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
    async fn drop_group_if_empty(&self, group: &str) -> StoreResult<bool> {
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

    async fn add_admins(&self, group: &str, by: i64) -> StoreResult<()> {
        self.groups
            .update_one(doc! { "_id": group }, doc! { "$inc": { "admins": by } })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn membership(&self, group: &str, user: &str) -> StoreResult<Option<GroupMember>> {
        self.group_members
            .find_one(doc! { "_id": key(group, user) })
            .await
            .map_err(backend)?
            .map(|d| member_from_doc(&d))
            .transpose()
    }

    async fn group_exists(&self, group: &str) -> StoreResult<bool> {
        Ok(self
            .groups
            .find_one(doc! { "_id": group })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .is_some())
    }

    /// When `group` has no admin: makes its longest-standing member admin, and names them.
    async fn promote_if_no_admin(&self, group: &str) -> StoreResult<Option<String>> {
        loop {
            let members = self.members(group).await?;
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

#[async_trait]
impl GroupStore for MongoStore {
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool> {
        let conflict = || StoreError::Conflict(format!("group {} exists", group.id));
        if self.group_exists(&group.id).await? {
            return Err(conflict());
        }
        if !self.take_group_slot(creator, max_groups).await? {
            return Ok(false);
        }
        let record = doc! {
            "_id": &group.id,
            "createdAt": group.created_at,
            "title": sealed_to_bson(group.title.as_ref()),
            "avatar": sealed_to_bson(group.avatar.as_ref()),
            "size": 1_i64,
            "admins": 1_i64,
            "nextSeq": 1_i64,
        };
        if let Err(e) = self.groups.insert_one(record).await {
            self.release_group_slot(creator).await?;
            return Err(if is_duplicate_key(&e) {
                conflict()
            } else {
                backend(e)
            });
        }
        let creator = GroupMember {
            username: creator.to_owned(),
            role: GroupRole::Admin,
            joined_at: group.created_at,
        };
        self.group_members
            .insert_one(member_doc(&group.id, &creator, 1))
            .await
            .map_err(backend)?;
        Ok(true)
    }

    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        self.groups
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| group_from_doc(&d))
            .transpose()
    }

    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
        let found: Vec<Document> = self
            .group_members
            .find(doc! { "group": group })
            .sort(doc! { "joinedAt": 1, "seq": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found.iter().map(member_from_doc).collect()
    }

    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let found: Vec<Document> = self
            .group_members
            .find(doc! { "user": user })
            .projection(doc! { "group": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found
            .iter()
            .map(|d| Reader::new(collections::GROUP_MEMBERS, d).str("group"))
            .collect()
    }

    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined> {
        if !self.group_exists(group).await? {
            return Ok(Joined::NoGroup);
        }
        if self.membership(group, &member.username).await?.is_some() {
            return Ok(Joined::AlreadyMember);
        }
        let seat = self
            .groups
            .find_one_and_update(
                doc! { "_id": group, "size": { "$lt": count(limits.max_members) } },
                doc! { "$inc": { "size": 1_i64, "nextSeq": 1_i64 } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?;
        let Some(seat) = seat else {
            return Ok(if self.group_exists(group).await? {
                Joined::GroupFull
            } else {
                Joined::NoGroup
            });
        };
        let seq = Reader::new(collections::GROUPS, &seat).i64("nextSeq")?;
        if !self
            .take_group_slot(&member.username, limits.max_groups)
            .await?
        {
            self.release_seat(group).await?;
            return Ok(Joined::TooManyGroups);
        }
        if let Err(e) = self
            .group_members
            .insert_one(member_doc(group, member, seq))
            .await
        {
            self.release_group_slot(&member.username).await?;
            self.release_seat(group).await?;
            return if is_duplicate_key(&e) {
                Ok(Joined::AlreadyMember)
            } else {
                Err(backend(e))
            };
        }
        if member.role == GroupRole::Admin {
            self.add_admins(group, 1).await?;
        }
        Ok(Joined::Added)
    }

    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
        let Some(read) = self.membership(group, user).await? else {
            return Ok(None);
        };
        // An admin leaves the count before the members, so it never counts one too many.
        let counted = read.role == GroupRole::Admin;
        if counted {
            self.add_admins(group, -1).await?;
        }
        let gone = self
            .group_members
            .find_one_and_delete(doc! { "_id": key(group, user) })
            .await
            .map_err(backend)?;
        let Some(gone) = gone else {
            // A racing removal took them.
            if counted {
                self.add_admins(group, 1).await?;
            }
            return Ok(None);
        };
        match (counted, member_from_doc(&gone)?.role == GroupRole::Admin) {
            (true, false) => self.add_admins(group, 1).await?,
            (false, true) => self.add_admins(group, -1).await?,
            _ => {}
        }
        // From here no message stored can reach them (see `insert_group_message`); the
        // receipts they had go, and the messages only they held back move on.
        let held_back = self.take_receipts_of(group, user).await?;
        self.release_group_slot(user).await?;
        let after = self
            .groups
            .find_one_and_update(doc! { "_id": group }, doc! { "$inc": { "size": -1_i64 } })
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?;
        let mut removal = Removal {
            promoted: None,
            deleted: false,
        };
        let size = match &after {
            Some(after) => Reader::new(collections::GROUPS, after).i64("size")?,
            None => 0,
        };
        if size <= 0 && self.drop_group_if_empty(group).await? {
            removal.deleted = true;
            return Ok(Some(removal));
        }
        removal.promoted = self.promote_if_no_admin(group).await?;
        for id in held_back {
            self.settle_group_message(&id).await?;
        }
        Ok(Some(removal))
    }

    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
        let Some(current) = self.membership(group, user).await? else {
            return Ok(RoleSet::NotMember);
        };
        if current.role == role {
            return Ok(RoleSet::Set);
        }
        let filter = doc! { "_id": key(group, user), "role": current.role.as_str() };
        let update = doc! { "$set": { "role": role.as_str() } };
        if role == GroupRole::Admin {
            // Counted once written: the count never runs ahead of the admins.
            let set = self
                .group_members
                .update_one(filter, update)
                .await
                .map_err(backend)?;
            if set.modified_count == 1 {
                self.add_admins(group, 1).await?;
            }
        } else {
            // Uncounted first, and only while another admin is counted.
            let uncounted = self
                .groups
                .update_one(
                    doc! { "_id": group, "admins": { "$gt": 1_i64 } },
                    doc! { "$inc": { "admins": -1_i64 } },
                )
                .await
                .map_err(backend)?;
            if uncounted.matched_count == 0 {
                return Ok(match self.membership(group, user).await? {
                    None => RoleSet::NotMember,
                    Some(m) if m.role == role => RoleSet::Set,
                    Some(_) => RoleSet::LastAdmin,
                });
            }
            let set = self
                .group_members
                .update_one(filter, update)
                .await
                .map_err(backend)?;
            if set.modified_count == 0 {
                self.add_admins(group, 1).await?;
            }
        }
        Ok(match self.membership(group, user).await? {
            None => RoleSet::NotMember,
            Some(_) => RoleSet::Set,
        })
    }

    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        let set = self
            .groups
            .update_one(
                doc! { "_id": group },
                doc! { "$set": { "title": sealed_to_bson(title), "avatar": sealed_to_bson(avatar) } },
            )
            .await
            .map_err(backend)?;
        Ok(set.matched_count == 1)
    }

    async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted> {
        self.insert_group_message_impl(message).await
    }

    async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>> {
        self.get_group_message_impl(id).await
    }

    async fn advance_group_status(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks> {
        self.advance_group_status_impl(group, member, ids, to).await
    }

    async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
        self.receipts_impl(message_id).await
    }

    async fn group_history(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        self.group_history_impl(group, member, before, limit).await
    }

    async fn undelivered_group_messages(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        self.undelivered_group_messages_impl(member, after, limit)
            .await
    }

    async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
        let found: Vec<Document> = self
            .group_members
            .find(doc! { "user": member })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let mut entries = Vec::with_capacity(found.len());
        for membership in &found {
            let group = Reader::new(collections::GROUP_MEMBERS, membership).str("group")?;
            let joined_at = member_from_doc(membership)?.joined_at;
            let (last_message, unread) = self.entry_of(&group, member).await?;
            entries.push(GroupEntry {
                group,
                last_message,
                unread,
                joined_at,
            });
        }
        Ok(entries)
    }

    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
        self.delete_group_messages_of_impl(user).await
    }
}
