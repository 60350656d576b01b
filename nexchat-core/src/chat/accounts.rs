//! Accounts: register, log in, look users up, and the password-less accounts of an app's own
//! [`crate::Identity`] (created on first sight, or provisioned ahead by the app).

use tokio::sync::OnceCell;

use super::{Chat, ClientInfo};
use crate::error::{ChatError, ChatResult};
use crate::protocol::rest::{
    LoginRequest, LoginResponse, RegisterRequest, RegisterResponse, UserSearchResponse, UserSummary,
};
use crate::protocol::{PublicKey, is_valid_username};
use crate::store::{StoreError, UserRecord};

/// The protocol's username rule, as error messages state it.
const USERNAME_RULE: &str = "3 to 32 characters of A-Z a-z 0-9 _ . -";

/// Checks the protocol's username rule: 3 to 32 of `A-Z a-z 0-9 _ . -`.
pub(crate) fn validate_username(name: &str) -> ChatResult<()> {
    if is_valid_username(name) {
        Ok(())
    } else {
        Err(ChatError::bad_request(format!(
            "username must be {USERNAME_RULE}"
        )))
    }
}

/// An account an app's identity may act as: one without a password (its own, or provisioned).
fn host_owned(user: UserRecord) -> ChatResult<String> {
    if user.password_hash.is_none() {
        return Ok(user.username);
    }
    tracing::warn!(
        user = %user.username,
        "the app's identity named a nexchat account that has a password; refused, so that a \
         name registered with nexchat is never handed to the app's user of that name"
    );
    Err(ChatError::Forbidden(format!(
        "{} is a nexchat account with a password, not one of this application's users",
        user.username
    )))
}

pub(super) fn validate_password(password: &str) -> ChatResult<()> {
    if (8..=1024).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(ChatError::bad_request(
            "password must be 8 to 1024 characters",
        ))
    }
}

impl Chat {
    /// Creates an account. The private key backup and the `kdf` parameters are stored unread. Successful registrations
    /// are limited per client address ([`crate::Limits::registrations_per_hour`]).
    ///
    /// # Errors
    /// [`ChatError::Forbidden`] when nexchat's own accounts are off
    /// ([`crate::ChatBuilder::own_accounts`]); [`ChatError::Conflict`] for a name that is
    /// taken (by any account, a password-less one of the app's identity too);
    /// [`ChatError::BadRequest`], [`ChatError::TooLarge`], [`ChatError::RateLimited`].
    pub async fn register(
        &self,
        request: RegisterRequest,
        client: &ClientInfo,
    ) -> ChatResult<RegisterResponse> {
        self.own_accounts_on()?;
        // Booked before the work, so concurrent registrations cannot slip past the limit, and
        // taken back unless the account is created.
        let booking = self
            .inner
            .throttle
            .book_registration(client.address, self.now())
            .map_err(|retry_after_secs| ChatError::RateLimited { retry_after_secs })?;
        let created = self.create_account(request).await;
        if created.is_err() {
            self.inner.throttle.release_registration(booking);
        }
        created
    }

    async fn create_account(&self, request: RegisterRequest) -> ChatResult<RegisterResponse> {
        validate_username(&request.username)?;
        validate_password(&request.password)?;
        let backup = self.key_backup_text(&request.encrypted_private_key)?;
        let kdf = self.kdf_text(request.kdf.as_ref())?;
        if self.store().find_user(&request.username).await?.is_some() {
            return Err(ChatError::Conflict("username is taken".into()));
        }
        let user = UserRecord {
            username: request.username,
            password_hash: Some(
                self.inner
                    .hasher
                    .hash(&request.password, self.inner.config.bcrypt_cost)
                    .await?,
            ),
            public_key: Some(request.public_key.to_json()),
            encrypted_private_key: Some(backup),
            created_at: self.now(),
            kdf,
        };
        match self.store().create_user(&user).await {
            Ok(()) => Ok(RegisterResponse {
                username: user.username,
            }),
            Err(StoreError::Conflict(_)) => Err(ChatError::Conflict("username is taken".into())),
            Err(err) => Err(err.into()),
        }
    }

    /// Checks a password, starts a login session and issues its token. Unknown users and wrong
    /// passwords get the same answer, after the same bcrypt work; a name that cannot exist is
    /// refused the same way before anything is counted. Failures are throttled per (name,
    /// address), per name and per address: past a limit the attempt is refused (429), even
    /// with the right password. An account without a password (one of an app's identity)
    /// never matches.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`], [`ChatError::RateLimited`]; [`ChatError::Forbidden`] when
    /// nexchat's own accounts are off.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: &ClientInfo,
    ) -> ChatResult<LoginResponse> {
        self.own_accounts_on()?;
        validate_username(&request.username).map_err(|_| ChatError::Unauthorized)?;
        // Booked as a failure before checking, so concurrent guesses cannot slip past the
        // limit; taken back unless the answer is 401.
        let booking = self
            .inner
            .throttle
            .book_login(&request.username, client.address, self.now())
            .map_err(|retry_after_secs| ChatError::RateLimited { retry_after_secs })?;
        let checked = self.check_password(&request).await;
        if !matches!(checked, Err(ChatError::Unauthorized)) {
            self.inner.throttle.release_login(booking);
        }
        let user = checked?;
        let (token, expires_at) = self.open_session(&user.username, client).await?;
        // An account with a password registered with its key.
        let public_key = stored_key(&user)?.ok_or_else(|| {
            ChatError::from(StoreError::Corrupt {
                collection: "users".into(),
                id: user.username.clone(),
                detail: "publicKey: missing".into(),
            })
        })?;
        let encrypted_private_key = user
            .encrypted_private_key
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(serde_json::Value::Null);
        Ok(LoginResponse {
            token,
            username: user.username,
            public_key,
            encrypted_private_key,
            expires_at,
        })
    }

    /// The user whose password this is, or [`ChatError::Unauthorized`].
    pub(super) async fn check_password(&self, request: &LoginRequest) -> ChatResult<UserRecord> {
        match self.store().find_user(&request.username).await? {
            Some(user)
                if self
                    .inner
                    .hasher
                    .verify(&request.password, user.password_hash.as_deref())
                    .await? =>
            {
                Ok(user)
            }
            Some(_) => Err(ChatError::Unauthorized),
            None => {
                // Spend the same time as a real check, so timing does not reveal who exists.
                let dummy = self.dummy_hash().await?;
                self.inner
                    .hasher
                    .verify(&request.password, Some(dummy))
                    .await?;
                Err(ChatError::Unauthorized)
            }
        }
    }

    async fn dummy_hash(&self) -> ChatResult<&'static str> {
        static DUMMY: OnceCell<String> = OnceCell::const_new();
        let cost = self.inner.config.bcrypt_cost;
        DUMMY
            .get_or_try_init(|| self.inner.hasher.hash("not a password of anyone", cost))
            .await
            .map(String::as_str)
    }

    /// Refuses what only nexchat's own accounts may do when they are off.
    pub(super) fn own_accounts_on(&self) -> ChatResult<()> {
        if self.inner.own_accounts {
            Ok(())
        } else {
            Err(ChatError::Forbidden(
                "accounts are managed by the application this chat is part of".into(),
            ))
        }
    }

    /// The registered name for a user an app's identity vouches for, creating a password-less
    /// account on first sight.
    ///
    /// # Errors
    /// [`ChatError::Forbidden`] (logged) for a name outside the username rule or one that is a
    /// nexchat account with a password; [`ChatError::Unauthorized`] for an erased account's.
    pub(super) async fn host_account(&self, username: &str) -> ChatResult<String> {
        if !is_valid_username(username) {
            tracing::error!(
                name = %username,
                "the app's identity named a user outside the username rule ({USERNAME_RULE}); \
                 map its user ids to stable handles that follow it"
            );
            return Err(ChatError::Forbidden(format!(
                "this application's login names a user nexchat cannot take: a username must \
                 be {USERNAME_RULE}"
            )));
        }
        match self.passwordless_account(username).await? {
            Some(user) => host_owned(user),
            // The name of an erased account, which never comes back.
            None => Err(ChatError::Unauthorized),
        }
    }

    /// Creates a password-less account named `name` unless one exists, and returns the account
    /// holding the name: the new one, or the one found. `None` when the name is taken but not
    /// found: an erased account's.
    async fn passwordless_account(&self, name: &str) -> ChatResult<Option<UserRecord>> {
        if let Some(user) = self.store().find_user(name).await? {
            return Ok(Some(user));
        }
        let user = UserRecord {
            username: name.to_owned(),
            password_hash: None,
            public_key: None,
            encrypted_private_key: None,
            created_at: self.now(),
            kdf: None,
        };
        match self.store().create_user(&user).await {
            Ok(()) => Ok(Some(user)),
            // Someone else took it meanwhile: whoever did holds it now.
            Err(StoreError::Conflict(_)) => Ok(self.store().find_user(name).await?),
            Err(err) => Err(err.into()),
        }
    }

    /// Creates the password-less account of an app's user ahead of their first visit, so
    /// friends can add them at once; their first socket then finds it. Does nothing for a name
    /// that already is such an account (returns it as registered, in its letter case).
    ///
    /// Until the user first publishes a key (a `join`), friendships with them are pushed with
    /// `publicKey: null`, and their first key comes to friends as `key_changed`.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] for a name outside the username rule;
    /// [`ChatError::Conflict`] for the name of a nexchat account with a password or of an
    /// erased account.
    pub async fn provision_user(&self, username: &str) -> ChatResult<String> {
        validate_username(username)?;
        match self.passwordless_account(username).await? {
            Some(user) if user.password_hash.is_none() => Ok(user.username),
            Some(user) => Err(ChatError::Conflict(format!(
                "{} is a nexchat account with a password",
                user.username
            ))),
            None => Err(ChatError::Conflict(
                "the name is that of an erased account".into(),
            )),
        }
    }

    /// Erases a user's account without their password, as an app does when its own user is
    /// deleted: everything [`Chat::delete_account`] erases goes, in the same order, their
    /// sockets close, and former friends get `friend_removed`. The name stays reserved.
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`] for a name without a live account (erased already, or
    /// being erased).
    pub async fn erase_user(&self, username: &str) -> ChatResult<()> {
        // The store, not the hub: a socket of an account just erased may not have left it yet.
        let name = self
            .store()
            .find_user(username)
            .await?
            .ok_or(ChatError::UserNotFound)?
            .username;
        if self.erase_account(&name).await? {
            Ok(())
        } else {
            Err(ChatError::UserNotFound)
        }
    }

    /// The registered spelling of a name, or [`ChatError::UserNotFound`].
    pub(super) async fn canonical(&self, name: &str) -> ChatResult<String> {
        // An online user's name in the hub is already canonical: no store round trip.
        if self.inner.hub.is_online(name) {
            return Ok(name.to_owned());
        }
        self.store()
            .find_user(name)
            .await?
            .map(|u| u.username)
            .ok_or(ChatError::UserNotFound)
    }

    /// Users whose name starts with `query` (case-insensitive), the caller left out,
    /// alphabetical, at most 20; `online` only for online friends.
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] for an empty query or one longer than any username; a store
    /// failure.
    pub async fn search_users(&self, caller: &str, query: &str) -> ChatResult<UserSearchResponse> {
        if query.is_empty() {
            return Err(ChatError::bad_request("q must not be empty"));
        }
        if query.len() > 32 {
            return Err(ChatError::bad_request("q is longer than any username"));
        }
        let names = self.store().search_users(query, caller, 20).await?;
        let friends = self.friends_of(caller).await?;
        let users = names
            .into_iter()
            .map(|username| {
                let online = friends.contains(&username) && self.inner.hub.is_online(&username);
                UserSummary { username, online }
            })
            .collect();
        Ok(UserSearchResponse { users })
    }

    /// A user's registered name and public key.
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`]; [`ChatError::NotFound`] for a user who has not published
    /// a key yet (provisioned, and never connected).
    pub async fn public_key_of(&self, name: &str) -> ChatResult<(String, PublicKey)> {
        match self.key_of(name).await? {
            (username, Some(key)) => Ok((username, key)),
            (username, None) => Err(ChatError::NotFound(format!(
                "{username} has not published a public key yet"
            ))),
        }
    }

    /// A user's registered name and public key, `None` before they publish one.
    pub(super) async fn key_of(&self, name: &str) -> ChatResult<(String, Option<PublicKey>)> {
        let user = self
            .store()
            .find_user(name)
            .await?
            .ok_or(ChatError::UserNotFound)?;
        let key = stored_key(&user)?;
        Ok((user.username, key))
    }
}

/// The user's public key as stored, `None` before they publish one.
fn stored_key(user: &UserRecord) -> ChatResult<Option<PublicKey>> {
    let Some(text) = user.public_key.as_deref() else {
        return Ok(None);
    };
    PublicKey::from_json(text).map(Some).map_err(|detail| {
        ChatError::from(StoreError::Corrupt {
            collection: "users".into(),
            id: user.username.clone(),
            detail: format!("publicKey: {detail}"),
        })
    })
}
