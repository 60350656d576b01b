//! The session routes: logout, the list of sessions, revoking one, and WebSocket tickets.
//! Answers that carry a ticket or the session list are marked `Cache-Control: no-store`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nexchat_core::Chat;
use nexchat_core::protocol::rest::{SessionsResponse, WsTicketResponse};

use crate::auth::AuthCaller;
use crate::error::ApiError;
use crate::rest::{NoStore, no_store};

pub(crate) async fn logout(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<StatusCode, ApiError> {
    chat.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<(NoStore, Json<SessionsResponse>), ApiError> {
    Ok((no_store(), Json(chat.sessions(&caller).await?)))
}

pub(crate) async fn revoke(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    chat.revoke_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn ws_ticket(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<(NoStore, Json<WsTicketResponse>), ApiError> {
    Ok((no_store(), Json(chat.ws_ticket(&caller)?)))
}
