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

pub(crate) async fn login(
    State(chat): State<Chat>,
    Client(client): Client,
    Body(request): Body<LoginRequest>,
) -> Result<(NoStore, Json<LoginResponse>), ApiError> {
    Ok((no_store(), Json(chat.login(request, &client).await?)))
}

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

pub(crate) async fn search_users(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<UserSearchResponse> {
    let Query(query) = query?;
    let q = query.get("q").map(String::as_str).unwrap_or_default();
    Ok(Json(chat.search_users(&user.username, q).await?))
}

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

pub(crate) async fn friends_status(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
) -> ApiResult<FriendsStatus> {
    Ok(Json(chat.friends_status(&user.username).await?))
}

pub(crate) async fn friend_request(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendRequestBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_request(&user.username, &body.receiver).await?,
    ))
}

pub(crate) async fn friend_accept(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendAnswerBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_accept(&user.username, &body.sender).await?,
    ))
}

pub(crate) async fn friend_reject(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendAnswerBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_reject(&user.username, &body.sender).await?,
    ))
}

pub(crate) async fn friend_remove(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(body): Body<FriendRemoveBody>,
) -> ApiResult<FriendStatusBody> {
    Ok(Json(
        chat.friend_remove(&user.username, &body.target).await?,
    ))
}

pub(crate) async fn client_config(State(chat): State<Chat>) -> Json<ClientConfig> {
    Json(ClientConfig {
        ice_servers: chat.config().ice_servers.clone(),
    })
}
