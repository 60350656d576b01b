//! Frames a client sends over the WebSocket.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::PublicKey;

/// One WebSocket frame from a client, tagged by its `type`.
///
/// ```
/// use nexchat_core::protocol::ClientEvent;
/// let frame = r#"{"type":"typing","to":"bob","isTyping":true}"#;
/// let event = ClientEvent::decode(frame).unwrap();
/// assert_eq!(event, ClientEvent::Typing { to: "bob".into(), is_typing: true });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Announce (and store, when changed) the user's public key.
    Join {
        /// The user's ECDH public key.
        public_key: PublicKey,
    },
    /// Ask for a user's public key.
    RequestPublicKey {
        /// Whose key.
        receiver: String,
    },
    /// Send an encrypted message to a friend.
    SendMessage {
        /// The friend.
        receiver: String,
        /// Base64 ciphertext.
        ciphertext: String,
        /// Base64 IV.
        iv: String,
        /// Client-chosen UUID, for idempotent retries.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Ids of the sender's own uploads the encrypted body refers to (version 1.3).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// Acknowledge receipt of messages from `to`.
    MessageDelivered {
        /// The sender of the messages.
        to: String,
        /// Which messages; all still-`sent` ones when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<String>>,
    },
    /// Mark messages from `to` as seen.
    MessageSeen {
        /// The sender of the messages.
        to: String,
        /// Which messages; all not yet seen when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<String>>,
    },
    /// Page through the conversation with a user, newest first.
    FetchHistory {
        /// The other user.
        with_user: String,
        /// Only messages older than this message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        /// Page size (default 50, at most 200).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Typing started or stopped.
    Typing {
        /// The friend being typed to.
        to: String,
        /// Started (true) or stopped (false).
        is_typing: bool,
    },
    /// Place a call (WebRTC offer).
    CallOffer {
        /// The callee.
        to: String,
        /// The SDP offer, relayed as is.
        offer: Value,
        /// Video (true) or voice only.
        with_video: bool,
    },
    /// Answer a call (WebRTC answer).
    CallAnswer {
        /// The caller.
        to: String,
        /// The SDP answer, relayed as is.
        answer: Value,
        /// The call; optional while the pair has one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
    },
    /// Relay an ICE candidate.
    CallIce {
        /// The other party.
        to: String,
        /// The candidate, relayed as is.
        candidate: Value,
        /// The call; optional while the pair has one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
    },
    /// Hang up, decline or cancel.
    CallEnded {
        /// The other party.
        to: String,
        /// The call; optional while the pair has one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
    },
    /// Page through the call log with a user, newest first.
    FetchCallHistory {
        /// The other user.
        with_user: String,
        /// Only calls older than this call id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        /// Page size (default 50, at most 200).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Send an encrypted chat message, or a key message for one member, to a group.
    SendGroupMessage {
        /// The group.
        group: String,
        /// Base64 ciphertext.
        ciphertext: String,
        /// Base64 IV.
        iv: String,
        /// The sender key of a chat message; required without `to`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        /// The one member a key message is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// Client-chosen UUID, for idempotent retries.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Ids of the sender's own uploads the encrypted body refers to (version 1.3); none in
        /// a key message.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// Acknowledge receipt of group messages.
    GroupDelivered {
        /// The group.
        group: String,
        /// Which messages; all still-`sent` ones when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<String>>,
    },
    /// Mark group messages as seen.
    GroupSeen {
        /// The group.
        group: String,
        /// Which messages; all not yet seen when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ids: Option<Vec<String>>,
    },
    /// Page through a group's messages, newest first.
    FetchGroupHistory {
        /// The group.
        group: String,
        /// Only messages older than this message id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        /// Page size (default 50, at most 200).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// Typing started or stopped in a group.
    GroupTyping {
        /// The group.
        group: String,
        /// Started (true) or stopped (false).
        is_typing: bool,
    },
}

/// Why a frame could not be decoded. Every case is answered with `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    /// What was wrong, for the client.
    pub message: String,
    /// The `id` or `callId` the frame carried, echoed as the error's `ref`.
    pub reference: Option<String>,
}

impl ClientEvent {
    /// Decodes one text frame.
    ///
    /// # Errors
    /// A [`DecodeError`] for text that is not one of the protocol's client events, or breaks
    /// a rule of its fields.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(text).map_err(|err| {
            // Only the failure path pays for a second parse, to find what the frame referred to.
            let value: Option<Value> = serde_json::from_str(text).ok();
            let message = match &value {
                None => format!("frame is not JSON: {err}"),
                Some(v) if !v.is_object() => "frame must be a JSON object".to_owned(),
                Some(v) if !v.get("type").is_some_and(Value::is_string) => {
                    "frame has no string field `type`".to_owned()
                }
                Some(_) => format!("invalid frame: {err}"),
            };
            let reference = value.as_ref().and_then(|v| {
                ["id", "callId"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
            });
            DecodeError { message, reference }
        })
    }

    /// The `id` (or else `callId`) string a frame carries, read without decoding the rest: for
    /// the `ref` of a frame refused before decoding (too large).
    pub fn reference_in(text: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct References {
            #[serde(default)]
            id: Option<String>,
            #[serde(default, rename = "callId")]
            call_id: Option<String>,
        }
        let found: References = serde_json::from_str(text).ok()?;
        found.id.or(found.call_id)
    }

    /// What this event refers to, echoed as `ref` in errors: a message's `id`, a call's
    /// `callId`, or the conversation a history page was asked of (`withUser`, `group`), so a
    /// client can tell which of its requests was refused.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Self::SendMessage { id, .. } | Self::SendGroupMessage { id, .. } => id.as_deref(),
            Self::CallAnswer { call_id, .. }
            | Self::CallIce { call_id, .. }
            | Self::CallEnded { call_id, .. } => call_id.as_deref(),
            Self::FetchHistory { with_user, .. } | Self::FetchCallHistory { with_user, .. } => {
                Some(with_user)
            }
            Self::FetchGroupHistory { group, .. } => Some(group),
            _ => None,
        }
    }
}
