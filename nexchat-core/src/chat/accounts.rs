//! Accounts: register, log in, look users up.

use tokio::sync::OnceCell;

use super::{Chat, ClientInfo};
use crate::error::{ChatError, ChatResult};
use crate::protocol::PublicKey;
use crate::protocol::rest::{
    LoginRequest, LoginResponse, RegisterRequest, RegisterResponse, UserSearchResponse, UserSummary,
};
use crate::store::{StoreError, UserRecord};

/// Checks the protocol's username rule: 3 to 32 of `A-Z a-z 0-9 _ . -`.
pub(crate) fn validate_username(name: &str) -> ChatResult<()> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(ChatError::bad_request(
            "username must be 3 to 32 characters of A-Z a-z 0-9 _ . -",
        ))
    }
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
    pub async fn register(
        &self,
        request: RegisterRequest,
        client: &ClientInfo,
    ) -> ChatResult<RegisterResponse> {
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
            password_hash: self
                .inner
                .hasher
                .hash(&request.password, self.inner.config.bcrypt_cost)
                .await?,
            public_key: request.public_key.to_json(),
            encrypted_private_key: backup,
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
    /// with the right password.
    pub async fn login(
        &self,
        request: LoginRequest,
        client: &ClientInfo,
    ) -> ChatResult<LoginResponse> {
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
        let public_key = PublicKey::from_json(&user.public_key).map_err(|detail| {
            ChatError::from(StoreError::Corrupt {
                collection: "users".into(),
                id: user.username.clone(),
                detail: format!("publicKey: {detail}"),
            })
        })?;
        let encrypted_private_key =
            serde_json::from_str(&user.encrypted_private_key).unwrap_or(serde_json::Value::Null);
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
                    .verify(&request.password, &user.password_hash)
                    .await? =>
            {
                Ok(user)
            }
            Some(_) => Err(ChatError::Unauthorized),
            None => {
                // Spend the same time as a real check, so timing does not reveal who exists.
                let dummy = self.dummy_hash().await?;
                self.inner.hasher.verify(&request.password, dummy).await?;
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

    /// The registered name for a user an identity vouches for, creating a password-less
    /// account on first sight.
    pub(super) async fn ensure_account(&self, username: &str) -> ChatResult<String> {
        if let Some(user) = self.store().find_user(username).await? {
            return Ok(user.username);
        }
        validate_username(username).map_err(|_| ChatError::Unauthorized)?;
        let user = UserRecord {
            username: username.to_owned(),
            password_hash: String::new(),
            public_key: String::new(),
            encrypted_private_key: String::new(),
            created_at: self.now(),
            kdf: None,
        };
        match self.store().create_user(&user).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(err) => return Err(err.into()),
        }
        // Taken, yet not found: the name is that of an erased account, which never comes back.
        self.canonical(username).await.map_err(|err| match err {
            ChatError::UserNotFound => ChatError::Unauthorized,
            other => other,
        })
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
    pub async fn public_key_of(&self, name: &str) -> ChatResult<(String, PublicKey)> {
        let user = self
            .store()
            .find_user(name)
            .await?
            .ok_or(ChatError::UserNotFound)?;
        if user.public_key.is_empty() {
            return Err(ChatError::NotFound(format!(
                "{} has not published a public key yet",
                user.username
            )));
        }
        let key = PublicKey::from_json(&user.public_key).map_err(|detail| {
            ChatError::from(StoreError::Corrupt {
                collection: "users".into(),
                id: user.username.clone(),
                detail: format!("publicKey: {detail}"),
            })
        })?;
        Ok((user.username, key))
    }
}
