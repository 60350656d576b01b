//! `users`: unique case-insensitively through the unique index on `usernameLower`.
//!
//! `erasure` is missing (or null) while an account is live, `"pending"` from the first step of
//! its erasure, and `"done"` on the tombstone that keeps its name taken. Every read and update of
//! an account filters on `erasure: null`, which matches a missing field too, so documents written
//! before the field existed are live accounts.
//!
//! `password`, `publicKey` and `encryptedPrivateKey` are null when the account has none;
//! documents written before that was so hold `""` instead, which reads as none too.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Document, doc};
use nexchat_core::store::{Credentials, StoreError, StoreResult, UserRecord, UserStore};

use super::docs::{self, Reader, lower};
use super::{MongoStore, backend, collections, is_duplicate_key};

#[async_trait]
impl UserStore for MongoStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        match self.users.insert_one(docs::user_to_doc(user)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(format!(
                "username {} is taken",
                user.username
            ))),
            Err(e) => Err(backend(e)),
        }
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.users
            .find_one(doc! { "usernameLower": lower(username), "erasure": null })
            .await
            .map_err(backend)?
            .map(|d| docs::user_from_doc(&d))
            .transpose()
    }

    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        let result = self
            .users
            .update_one(
                doc! { "usernameLower": lower(username), "erasure": null },
                doc! { "$set": { "publicKey": public_key } },
            )
            .await
            .map_err(backend)?;
        if result.matched_count == 0 {
            return Err(StoreError::NotFound(format!("user {username}")));
        }
        Ok(())
    }

    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A range on the indexed lowercase name rather than `$regex`: the same on every server,
        // and no escaping of the user's text.
        let prefix = lower(prefix);
        let mut range = doc! { "$gte": &prefix, "$ne": lower(exclude) };
        if let Some(upper) = prefix_successor(&prefix) {
            range.insert("$lt", upper);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<Document> = self
            .users
            .find(doc! { "usernameLower": range, "erasure": null })
            .projection(doc! { "username": 1, "usernameLower": 1 })
            .sort(doc! { "usernameLower": 1 })
            .limit(limit)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found
            .iter()
            .map(|d| Reader::new(collections::USERS, d).str("username"))
            .collect()
    }

    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! {
                    "usernameLower": lower(username),
                    "password": expected_hash,
                    "erasure": null,
                },
                doc! { "$set": {
                    "password": &credentials.password_hash,
                    "kdf": credentials.kdf.as_deref(),
                    "encryptedPrivateKey": &credentials.encrypted_private_key,
                } },
            )
            .await
            .map_err(backend)?;
        Ok(result.matched_count == 1)
    }

    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! { "usernameLower": lower(username), "erasure": null },
                doc! { "$set": { "erasure": ERASURE_PENDING } },
            )
            .await
            .map_err(backend)?;
        Ok(result.matched_count == 1)
    }

    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        let found: Vec<Document> = self
            .users
            .find(doc! { "erasure": ERASURE_PENDING })
            .projection(doc! { "username": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        found
            .iter()
            .map(|d| Reader::new(collections::USERS, d).str("username"))
            .collect()
    }

    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        self.users
            .update_one(
                doc! { "usernameLower": lower(username), "erasure": ERASURE_PENDING },
                doc! { "$set": {
                    "erasure": ERASURE_DONE,
                    "password": null,
                    "publicKey": null,
                    "encryptedPrivateKey": null,
                    "kdf": null,
                } },
            )
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// `erasure` of an account whose erasure has begun.
const ERASURE_PENDING: &str = "pending";
/// `erasure` of a tombstone.
const ERASURE_DONE: &str = "done";

/// The least string greater than every string that starts with `prefix` (in code point order,
/// which is also UTF-8 byte order); `None` when there is none (every string qualifies).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn successor_of_prefix() {
        assert_eq!(prefix_successor("al").as_deref(), Some("am"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }
}
