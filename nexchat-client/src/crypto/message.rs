//! 1:1 messages: the key two users share and the encrypted body of a message (docs/protocol.md,
//! the message keys of the WebSocket section and "Messages that carry attachments"; crypto.js).

use std::fmt;

use hkdf::Hkdf;
use nexchat_core::protocol::StoredMessage;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::aead::{AeadKey, IV_BYTES, Sealed, fresh_iv};
use super::attachment::{Attachment, parse_attachments};
use super::encoding::{decode_text, js_integer};
use super::error::CryptoError;

/// The protocol's version string, the first part of every label and AAD.
pub(crate) const VERSION: &str = "nexchat-v1";

/// The AES-GCM-256 key of a pair of users (or of a user with themselves), for their 1:1
/// messages and the group key messages between them. Wiped when dropped, never printed.
#[derive(Clone)]
pub struct MessageKey(pub(crate) AeadKey);

impl MessageKey {
    /// HKDF-SHA-256 of the ECDH secret: both names lowercased and sorted, salt the SHA-256 of
    /// `nexchat-v1|salt|{a}|{b}`, info `nexchat-v1|message-key|{a}|{b}`, 32 bytes.
    pub(crate) fn derive(shared_x: &[u8], me: &str, peer: &str) -> Self {
        let (a, b) = sorted_pair(me, peer);
        let salt = Sha256::digest(format!("{VERSION}|salt|{a}|{b}").as_bytes());
        let info = format!("{VERSION}|message-key|{a}|{b}");
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared_x);
        Self(AeadKey::filled(|key| {
            hkdf.expand(info.as_bytes(), key)
                .expect("32 bytes is a valid HKDF-SHA-256 output length");
        }))
    }

    /// Encrypts `body` as message `id` from `sender` to `receiver`, under a fresh random
    /// 12-byte IV: what `send_message` carries as `ciphertext` and `iv`.
    pub fn encrypt(&self, id: &str, sender: &str, receiver: &str, body: &MessageBody) -> Sealed {
        self.encrypt_with_iv(&fresh_iv(), id, sender, receiver, body)
    }

    pub(crate) fn encrypt_with_iv(
        &self,
        iv: &[u8; IV_BYTES],
        id: &str,
        sender: &str,
        receiver: &str,
        body: &MessageBody,
    ) -> Sealed {
        self.0.seal_sealed(
            iv,
            &body.to_bytes(),
            message_aad(id, sender, receiver).as_bytes(),
        )
    }

    /// The body of a stored or received 1:1 message, checked against its id, sender and
    /// receiver (crypto.js `decryptMessageBody`).
    ///
    /// # Errors
    /// [`CryptoError::DoesNotOpen`] for a wrong key or a ciphertext moved to another id,
    /// sender or receiver; [`CryptoError::Malformed`] for an IV that is not 12 bytes or a body
    /// that is not JSON with a string `text` (see [`MessageBody`]).
    pub fn decrypt(&self, message: &StoredMessage) -> Result<MessageBody, CryptoError> {
        let aad = message_aad(&message.id, &message.sender, &message.receiver);
        let plain = self
            .0
            .open_base64(&message.ciphertext, &message.iv, aad.as_bytes())?;
        MessageBody::read(&plain, false)
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}

/// Both names lowercased, the smaller first (JavaScript's `<` on strings; usernames are ASCII,
/// where it is the byte order Rust compares by).
fn sorted_pair(me: &str, peer: &str) -> (String, String) {
    let (x, y) = (me.to_lowercase(), peer.to_lowercase());
    if x < y { (x, y) } else { (y, x) }
}

/// `nexchat-v1|message|{id}|{sender}|{receiver}`, names lowercased.
pub(crate) fn message_aad(id: &str, sender: &str, receiver: &str) -> String {
    format!(
        "{VERSION}|message|{id}|{}|{}",
        sender.to_lowercase(),
        receiver.to_lowercase()
    )
}

/// The plaintext of a 1:1 or group chat message: UTF-8 JSON `{"v":1,"text":…}`, with
/// `"attachments":[…]` after `text` when it carries any, exactly as the browser client's
/// `JSON.stringify` writes it.
///
/// Reading follows the browser client (crypto.js `readBody`, attachmentCrypto.js
/// `parseAttachments`): `text` must be a string; `attachments` that is absent or not a list
/// counts as none; of a list, the first 10 entries are looked at and each one that is not well
/// formed (see [`Attachment`]'s checks) is left out, so a bad entry never costs the text or the
/// other files. A 1:1 body's `v` is not looked at; a group body's must be 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageBody {
    /// What the user wrote.
    pub text: String,
    /// The files the message carries.
    pub attachments: Vec<Attachment>,
}

/// What is serialised: members in the protocol's order (`v`, `text`, `attachments`).
#[derive(Serialize)]
struct BodyJson<'a> {
    v: u8,
    text: &'a str,
    #[serde(skip_serializing_if = "<[Attachment]>::is_empty")]
    attachments: &'a [Attachment],
}

impl MessageBody {
    /// A body of text only.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            attachments: Vec::new(),
        }
    }

    /// The UTF-8 JSON plaintext.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&BodyJson {
            v: 1,
            text: &self.text,
            attachments: &self.attachments,
        })
        .expect("a body of strings and numbers is JSON")
    }

    /// Reads a decrypted body; `group` asks for `v` to be 1 as groupCrypto.js does.
    pub(crate) fn read(plain: &[u8], group: bool) -> Result<Self, CryptoError> {
        let what = if group { "group message" } else { "message" };
        let body: Value = serde_json::from_str(&decode_text(plain))
            .map_err(|_| CryptoError::Malformed(format!("the {what} body is not JSON")))?;
        if group && body.get("v").and_then(js_integer) != Some(1) {
            return Err(CryptoError::Malformed(format!(
                "the {what} body is not version 1"
            )));
        }
        let Some(text) = body.get("text").and_then(Value::as_str) else {
            return Err(CryptoError::Malformed(format!(
                "the {what} body has no text"
            )));
        };
        Ok(Self {
            text: text.to_owned(),
            attachments: body
                .get("attachments")
                .map(parse_attachments)
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use nexchat_core::protocol::MessageStatus;
    use serde_json::json;

    use super::*;
    use crate::crypto::Identity;

    fn photo(id: &str) -> Value {
        json!({
            "id": id, "key": crate::crypto::encoding::to_base64(&[7; 32]),
            "nonce": "AAAAAAAAAAA=", "chunk": 65536, "size": 10,
            "digest": crate::crypto::encoding::to_base64(&[9; 32]),
            "type": "image/jpeg", "name": "a.jpg",
        })
    }

    fn read(body: &Value, group: bool) -> Result<MessageBody, CryptoError> {
        MessageBody::read(body.to_string().as_bytes(), group)
    }

    #[test]
    fn a_body_is_written_as_json_stringify_writes_it() {
        let body = MessageBody::text("hi \"you\"\u{1}");
        assert_eq!(body.to_bytes(), br#"{"v":1,"text":"hi \"you\"\u0001"}"#);
        let with = read(
            &json!({"v": 1, "text": "x", "attachments": [photo("a")]}),
            false,
        )
        .expect("a body");
        let text = String::from_utf8(with.to_bytes()).expect("UTF-8");
        assert!(text.starts_with(r#"{"v":1,"text":"x","attachments":[{"id":"a","key":"#));
        assert!(text.ends_with(r#""type":"image/jpeg","name":"a.jpg"}]}"#));
    }

    #[test]
    fn a_body_is_read_as_the_browser_reads_it() {
        assert_eq!(
            read(&json!({"text": "no v"}), false),
            Ok(MessageBody::text("no v"))
        );
        assert!(matches!(
            read(&json!({"text": "no v"}), true),
            Err(CryptoError::Malformed(_))
        ));
        assert_eq!(
            MessageBody::read(br#"{"v":1.0,"text":"t"}"#, true),
            Ok(MessageBody::text("t"))
        );
        assert!(matches!(
            read(&json!({"v": 2, "text": "t"}), true),
            Err(CryptoError::Malformed(_))
        ));
        for bad in [
            json!({"v": 1}),
            json!({"v": 1, "text": 5}),
            json!("text"),
            json!(null),
        ] {
            assert!(
                matches!(read(&bad, false), Err(CryptoError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            MessageBody::read(b"not json", false),
            Err(CryptoError::Malformed(_))
        ));
        // TextDecoder drops a byte order mark; JSON.parse then reads the body.
        assert_eq!(
            MessageBody::read(b"\xef\xbb\xbf{\"text\":\"t\"}", false),
            Ok(MessageBody::text("t"))
        );
        // Attachments that are not a list are none; a bad entry is left out, the text kept.
        let odd = read(
            &json!({"v": 1, "text": "t", "attachments": {"0": photo("a")}}),
            false,
        );
        assert_eq!(odd, Ok(MessageBody::text("t")));
        let mixed = read(
            &json!({"v": 1, "text": "t", "attachments": [photo("a"), {"id": "b"}, 3, photo("c")]}),
            true,
        )
        .expect("the text survives bad entries");
        let ids: Vec<_> = mixed.attachments.iter().map(|a| a.id.as_str()).collect();
        assert_eq!((mixed.text.as_str(), ids), ("t", vec!["a", "c"]));
    }

    #[test]
    fn two_users_share_one_key_and_a_message_opens_only_where_it_was_sent() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let a = alice
            .message_key("Alice", "bob_42", &bob.public_key())
            .expect("a valid key");
        let b = bob
            .message_key("BOB_42", "alice", &alice.public_key())
            .expect("a valid key");
        let body = MessageBody::text("hello");
        let sealed = a.encrypt("m1", "Alice", "bob_42", &body);
        let stored = StoredMessage {
            id: "m1".into(),
            sender: "alice".into(),
            receiver: "Bob_42".into(),
            ciphertext: sealed.ciphertext.clone(),
            iv: sealed.iv.clone(),
            timestamp: 0,
            status: MessageStatus::Sent,
        };
        assert_eq!(b.decrypt(&stored), Ok(body.clone()));
        assert_ne!(
            a.encrypt("m1", "Alice", "bob_42", &body),
            sealed,
            "a fresh IV each time"
        );
        let carol = Identity::generate();
        let c = carol
            .message_key("carol", "bob_42", &bob.public_key())
            .expect("a valid key");
        assert_eq!(c.decrypt(&stored), Err(CryptoError::DoesNotOpen));
        assert_eq!(format!("{a:?}"), "MessageKey(<redacted>)");
    }
}
