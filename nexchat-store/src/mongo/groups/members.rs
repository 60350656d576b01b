//! Groups and memberships: creating, reading, adding, removing, roles and details.

use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use nexchat_core::protocol::{GroupMember, GroupRole, SealedField};
use nexchat_core::store::{
    GroupEntry, GroupLimits, GroupRecord, Joined, Removal, RoleSet, StoreError, StoreResult,
};

use super::{count, key};
use crate::mongo::docs::Reader;
use crate::mongo::{MongoStore, backend, collections, is_duplicate_key};

pub(super) fn sealed_to_bson(field: Option<&SealedField>) -> Bson {
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

pub(super) fn member_from_doc(doc: &Document) -> StoreResult<GroupMember> {
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
    pub(super) async fn create_group_impl(
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

    pub(super) async fn group_impl(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        self.groups
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| group_from_doc(&d))
            .transpose()
    }

    pub(super) async fn members_impl(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
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

    pub(super) async fn groups_of_impl(&self, user: &str) -> StoreResult<Vec<String>> {
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

    pub(super) async fn add_member_impl(
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

    pub(super) async fn remove_member_impl(
        &self,
        group: &str,
        user: &str,
    ) -> StoreResult<Option<Removal>> {
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

    pub(super) async fn set_role_impl(
        &self,
        group: &str,
        user: &str,
        role: GroupRole,
    ) -> StoreResult<RoleSet> {
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

    pub(super) async fn set_group_details_impl(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        let set = self
            .groups
            .update_one(
                doc! { "_id": group },
                doc! { "$set": {
                    "title": sealed_to_bson(title),
                    "avatar": sealed_to_bson(avatar),
                } },
            )
            .await
            .map_err(backend)?;
        Ok(set.matched_count == 1)
    }

    pub(super) async fn group_entries_impl(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
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
}
