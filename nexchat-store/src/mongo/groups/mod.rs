//! [`GroupStore`]: groups and their members (`groups`, `group_members`, `group_counts`), group
//! messages (`group_messages`) and their receipts (`group_receipts`).
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
//!
//! A group message is stored once, with a `seq` from the `group_messages` counter (storage
//! order and a timestamp that never goes back, as for 1:1 messages); beside it one receipt per
//! member it was sent to (`_id` the message id and the member, escaped and joined by `|`), carrying copies
//! of what its queries filter and order on: `group`, `sender`, `kind` (`"chat"` or `"key"`),
//! `seq`, and `order` (the membership order it was made in). Statuses are integers (`0` sent,
//! `1` delivered, `2` seen) so that "below" is one `$lt`.
//!
//! Without transactions, membership and the receipts meet in this order: a removal deletes the
//! membership first and the member's receipts after; an insert reads the members, writes the
//! message and its receipts, then reads the members again and deletes the receipts of those no
//! longer there (and the whole message when the group is gone). Whichever way the two
//! interleave, a removed member keeps no receipt of a message stored once the removal returned.

mod counters;
mod members;
mod messages;
mod reads;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::Document;
use nexchat_core::protocol::SealedField;
use nexchat_core::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt};
use nexchat_core::store::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Page,
    Removal, RoleSet, StoreResult,
};

use super::{MongoStore, backend};

/// Two names as one key, unambiguous for any names: each with `\` and `|` escaped by a `\`,
/// joined by `|`. Case is kept (a group's members are compared exactly).
fn key(a: &str, b: &str) -> String {
    let escape = |name: &str| name.replace('\\', "\\\\").replace('|', "\\|");
    format!("{}|{}", escape(a), escape(b))
}

/// A count as BSON's `i64` (limits never come near its end).
fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn collect(cursor: mongodb::Cursor<Document>) -> StoreResult<Vec<Document>> {
    cursor.try_collect().await.map_err(backend)
}

#[async_trait]
impl GroupStore for MongoStore {
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool> {
        self.create_group_impl(group, creator, max_groups).await
    }

    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        self.group_impl(id).await
    }

    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
        self.members_impl(group).await
    }

    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
        self.groups_of_impl(user).await
    }

    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined> {
        self.add_member_impl(group, member, limits).await
    }

    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
        self.remove_member_impl(group, user).await
    }

    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
        self.set_role_impl(group, user, role).await
    }

    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        self.set_group_details_impl(group, title, avatar).await
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
        self.group_entries_impl(member).await
    }

    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
        self.delete_group_messages_of_impl(user).await
    }
}
