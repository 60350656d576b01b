//! The storage conformance suite: the contract of [`crate::store`], as checks every backend runs.
//!
//! Each check takes a fresh, empty store (a [`Fixture`]) and panics with a message saying which
//! promise was broken. A backend's test file runs them all, one `#[tokio::test]` each:
//!
//! ```ignore
//! async fn fresh() -> MyStore { MyStore::connect_to_a_new_empty_database().await }
//! nexchat_core::conformance_tests!(fresh());
//! ```
//!
//! or all in one test with [`run_all`]. When the store needs something kept alive beside it (a
//! temporary directory, a database to drop afterwards), make the fixture a `(store, guard)` pair.
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

mod calls;
mod conversations;
mod credentials;
mod erasure;
mod links;
mod messages;
mod races;
mod sessions;
mod support;
mod users;

pub use calls::*;
pub use conversations::*;
pub use credentials::*;
pub use erasure::*;
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
            race_create_user,
            race_insert_same_message_id,
            race_insert_messages_keep_timestamp_order,
            race_conversations_follow_racing_inserts_and_ticks,
            race_advance_status,
            race_create_request,
            race_transition_and_delete_link,
            race_insert_call,
            race_update_call,
            race_replace_credentials,
            race_mark_erasing,
            sessions_create_find_and_list,
            sessions_touch_moves_forward_only,
            sessions_delete_and_expire,
            race_delete_session,
        }
    };
}
