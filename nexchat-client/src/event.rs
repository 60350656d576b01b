//! What a connected client learns from the server, already decrypted.

use std::time::Duration;

use serde::{Serialize, Serializer};

use nexchat_core::protocol::{ErrorCode, Group, GroupChange, MessageStatus};

use crate::crypto::Attachment;

/// One decrypted 1:1 message, to this user or sent by this user (from any of their devices).
///
/// Serializes as `{id, sender, receiver, text, attachments, timestamp, status}` (the terminal
/// client's JSON lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The message id (a UUID), the same on every client.
    pub id: String,
    /// Who sent it, as registered.
    pub sender: String,
    /// Who it is for, as registered.
    pub receiver: String,
    /// The text.
    pub text: String,
    /// The files it carries (their ids, keys and descriptions; the bytes are downloaded apart).
    pub attachments: Vec<Attachment>,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// How far it got: sent (stored), delivered, seen.
    pub status: MessageStatus,
}

impl Message {
    /// The other user of the conversation, seen from `me`.
    pub fn peer(&self, me: &str) -> &str {
        if self.sender.eq_ignore_ascii_case(me) {
            &self.receiver
        } else {
            &self.sender
        }
    }
}

/// One decrypted group chat message, from another member or from another device of this
/// user.
///
/// Serializes as `{id, group, sender, keyId, text, attachments, timestamp, status}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupChatMessage {
    /// The message id (a UUID).
    pub id: String,
    /// The group's id.
    pub group: String,
    /// Who sent it, as registered.
    pub sender: String,
    /// The id of the sender key it was sent under (a new one after a member left).
    pub key_id: String,
    /// The text.
    pub text: String,
    /// The files it carries.
    pub attachments: Vec<Attachment>,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// How far it got for its sender: sent, delivered to every member, seen by every member.
    pub status: MessageStatus,
}

/// What a connected client learns, in the order the server sent it.
///
/// Serializes as one JSON object tagged by `type` in snake case, members in camel case (the
/// terminal client's `listen` prints these): `{"type":"message","id":…,"text":…}`,
/// `{"type":"receipt","peer":…,"ids":[…],"status":"seen"}`, and so on; `retryIn` in
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum Event {
    /// The socket is open and its greeting done: these friends are online, and every message
    /// that waited for this user came before this event as [`Event::Message`].
    Connected {
        /// Usernames of the friends online now.
        online: Vec<String>,
    },
    /// The socket closed; the client connects again after `retry_in`. Messages sent meanwhile
    /// wait and go, with the same ids, once it is back.
    Disconnected {
        /// Why, for people.
        reason: String,
        /// When the next attempt starts.
        #[serde(serialize_with = "milliseconds")]
        retry_in: Duration,
    },
    /// The login is over (logged out or revoked elsewhere, password changed, token expired):
    /// the last event. Messages still waiting were not sent; a new login is needed.
    SessionEnded {
        /// Why, for people.
        reason: String,
    },
    /// A message to this user, or one this user sent from another device.
    Message(Message),
    /// A message that did not open: a wrong key, a forged or damaged ciphertext, or a group
    /// message whose sender key never arrived.
    Undecryptable {
        /// Its id.
        id: String,
        /// Its claimed sender.
        sender: String,
        /// Its receiver (a group's id for a group message).
        receiver: String,
        /// When it was stored (ms).
        timestamp: i64,
        /// What went wrong, for people.
        reason: String,
    },
    /// A message of ours is stored: one tick.
    Sent {
        /// Its id.
        id: String,
        /// Its receiver.
        to: String,
        /// When it was stored (ms).
        timestamp: i64,
    },
    /// Messages of ours to `peer` moved forward: `delivered` (two ticks) or `seen`.
    Receipt {
        /// The receiver who acknowledged them.
        peer: String,
        /// The ids that moved.
        ids: Vec<String>,
        /// Where they are now.
        status: MessageStatus,
    },
    /// A group chat message, decrypted under its sender's sender key. (Key messages, which
    /// hand sender keys over, are taken by the client and not shown.)
    GroupMessage(GroupChatMessage),
    /// A group message of ours is stored.
    GroupSent {
        /// Its id.
        id: String,
        /// The group.
        group: String,
        /// When it was stored (ms).
        timestamp: i64,
    },
    /// Group messages of ours reached every member (`delivered`) or were seen by every one.
    GroupReceipt {
        /// The group.
        group: String,
        /// The ids that moved.
        ids: Vec<String>,
        /// Where they are now.
        status: MessageStatus,
    },
    /// A group this user is in changed (created, members added, removed, left, roles, title):
    /// the group as it is now, and what happened.
    GroupChanged {
        /// The group after the change.
        group: Group,
        /// What changed.
        change: GroupChange,
    },
    /// This user is no longer in the group: removed by `by`, or left (`by` is this user).
    GroupRemoved {
        /// The group's id.
        group: String,
        /// Who removed this user.
        by: String,
    },
    /// Another device of this user acknowledged messages from `peer` (a badge to clear).
    ReceiptElsewhere {
        /// The sender of the messages.
        peer: String,
        /// The ids that moved.
        ids: Vec<String>,
        /// Where they are now.
        status: MessageStatus,
    },
    /// A friend started or stopped typing to this user.
    Typing {
        /// The friend.
        from: String,
        /// Typing now or not.
        typing: bool,
    },
    /// A friend came online or went offline.
    Presence {
        /// The friend.
        user: String,
        /// Online now or not.
        online: bool,
    },
    /// Someone asked to be friends.
    FriendRequest {
        /// Who asked.
        from: String,
    },
    /// A friendship began (this user or the other accepted).
    FriendAdded {
        /// The new friend.
        user: String,
        /// Whether they are online.
        online: bool,
    },
    /// A request this user sent was rejected.
    FriendRejected {
        /// Who rejected it.
        from: String,
    },
    /// A friendship ended.
    FriendRemoved {
        /// The former friend.
        user: String,
    },
    /// A friend's identity key changed: their safety number is a new one.
    KeyChanged {
        /// The friend.
        user: String,
    },
    /// The server refused something this client sent; for a message (`id` set) nothing was
    /// stored and it is not sent again.
    Refused {
        /// The protocol's error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
        /// The message or call id it refers to.
        id: Option<String>,
    },
}

fn milliseconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_tagged_json_objects() {
        let message = Event::Message(Message {
            id: "m1".into(),
            sender: "Alice".into(),
            receiver: "bob".into(),
            text: "hi".into(),
            attachments: Vec::new(),
            timestamp: 7,
            status: MessageStatus::Delivered,
        });
        assert_eq!(
            serde_json::to_value(&message).expect("serializes"),
            serde_json::json!({"type": "message", "id": "m1", "sender": "Alice", "receiver": "bob",
                "text": "hi", "attachments": [], "timestamp": 7, "status": "delivered"})
        );
        let lost = Event::Disconnected {
            reason: "closed".into(),
            retry_in: Duration::from_millis(1500),
        };
        assert_eq!(
            serde_json::to_value(&lost).expect("serializes"),
            serde_json::json!({"type": "disconnected", "reason": "closed", "retryIn": 1500})
        );
    }
}
