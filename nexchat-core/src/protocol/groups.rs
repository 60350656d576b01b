//! Records of groups (protocol version 1.2): the group, its members, its messages and what
//! changed. See the protocol document's "Groups" section for the rules they follow.

use serde::{Deserialize, Serialize};

use super::types::MessageStatus;

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    /// Adds, removes, promotes and demotes members and sets the title and avatar.
    Admin,
    /// Sends and reads messages, and may leave.
    Member,
}

impl GroupRole {
    /// The protocol's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses a role from its protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// An end-to-end-encrypted group field (title or avatar): ciphertext under the sender key
/// `keyId` of the member `by`. The server stores it unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SealedField {
    /// Base64 AES-GCM ciphertext.
    pub ciphertext: String,
    /// Base64 IV.
    pub iv: String,
    /// The sender key it is sealed under.
    pub key_id: String,
    /// Who stored it; set by the server (ignored in requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// One membership of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupMember {
    /// The member, as registered.
    pub username: String,
    /// Admin or member.
    pub role: GroupRole,
    /// When this membership began (ms): the member sees messages from then on.
    pub joined_at: i64,
}

/// A group as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// UUID made by the server.
    pub id: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// The sealed title, or `null`.
    pub title: Option<SealedField>,
    /// The sealed avatar, or `null`.
    pub avatar: Option<SealedField>,
    /// Every member, oldest membership first.
    pub members: Vec<GroupMember>,
}

impl Group {
    /// The membership of `user` (a canonical name), if they are a member.
    pub fn member(&self, user: &str) -> Option<&GroupMember> {
        self.members.iter().find(|m| m.username == user)
    }
}

/// One group message as stored and relayed: a chat message for every member (under the
/// sender's sender key `keyId`), or a key message for the one member `to` (under the pair's
/// 1:1 key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupMessage {
    /// UUID, chosen by the client or made by the server.
    pub id: String,
    /// The group.
    pub group: String,
    /// The sending member (always the token's user).
    pub sender: String,
    /// For a key message: the one member it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// For a chat message: the sender key it is encrypted under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Base64 AES-GCM ciphertext.
    pub ciphertext: String,
    /// Base64 IV.
    pub iv: String,
    /// Server time of storage, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// As the sender sees it: `delivered` once every member it was sent to has it, `seen`
    /// once every one has seen it.
    pub status: MessageStatus,
}

/// What changed in a group, pushed with the group as it is after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupChangeKind {
    /// The group was made (with its first members).
    Created,
    /// `user` was added by `by`.
    MemberAdded,
    /// `user` was removed by `by`.
    MemberRemoved,
    /// `user` left (or their account was erased).
    MemberLeft,
    /// `user`'s role was changed by `by`.
    RoleChanged,
    /// `by` set the title and avatar.
    DetailsChanged,
}

/// One change of a group (`group_changed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GroupChange {
    /// What happened.
    pub kind: GroupChangeKind,
    /// Who did it.
    pub by: String,
    /// The member concerned, when the change is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Who became admin because the last admin left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
}

/// One member's status of one group message ("message info").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The member.
    pub username: String,
    /// Where the message is for them.
    pub status: MessageStatus,
}
