//! The one check every relay (message, typing, call) passes through.
//!
//! # Linearizable with unfriending on this node
//! Once `/friends/remove` has answered, no relay between the two is accepted on any socket of
//! this node. Two holes had to be closed for that:
//!
//! 1. A store read that started before the unfriend and finished after it answers "friends".
//!    Every [`FriendGuard::forget`] bumps a counter; a check notes the counter before it asks
//!    the cache or the store, and its answer is neither cached nor trusted when the counter
//!    moved meanwhile.
//! 2. A relay whose check passed just before the unfriend could still be stored and pushed after
//!    the remove answered. So each pair of users has a read-write lock: a relay holds it shared
//!    (a [`Pass`]) from the end of its check until it is stored and pushed, and the unfriend
//!    holds it exclusively ([`FriendGuard::exclusive`]) over the store's removal of the link and
//!    the forget. A relay therefore happens entirely before the unfriend, or is refused.
//!
//! The store read itself is made *outside* the lock, and the lock then checks whether a forget
//! came in between (re-reading the store under the lock if so). Holding the lock over the store
//! read would also be correct, but an unfriend would then wait for every slow read in flight,
//! and a read made slow on purpose (the tests do so) could never overlap the removal. tokio's
//! lock is fair: once an unfriend waits for it, relays of that pair arriving later queue behind
//! it, so a busy conversation cannot starve the unfriend.
//!
//! Across nodes sharing a store, the bound is the cache: an unfriend made through another node
//! takes effect here within `ttl` (plus the length of one store read already under way).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::clock::Clock;
use crate::error::{ChatError, ChatResult};
use crate::store::Store;

type PairKey = (String, String);

/// Refuses any relay between two users who are not friends right now.
///
/// A confirmed friendship is remembered for a short time (`ttl`), so a busy conversation does
/// not cost a store read per message. Unfriending on this node forgets the pair at once
/// ([`FriendGuard::forget`]), so the very next message is refused; an unfriend made through
/// another node sharing the store takes effect here within `ttl`. See the module docs for how a
/// relay and an unfriend on this node are kept in order.
pub(crate) struct FriendGuard {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl_ms: i64,
    confirmed: Mutex<HashMap<PairKey, i64>>,
    /// Bumped by every [`FriendGuard::forget`] (under the `confirmed` lock), so a store read
    /// that overlapped an unfriend does not put the pair back.
    forgets: AtomicU64,
    /// The lock of each pair with a relay or an unfriend under way; entries nobody holds are
    /// dropped by [`FriendGuard::prune`].
    pairs: Mutex<HashMap<PairKey, Arc<RwLock<()>>>>,
}

/// Leave to relay between two friends: while it is held, they cannot stop being friends on this
/// node. Hold it until the relay is stored and pushed, then drop it.
#[derive(Debug)]
pub(crate) struct Pass {
    _pair: OwnedRwLockReadGuard<()>,
}

/// Held by an unfriend over the removal of the link and [`FriendGuard::forget`]: no relay of
/// the pair is between its check and its push meanwhile.
#[derive(Debug)]
pub(crate) struct Exclusive {
    _pair: OwnedRwLockWriteGuard<()>,
}

impl std::fmt::Debug for FriendGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendGuard")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

fn pair(a: &str, b: &str) -> PairKey {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl FriendGuard {
    /// A guard over `store`'s friendships, remembering confirmed ones for `ttl` of `clock`.
    pub(crate) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            confirmed: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
            pairs: Mutex::new(HashMap::new()),
        }
    }

    fn confirmed(&self) -> MutexGuard<'_, HashMap<PairKey, i64>> {
        self.confirmed.lock()
    }

    fn pairs(&self) -> MutexGuard<'_, HashMap<PairKey, Arc<RwLock<()>>>> {
        self.pairs.lock()
    }

    fn lock_of(&self, a: &str, b: &str) -> Arc<RwLock<()>> {
        Arc::clone(self.pairs().entry(pair(a, b)).or_default())
    }

    /// `Ok` when `a` and `b` are friends, [`ChatError::NotFriends`] (naming `b`) otherwise,
    /// answering the forget counter as it was before the answer was looked for. A bare check:
    /// nothing keeps them friends after it returns ([`FriendGuard::admit`] does).
    async fn check_noting_forgets(&self, a: &str, b: &str) -> ChatResult<u64> {
        let key = pair(a, b);
        let now = self.clock.now_ms();
        let forgets = {
            let confirmed = self.confirmed();
            let forgets = self.forgets.load(Ordering::SeqCst);
            if confirmed.get(&key).is_some_and(|until| *until > now) {
                return Ok(forgets);
            }
            forgets
        };
        if !self.store.are_friends(a, b).await? {
            return Err(ChatError::NotFriends(b.to_owned()));
        }
        let mut confirmed = self.confirmed();
        // A forget since the read began may be of this pair: the answer may predate it.
        if self.forgets.load(Ordering::SeqCst) == forgets {
            confirmed.insert(key, now.saturating_add(self.ttl_ms));
        }
        Ok(forgets)
    }

    /// Admits a relay from `a` to `b`: `Ok` with a [`Pass`] to hold until the relay is stored
    /// and pushed when they are friends, [`ChatError::NotFriends`] (naming `b`) otherwise.
    ///
    /// # Errors
    /// [`ChatError::NotFriends`], or the store's failure.
    pub(crate) async fn admit(&self, a: &str, b: &str) -> ChatResult<Pass> {
        let forgets = self.check_noting_forgets(a, b).await?;
        let held = self.lock_of(a, b).read_owned().await;
        // An unfriend of this node finished between the answer and now: ask again, under the
        // lock, where no unfriend of this pair can overlap the read.
        if self.forgets.load(Ordering::SeqCst) != forgets && !self.store.are_friends(a, b).await? {
            return Err(ChatError::NotFriends(b.to_owned()));
        }
        Ok(Pass { _pair: held })
    }

    /// Waits until no relay between `a` and `b` is under way and holds off new ones until the
    /// returned guard is dropped. An unfriend holds it over the store's removal of the link and
    /// [`FriendGuard::forget`].
    pub(crate) async fn exclusive(&self, a: &str, b: &str) -> Exclusive {
        Exclusive {
            _pair: self.lock_of(a, b).write_owned().await,
        }
    }

    /// Forgets a confirmed friendship (it just ended).
    pub(crate) fn forget(&self, a: &str, b: &str) {
        let mut confirmed = self.confirmed();
        self.forgets.fetch_add(1, Ordering::SeqCst);
        confirmed.remove(&pair(a, b));
    }

    /// Drops confirmations that expired and pair locks nobody holds, so the memory held follows
    /// active conversations.
    pub(crate) fn prune(&self) {
        let now = self.clock.now_ms();
        self.confirmed().retain(|_, until| *until > now);
        // The map's own reference is the only one left when no relay or unfriend holds it.
        self.pairs().retain(|_, lock| Arc::strong_count(lock) > 1);
    }
}
