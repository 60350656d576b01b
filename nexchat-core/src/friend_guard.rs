//! The one check every relay (message, typing, call) passes through.

use std::sync::Arc;

use crate::error::{ChatError, ChatResult};
use crate::store::Store;

/// Refuses any relay between two users who are not friends right now.
///
/// It asks the store every time rather than caching: an unfriend on another node must stop the
/// very next message here too.
#[derive(Clone)]
pub struct FriendGuard {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for FriendGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendGuard").finish_non_exhaustive()
    }
}

impl FriendGuard {
    /// A guard over `store`'s friendships.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// `Ok` when `a` and `b` are friends, [`ChatError::NotFriends`] (naming `b`) otherwise.
    pub async fn check(&self, a: &str, b: &str) -> ChatResult<()> {
        if self.store.are_friends(a, b).await? {
            Ok(())
        } else {
            Err(ChatError::NotFriends(b.to_owned()))
        }
    }
}
