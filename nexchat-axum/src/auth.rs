//! The `Authorization: Bearer` extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use nexchat_core::{Chat, ChatError, Principal};

use crate::error::ApiError;

/// The authenticated user of a REST request.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<Chat> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, chat: &Chat) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ChatError::Unauthorized)?;
        Ok(Self(chat.authenticate(token.trim()).await?))
    }
}
