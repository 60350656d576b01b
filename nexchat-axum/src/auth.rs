//! The `Authorization: Bearer` extractors.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use nexchat_core::transport::Caller;
use nexchat_core::{Chat, ChatError, Principal};

use crate::error::ApiError;

/// The authenticated user of a REST request.
///
/// Works in any router whose state holds the chat (`Chat: FromRef<S>`): nexchat's own routes
/// and an app's handlers next to them, with the app's own state type.
///
/// # Errors
/// Rejects with an [`ApiError`]: 401 `unauthorized` when the request has no
/// `Authorization: Bearer` token or the token is not a live session, 500 when the session
/// cannot be looked up.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// The authenticated user of a REST request and the login session their token names.
///
/// Like [`AuthUser`], usable with any state that holds the chat (`Chat: FromRef<S>`).
///
/// # Errors
/// Rejects as [`AuthUser`] does.
#[derive(Debug, Clone)]
pub struct AuthCaller(pub Caller);

impl<S> FromRequestParts<S> for AuthCaller
where
    Chat: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let chat = Chat::from_ref(state);
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ChatError::Unauthorized)?;
        Ok(Self(chat.caller(token.trim()).await?))
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Chat: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthCaller(caller) = AuthCaller::from_request_parts(parts, state).await?;
        Ok(Self(caller.principal))
    }
}
