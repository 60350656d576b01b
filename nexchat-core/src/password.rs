//! Password hashing: bcrypt over a SHA-256 pre-hash, on the blocking pool.
//!
//! bcrypt reads at most 72 bytes and some implementations refuse more; hashing the password
//! with SHA-256 first (and base64-encoding the digest, so no NUL byte reaches bcrypt) lets a
//! 1024-character password count in full.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{ChatError, ChatResult};

fn prehash(password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(password.as_bytes()))
}

/// Hashes a password with bcrypt at `cost`, off the async workers.
pub async fn hash(password: &str, cost: u32) -> ChatResult<String> {
    let pre = prehash(password);
    tokio::task::spawn_blocking(move || bcrypt::hash(pre, cost))
        .await
        .map_err(|e| ChatError::Internal(format!("hashing task: {e}")))?
        .map_err(|e| ChatError::Internal(format!("bcrypt: {e}")))
}

/// Checks a password against a stored hash, off the async workers. An empty or malformed hash
/// never matches.
pub async fn verify(password: &str, stored_hash: &str) -> ChatResult<bool> {
    if stored_hash.is_empty() {
        return Ok(false);
    }
    let pre = prehash(password);
    let stored = stored_hash.to_owned();
    tokio::task::spawn_blocking(move || bcrypt::verify(pre, &stored).unwrap_or(false))
        .await
        .map_err(|e| ChatError::Internal(format!("verify task: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_passwords_count_in_full() {
        let a = "x".repeat(100);
        let b = format!("{}y", "x".repeat(99));
        let h = hash(&a, 4).await.unwrap();
        assert!(verify(&a, &h).await.unwrap());
        assert!(!verify(&b, &h).await.unwrap(), "bytes past 72 must matter");
    }

    #[tokio::test]
    async fn empty_hash_never_matches() {
        assert!(!verify("anything", "").await.unwrap());
        assert!(!verify("anything", "not-a-hash").await.unwrap());
    }
}
