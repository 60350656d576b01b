//! Password hashing: bcrypt over a SHA-256 pre-hash, on the blocking pool, a bounded number
//! at a time.
//!
//! bcrypt reads at most 72 bytes and some implementations refuse more; hashing the password
//! with SHA-256 first (and base64-encoding the digest, so no NUL byte reaches bcrypt) lets a
//! 1024-character password count in full.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ChatError, ChatResult};

fn prehash(password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(password.as_bytes()))
}

/// Runs bcrypt on the blocking pool, at most `at_once` hashes at a time with at most `waiting`
/// more in line: bcrypt is slow on purpose, and without a bound a burst of logins would take
/// every blocking thread and core while other users' requests wait behind it.
#[derive(Debug)]
pub(crate) struct Hasher {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Hasher {
    pub(crate) fn new(at_once: usize, waiting: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(at_once.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: waiting,
        }
    }

    /// Waits for a slot; [`ChatError::RateLimited`] at once when the line is full.
    async fn slot(&self) -> ChatResult<OwnedSemaphorePermit> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let in_line = self.waiting.fetch_add(1, Ordering::AcqRel);
        crate::metrics::hashing_waiting(1.0);
        let _leave = scopeguard(&self.waiting);
        if in_line >= self.max_waiting {
            crate::metrics::hashing_refused();
            return Err(ChatError::RateLimited {
                retry_after_secs: 1,
            });
        }
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| ChatError::Internal(format!("hashing slots: {e}")))
    }

    /// Hashes a password with bcrypt at `cost`, off the async workers.
    ///
    /// # Errors
    /// [`ChatError::RateLimited`] when too many hashes are waiting; [`ChatError::Internal`] if
    /// bcrypt fails.
    pub(crate) async fn hash(&self, password: &str, cost: u32) -> ChatResult<String> {
        let pre = prehash(password);
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let hashed = bcrypt::hash(pre, cost);
            drop(slot);
            hashed
        })
        .await
        .map_err(|e| ChatError::Internal(format!("hashing task: {e}")))?
        .map_err(|e| ChatError::Internal(format!("bcrypt: {e}")))
    }

    /// Checks a password against a stored hash, off the async workers. No hash (an account
    /// without a password) or a malformed one never matches.
    ///
    /// # Errors
    /// [`ChatError::RateLimited`] when too many checks are waiting.
    pub(crate) async fn verify(
        &self,
        password: &str,
        stored_hash: Option<&str>,
    ) -> ChatResult<bool> {
        let Some(stored_hash) = stored_hash.filter(|h| !h.is_empty()) else {
            return Ok(false);
        };
        let pre = prehash(password);
        let stored = stored_hash.to_owned();
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let matched = bcrypt::verify(pre, &stored).unwrap_or(false);
            drop(slot);
            matched
        })
        .await
        .map_err(|e| ChatError::Internal(format!("verify task: {e}")))
    }
}

/// Leaves the line when dropped (the wait was cancelled, refused or served).
fn scopeguard(waiting: &AtomicUsize) -> impl Drop + '_ {
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
            crate::metrics::hashing_waiting(-1.0);
        }
    }
    Leave(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_passwords_count_in_full() {
        let hasher = Hasher::new(2, 8);
        let a = "x".repeat(100);
        let b = format!("{}y", "x".repeat(99));
        let h = hasher.hash(&a, 4).await.unwrap();
        assert!(hasher.verify(&a, Some(&h)).await.unwrap());
        assert!(
            !hasher.verify(&b, Some(&h)).await.unwrap(),
            "bytes past 72 must matter"
        );
    }

    #[tokio::test]
    async fn no_hash_never_matches() {
        let hasher = Hasher::new(1, 1);
        assert!(!hasher.verify("anything", None).await.unwrap());
        assert!(!hasher.verify("anything", Some("")).await.unwrap());
        assert!(!hasher.verify("anything", Some("not-a-hash")).await.unwrap());
    }

    /// With every slot taken, `waiting` hashes wait and the next one is refused at once; when a
    /// slot frees, the waiting ones run.
    #[tokio::test]
    async fn a_full_line_is_refused_not_queued() {
        let hasher = Arc::new(Hasher::new(1, 2));
        let busy = Arc::clone(&hasher.slots).try_acquire_owned().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let hasher = Arc::clone(&hasher);
                tokio::spawn(async move { hasher.hash("password", 4).await })
            })
            .collect();
        while hasher.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(
            matches!(
                hasher.hash("password", 4).await,
                Err(ChatError::RateLimited {
                    retry_after_secs: 1
                })
            ),
            "a third waiter is refused"
        );
        assert_eq!(
            hasher.waiting.load(Ordering::Acquire),
            2,
            "the refusal left the line"
        );
        drop(busy);
        for waiter in waiters {
            assert!(
                waiter.await.unwrap().is_ok(),
                "waiters run once a slot frees"
            );
        }
        assert_eq!(hasher.waiting.load(Ordering::Acquire), 0);
    }
}
