//! [`GroupStore`]: groups, their members, and group messages with a receipt per member.
//!
//! A group message is stored once; beside it, a **receipt** per member it was sent to holds that
//! member's status (`sent` → `delivered` → `seen`, forward only). Receipts say everything a
//! member may see: their history, backlog, unread count and a message's "message info" are read
//! from them, so a member sees exactly the messages sent to them while they were a member. The
//! sender of a chat message gets a receipt of their own at `seen` (the message is in their
//! history, never in their backlog); a key message (one with `to`) gets a receipt for `to` only.
//! The message's own `status` is the lowest status of its receipts other than the sender's.
//!
//! As everywhere in [`crate::store`], each method that a racing second node could break is one
//! conditional step: membership is checked in the same step as a message is stored, and a
//! removal takes the member's receipts with it.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Page, StoreResult};
use crate::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField};

/// A group as stored, without its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// UUID.
    pub id: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// The sealed title.
    pub title: Option<SealedField>,
    /// The sealed avatar.
    pub avatar: Option<SealedField>,
}

/// The limits [`GroupStore::add_member`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Members per group.
    pub max_members: usize,
    /// Groups per user.
    pub max_groups: usize,
}

/// What [`GroupStore::add_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Joined {
    /// The user is a member now.
    Added,
    /// The user already was a member; nothing changed.
    AlreadyMember,
    /// No such group.
    NoGroup,
    /// The group has [`GroupLimits::max_members`] members.
    GroupFull,
    /// The user is in [`GroupLimits::max_groups`] groups.
    TooManyGroups,
}

/// What [`GroupStore::remove_member`] did besides removing the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The longest-standing member, made admin because the last admin left.
    pub promoted: Option<String>,
    /// The group had no member left and is deleted, with its messages.
    pub deleted: bool,
}

/// What [`GroupStore::set_role`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleSet {
    /// The member has the role now (also when they had it already).
    Set,
    /// No such member (or no such group).
    NotMember,
    /// The member is the group's only admin: demoting them would leave none. Nothing changed.
    LastAdmin,
}

/// What [`GroupStore::insert_group_message`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupInserted {
    /// Stored, with the timestamp the store gave it, and receipts for these members (the
    /// sender's own included when it has one).
    New {
        /// The message as stored.
        message: GroupMessage,
        /// The members it was sent to.
        recipients: Vec<String>,
    },
    /// A group message with this id already existed; this is it, unchanged.
    Existing(GroupMessage),
    /// Nothing stored: this user (the sender, or `to`) is not a member of the group (or there is
    /// no such group).
    NotMember(String),
}

/// A group message whose own status moved forward, named with its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The message id.
    pub id: String,
    /// Its sender.
    pub sender: String,
    /// Its status now: the lowest of its receipts but the sender's.
    pub status: MessageStatus,
}

/// What [`GroupStore::advance_group_status`] moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTicks {
    /// The member's receipts that moved forward, by message id.
    pub moved: Vec<String>,
    /// Messages whose own status moved forward with this step (every other receipt was at
    /// least there already): to the new status, or to `delivered` when this member went
    /// straight to `seen` past another at `delivered`.
    pub settled: Vec<Settled>,
}

/// One group of a member with what their list shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// The group.
    pub group: String,
    /// The latest chat message (not a key message) the member has a receipt for.
    pub last_message: Option<GroupMessage>,
    /// Chat messages from other members whose receipt for this member is not `seen`.
    pub unread: u64,
    /// When this membership began (ms).
    pub joined_at: i64,
}

/// Groups, members and group messages (see the module docs for receipts).
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Stores a new group with `creator` as its one member, admin, joined at `created_at`, unless
    /// the creator is in `max_groups` groups already (then false, nothing stored).
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] when the id exists; [`super::StoreError::Backend`] when the
    /// database fails.
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool>;
    /// The group, if it exists.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`] when
    /// the stored group has the wrong shape.
    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>>;
    /// The members of a group, oldest membership first (of equal `joined_at`, the one added
    /// first); empty when there is no such group.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`] when
    /// a stored membership has the wrong shape.
    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>>;
    /// Ids of the groups `user` is a member of, in any order.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>>;
    /// Adds a member in one conditional step: only to an existing group with fewer than
    /// `limits.max_members` members, for a user in fewer than `limits.max_groups` groups who is
    /// not a member already.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined>;
    /// Removes a member with their receipts in the group, in one step with what follows from
    /// it: when no admin is left, the longest-standing member becomes admin; when no member is
    /// left, the group is deleted with its messages and receipts; messages whose only receipt
    /// below some status was the removed member's reach that status. `None` when `user` was not
    /// a member.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>>;
    /// Gives a member a role, in one conditional step that never leaves a group without an
    /// admin.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet>;
    /// Replaces a group's title and avatar; false when there is no such group.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool>;
    /// Stores a group message durably before returning, in one step with the check that its
    /// sender (and its `to`) is a member and with a receipt for each member it is sent to: a
    /// chat message to every member (the sender's at `seen`, the others' at `sent`), a key
    /// message to `to` only (at `sent`). The timestamp is raised, if needed, so it is never
    /// earlier than that of any group message stored before it. When the id exists (any
    /// sender, any group) nothing is written and the stored message is returned.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`] when
    /// the existing message has the wrong shape.
    async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted>;
    /// A group message by id.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`] when
    /// the stored message has the wrong shape.
    async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>>;
    /// Moves `member`'s receipts of messages in `group` (those of `ids`, or all when `None`)
    /// forward to `to`, never back, and each message whose every other receipt is then at `to`
    /// or beyond with it. Reports exactly what this call moved, even when another node moves
    /// some at once.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn advance_group_status(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks>;
    /// The receipts of a message, but the sender's own, oldest membership first; empty for an
    /// unknown id.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>>;
    /// The messages of `group` that `member` has a receipt for, newest first (storage order),
    /// at most `limit`, strictly older than the message `before`.
    ///
    /// # Errors
    /// [`super::StoreError::NotFound`] when `before` is not such a message;
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`]
    /// when a stored message has the wrong shape.
    async fn group_history(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>>;
    /// The group messages, in every group, whose receipt for `member` is still `sent`, oldest
    /// first (storage order), at most `limit`, strictly after (in storage order) the group
    /// message `after` whatever its status now; an `after` that is not a stored group message
    /// gives an empty page.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`]
    /// when a stored message has the wrong shape.
    async fn undelivered_group_messages(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>>;
    /// Every group of `member`, in any order, with its latest chat message and unread count.
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails; [`super::StoreError::Corrupt`]
    /// when a stored message has the wrong shape.
    async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>>;
    /// Deletes every group message `user` sent, with its receipts (account erasure; the
    /// memberships go with [`GroupStore::remove_member`] first).
    ///
    /// # Errors
    /// [`super::StoreError::Backend`] when the database fails.
    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()>;
}

/// Implements [`GroupStore`] by handing every call to another store: `(Wrapper, field)` for a
/// test store that intercepts some other trait and passes groups through to its field, or
/// `(@impl [generics] Type, this => expression)` with the store `this` (`&self`) leads to.
#[doc(hidden)]
#[macro_export]
macro_rules! forward_group_store {
    ($ty:ty, $field:ident) => {
        $crate::forward_group_store!(@impl [] $ty, store => &store.$field);
    };
    (@impl [$($generics:tt)*] $ty:ty, $this:ident => $inner:expr) => {
        #[$crate::__async_trait]
        impl<$($generics)*> $crate::store::GroupStore for $ty {
            async fn create_group(
                &self,
                group: &$crate::store::GroupRecord,
                creator: &str,
                max_groups: usize,
            ) -> $crate::store::StoreResult<bool> {
                {
                    let $this = self;
                    $inner
                }.create_group(group, creator, max_groups).await
            }
            async fn group(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::GroupRecord>> {
                {
                    let $this = self;
                    $inner
                }.group(id).await
            }
            async fn members(
                &self,
                group: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::protocol::GroupMember>> {
                {
                    let $this = self;
                    $inner
                }.members(group).await
            }
            async fn groups_of(&self, user: &str) -> $crate::store::StoreResult<Vec<String>> {
                {
                    let $this = self;
                    $inner
                }.groups_of(user).await
            }
            async fn add_member(
                &self,
                group: &str,
                member: &$crate::protocol::GroupMember,
                limits: $crate::store::GroupLimits,
            ) -> $crate::store::StoreResult<$crate::store::Joined> {
                {
                    let $this = self;
                    $inner
                }.add_member(group, member, limits).await
            }
            async fn remove_member(
                &self,
                group: &str,
                user: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Removal>> {
                {
                    let $this = self;
                    $inner
                }.remove_member(group, user).await
            }
            async fn set_role(
                &self,
                group: &str,
                user: &str,
                role: $crate::protocol::GroupRole,
            ) -> $crate::store::StoreResult<$crate::store::RoleSet> {
                {
                    let $this = self;
                    $inner
                }.set_role(group, user, role).await
            }
            async fn set_group_details(
                &self,
                group: &str,
                title: Option<&$crate::protocol::SealedField>,
                avatar: Option<&$crate::protocol::SealedField>,
            ) -> $crate::store::StoreResult<bool> {
                {
                    let $this = self;
                    $inner
                }.set_group_details(group, title, avatar).await
            }
            async fn insert_group_message(
                &self,
                message: &$crate::protocol::GroupMessage,
            ) -> $crate::store::StoreResult<$crate::store::GroupInserted> {
                {
                    let $this = self;
                    $inner
                }.insert_group_message(message).await
            }
            async fn get_group_message(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::protocol::GroupMessage>> {
                {
                    let $this = self;
                    $inner
                }.get_group_message(id).await
            }
            async fn advance_group_status(
                &self,
                group: &str,
                member: &str,
                ids: Option<&[String]>,
                to: $crate::protocol::MessageStatus,
            ) -> $crate::store::StoreResult<$crate::store::GroupTicks> {
                {
                    let $this = self;
                    $inner
                }
                    .advance_group_status(group, member, ids, to)
                    .await
            }
            async fn receipts(
                &self,
                message_id: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::protocol::Receipt>> {
                {
                    let $this = self;
                    $inner
                }.receipts(message_id).await
            }
            async fn group_history(
                &self,
                group: &str,
                member: &str,
                before: Option<&str>,
                limit: usize,
            ) -> $crate::store::StoreResult<$crate::store::Page<$crate::protocol::GroupMessage>>
            {
                {
                    let $this = self;
                    $inner
                }
                    .group_history(group, member, before, limit)
                    .await
            }
            async fn undelivered_group_messages(
                &self,
                member: &str,
                after: Option<&str>,
                limit: usize,
            ) -> $crate::store::StoreResult<$crate::store::Page<$crate::protocol::GroupMessage>>
            {
                {
                    let $this = self;
                    $inner
                }
                    .undelivered_group_messages(member, after, limit)
                    .await
            }
            async fn group_entries(
                &self,
                member: &str,
            ) -> $crate::store::StoreResult<Vec<$crate::store::GroupEntry>> {
                {
                    let $this = self;
                    $inner
                }.group_entries(member).await
            }
            async fn delete_group_messages_of(&self, user: &str) -> $crate::store::StoreResult<()> {
                {
                    let $this = self;
                    $inner
                }.delete_group_messages_of(user).await
            }
        }
    };
}

// `Arc<S>` hands every call to the store it holds.
forward_group_store!(@impl [S: GroupStore + ?Sized] Arc<S>, store => &**store);
