//! The REST routes of groups (protocol version 1.2). Everything a non-member asks about a group
//! is 404, whether the group exists or not.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nexchat_core::Chat;
use nexchat_core::protocol::Group;
use nexchat_core::protocol::rest::{
    CreateGroupRequest, GroupDetailsBody, GroupMemberBody, GroupRoleBody, GroupsResponse,
    ReceiptsResponse,
};

#[cfg(feature = "openapi")]
use nexchat_core::protocol::rest::ErrorBody;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::rest::Body;

type ApiResult<T> = Result<Json<T>, ApiError>;

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/groups", tag = "groups",
    summary = "Create a group of the caller (admin) and friends",
    request_body = CreateGroupRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The group, as every member is told in `group_changed`", body = Group),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "`not_friends`: a listed member is not the caller's friend", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "Past the members or groups limit; nothing is created", body = ErrorBody),
        (status = 413, description = "The body or a sealed field is too large", body = ErrorBody),
    ),
))]
pub(crate) async fn create(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Body(request): Body<CreateGroupRequest>,
) -> Result<(StatusCode, Json<Group>), ApiError> {
    let group = chat.create_group(&user.username, request).await?;
    Ok((StatusCode::CREATED, Json(group)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/groups", tag = "groups",
    summary = "The caller's groups, latest activity first, with last message and unread count",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every group of the caller", body = GroupsResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn list(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
) -> ApiResult<GroupsResponse> {
    Ok(Json(chat.groups(&user.username).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/groups/{id}", tag = "groups",
    summary = "One group of the caller",
    params(("id" = String, Path, description = "The group's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group of the caller", body = ErrorBody),
    ),
))]
pub(crate) async fn one(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Group> {
    let Path(id) = id?;
    Ok(Json(chat.group(&user.username, &id).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put, path = "/groups/{id}/details", tag = "groups",
    summary = "Replace the sealed title and avatar (admins)",
    params(("id" = String, Path, description = "The group's id")),
    request_body = GroupDetailsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such group of the caller", body = ErrorBody),
        (status = 413, description = "The body or a sealed field is too large", body = ErrorBody),
    ),
))]
pub(crate) async fn details(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    id: Result<Path<String>, PathRejection>,
    Body(body): Body<GroupDetailsBody>,
) -> ApiResult<Group> {
    let Path(id) = id?;
    Ok(Json(
        chat.set_group_details(&user.username, &id, body).await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/groups/{id}/members", tag = "groups",
    summary = "Add a friend to the group (admins)",
    params(("id" = String, Path, description = "The group's id")),
    request_body = GroupMemberBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin; `not_friends`", body = ErrorBody),
        (status = 404, description = "No such group of the caller, or `user_not_found`", body = ErrorBody),
        (status = 409, description = "Already a member, or past the members or groups limit", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ),
))]
pub(crate) async fn add_member(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    id: Result<Path<String>, PathRejection>,
    Body(body): Body<GroupMemberBody>,
) -> ApiResult<Group> {
    let Path(id) = id?;
    Ok(Json(
        chat.add_group_member(&user.username, &id, &body.username)
            .await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/groups/{id}/members/{name}", tag = "groups",
    summary = "Remove a member (admins), or leave (one's own name)",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("name" = String, Path, description = "The member, any letter case"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The member is out; the group is deleted with its last member"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Removing another member while not an admin", body = ErrorBody),
        (status = 404, description = "No such group of the caller, or no such member", body = ErrorBody),
    ),
))]
pub(crate) async fn remove_member(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((id, name)) = path?;
    chat.remove_group_member(&user.username, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(feature = "openapi", utoipa::path(
    put, path = "/groups/{id}/members/{name}/role", tag = "groups",
    summary = "Promote or demote a member (admins)",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("name" = String, Path, description = "The member, any letter case"),
    ),
    request_body = GroupRoleBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 400, description = "A missing or invalid field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such group of the caller, or no such member", body = ErrorBody),
        (status = 409, description = "Demoting the group's only admin", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ),
))]
pub(crate) async fn set_role(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    path: Result<Path<(String, String)>, PathRejection>,
    Body(body): Body<GroupRoleBody>,
) -> ApiResult<Group> {
    let Path((id, name)) = path?;
    Ok(Json(
        chat.set_group_role(&user.username, &id, &name, body.role)
            .await?,
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/groups/{id}/messages/{message}/receipts", tag = "groups",
    summary = "Message info: each member's status of one of the caller's messages",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("message" = String, Path, description = "The message's id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The receipts, oldest membership first", body = ReceiptsResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such group of the caller, or no such message sent by the caller", body = ErrorBody),
    ),
))]
pub(crate) async fn receipts(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<ReceiptsResponse> {
    let Path((id, message)) = path?;
    Ok(Json(
        chat.group_receipts(&user.username, &id, &message).await?,
    ))
}
