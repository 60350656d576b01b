//! Groups, their members, and group messages with a receipt per member (schema version 10).
//!
//! Every write is one writer job, so each conditional step (a limit or a membership checked,
//! then the change) is atomic: the writer runs one job at a time and commits it whole. The hot
//! writes (store a message, move ticks) check before their first change and cannot fail for a
//! reason of their own after it, so they run without a savepoint; the rare ones with several
//! changes (create a group, remove a member) run in one. Reads run on the reader connections.
//!
//! Indexes: every query is a key lookup or one range of an index (`tests.rs` holds each to its
//! plan), but for account erasure, which like that of direct messages scans the table in
//! ranges of `seq` rather than keep an index by sender that every message would pay for. No
//! index is keyed by member (each would cost a page per receipt at every commit): a member's
//! messages are the group's, read in storage order from a bound in the membership row, each
//! with its receipt looked up by primary key (see `schema::GROUPS`).

mod members;
mod messages;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use nexchat_core::protocol::{
    GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField,
};
use nexchat_core::store::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Page,
    Removal, RoleSet, StoreResult,
};

use super::SqliteStore;

/// Rows of `seq` scanned by one writer job of an erasure.
const ERASE_CHUNK: i64 = 20_000;

#[async_trait]
impl GroupStore for SqliteStore {
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool> {
        let (group, creator) = (group.clone(), creator.to_owned());
        self.write(move |conn, _| members::create_group(conn, &group, &creator, max_groups))
            .await
    }

    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        let id = id.to_owned();
        self.read(move |conn| members::group(conn, &id)).await
    }

    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
        let group = group.to_owned();
        self.read(move |conn| members::members(conn, &group)).await
    }

    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let user = user.to_owned();
        self.read(move |conn| members::groups_of(conn, &user)).await
    }

    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined> {
        let (group, member) = (group.to_owned(), member.clone());
        self.write_statement(move |conn, _| members::add_member(conn, &group, &member, limits))
            .await
    }

    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
        let (group, user) = (group.to_owned(), user.to_owned());
        self.write(move |conn, _| members::remove_member(conn, &group, &user))
            .await
    }

    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
        let (group, user) = (group.to_owned(), user.to_owned());
        self.write_statement(move |conn, _| members::set_role(conn, &group, &user, role))
            .await
    }

    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        let group = group.to_owned();
        let (title, avatar) = (title.cloned(), avatar.cloned());
        self.write_statement(move |conn, _| {
            members::set_details(conn, &group, title.as_ref(), avatar.as_ref())
        })
        .await
    }

    async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted> {
        let message = message.clone();
        self.write_statement(move |conn, state| messages::insert(conn, state, message))
            .await
    }

    async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>> {
        let id = id.to_owned();
        self.read(move |conn| messages::get(conn, &id)).await
    }

    async fn advance_group_status(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks> {
        let (group, member) = (group.to_owned(), member.to_owned());
        let ids = ids.map(<[String]>::to_vec);
        self.write_statement(move |conn, _| {
            messages::advance(conn, &group, &member, ids.as_deref(), to)
        })
        .await
    }

    async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
        let id = message_id.to_owned();
        self.read(move |conn| messages::receipts(conn, &id)).await
    }

    async fn group_history(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let (group, member) = (group.to_owned(), member.to_owned());
        let before = before.map(str::to_owned);
        self.read(move |conn| messages::history(conn, &group, &member, before.as_deref(), limit))
            .await
    }

    async fn undelivered_group_messages(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let member = member.to_owned();
        let after = after.map(str::to_owned);
        self.read(move |conn| messages::undelivered(conn, &member, after.as_deref(), limit))
            .await
    }

    async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
        let member = member.to_owned();
        self.read(move |conn| messages::entries(conn, &member))
            .await
    }

    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
        self.delete_group_messages_in_chunks(user, ERASE_CHUNK)
            .await
    }
}

impl SqliteStore {
    /// Deletes `user`'s group messages with their receipts, one range of `chunk` rows of `seq`
    /// per writer job so that other writes commit in between (see `erasure.rs`).
    async fn delete_group_messages_in_chunks(&self, user: &str, chunk: i64) -> StoreResult<()> {
        let last: i64 = self
            .read(|conn| {
                let last = conn
                    .prepare_cached(messages::LAST_SEQ)?
                    .query_row([], |row| row.get(0))?;
                Ok(last)
            })
            .await?;
        let mut from = 0;
        while from < last {
            let to = from.saturating_add(chunk);
            let user = user.to_owned();
            self.write_statement(move |conn, _| messages::erase_range(conn, &user, from, to))
                .await?;
            from = to;
        }
        Ok(())
    }
}
