//! Who the user of a request is: a pluggable [`Identity`], with nexchat's own JWT accounts
//! ([`JwtIdentity`]) as the default.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{ChatError, ChatResult};

/// An authenticated user: [`Principal::new`], with [`Principal::expiring_at`] when the
/// credentials expire.
///
/// ```
/// use nexchat_core::Principal;
/// let user = Principal::new("alice").expiring_at(1_700_000_000_000);
/// assert_eq!((user.username.as_str(), user.expires_at), ("alice", Some(1_700_000_000_000)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The user's name: 3 to 32 characters of `A-Z a-z 0-9 _ . -` (the protocol's username
    /// rule). nexchat provisions an account for a name it has not seen yet.
    pub username: String,
    /// When the credentials expire (ms); an open socket is closed then. `None`: never.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// The user named `username`, whose credentials never expire.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            expires_at: None,
        }
    }

    /// The same user, with credentials that expire at `at_ms` (ms since the Unix epoch): an
    /// open socket of theirs is closed with 4001 then.
    #[must_use]
    pub fn expiring_at(mut self, at_ms: i64) -> Self {
        self.expires_at = Some(at_ms);
        self
    }
}

/// Why an [`Identity`] did not name a user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The token is not good: unknown, expired, revoked, malformed. Answered 401, like every
    /// other bad credential.
    #[error("invalid credentials")]
    Unauthorized,
    /// The identity could not tell (its database or identity provider failed). Answered 500;
    /// the source is logged, not sent.
    #[error("the identity failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IdentityError {
    /// A failure of what the identity relies on, keeping `source` for the log.
    pub fn failed(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Failed(source.into())
    }
}

impl From<IdentityError> for ChatError {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Unauthorized => Self::Unauthorized,
            IdentityError::Failed(source) => {
                // The whole chain, once: the answer says only "internal error".
                let mut detail = source.to_string();
                let mut next = source.source();
                while let Some(cause) = next {
                    detail.push_str(": ");
                    detail.push_str(&cause.to_string());
                    next = cause.source();
                }
                tracing::error!(error = %detail, "the identity failed");
                Self::Internal(format!("identity: {detail}"))
            }
        }
    }
}

/// Turns the bearer token of a request (the `Authorization: Bearer` header, or `?token=` on
/// `/ws`) into a user. Implement it to make nexchat trust an app's own login; nothing but
/// nexchat's crates is needed (the method is a plain `async fn`).
///
/// The name it returns must follow the protocol's username rule (3 to 32 characters of
/// `A-Z a-z 0-9 _ . -`); map other user ids (emails, UUIDs) to a stable handle of that shape.
/// A name outside the rule is refused with a logged error that names the rule.
///
/// ```
/// use nexchat_core::{Identity, IdentityError, Principal};
///
/// /// An app whose own session table maps opaque session ids to user names.
/// struct AppSessions(std::collections::HashMap<String, String>);
///
/// impl Identity for AppSessions {
///     async fn identify(&self, token: &str) -> Result<Principal, IdentityError> {
///         let username = self.0.get(token).ok_or(IdentityError::Unauthorized)?;
///         Ok(Principal::new(username.clone()))
///     }
/// }
/// ```
pub trait Identity: Send + Sync + 'static {
    /// The user the token belongs to.
    ///
    /// # Errors
    /// [`IdentityError::Unauthorized`] for a token that is not good now;
    /// [`IdentityError::Failed`] when the answer cannot be had.
    fn identify(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Principal, IdentityError>> + Send;
}

/// A boxed identity future, so the chat can hold any [`Identity`] behind one pointer.
type IdentifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Principal, IdentityError>> + Send + 'a>>;

/// [`Identity`] made object-safe: `async fn` in a trait cannot be called through `dyn`.
pub(crate) trait DynIdentity: Send + Sync + 'static {
    fn identify_boxed<'a>(&'a self, token: &'a str) -> IdentifyFuture<'a>;
}

impl<T: Identity> DynIdentity for T {
    fn identify_boxed<'a>(&'a self, token: &'a str) -> IdentifyFuture<'a> {
        Box::pin(self.identify(token))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// Expiry in seconds since the epoch (RFC 7519).
    exp: i64,
    iat: i64,
    /// The login session the token belongs to; tokens without one are refused by the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// A unique id, so that no two tokens are the same (RFC 7519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// HS256 tokens signed with the chat's secret: nexchat's own accounts.
#[derive(Clone)]
pub struct JwtIdentity {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for JwtIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIdentity")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl JwtIdentity {
    /// Tokens signed with `secret`, valid for `ttl`, timed by `clock`.
    pub fn new(secret: &[u8], ttl: std::time::Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            clock,
        }
    }

    /// Signs a token for `username` naming the login session `session`, with a fresh unique id;
    /// returns it with its expiry (ms).
    ///
    /// # Errors
    /// [`ChatError::Internal`] when the token cannot be signed.
    pub fn issue(&self, username: &str, session: &str) -> ChatResult<(String, i64)> {
        let now = self.clock.now_ms();
        let expires_at = now.saturating_add(self.ttl_ms);
        let claims = Claims {
            sub: username.to_owned(),
            exp: expires_at / 1000,
            iat: now / 1000,
            sid: Some(session.to_owned()),
            jti: Some(uuid::Uuid::new_v4().to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ChatError::Internal(format!("signing a token: {e}")))?;
        Ok((token, (expires_at / 1000) * 1000))
    }
}

impl Identity for JwtIdentity {
    async fn identify(&self, token: &str) -> Result<Principal, IdentityError> {
        self.verify(token)
            .map(|(principal, _)| principal)
            .map_err(|_| IdentityError::Unauthorized)
    }
}

impl JwtIdentity {
    /// Checks a token's signature and expiry; returns its user and the login session it names
    /// (`None` for a token made before tokens named sessions).
    pub(crate) fn verify(&self, token: &str) -> ChatResult<(Principal, Option<String>)> {
        // The algorithm is pinned: a token claiming `none` or another algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the chat's clock below, so tests can move time.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ChatError::Unauthorized)?;
        let expires_at = data.claims.exp.saturating_mul(1000);
        if expires_at <= self.clock.now_ms() {
            return Err(ChatError::Unauthorized);
        }
        Ok((
            Principal {
                username: data.claims.sub,
                expires_at: Some(expires_at),
            },
            data.claims.sid,
        ))
    }
}
