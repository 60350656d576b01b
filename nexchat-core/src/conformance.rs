//! The storage conformance suite: the contract of [`crate::store`], as checks every backend runs.
//!
//! Each check takes a fresh, empty store (a [`Fixture`]) and panics with a message saying which
//! promise was broken. A backend's test file runs them all, one `#[tokio::test]` each, with
//! [`conformance_tests!`](crate::conformance_tests) given an expression that makes a fresh store:
//!
//! ```
//! use nexchat_core::store::memory::MemoryStore;
//!
//! async fn fresh() -> MemoryStore {
//!     MemoryStore::new()
//! }
//! nexchat_core::conformance_tests!(fresh());
//! # fn main() {}
//! ```
//!
//! or all in one test with [`run_all`]. When the store needs something kept alive beside it (a
//! temporary directory, a database to drop afterwards), make the fixture a `(store, guard)` pair.
//! [`support`] has the records the checks use, for a backend's own tests.
//!
//! # Writing a backend
//! Start from this: a store that implements every trait by handing each call to a
//! [`MemoryStore`](crate::store::memory::MemoryStore), and passes the whole suite. Replace the
//! body of one method at a time with your database's, and run the suite after each. The comments
//! say where a backend must take care; [`crate::store`] has each method's full promise, and
//! `MemoryStore`'s source is the plainest reading of each.
//!
//! ```
//! use async_trait::async_trait;
//! use nexchat_core::protocol::{
//!     CallRecord, CallStatus, Conversation, GroupMember, GroupMessage, GroupRole, MessageStatus,
//!     Receipt, SealedField, StoredMessage,
//! };
//! use nexchat_core::store::memory::MemoryStore;
//! use nexchat_core::store::{
//!     AttachmentRecord, AttachmentRef, AttachmentStore, Reserved, CallLine, CallStore, Credentials, FriendLink, FriendStore, GroupEntry, GroupInserted,
//!     GroupLimits, GroupRecord, GroupStore, GroupTicks, Inserted, Joined, LinkStatus,
//!     MessageStore, Page, LineTaken, Removal, RoleSet, SessionRecord, SessionStore, StoreResult,
//!     UserRecord, UserStore,
//! };
//!
//! /// Your backend: a connection pool, a client... (here, the store it stands in for).
//! #[derive(Default)]
//! struct MyStore {
//!     db: MemoryStore,
//! }
//!
//! #[async_trait]
//! impl UserStore for MyStore {
//!     async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
//!         // Unique on the lowercased name (an index on a lowercased copy works everywhere);
//!         // a taken name is `StoreError::Conflict`, whoever holds it (live or erased).
//!         self.db.create_user(user).await
//!     }
//!     async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
//!         self.db.find_user(username).await
//!     }
//!     async fn set_public_key(&self, username: &str, key: &str) -> StoreResult<()> {
//!         self.db.set_public_key(username, key).await
//!     }
//!     async fn search_users(&self, prefix: &str, exclude: &str, limit: usize)
//!         -> StoreResult<Vec<String>> {
//!         self.db.search_users(prefix, exclude, limit).await
//!     }
//!     async fn replace_credentials(&self, username: &str, expected_hash: &str,
//!         credentials: &Credentials) -> StoreResult<bool> {
//!         // One conditional update on the expected hash: of two racing changes, one wins.
//!         self.db.replace_credentials(username, expected_hash, credentials).await
//!     }
//!     async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
//!         self.db.mark_erasing(username).await
//!     }
//!     async fn erasing_users(&self) -> StoreResult<Vec<String>> {
//!         self.db.erasing_users().await
//!     }
//!     async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
//!         self.db.tombstone_user(username).await
//!     }
//! }
//!
//! #[async_trait]
//! impl FriendStore for MyStore {
//!     async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
//!         self.db.link(a, b).await
//!     }
//!     async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
//!         // One link per pair, whoever asked: key it by the pair, not by the direction.
//!         self.db.create_request(sender, receiver).await
//!     }
//!     async fn transition_link(&self, sender: &str, receiver: &str, from: LinkStatus,
//!         to: LinkStatus) -> StoreResult<bool> {
//!         self.db.transition_link(sender, receiver, from, to).await
//!     }
//!     async fn delete_link(&self, sender: &str, receiver: &str, status: LinkStatus)
//!         -> StoreResult<bool> {
//!         self.db.delete_link(sender, receiver, status).await
//!     }
//!     async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
//!         self.db.links_of(user).await
//!     }
//!     async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
//!         self.db.are_friends(a, b).await
//!     }
//!     async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
//!         self.db.delete_links_of(user).await
//!     }
//! }
//!
//! #[async_trait]
//! impl MessageStore for MyStore {
//!     async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
//!         // Give each message a place in storage order (a sequence) and a timestamp never
//!         // earlier than the last one stored; an existing id returns the stored message.
//!         self.db.insert_message(message).await
//!     }
//!     // `insert_messages` has a default (one insert after another); override it to batch.
//!     async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
//!         self.db.get_message(id).await
//!     }
//!     async fn advance_status(&self, sender: &str, receiver: &str, ids: Option<&[String]>,
//!         to: MessageStatus) -> StoreResult<Vec<String>> {
//!         // Report exactly the ids this call moved, even when another node moves some at once.
//!         self.db.advance_status(sender, receiver, ids, to).await
//!     }
//!     async fn history(&self, a: &str, b: &str, before: Option<&str>, limit: usize)
//!         -> StoreResult<Page<StoredMessage>> {
//!         // Read `limit + 1` and let `Page::from_one_more` tell whether more follow.
//!         self.db.history(a, b, before, limit).await
//!     }
//!     async fn undelivered(&self, receiver: &str, after: Option<&str>, limit: usize)
//!         -> StoreResult<Page<StoredMessage>> {
//!         self.db.undelivered(receiver, after, limit).await
//!     }
//!     async fn conversations(&self, user: &str, before: Option<&str>, limit: usize)
//!         -> StoreResult<Page<Conversation>> {
//!         // One indexed read per page: keep a summary per pair up to date as messages are
//!         // stored, ticked and deleted, rather than reading each entry's latest message.
//!         self.db.conversations(user, before, limit).await
//!     }
//!     async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
//!         self.db.delete_messages_of(user).await
//!     }
//! }
//!
//! #[async_trait]
//! impl CallStore for MyStore {
//!     async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
//!         self.db.insert_call(call).await
//!     }
//!     async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
//!         // Conditional on the stored status, like every state change.
//!         self.db.update_call(call, expected).await
//!     }
//!     async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
//!         self.db.get_call(call_id).await
//!     }
//!     async fn call_history(&self, a: &str, b: &str, before: Option<&str>, limit: usize)
//!         -> StoreResult<Page<CallRecord>> {
//!         self.db.call_history(a, b, before, limit).await
//!     }
//!     async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
//!         self.db.unfinished_calls().await
//!     }
//!     async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
//!         self.db.delete_calls_of(user).await
//!     }
//!     async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
//!         // One conditional step: both parties' lines, or none when the callee holds one.
//!         self.db.take_call_lines(call, node).await
//!     }
//!     async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
//!         self.db.release_call_lines(call_id).await
//!     }
//!     async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
//!         self.db.call_lines_of(user).await
//!     }
//!     async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
//!         self.db.call_lines().await
//!     }
//! }
//!
//! #[async_trait]
//! impl SessionStore for MyStore {
//!     async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
//!         self.db.create_session(session).await
//!     }
//!     async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
//!         self.db.find_session(id).await
//!     }
//!     async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
//!         self.db.sessions_of(username).await
//!     }
//!     async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
//!         self.db.existing_sessions(ids).await
//!     }
//!     async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
//!         self.db.touch_session(id, at).await
//!     }
//!     async fn delete_session(&self, id: &str) -> StoreResult<bool> {
//!         self.db.delete_session(id).await
//!     }
//!     async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
//!         self.db.delete_expired_sessions(username, now).await
//!     }
//! }
//!
//! #[async_trait]
//! impl GroupStore for MyStore {
//!     async fn create_group(&self, group: &GroupRecord, creator: &str, max_groups: usize)
//!         -> StoreResult<bool> {
//!         self.db.create_group(group, creator, max_groups).await
//!     }
//!     async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
//!         self.db.group(id).await
//!     }
//!     async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
//!         self.db.members(group).await
//!     }
//!     async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
//!         self.db.groups_of(user).await
//!     }
//!     async fn add_member(&self, group: &str, member: &GroupMember, limits: GroupLimits)
//!         -> StoreResult<Joined> {
//!         // Both limits in the same step as the insert: racing adds must not pass them.
//!         self.db.add_member(group, member, limits).await
//!     }
//!     async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
//!         // The member's receipts go with them; promote or delete in the same step.
//!         self.db.remove_member(group, user).await
//!     }
//!     async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
//!         self.db.set_role(group, user, role).await
//!     }
//!     async fn set_group_details(&self, group: &str, title: Option<&SealedField>,
//!         avatar: Option<&SealedField>) -> StoreResult<bool> {
//!         self.db.set_group_details(group, title, avatar).await
//!     }
//!     async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted> {
//!         // Membership checked in the same step as the message and its receipts are written:
//!         // once a removal has returned, no message stored after it reaches the removed member.
//!         self.db.insert_group_message(message).await
//!     }
//!     async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>> {
//!         self.db.get_group_message(id).await
//!     }
//!     async fn advance_group_status(&self, group: &str, member: &str, ids: Option<&[String]>,
//!         to: MessageStatus) -> StoreResult<GroupTicks> {
//!         self.db.advance_group_status(group, member, ids, to).await
//!     }
//!     async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
//!         self.db.receipts(message_id).await
//!     }
//!     async fn group_history(&self, group: &str, member: &str, before: Option<&str>,
//!         limit: usize) -> StoreResult<Page<GroupMessage>> {
//!         self.db.group_history(group, member, before, limit).await
//!     }
//!     async fn undelivered_group_messages(&self, member: &str, after: Option<&str>,
//!         limit: usize) -> StoreResult<Page<GroupMessage>> {
//!         self.db.undelivered_group_messages(member, after, limit).await
//!     }
//!     async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
//!         self.db.group_entries(member).await
//!     }
//!     async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
//!         self.db.delete_group_messages_of(user).await
//!     }
//! }
//!
//! #[async_trait]
//! impl AttachmentStore for MyStore {
//!     async fn reserve_attachment(&self, record: &AttachmentRecord, quota: u64)
//!         -> StoreResult<Reserved> {
//!         // The quota check and the insert in one step: racing uploads must not pass it.
//!         self.db.reserve_attachment(record, quota).await
//!     }
//!     async fn finish_attachment(&self, id: &str, size: u64) -> StoreResult<bool> {
//!         self.db.finish_attachment(id, size).await
//!     }
//!     async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
//!         self.db.attachment(id).await
//!     }
//!     async fn reference_attachments(&self, owner: &str, ids: &[String],
//!         reference: &AttachmentRef) -> StoreResult<bool> {
//!         // All or nothing, and never on an attachment the collector has claimed.
//!         self.db.reference_attachments(owner, ids, reference).await
//!     }
//!     async fn attachment_refs(&self, id: &str) -> StoreResult<Vec<AttachmentRef>> {
//!         self.db.attachment_refs(id).await
//!     }
//!     async fn attachment_usage(&self, owner: &str) -> StoreResult<u64> {
//!         self.db.attachment_usage(owner).await
//!     }
//!     async fn collectable_attachments(&self, created_before: i64, limit: usize)
//!         -> StoreResult<Vec<String>> {
//!         self.db.collectable_attachments(created_before, limit).await
//!     }
//!     async fn claim_attachment(&self, id: &str, created_before: i64) -> StoreResult<bool> {
//!         // Only while no message names it, in one step with respect to references.
//!         self.db.claim_attachment(id, created_before).await
//!     }
//!     async fn forget_attachment(&self, id: &str) -> StoreResult<()> {
//!         self.db.forget_attachment(id).await
//!     }
//!     async fn attachments_of(&self, owner: &str) -> StoreResult<Vec<String>> {
//!         self.db.attachments_of(owner).await
//!     }
//! }
//!
//! // The seven traits make a `Store`. Every check, each on a fresh store (in a test file,
//! // `nexchat_core::conformance_tests!(fresh())` gives one test per check instead):
//! let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
//! runtime.block_on(nexchat_core::conformance::run_all(|| async { MyStore::default() }));
//! ```
//!
//! The `race_*` checks start many tasks on the same store at once (on a multi-thread runtime
//! they truly run in parallel) and check that each conditional step had exactly one winner.
//! Backends are free in how they get there; the checks only look through the trait.
//!
//! Where the trait's words leave room, the suite pins one reading so backends agree:
//! - `search_users` sorts by the ASCII-lowercased name (byte order: `-` < `.` < digits < `_` <
//!   letters), not by a locale collation; `_` and `.` in a prefix are literal; `exclude` matches
//!   in any letter case.
//! - `advance_status` with `Some(&[])` moves nothing; ids listed twice are reported once.
//! - `insert_message` keeps a given timestamp that is not earlier than every stored one.
//! - `set_public_key` for an unknown user may fail or not, but must not create the user.
//! - `links_of` and `unfinished_calls` are compared as sets (their order is unspecified).
//! - `replace_credentials` and `mark_erasing` match the name in any letter case, like
//!   `find_user`; `tombstone_user` of a live or unknown user does nothing.

use std::future::Future;

use crate::store::Store;

mod attachments;
pub mod blobs;
mod calls;
mod conversations;
mod credentials;
mod erasure;
mod groups;
mod links;
mod messages;
mod races;
mod sessions;
pub mod support;
mod users;

pub use attachments::*;
pub use calls::*;
pub use conversations::*;
pub use credentials::*;
pub use erasure::*;
pub use groups::*;
pub use links::*;
pub use messages::*;
pub use races::*;
pub use sessions::*;
pub use users::*;

/// A fresh store for one check, plus whatever must live as long as it.
pub trait Fixture: Send + Sync + 'static {
    /// The store under test.
    type Store: Store;
    /// The store under test.
    fn store(&self) -> &Self::Store;
}

impl<S: Store> Fixture for S {
    type Store = S;
    fn store(&self) -> &S {
        self
    }
}

/// A store and a guard dropped after it (a temporary directory, a test database's cleanup).
impl<S: Store, G: Send + Sync + 'static> Fixture for (S, G) {
    type Store = S;
    fn store(&self) -> &S {
        &self.0
    }
}

/// Runs every check, each on a store of its own from `make`, printing each name as it starts.
pub async fn run_all<X, F, Fut>(make: F)
where
    X: Fixture,
    F: Fn() -> Fut,
    Fut: Future<Output = X>,
{
    crate::__conformance_checks!(__conformance_run_all!(make));
}

/// Expands to one `#[tokio::test]` (multi-thread runtime, 2 workers) per conformance check.
///
/// The argument is an expression giving a future of a fresh [`Fixture`]; it is evaluated once
/// per test. The calling crate needs `tokio` (with `macros` and `rt-multi-thread`).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_checks! { __conformance_test_fns!($make) }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check($make.await).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    ($make:ident; $($check:ident),* $(,)?) => {
        $(
            eprintln!("storage conformance: {}", stringify!($check));
            $crate::conformance::$check($make().await).await;
        )*
    };
}

/// The list of checks, handed to `$callback` after its own argument.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($callback:ident ! ($($arg:tt)*)) => {
        $crate::$callback! {
            $($arg)*;
            users_create_and_find,
            users_unique_names_any_case,
            users_set_public_key,
            users_search,
            users_kdf_round_trips,
            users_replace_credentials_is_conditional,
            erasure_hides_the_account_and_keeps_the_name,
            erasure_deletes_only_that_users_rows,
            links_request_seen_from_both_sides,
            links_request_refused_while_pending_or_accepted,
            links_transition_is_conditional,
            links_rejected_can_be_asked_again,
            links_delete_is_conditional,
            links_of_lists_every_link_of_a_user,
            messages_insert_and_get,
            messages_existing_id_changes_nothing,
            messages_insert_batch_in_order,
            messages_timestamps_never_go_back,
            advance_status_moves_forward_only,
            advance_status_only_that_pair_and_those_ids,
            history_pages_newest_first,
            history_before_must_be_of_the_pair,
            undelivered_oldest_first,
            undelivered_in_pages,
            conversations_one_entry_per_user_latest_first,
            conversations_unread_follows_the_ticks,
            conversations_pages_with_before,
            conversations_go_with_an_erased_account,
            calls_insert_get_conflict,
            calls_update_is_conditional,
            calls_history_pages,
            calls_unfinished,
            calls_end_reason_round_trips,
            call_lines_busy_callee,
            race_create_user,
            race_insert_same_message_id,
            race_insert_messages_keep_timestamp_order,
            race_conversations_follow_racing_inserts_and_ticks,
            race_advance_status,
            race_create_request,
            race_transition_and_delete_link,
            race_insert_call,
            race_update_call,
            race_take_call_lines,
            race_replace_credentials,
            race_mark_erasing,
            sessions_create_find_and_list,
            sessions_touch_moves_forward_only,
            sessions_delete_and_expire,
            race_delete_session,
            groups_create_find_and_limit,
            groups_add_member_keeps_the_limits,
            groups_removal_promotes_and_deletes,
            groups_roles_keep_an_admin,
            groups_details_round_trip,
            group_messages_reach_the_members_of_the_moment,
            group_ticks_move_forward_and_settle,
            group_history_is_what_the_member_was_sent,
            group_undelivered_oldest_first_across_groups,
            group_removal_takes_the_members_receipts,
            group_entries_last_message_and_unread,
            group_messages_of_an_erased_user_go,
            race_add_member_to_a_full_group,
            race_add_member_past_the_groups_limit,
            race_group_messages_and_removal,
            attachments_reserve_within_the_quota,
            attachments_finish_and_forget,
            attachments_references_are_all_or_nothing,
            attachments_collect_only_what_nothing_names,
            race_reserve_attachments_past_the_quota,
            race_reference_and_claim_attachment,
        }
    };
}
