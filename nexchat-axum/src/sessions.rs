//! The session routes: logout, the list of sessions, revoking one, and WebSocket tickets.
//! Answers that carry a ticket or the session list are marked `Cache-Control: no-store`.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nexchat_core::Chat;
#[cfg(feature = "openapi")]
use nexchat_core::protocol::rest::ErrorBody;
use nexchat_core::protocol::rest::{SessionsResponse, WsTicketResponse};

use crate::auth::AuthCaller;
use crate::error::ApiError;
use crate::rest::{NoStore, no_store};

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/logout", tag = "sessions",
    summary = "End the calling session",
    description = "Only with nexchat's own accounts. Its sockets close with 4003 first.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn logout(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<StatusCode, ApiError> {
    chat.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/auth/sessions", tag = "sessions",
    summary = "The caller's open sessions, newest first",
    description = "Only with nexchat's own accounts. Answered with `Cache-Control: no-store`.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sessions", body = SessionsResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn list(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<(NoStore, Json<SessionsResponse>), ApiError> {
    Ok((no_store(), Json(chat.sessions(&caller).await?)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/auth/sessions/{id}", tag = "sessions",
    summary = "End one of the caller's sessions (their own too)",
    description = "Only with nexchat's own accounts. Its sockets close with 4003 first.",
    params(("id" = String, Path, description = "The session's id, from `GET /auth/sessions`")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Not one of the caller's open sessions", body = ErrorBody),
    ),
))]
pub(crate) async fn revoke(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    chat.revoke_session(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/ws-ticket", tag = "sessions",
    summary = "A single-use ticket that opens one socket of this session within 30 s",
    description = "Answered with `Cache-Control: no-store`.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = WsTicketResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn ws_ticket(
    State(chat): State<Chat>,
    AuthCaller(caller): AuthCaller,
) -> Result<(NoStore, Json<WsTicketResponse>), ApiError> {
    Ok((no_store(), Json(chat.ws_ticket(&caller)?)))
}
