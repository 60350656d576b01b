//! Who the user of a request is: a pluggable [`Identity`], with nexchat's own JWT accounts
//! ([`JwtIdentity`]) as the default.

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{ChatError, ChatResult};

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name. nexchat provisions an account for a name it has not seen yet.
    pub username: String,
    /// When the credentials expire (ms); an open socket is closed then. `None`: never.
    pub expires_at: Option<i64>,
}

/// Turns the bearer token of a request (the `Authorization: Bearer` header, or `?token=` on
/// `/ws`) into a user. Implement it to make nexchat trust an app's own login.
///
/// ```
/// use async_trait::async_trait;
/// use nexchat_core::{ChatError, ChatResult, Identity, Principal};
///
/// /// An app whose own session table maps opaque session ids to user names.
/// struct AppSessions(std::collections::HashMap<String, String>);
///
/// #[async_trait]
/// impl Identity for AppSessions {
///     async fn identify(&self, token: &str) -> ChatResult<Principal> {
///         let username = self.0.get(token).ok_or(ChatError::Unauthorized)?;
///         Ok(Principal { username: username.clone(), expires_at: None })
///     }
/// }
/// ```
#[async_trait]
pub trait Identity: Send + Sync + 'static {
    /// The user the token belongs to, or [`ChatError::Unauthorized`].
    async fn identify(&self, token: &str) -> ChatResult<Principal>;
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

#[async_trait]
impl Identity for JwtIdentity {
    async fn identify(&self, token: &str) -> ChatResult<Principal> {
        self.verify(token).map(|(principal, _)| principal)
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
