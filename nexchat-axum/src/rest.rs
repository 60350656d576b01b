//! The REST routes: accounts, user lookup, friends.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use nexchat_core::Chat;
use nexchat_core::protocol::rest::{
    AccountDeleteRequest, AuthParams, ClientConfig, ConversationsResponse, FriendAnswerBody,
    FriendRemoveBody, FriendRequestBody, FriendStatusBody, FriendsStatus, LoginRequest,
    LoginResponse, PasswordChangeRequest, PublicKeyBody, RegisterRequest, RegisterResponse,
    TokenResponse, UserSearchResponse,
};
use serde::de::DeserializeOwned;

#[cfg(feature = "openapi")]
use nexchat_core::protocol::rest::ErrorBody;

use crate::auth::AuthUser;
use crate::client::Client;
use crate::error::ApiError;

/// A JSON body whose every rejection is a protocol error (`bad_request` or `too_large`).
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `Cache-Control: no-store`, for answers that carry a token, a ticket or a key backup.
pub(crate) type NoStore = [(header::HeaderName, HeaderValue); 1];

pub(crate) fn no_store() -> NoStore {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/register", tag = "accounts",
    summary = "Create an account",
    description = "Only with nexchat's own accounts. Registrations are limited per client address.",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account exists", body = RegisterResponse),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body, `encryptedPrivateKey` or `kdf` is too large", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address", body = ErrorBody),
    ),
))]
pub(crate) async fn register(
    State(chat): State<Chat>,
    Client(client): Client,
    Body(request): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(chat.register(request, &client).await?),
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/login", tag = "accounts",
    summary = "Log in: start a session",
    description = "Only with nexchat's own accounts. Answered with `Cache-Control: no-store`.",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A token naming the new session", body = LoginResponse),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password, alike", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this name or address", body = ErrorBody),
    ),
))]
pub(crate) async fn login(
    State(chat): State<Chat>,
    Client(client): Client,
    Body(request): Body<LoginRequest>,
) -> Result<(NoStore, Json<LoginResponse>), ApiError> {
    Ok((no_store(), Json(chat.login(request, &client).await?)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/auth/params", tag = "accounts",
    summary = "The account's key-derivation parameters",
    description = "Only with nexchat's own accounts. A stable made-up object for a name without an account.",
    params(("username" = String, Query, description = "The account's name")),
    responses(
        (status = 200, description = "The parameters", body = AuthParams),
        (status = 400, description = "No `username`, or one outside the username rule", body = ErrorBody),
    ),
))]
pub(crate) async fn auth_params(
    State(chat): State<Chat>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<AuthParams> {
    let Query(query) = query?;
    let username = query
        .get("username")
        .map(String::as_str)
        .unwrap_or_default();
    Ok(Json(chat.auth_params(username).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/password", tag = "accounts",
    summary = "Change the password, `kdf` and key backup in one step",
    description = "Only with nexchat's own accounts. Ends every session of the user; the answer's token starts a new one.",
    request_body = PasswordChangeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A token for the caller", body = TokenResponse),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 401, description = "Bad token, or a wrong `currentPassword`", body = ErrorBody),
        (status = 429, description = "Throttled like a login", body = ErrorBody),
    ),
))]
pub(crate) async fn change_password(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Client(client): Client,
    Body(request): Body<PasswordChangeRequest>,
) -> Result<(NoStore, Json<TokenResponse>), ApiError> {
    let answer = chat
        .change_password(&user.username, request, &client)
        .await?;
    Ok((no_store(), Json(answer)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/auth/account", tag = "accounts",
    summary = "Erase the caller's account",
    description = "Only with nexchat's own accounts. The name stays reserved.",
    request_body = AccountDeleteRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Erased"),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "Bad token, or a wrong password", body = ErrorBody),
        (status = 429, description = "Throttled like a login", body = ErrorBody),
    ),
))]
pub(crate) async fn delete_account(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Client(client): Client,
    Body(request): Body<AccountDeleteRequest>,
) -> Result<StatusCode, ApiError> {
    chat.delete_account(&user.username, request, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users", tag = "users",
    summary = "Find users by name prefix",
    params(("q" = String, Query, description = "Case-insensitive name prefix; missing or empty is 400")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "At most 20 users, alphabetical", body = UserSearchResponse),
        (status = 400, description = "No `q`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn search_users(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<UserSearchResponse> {
    let Query(query) = query?;
    let q = query.get("q").map(String::as_str).unwrap_or_default();
    Ok(Json(chat.search_users(&user.username, q).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/users/{name}/public-key", tag = "users",
    summary = "A user's public key",
    params(("name" = String, Path, description = "The user's name, any letter case")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key", body = PublicKeyBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "`user_not_found`, or `not_found` for a user with no key yet", body = ErrorBody),
    ),
))]
pub(crate) async fn public_key(
    State(chat): State<Chat>,
    AuthUser(_): AuthUser,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<PublicKeyBody> {
    let Path(name) = name?;
    let (username, public_key) = chat.public_key_of(&name).await?;
    Ok(Json(PublicKeyBody {
        username,
        public_key,
    }))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/conversations", tag = "messages",
    summary = "The caller's conversations, newest last message first",
    params(
        ("limit" = Option<i64>, Query, description = "Page size: default 50, at most 200"),
        ("before" = Option<String>, Query, description = "Continue after this user's entry"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationsResponse),
        (status = 400, description = "A bad `limit`, or `before` naming a user without an entry", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn conversations(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<ConversationsResponse> {
    let Query(query) = query?;
    let limit = match query.get("limit") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::from(nexchat_core::ChatError::bad_request(
                "limit must be an integer",
            ))
        })?),
    };
    let before = query.get("before").map(String::as_str);
    Ok(Json(
        chat.conversations(&user.username, before, limit).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/friends/status", tag = "friends",
    summary = "Friends and pending requests (snake_case keys)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lists", body = FriendsStatus),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn friends_status(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
) -> ApiResult<FriendsStatus> {
    Ok(Json(chat.friends_status(&user.username).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/friends/request", tag = "friends",
    summary = "Ask a user to be friends",
    description = "`accepted` at once when they had already asked us.",
    request_body = FriendRequestBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`pending` or `accepted`", body = FriendStatusBody),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Already pending, or already friends", body = ErrorBody),
    ),
))]
pub(crate) async fn friend_request(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendRequestBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_request(&user.username, &body.receiver).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/friends/accept", tag = "friends",
    summary = "Accept a friend request",
    request_body = FriendAnswerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`accepted`", body = FriendStatusBody),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such pending request", body = ErrorBody),
    ),
))]
pub(crate) async fn friend_accept(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendAnswerBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_accept(&user.username, &body.sender).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/friends/reject", tag = "friends",
    summary = "Reject a friend request",
    request_body = FriendAnswerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`rejected`", body = FriendStatusBody),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such pending request", body = ErrorBody),
    ),
))]
pub(crate) async fn friend_reject(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendAnswerBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_reject(&user.username, &body.sender).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/friends/remove", tag = "friends",
    summary = "End a friendship, or withdraw a request we sent",
    request_body = FriendRemoveBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`removed`", body = FriendStatusBody),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such friendship or request", body = ErrorBody),
    ),
))]
pub(crate) async fn friend_remove(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendRemoveBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_remove(&user.username, &body.target).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/client-config", tag = "calls",
    summary = "STUN/TURN servers for WebRTC calls",
    responses((status = 200, description = "The app's ICE servers", body = ClientConfig)),
))]
pub(crate) async fn client_config(State(chat): State<Chat>) -> Json<ClientConfig> {
    Json(ClientConfig {
        ice_servers: chat.config().ice_servers.clone(),
        max_attachment_bytes: chat
            .takes_attachments()
            .then_some(chat.config().limits.max_attachment_bytes),
    })
}
