//! Frames the server sends over the WebSocket.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::groups::{Group, GroupChange, GroupMessage};
use super::types::{CallRecord, ErrorCode, MessageStatus, PublicKey, StoredMessage};

/// One WebSocket frame from the server, tagged by its `type`.
///
/// ```
/// use nexchat_core::protocol::ServerEvent;
/// let frame = ServerEvent::Presence { username: "alice".into(), online: true }.encode();
/// assert_eq!(frame, r#"{"type":"presence","username":"alice","online":true}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The user's online friends, first frame after connecting.
    OnlineUsers {
        /// Usernames.
        users: Vec<String>,
    },
    /// A message for this user (or sent by this user from another socket).
    ReceiveMessage(StoredMessage),
    /// Every queued message has been pushed.
    SyncDone {},
    /// The message is stored (single tick).
    MessageSent {
        /// The message id.
        id: String,
        /// Its receiver.
        receiver: String,
        /// Its stored timestamp.
        timestamp: i64,
    },
    /// `from` received these messages of ours.
    MessageDelivered {
        /// The receiver that acknowledged.
        from: String,
        /// Ids whose status moved forward.
        ids: Vec<String>,
    },
    /// `from` saw these messages of ours.
    MessageSeen {
        /// The receiver that saw them.
        from: String,
        /// Ids whose status moved forward.
        ids: Vec<String>,
    },
    /// Another socket of this user moved messages from `with_user` forward: these ids are now
    /// at `status` (`delivered` or `seen`).
    ReceiptSync {
        /// The sender of the messages.
        with_user: String,
        /// Ids whose status moved forward.
        ids: Vec<String>,
        /// Their status now.
        status: MessageStatus,
    },
    /// A page of the conversation, newest first.
    HistoryResponse {
        /// The other user.
        with_user: String,
        /// The messages.
        messages: Vec<StoredMessage>,
        /// Whether older messages exist.
        has_more: bool,
    },
    /// A friend started or stopped typing.
    Typing {
        /// The friend.
        from: String,
        /// Started (true) or stopped (false).
        is_typing: bool,
    },
    /// A user's public key.
    PublicKeyResponse {
        /// Whose key.
        username: String,
        /// The key.
        public_key: PublicKey,
    },
    /// A friend's public key changed.
    KeyChanged {
        /// The friend.
        username: String,
        /// The new key.
        public_key: PublicKey,
    },
    /// A friend came online or went offline.
    Presence {
        /// The friend.
        username: String,
        /// Online now.
        online: bool,
    },
    /// Someone asked to be our friend.
    NewFriendRequest {
        /// The requester.
        from: String,
    },
    /// A friendship became active.
    FriendshipActivated {
        /// The new friend.
        with: String,
        /// Whether they are online.
        online: bool,
        /// Their public key; `null` until they publish one (a user the app provisioned who
        /// has not connected yet), which then arrives as `key_changed`.
        public_key: Option<PublicKey>,
    },
    /// Our friend request was rejected.
    FriendRequestRejected {
        /// Who rejected it.
        from: String,
    },
    /// A friendship (or a request to us) was removed.
    FriendRemoved {
        /// Who removed it.
        from: String,
    },
    /// An incoming call.
    CallOffer {
        /// The caller.
        from: String,
        /// The call.
        call_id: String,
        /// The SDP offer.
        offer: Value,
        /// Video (true) or voice only.
        with_video: bool,
    },
    /// The callee answered.
    CallAnswer {
        /// The callee.
        from: String,
        /// The call.
        call_id: String,
        /// The SDP answer.
        answer: Value,
    },
    /// Another socket of this user answered the call: this one stops ringing.
    CallAnsweredElsewhere {
        /// The call.
        call_id: String,
    },
    /// An ICE candidate from the other party.
    CallIce {
        /// The other party.
        from: String,
        /// The call.
        call_id: String,
        /// The candidate.
        candidate: Value,
    },
    /// The other party ended the call.
    CallEnded {
        /// The other party.
        from: String,
        /// The call.
        call_id: String,
    },
    /// Our offer is ringing; this is its id.
    CallStarted {
        /// The call.
        call_id: String,
        /// The callee.
        to: String,
    },
    /// A call ended; its final record.
    CallLogged {
        /// The record.
        call: CallRecord,
    },
    /// A page of the call log, newest first.
    CallHistoryResponse {
        /// The other user.
        with_user: String,
        /// The calls.
        calls: Vec<CallRecord>,
        /// Whether older calls exist.
        has_more: bool,
    },
    /// A group message for this user (or sent by this user from another socket).
    ReceiveGroupMessage(GroupMessage),
    /// The group message is stored (single tick).
    GroupMessageSent {
        /// The message id.
        id: String,
        /// Its group.
        group: String,
        /// Its stored timestamp.
        timestamp: i64,
    },
    /// Every member these messages of ours were sent to has them now.
    GroupDelivered {
        /// The group.
        group: String,
        /// Ids that reached `delivered`.
        ids: Vec<String>,
    },
    /// Every member these messages of ours were sent to has seen them now.
    GroupSeen {
        /// The group.
        group: String,
        /// Ids that reached `seen`.
        ids: Vec<String>,
    },
    /// Another socket of this user moved group messages forward: these ids are now at
    /// `status` for this user.
    GroupReceiptSync {
        /// The group.
        group: String,
        /// Ids whose status moved forward.
        ids: Vec<String>,
        /// Their status now.
        status: MessageStatus,
    },
    /// A page of a group's messages, newest first.
    GroupHistoryResponse {
        /// The group.
        group: String,
        /// The messages.
        messages: Vec<GroupMessage>,
        /// Whether older messages exist.
        has_more: bool,
    },
    /// A member started or stopped typing in a group.
    GroupTyping {
        /// The group.
        group: String,
        /// The member.
        from: String,
        /// Started (true) or stopped (false).
        is_typing: bool,
    },
    /// A group changed; the group as it is now.
    GroupChanged {
        /// The group after the change.
        group: Group,
        /// What changed.
        change: GroupChange,
    },
    /// This user is no longer a member of the group.
    GroupRemoved {
        /// The group.
        group: String,
        /// Who removed them (themselves when they left).
        by: String,
    },
    /// A refused event.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
        /// What the refused event referred to: a message or call id, or the `withUser` or `group`
        /// of a history request.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ServerEvent {
    /// Encodes the event as one JSON text frame.
    pub fn encode(&self) -> String {
        // Serializing these types cannot fail: every map key is a string and no value is NaN.
        serde_json::to_string(self).unwrap_or_else(|err| {
            tracing::error!(%err, "failed to encode a server event");
            r#"{"type":"error","code":"internal","message":"encoding failed"}"#.to_owned()
        })
    }
}
