//! The `Authorization: Bearer` extractors.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use nexchat_core::{Caller, Chat, ChatError, Principal};

use crate::error::ApiError;

/// The authenticated user of a REST request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// The authenticated user of a REST request and the login session their token names.
#[derive(Debug, Clone)]
pub struct AuthCaller(pub Caller);

impl FromRequestParts<Chat> for AuthCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, chat: &Chat) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ChatError::Unauthorized)?;
        Ok(Self(chat.caller(token.trim()).await?))
    }
}

impl FromRequestParts<Chat> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, chat: &Chat) -> Result<Self, Self::Rejection> {
        let AuthCaller(caller) = AuthCaller::from_request_parts(parts, chat).await?;
        Ok(Self(caller.principal))
    }
}
