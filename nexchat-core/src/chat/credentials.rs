//! What unlocks an account, and its end: the `kdf` parameters (`GET /auth/params`), password
//! change and account erasure.
//!
//! The server never learns whether what a client sends as a password is the password itself
//! (a v1 client) or an auth key derived from it (v1.1): it bcrypts either, and stores the `kdf`
//! parameters and the key backup unread.
//!
//! An erasure leaves nothing half-done whatever point the server dies at. Its first step marks
//! the account in one store write: from then on it cannot log in and nobody can find it, but its
//! name stays taken. Then go its sessions, its friend links and requests (both ways), every
//! message and call it sent or received, and last its password hash, public key, key backup and
//! `kdf`, which turns the record into a tombstone that only reserves the name. Every step after the mark can
//! run again, so [`crate::ChatBuilder::build`] finishes any erasure a previous run left marked.

use serde_json::Value;

use super::accounts::{validate_password, validate_username};
use super::{Chat, ClientInfo};
use crate::error::{ChatError, ChatResult};
use crate::protocol::ServerEvent;
use crate::protocol::rest::{
    AccountDeleteRequest, AuthParams, LoginRequest, PasswordChangeRequest, TokenResponse,
};
use crate::store::{Credentials, StoreError, UserRecord};

impl Chat {
    /// The `kdf` parameters of `username`'s account: as stored, `None` for an account created
    /// without them, and for a name without a (live) account the made-up object of
    /// [`crate::Config::kdf_decoy`], the same at every call and in every letter case. The store
    /// is asked either way, so the answer takes as long for every name.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] for a name that breaks the username rule;
    /// [`ChatError::Forbidden`] when nexchat's own accounts are off.
    pub async fn auth_params(&self, username: &str) -> ChatResult<AuthParams> {
        self.own_accounts_on()?;
        validate_username(username)?;
        let kdf = match self.store().find_user(username).await? {
            Some(user) => user
                .kdf
                .map(|text| {
                    serde_json::from_str(&text).map_err(|err| {
                        ChatError::from(StoreError::Corrupt {
                            collection: "users".into(),
                            id: user.username.clone(),
                            detail: format!("kdf: {err}"),
                        })
                    })
                })
                .transpose()?,
            None => Some(
                self.inner
                    .config
                    .kdf_decoy
                    .for_name(&self.inner.config.jwt_secret, username),
            ),
        };
        Ok(AuthParams { kdf })
    }

    /// Replaces `user`'s password hash, `kdf` and key backup in one step (the public key stays),
    /// ends every session of the user, and returns a token that starts a new one.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] for a new password or `kdf`/backup that breaks the rules;
    /// [`ChatError::TooLarge`] past their size limits; [`ChatError::Unauthorized`] for a wrong
    /// current password (counted as a failed login); [`ChatError::RateLimited`] while the name
    /// is throttled; [`ChatError::Conflict`] when another change of the password won the race.
    pub async fn change_password(
        &self,
        user: &str,
        request: PasswordChangeRequest,
        client: &ClientInfo,
    ) -> ChatResult<TokenResponse> {
        validate_password(&request.new_password)?;
        let kdf = self.kdf_text(Some(&request.kdf))?;
        let backup = self.key_backup_text(&request.encrypted_private_key)?;
        let account = self
            .check_password_throttled(user, &request.current_password, client)
            .await?;
        // The password just matched, so the account has a hash.
        let current_hash = account
            .password_hash
            .clone()
            .ok_or(ChatError::Unauthorized)?;
        let credentials = Credentials {
            password_hash: self
                .inner
                .hasher
                .hash(&request.new_password, self.inner.config.bcrypt_cost)
                .await?,
            kdf,
            encrypted_private_key: backup,
        };
        let replaced = self
            .store()
            .replace_credentials(&account.username, &current_hash, &credentials)
            .await?;
        if !replaced {
            return Err(ChatError::Conflict(
                "the password was changed by another request meanwhile".into(),
            ));
        }
        self.end_sessions_of(&account.username).await?;
        let (token, expires_at) = self.open_session(&account.username, client).await?;
        Ok(TokenResponse { token, expires_at })
    }

    /// Erases `user`'s account (see the module docs for what goes and in which order): its
    /// sessions end, its live calls end, and every former friend gets `friend_removed`. The name
    /// stays reserved.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`] for a wrong password (counted as a failed login), or when the
    /// account is already being erased; [`ChatError::RateLimited`] while the name is throttled.
    pub async fn delete_account(
        &self,
        user: &str,
        request: AccountDeleteRequest,
        client: &ClientInfo,
    ) -> ChatResult<()> {
        let account = self
            .check_password_throttled(user, &request.password, client)
            .await?;
        if self.erase_account(&account.username).await? {
            Ok(())
        } else {
            Err(ChatError::Unauthorized)
        }
    }

    /// Marks the account `name` (as registered) for erasure and erases it, telling its former
    /// friends; `false` when it was marked already (another erasure is under way).
    pub(super) async fn erase_account(&self, name: &str) -> ChatResult<bool> {
        let friends = self.friends_of(name).await?;
        if !self.store().mark_erasing(name).await? {
            return Ok(false);
        }
        self.end_calls_of_user(name).await;
        // Its first step ends every session, closing the user's sockets before the answer.
        self.erase(name, &friends).await?;
        let removed = ServerEvent::FriendRemoved {
            from: name.to_owned(),
        };
        for friend in &friends {
            self.inner.hub.push(friend, &removed, None);
        }
        Ok(true)
    }

    /// Ends every login session of `user`, as a logout ends one: each is deleted from the store
    /// and refused from now on, and every socket of the user on this node is closed with 4003
    /// ("session ended") before this returns (on other nodes, as soon as the bus carries it
    /// there; without a bus, within [`crate::Config::session_cache_ttl`]). A password change and an account erasure end
    /// sessions through here.
    async fn end_sessions_of(&self, user: &str) -> ChatResult<()> {
        let now = self.now();
        for record in self.store().sessions_of(user).await? {
            self.end_session(&record.id, record.expires_at.max(now))
                .await?;
        }
        // Sockets of an embedder's own identity belong to no nexchat session.
        self.inner.hub.end_user(user);
        Ok(())
    }

    /// The steps of an erasure after the mark (ending its sessions first); each can run again. `friends` are forgotten by
    /// the friend guard once the links are gone, so no relay to them passes on a cached answer.
    async fn erase(&self, user: &str, friends: &[String]) -> ChatResult<()> {
        let store = self.store();
        self.end_sessions_of(user).await?;
        // As an unfriend does (see `FriendGuard`): no relay to a friend is between its check
        // and its push while the links go. One lock at a time, in the friends' name order (the
        // order of the pairs' keys), so that two erasures of friends cannot each wait for a
        // lock the other holds.
        let mut pairs: Vec<&String> = friends.iter().collect();
        pairs.sort();
        let mut held = Vec::with_capacity(pairs.len());
        for friend in &pairs {
            held.push(self.inner.guard.exclusive(user, friend).await);
        }
        let deleted = store.delete_links_of(user).await;
        for friend in friends {
            self.inner.guard.forget(user, friend);
        }
        drop(held);
        deleted?;
        store.delete_messages_of(user).await?;
        self.leave_every_group(user).await?;
        store.delete_group_messages_of(user).await?;
        self.erase_attachments_of(user).await?;
        store.delete_calls_of(user).await?;
        store.tombstone_user(user).await?;
        Ok(())
    }

    /// Finishes the erasures a previous run left marked.
    pub(super) async fn finish_erasures(&self) -> ChatResult<()> {
        for user in self.store().erasing_users().await? {
            tracing::info!(user, "finishing an interrupted account erasure");
            self.erase(&user, &[]).await?;
        }
        Ok(())
    }

    /// Checks `password` for `username` under the failed-login throttle, as a login from
    /// `client` does: a wrong one counts as a failed login, and a throttled name or address is
    /// refused even with the right one.
    async fn check_password_throttled(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> ChatResult<UserRecord> {
        // Booked before checking, so concurrent guesses cannot slip past the limit.
        let booking = self
            .inner
            .throttle
            .book_login(username, client.address, self.now())
            .map_err(|retry_after_secs| ChatError::RateLimited { retry_after_secs })?;
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let checked = self.check_password(&request).await;
        if !matches!(checked, Err(ChatError::Unauthorized)) {
            self.inner.throttle.release_login(booking);
        }
        checked
    }

    /// A `kdf` value as the text to store: `None` for absent or `null`.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] when it is not a JSON object; [`ChatError::TooLarge`] past
    /// [`crate::Limits::max_kdf_bytes`].
    pub(super) fn kdf_text(&self, kdf: Option<&Value>) -> ChatResult<Option<String>> {
        let kdf = match kdf {
            None | Some(Value::Null) => return Ok(None),
            Some(kdf) if !kdf.is_object() => {
                return Err(ChatError::bad_request("kdf must be a JSON object or null"));
            }
            Some(kdf) => kdf.to_string(),
        };
        let max = self.inner.config.limits.max_kdf_bytes;
        if kdf.len() > max {
            return Err(ChatError::TooLarge(format!("kdf is over {max} bytes")));
        }
        Ok(Some(kdf))
    }

    /// An `encryptedPrivateKey` value as the text to store.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] when it is not a JSON object; [`ChatError::TooLarge`] past
    /// [`crate::Limits::max_private_key_bytes`].
    pub(super) fn key_backup_text(&self, backup: &Value) -> ChatResult<String> {
        if !backup.is_object() {
            return Err(ChatError::bad_request(
                "encryptedPrivateKey must be a JSON object",
            ));
        }
        let backup = backup.to_string();
        let max = self.inner.config.limits.max_private_key_bytes;
        if backup.len() > max {
            return Err(ChatError::TooLarge(format!(
                "encryptedPrivateKey is over {max} bytes"
            )));
        }
        Ok(backup)
    }
}
