//! The few wire-protocol events the load generator speaks, as raw JSON (`docs/protocol.md`).
//!
//! Deliberately not the server's own types: the load generator is a client written from the
//! protocol document, so a server that drifts from the contract shows up as errors here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// `send_message` (client → server).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "send_message")]
pub struct SendMessage<'a> {
    /// The friend the message is for.
    pub receiver: &'a str,
    /// Standard base64 of the ciphertext.
    pub ciphertext: &'a str,
    /// Standard base64 of the IV (16 characters).
    pub iv: &'a str,
    /// The client-chosen message id (a UUID).
    pub id: &'a str,
}

/// `message_delivered` (client → server): the receiver's double tick.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "message_delivered")]
pub struct MessageDelivered<'a, S: AsRef<str> + Serialize> {
    /// The sender of the messages being acknowledged.
    pub to: &'a str,
    /// The ids being acknowledged.
    pub ids: &'a [S],
}

/// `send_group_message` (client → server): a chat message to every member of a group.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "send_group_message")]
pub struct SendGroupMessage<'a> {
    /// The group id.
    pub group: &'a str,
    /// Standard base64 of the ciphertext.
    pub ciphertext: &'a str,
    /// Standard base64 of the IV (16 characters).
    pub iv: &'a str,
    /// The sender key the ciphertext is under (required for a chat message).
    #[serde(rename = "keyId")]
    pub key_id: &'a str,
    /// The client-chosen message id (a UUID).
    pub id: &'a str,
}

/// `group_delivered` (client → server): a member's double tick for group messages.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "group_delivered")]
pub struct GroupDelivered<'a, S: AsRef<str> + Serialize> {
    /// The group id.
    pub group: &'a str,
    /// The ids being acknowledged.
    pub ids: &'a [S],
}

/// Any server → client event, with only the fields the load generator looks at.
///
/// `receive_message` is read both flat (`{type, id, sender, ...}`) and with the stored message
/// nested under `message`, so either reading of the protocol's wording works.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    /// The event's `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `id` of `message_sent` / `receive_message` (and their group forms).
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    /// `sender` of `receive_message` / `receive_group_message`.
    #[serde(borrow, default)]
    pub sender: Option<Cow<'a, str>>,
    /// `code` of `error`.
    #[serde(borrow, default)]
    pub code: Option<Cow<'a, str>>,
    /// `ref` of `error`: the id the refusal is about.
    #[serde(rename = "ref", borrow, default)]
    pub reference: Option<Cow<'a, str>>,
    /// `ids` of `message_delivered` / `message_seen` / `group_delivered`, only counted.
    #[serde(default)]
    pub ids: Option<Vec<serde::de::IgnoredAny>>,
    /// A stored message nested in the event (when the server nests it), or the text of `error`.
    #[serde(borrow, default)]
    pub message: Option<MessageField<'a>>,
}

/// The `message` field: a nested stored message, or the human-readable text of an `error`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageField<'a> {
    /// A stored message.
    Stored(#[serde(borrow)] Nested<'a>),
    /// Anything else (the text of an `error`).
    Other(serde::de::IgnoredAny),
}

/// The part of a nested stored message the load generator reads.
#[derive(Debug, Deserialize)]
pub struct Nested<'a> {
    /// The message id.
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    /// Who sent it.
    #[serde(borrow, default)]
    pub sender: Option<Cow<'a, str>>,
}

impl Incoming<'_> {
    /// The message id, flat or nested.
    pub fn message_id(&self) -> Option<&str> {
        self.id.as_deref().or_else(|| self.nested()?.id.as_deref())
    }

    /// The sender, flat or nested.
    pub fn message_sender(&self) -> Option<&str> {
        self.sender
            .as_deref()
            .or_else(|| self.nested()?.sender.as_deref())
    }

    fn nested(&self) -> Option<&Nested<'_>> {
        match self.message.as_ref()? {
            MessageField::Stored(n) => Some(n),
            _ => None,
        }
    }
}

/// A fake but well-formed ECDH P-256 public key JWK: the server does not check the curve point.
pub fn fake_public_key() -> serde_json::Value {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let x: [u8; 32] = rand::random();
    let y: [u8; 32] = rand::random();
    serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64.encode(x), "y": b64.encode(y)})
}

/// A small opaque "encrypted private key" object, as the browser client would upload.
pub fn fake_encrypted_private_key() -> serde_json::Value {
    serde_json::json!({
        "ciphertext": random_base64(64),
        "iv": random_base64(12),
        "salt": random_base64(16),
        "iterations": 100000
    })
}

/// Standard base64 (with padding) of `bytes` random bytes: `4 * ceil(bytes / 3)` characters.
pub fn random_base64(bytes: usize) -> String {
    use base64::Engine as _;
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_send_message_as_the_protocol_says() {
        let s = serde_json::to_string(&SendMessage {
            receiver: "bob",
            ciphertext: "AA==",
            iv: "x",
            id: "i",
        })
        .expect("serializes");
        assert_eq!(
            s,
            r#"{"type":"send_message","receiver":"bob","ciphertext":"AA==","iv":"x","id":"i"}"#
        );
        let d = serde_json::to_string(&MessageDelivered {
            to: "alice",
            ids: &["a", "b"],
        })
        .expect("serializes");
        assert_eq!(
            d,
            r#"{"type":"message_delivered","to":"alice","ids":["a","b"]}"#
        );
    }

    #[test]
    fn encodes_group_events_as_the_protocol_says() {
        let s = serde_json::to_string(&SendGroupMessage {
            group: "g1",
            ciphertext: "AA==",
            iv: "x",
            key_id: "k1",
            id: "i",
        })
        .expect("serializes");
        assert_eq!(
            s,
            r#"{"type":"send_group_message","group":"g1","ciphertext":"AA==","iv":"x","keyId":"k1","id":"i"}"#
        );
        let d = serde_json::to_string(&GroupDelivered {
            group: "g1",
            ids: &["a", "b"],
        })
        .expect("serializes");
        assert_eq!(
            d,
            r#"{"type":"group_delivered","group":"g1","ids":["a","b"]}"#
        );
        let r: Incoming<'_> = serde_json::from_str(
            r#"{"type":"receive_group_message","id":"m1","group":"g1","sender":"a","keyId":"k1","ciphertext":"AA==","iv":"x","timestamp":1,"status":"sent"}"#,
        )
        .expect("parses");
        assert_eq!(
            (r.kind.as_ref(), r.message_id(), r.message_sender()),
            ("receive_group_message", Some("m1"), Some("a"))
        );
    }

    #[test]
    fn reads_flat_and_nested_messages() {
        let flat: Incoming<'_> =
            serde_json::from_str(r#"{"type":"receive_message","id":"m1","sender":"a","receiver":"b","ciphertext":"AA==","iv":"x","timestamp":1,"status":"sent"}"#)
                .expect("parses");
        assert_eq!(
            (flat.kind.as_ref(), flat.message_id(), flat.message_sender()),
            ("receive_message", Some("m1"), Some("a"))
        );
        let nested: Incoming<'_> = serde_json::from_str(
            r#"{"type":"receive_message","message":{"id":"m2","sender":"c"}}"#,
        )
        .expect("parses");
        assert_eq!(
            (nested.message_id(), nested.message_sender()),
            (Some("m2"), Some("c"))
        );
        // `message` is a string in `error`: the nested reading must not make the event unreadable.
        let err: Incoming<'_> = serde_json::from_str(
            r#"{"type":"error","code":"rate_limited","message":"slow down","ref":"m3"}"#,
        )
        .expect("parses");
        assert_eq!(
            (
                err.code.as_deref(),
                err.reference.as_deref(),
                err.message_id()
            ),
            (Some("rate_limited"), Some("m3"), None)
        );
    }

    #[test]
    fn random_base64_has_the_promised_length() {
        assert_eq!(random_base64(12).len(), 16);
        assert_eq!(random_base64(256).len(), 344);
    }
}
