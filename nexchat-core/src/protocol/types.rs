//! Records shared by REST bodies and WebSocket events.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether `name` follows the protocol's username rule (`docs/protocol.md`, "Ground rules"):
/// 3 to 32 characters of `A-Z a-z 0-9 _ . -`. Servers refuse any other name; clients check it
/// before a name goes into a URL path.
///
/// ```
/// use nexchat_core::protocol::is_valid_username;
/// assert!(is_valid_username("bob_42.x-y"));
/// assert!(!is_valid_username("no"));
/// assert!(!is_valid_username("../auth"));
/// assert!(!is_valid_username("café"));
/// ```
pub fn is_valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Where a message is on its way: sent (stored) → delivered → seen. Ordered, so a status can
/// only be replaced by a greater one (see [`crate::store::MessageStore::advance_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Committed to the store; the sender has its single tick.
    Sent,
    /// The receiver's client acknowledged receipt.
    Delivered,
    /// The receiver opened the conversation.
    Seen,
}

impl MessageStatus {
    /// The protocol's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Seen => "seen",
        }
    }

    /// Parses a status from its protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "seen" => Some(Self::Seen),
            _ => None,
        }
    }
}

/// One end-to-end-encrypted message as stored and relayed. The server never sees more than this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMessage {
    /// UUID, chosen by the client or made by the server.
    pub id: String,
    /// The sending user (always the token's user).
    pub sender: String,
    /// The receiving user.
    pub receiver: String,
    /// Base64 AES-GCM ciphertext.
    pub ciphertext: String,
    /// Base64 IV.
    pub iv: String,
    /// Server time of storage, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Delivery status.
    pub status: MessageStatus,
}

/// One entry of a user's conversation list (`GET /conversations`): the latest message with one
/// other user, whichever of the two sent it, and how many of theirs are not seen yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    /// The other user, as registered (a friend now or not).
    pub with_user: String,
    /// The latest message between the two, in storage order.
    pub last_message: StoredMessage,
    /// Messages from `with_user` to the list's owner whose status is not `seen`.
    pub unread: u64,
}

/// Voice or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Audio only.
    Voice,
    /// Audio and video.
    Video,
}

impl CallKind {
    /// The protocol's name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "voice",
            Self::Video => "video",
        }
    }

    /// Parses a kind from its protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "voice" => Some(Self::Voice),
            "video" => Some(Self::Video),
            _ => None,
        }
    }
}

/// Where a call is in its life: ringing → in progress → completed, or missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Offered, not yet answered.
    Ringing,
    /// Answered, not yet ended.
    InProgress,
    /// Ended after being answered.
    Completed,
    /// Ended without being answered.
    Missed,
}

impl CallStatus {
    /// The protocol's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Missed => "missed",
        }
    }

    /// Parses a status from its protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(Self::Ringing),
            "in_progress" => Some(Self::InProgress),
            "completed" => Some(Self::Completed),
            "missed" => Some(Self::Missed),
            _ => None,
        }
    }

    /// True once the call has ended (completed or missed).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Missed)
    }
}

/// How a call ended, as its record says once it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Answered, then ended by either side.
    Hangup,
    /// The callee ended it while it rang.
    Declined,
    /// The caller ended it while it rang.
    Cancelled,
    /// It rang out.
    NoAnswer,
    /// The callee had no open socket: it never rang.
    Offline,
    /// The callee was in another call: it never rang.
    Busy,
    /// A socket in the call closed (or the callee's last socket while it rang).
    Disconnected,
}

impl EndReason {
    /// The protocol's name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hangup => "hangup",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::NoAnswer => "no_answer",
            Self::Offline => "offline",
            Self::Busy => "busy",
            Self::Disconnected => "disconnected",
        }
    }

    /// Parses a reason from its protocol name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Hangup,
            Self::Declined,
            Self::Cancelled,
            Self::NoAnswer,
            Self::Offline,
            Self::Busy,
            Self::Disconnected,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == s)
    }
}

/// One call as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// UUID made by the server.
    pub call_id: String,
    /// Who placed the call.
    pub caller: String,
    /// Who was called.
    pub callee: String,
    /// Voice or video.
    #[serde(rename = "type")]
    pub kind: CallKind,
    /// Current state.
    pub status: CallStatus,
    /// When the offer was made (ms).
    pub started_at: i64,
    /// When the callee answered (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// When the call ended (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Whole seconds between answer and end; 0 unless completed.
    pub duration: u64,
    /// How the call ended; absent until it has (and in records stored before reasons were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
}

/// An ECDH P-256 public key as a JWK: `{kty: "EC", crv: "P-256", x, y}`.
///
/// Parsing keeps only those four members, so whatever else a client's key export carried
/// (`ext`, `key_ops`) is dropped, and refuses a key that carries a private part `d`.
///
/// ```
/// use nexchat_core::protocol::PublicKey;
/// let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "BBBB", "ext": true});
/// let key: PublicKey = serde_json::from_value(jwk).unwrap();
/// assert_eq!(key.to_json(), r#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#);
/// let private = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "A", "y": "B", "d": "C"});
/// assert!(serde_json::from_value::<PublicKey>(private).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "Value")]
pub struct PublicKey {
    x: String,
    y: String,
}

impl PublicKey {
    /// Validates a JWK object.
    ///
    /// # Errors
    /// What is wrong with it, for the client: not an object, a private key (`d`), another key
    /// type or curve, a coordinate missing, empty or longer than 128 characters.
    pub fn from_jwk(value: &Value) -> Result<Self, String> {
        let obj = value.as_object().ok_or("publicKey must be a JWK object")?;
        if obj.contains_key("d") {
            return Err("publicKey carries a private part (d); never upload a private key".into());
        }
        let field = |name: &str| obj.get(name).and_then(Value::as_str);
        if field("kty") != Some("EC") || field("crv") != Some("P-256") {
            return Err("publicKey must be an EC P-256 JWK".into());
        }
        let coord = |name: &str| -> Result<String, String> {
            match field(name) {
                Some(s) if !s.is_empty() && s.len() <= 128 => Ok(s.to_owned()),
                _ => Err(format!("publicKey.{name} must be a non-empty string")),
            }
        };
        Ok(Self {
            x: coord("x")?,
            y: coord("y")?,
        })
    }

    /// The canonical JSON text of the key, as stored.
    pub fn to_json(&self) -> String {
        Value::from(self.clone()).to_string()
    }

    /// Parses the canonical JSON text written by [`PublicKey::to_json`].
    ///
    /// # Errors
    /// What is wrong: text that is not JSON, or a JWK [`PublicKey::from_jwk`] refuses.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::from_jwk(&value)
    }
}

impl From<PublicKey> for Value {
    fn from(key: PublicKey) -> Self {
        let mut map = Map::new();
        map.insert("crv".into(), "P-256".into());
        map.insert("kty".into(), "EC".into());
        map.insert("x".into(), key.x.into());
        map.insert("y".into(), key.y.into());
        Value::Object(map)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_jwk(&value).map_err(serde::de::Error::custom)
    }
}

/// Error codes, on the socket and in REST error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed input.
    BadRequest,
    /// No valid credentials.
    Unauthorized,
    /// Not allowed.
    Forbidden,
    /// The named user does not exist.
    UserNotFound,
    /// The thing referred to does not exist.
    NotFound,
    /// The users are not friends.
    NotFriends,
    /// The callee has no open socket.
    Offline,
    /// The callee is already in a call.
    Busy,
    /// Name taken, request already pending, already friends.
    Conflict,
    /// Over a size limit.
    TooLarge,
    /// Over a rate limit.
    RateLimited,
    /// The server failed.
    Internal,
    /// REST only: the path exists but not for this method (405).
    MethodNotAllowed,
    /// An upload would pass the user's attachment quota (413).
    QuotaExceeded,
    /// REST only: a `Range` that does not overlap the attachment (416).
    RangeNotSatisfiable,
}
