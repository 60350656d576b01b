//! The group half of [`MeteredStore`]: every call forwarded and timed.

use async_trait::async_trait;

use super::MESSAGES_STORED;
use super::store::{MeteredStore, timed};
use crate::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField};
use crate::store::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Page,
    Removal, RoleSet, StoreResult,
};

#[async_trait]
impl GroupStore for MeteredStore {
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool> {
        timed(
            "create_group",
            self.inner.create_group(group, creator, max_groups),
        )
        .await
    }
    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        timed("group", self.inner.group(id)).await
    }
    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
        timed("members", self.inner.members(group)).await
    }
    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
        timed("groups_of", self.inner.groups_of(user)).await
    }
    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined> {
        timed("add_member", self.inner.add_member(group, member, limits)).await
    }
    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
        timed("remove_member", self.inner.remove_member(group, user)).await
    }
    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
        timed("set_role", self.inner.set_role(group, user, role)).await
    }
    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        timed(
            "set_group_details",
            self.inner.set_group_details(group, title, avatar),
        )
        .await
    }
    async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted> {
        let inserted = timed(
            "insert_group_message",
            self.inner.insert_group_message(message),
        )
        .await;
        if let Ok(GroupInserted::New { .. }) = inserted {
            ::metrics::counter!(MESSAGES_STORED).increment(1);
        }
        inserted
    }
    async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>> {
        timed("get_group_message", self.inner.get_group_message(id)).await
    }
    async fn advance_group_status(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks> {
        timed(
            "advance_group_status",
            self.inner.advance_group_status(group, member, ids, to),
        )
        .await
    }
    async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
        timed("receipts", self.inner.receipts(message_id)).await
    }
    async fn group_history(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        timed(
            "group_history",
            self.inner.group_history(group, member, before, limit),
        )
        .await
    }
    async fn undelivered_group_messages(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        timed(
            "undelivered_group_messages",
            self.inner.undelivered_group_messages(member, after, limit),
        )
        .await
    }
    async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
        timed("group_entries", self.inner.group_entries(member)).await
    }
    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
        timed(
            "delete_group_messages_of",
            self.inner.delete_group_messages_of(user),
        )
        .await
    }
}
