//! REST request and response bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::groups::{Group, GroupMessage, GroupRole, Receipt, SealedField};
use super::types::{Conversation, ErrorCode, PublicKey};

/// `POST /auth/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// 3–32 of `A-Z a-z 0-9 _ . -`.
    pub username: String,
    /// 8–1024 characters.
    pub password: String,
    /// The account's ECDH public key.
    pub public_key: PublicKey,
    /// The password-wrapped private key: an opaque JSON object.
    pub encrypted_private_key: Value,
    /// The client's key-derivation parameters: an opaque JSON object of at most 1 KiB, stored
    /// unread; absent or `null` for a v1 client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<Value>,
}

/// Answer to `POST /auth/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    /// The name as registered.
    pub username: String,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// Matched case-insensitively.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Answer to `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Bearer token (JWT).
    pub token: String,
    /// The name as registered.
    pub username: String,
    /// The account's public key.
    pub public_key: PublicKey,
    /// The password-wrapped private key, as uploaded.
    pub encrypted_private_key: Value,
    /// When the token expires (ms).
    pub expires_at: i64,
}

/// Answer to `GET /auth/params?username=NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthParams {
    /// The account's `kdf` parameters as stored; `null` for an account a v1 client created; a
    /// made-up object of the same shape for a name without an account.
    pub kdf: Option<Value>,
}

/// `POST /auth/password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PasswordChangeRequest {
    /// The password (or auth key) that logs in now.
    pub current_password: String,
    /// The new one, 8–1024 characters.
    pub new_password: String,
    /// The new key-derivation parameters: a JSON object, or `null` only for a client that keeps
    /// v1's scheme. Required (a missing `kdf` is refused).
    pub kdf: Value,
    /// The private key re-wrapped under the new password: an opaque JSON object.
    pub encrypted_private_key: Value,
}

/// Answer to `POST /auth/password`: a token for the caller, whose other sessions ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// Bearer token (JWT).
    pub token: String,
    /// When the token expires (ms).
    pub expires_at: i64,
}

/// `DELETE /auth/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountDeleteRequest {
    /// The password (or auth key) that logs in now.
    pub password: String,
}

/// One user in a search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    /// The name as registered.
    pub username: String,
    /// True only for online friends.
    pub online: bool,
}

/// Answer to `GET /users?q=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSearchResponse {
    /// Matching users, alphabetical, at most 20.
    pub users: Vec<UserSummary>,
}

/// Answer to `GET /users/NAME/public-key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyBody {
    /// Whose key.
    pub username: String,
    /// The key.
    pub public_key: PublicKey,
}

/// Answer to `GET /friends/status` (snake_case keys, as in the seed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendsStatus {
    /// Accepted friends.
    pub friends: Vec<String>,
    /// Requests we sent, still pending.
    pub pending_sent: Vec<String>,
    /// Requests sent to us, still pending.
    pub pending_received: Vec<String>,
}

/// Answer to `GET /conversations?limit=N&before=USER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationsResponse {
    /// One entry per user the caller has messages with, newest last message first.
    pub conversations: Vec<Conversation>,
    /// Whether more entries follow; page on with `before` set to the last entry's `withUser`.
    pub has_more: bool,
}

/// `POST /friends/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequestBody {
    /// Whom to befriend.
    pub receiver: String,
}

/// `POST /friends/accept` and `POST /friends/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendAnswerBody {
    /// Who asked.
    pub sender: String,
}

/// `POST /friends/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRemoveBody {
    /// The friend to remove, or the user our pending request went to.
    pub target: String,
}

/// Outcome of a friend mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FriendStatusKind {
    /// Request waiting for an answer.
    Pending,
    /// Friends now.
    Accepted,
    /// Request rejected.
    Rejected,
    /// Friendship or request removed.
    Removed,
}

/// Answer to every `/friends/*` mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendStatusBody {
    /// The outcome.
    pub status: FriendStatusKind,
}

/// Answer to `GET /client-config`: what a browser client needs to know before logging in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// `RTCIceServer` objects (STUN/TURN) for WebRTC calls, as configured by the app.
    pub ice_servers: Vec<Value>,
    /// The largest attachment an upload may carry, in bytes; absent when the server takes no
    /// attachments (version 1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attachment_bytes: Option<u64>,
}

/// Every REST error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

/// One login session in `GET /auth/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The session's id (what `DELETE /auth/sessions/ID` takes).
    pub id: String,
    /// When the login happened (ms).
    pub created_at: i64,
    /// When the session's token was last accepted (ms); may lag by up to a minute.
    pub last_seen_at: i64,
    /// The first 200 characters of the login request's `User-Agent`, `""` when absent.
    pub user_agent: String,
    /// True for the session of the request's own token.
    pub current: bool,
}

/// Answer to `GET /auth/sessions`: the caller's open sessions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsResponse {
    /// The sessions.
    pub sessions: Vec<SessionInfo>,
}

/// Answer to `POST /auth/ws-ticket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WsTicketResponse {
    /// Opens one socket with `GET /ws?ticket=`, once.
    pub ticket: String,
    /// When the ticket expires unused (ms).
    pub expires_at: i64,
}

/// `POST /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateGroupRequest {
    /// The other members: friends of the caller, who becomes admin.
    pub members: Vec<String>,
    /// The sealed title.
    #[serde(default)]
    pub title: Option<SealedField>,
    /// The sealed avatar.
    #[serde(default)]
    pub avatar: Option<SealedField>,
}

/// `PUT /groups/{id}/details`: both fields replaced (absent or `null` clears one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupDetailsBody {
    /// The sealed title.
    #[serde(default)]
    pub title: Option<SealedField>,
    /// The sealed avatar.
    #[serde(default)]
    pub avatar: Option<SealedField>,
}

/// `POST /groups/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMemberBody {
    /// Whom to add: a friend of the admin adding them.
    pub username: String,
}

/// `PUT /groups/{id}/members/{name}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupRoleBody {
    /// The member's new role.
    pub role: GroupRole,
}

/// One entry of `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    /// The group.
    pub group: Group,
    /// The latest chat message the caller may see, or `null`.
    pub last_message: Option<GroupMessage>,
    /// Chat messages from other members the caller has not seen.
    pub unread: u64,
}

/// Answer to `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupsResponse {
    /// The caller's groups, latest activity (last message, else membership) first.
    pub groups: Vec<GroupSummary>,
}

/// Answer to `GET /groups/{id}/messages/{messageId}/receipts` ("message info").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptsResponse {
    /// Every member the message was sent to and still in the group, oldest membership first.
    pub receipts: Vec<Receipt>,
}

/// Answer to `POST /attachments`: the stored upload (version 1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentStored {
    /// The attachment's id (a UUID), for `GET /attachments/{id}` and a message's
    /// `attachments`.
    pub id: String,
    /// The bytes stored.
    pub size: u64,
}

/// Answer to `GET /attachments`: the caller's usage and the limits (version 1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttachmentUsage {
    /// Bytes the caller's attachments take, uploads in progress included.
    pub used_bytes: u64,
    /// The most they may take ([`crate::Limits::attachment_quota_bytes`]).
    pub quota_bytes: u64,
    /// The most one upload may take ([`crate::Limits::max_attachment_bytes`]).
    pub max_bytes: u64,
}
