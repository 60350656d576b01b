//! The one check every relay (message, typing, call) passes through.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{ChatError, ChatResult};
use crate::store::Store;

/// Refuses any relay between two users who are not friends right now.
///
/// A confirmed friendship is remembered for a short time (`ttl`), so a busy conversation does
/// not cost a store read per message. Unfriending on this node forgets the pair at once
/// ([`FriendGuard::forget`]), so the very next message is refused; an unfriend made through
/// another node sharing the store takes effect here within `ttl`.
pub struct FriendGuard {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl_ms: i64,
    confirmed: Mutex<HashMap<(String, String), i64>>,
    /// Bumped by every [`FriendGuard::forget`], so a store read that overlapped an unfriend does
    /// not put the pair back.
    forgets: AtomicU64,
}

impl std::fmt::Debug for FriendGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendGuard")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl FriendGuard {
    /// A guard over `store`'s friendships, remembering confirmed ones for `ttl` of `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            confirmed: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
        }
    }

    fn confirmed(&self) -> MutexGuard<'_, HashMap<(String, String), i64>> {
        self.confirmed.lock()
    }

    /// `Ok` when `a` and `b` are friends, [`ChatError::NotFriends`] (naming `b`) otherwise.
    pub async fn check(&self, a: &str, b: &str) -> ChatResult<()> {
        let key = pair(a, b);
        let now = self.clock.now_ms();
        if self.confirmed().get(&key).is_some_and(|until| *until > now) {
            return Ok(());
        }
        if self.store.are_friends(a, b).await? {
            self.confirmed()
                .insert(key, now.saturating_add(self.ttl_ms));
            Ok(())
        } else {
            Err(ChatError::NotFriends(b.to_owned()))
        }
    }

    /// Forgets a confirmed friendship (it just ended).
    pub fn forget(&self, a: &str, b: &str) {
        let mut confirmed = self.confirmed();
        self.forgets.fetch_add(1, Ordering::SeqCst);
        confirmed.remove(&pair(a, b));
    }

    /// Drops confirmations that expired, so the memory held follows active conversations.
    pub fn prune(&self) {
        let now = self.clock.now_ms();
        self.confirmed().retain(|_, until| *until > now);
    }
}
