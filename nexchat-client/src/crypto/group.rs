//! Group cryptography (protocol 1.2): sender keys, the key messages that hand them to members,
//! chat messages under them, and sealed titles and avatars (docs/protocol.md, "Sender keys (what
//! a client does)"; groupCrypto.js). Every AAD names the group and the sender or sealer, so the
//! server cannot move a message, a key or a title to another group, sender or id.

use std::fmt;

use nexchat_core::protocol::{GroupMessage, SealedField};
use serde::Serialize;
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::aead::{AeadKey, IV_BYTES, KEY_BYTES, Sealed, fresh_iv};
use super::encoding::{decode_text, from_base64, js_integer, to_base64};
use super::error::CryptoError;
use super::message::{MessageBody, MessageKey, VERSION};

/// Which sealed field of a group: its title or its avatar. The two are sealed under different
/// AADs, so a title cannot be passed off as an avatar or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// The group's title: any UTF-8 text.
    Title,
    /// The group's avatar: a `data:image/…` URL.
    Avatar,
}

impl FieldKind {
    fn label(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Avatar => "avatar",
        }
    }
}

/// A member device's sender key in a group: 32 random bytes used as an AES-GCM-256 key, named
/// by a random UUID (`keyId`). The bytes are wiped when dropped and never printed.
#[derive(Clone)]
pub struct SenderKey {
    key_id: String,
    key: AeadKey,
}

impl fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKey")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `nexchat-v1|group-message|{group}|{sender}|{keyId}|{id}`, the sender lowercased.
fn group_message_aad(group: &str, sender: &str, key_id: &str, id: &str) -> String {
    format!(
        "{VERSION}|group-message|{group}|{}|{key_id}|{id}",
        sender.to_lowercase()
    )
}

/// `nexchat-v1|group-key|{group}|{id}|{sender}|{to}`, names lowercased.
fn group_key_aad(group: &str, id: &str, sender: &str, to: &str) -> String {
    format!(
        "{VERSION}|group-key|{group}|{id}|{}|{}",
        sender.to_lowercase(),
        to.to_lowercase()
    )
}

/// `nexchat-v1|group-title|{group}|{by}|{keyId}` (or `group-avatar`), `by` lowercased.
fn field_aad(kind: FieldKind, group: &str, by: &str, key_id: &str) -> String {
    format!(
        "{VERSION}|group-{}|{group}|{}|{key_id}",
        kind.label(),
        by.to_lowercase()
    )
}

impl SenderKey {
    /// A new sender key: a random v4 UUID (lowercase, as `crypto.randomUUID` writes it) and 32
    /// random bytes.
    pub fn generate() -> Self {
        Self {
            key_id: uuid::Uuid::new_v4().to_string(),
            key: AeadKey::random(),
        }
    }

    /// A sender key kept from earlier (see [`SenderKey::secret_bytes`]).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when `bytes` is not 32 bytes long.
    pub fn from_bytes(key_id: impl Into<String>, bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes: &[u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("a sender key is 32 bytes".into()))?;
        Ok(Self {
            key_id: key_id.into(),
            key: AeadKey::filled(|key| key.copy_from_slice(bytes)),
        })
    }

    /// The key's name, `keyId`, as messages under it carry it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The 32 secret bytes, for a client that keeps its keys between runs (in a store it
    /// protects: whoever reads them reads the group's messages under this key).
    pub fn secret_bytes(&self) -> &[u8; 32] {
        self.key.bytes()
    }

    /// Encrypts `body` as group chat message `id` from `sender` to `group`, under a fresh
    /// random IV: what `send_group_message` carries as `ciphertext` and `iv`, with `keyId` =
    /// [`SenderKey::key_id`]. The plaintext is the same as a 1:1 message's ([`MessageBody`]).
    pub fn encrypt(&self, group: &str, sender: &str, id: &str, body: &MessageBody) -> Sealed {
        self.encrypt_with_iv(&fresh_iv(), group, sender, id, body)
    }

    pub(crate) fn encrypt_with_iv(
        &self,
        iv: &[u8; IV_BYTES],
        group: &str,
        sender: &str,
        id: &str,
        body: &MessageBody,
    ) -> Sealed {
        let aad = group_message_aad(group, sender, &self.key_id, id);
        self.key.seal_sealed(iv, &body.to_bytes(), aad.as_bytes())
    }

    /// The body of a group chat message under this key (groupCrypto.js
    /// `decryptGroupMessageBody`; the AAD takes the message's own `keyId`).
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a message without `keyId` (a key message), an IV that is
    /// not 12 bytes, or a body that is not version 1 JSON with a string `text`;
    /// [`CryptoError::DoesNotOpen`] for another key or a message moved to another group,
    /// sender, key id or id.
    pub fn decrypt(&self, message: &GroupMessage) -> Result<MessageBody, CryptoError> {
        let Some(key_id) = &message.key_id else {
            return Err(CryptoError::Malformed(
                "a group chat message names its keyId".into(),
            ));
        };
        let aad = group_message_aad(&message.group, &message.sender, key_id, &message.id);
        let plain = self
            .key
            .open_base64(&message.ciphertext, &message.iv, aad.as_bytes())?;
        MessageBody::read(&plain, true)
    }

    /// Seals a group's title or avatar (`text`, UTF-8) under this key, as member `by` stores
    /// it in `group`, under a fresh random IV. The result's `by` is set to `by` so that
    /// [`SenderKey::open_field`] opens it as it is; the server ignores `by` in requests and sets
    /// it itself.
    pub fn seal_field(&self, kind: FieldKind, text: &str, group: &str, by: &str) -> SealedField {
        self.seal_field_with_iv(&fresh_iv(), kind, text, group, by)
    }

    pub(crate) fn seal_field_with_iv(
        &self,
        iv: &[u8; IV_BYTES],
        kind: FieldKind,
        text: &str,
        group: &str,
        by: &str,
    ) -> SealedField {
        let aad = field_aad(kind, group, by, &self.key_id);
        let sealed = self.key.seal_sealed(iv, text.as_bytes(), aad.as_bytes());
        SealedField {
            ciphertext: sealed.ciphertext,
            iv: sealed.iv,
            key_id: self.key_id.clone(),
            by: Some(by.to_owned()),
        }
    }

    /// The text of a sealed field of `group` (groupCrypto.js `openField`; the AAD takes the
    /// field's `by` and `keyId`). Invalid UTF-8 reads as U+FFFD, as in the browser.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a field without `by`, an IV that is not 12 bytes, or an
    /// avatar that is not a `data:image/` URL; [`CryptoError::DoesNotOpen`] for another key,
    /// group, sealer or kind.
    pub fn open_field(
        &self,
        kind: FieldKind,
        field: &SealedField,
        group: &str,
    ) -> Result<String, CryptoError> {
        let Some(by) = &field.by else {
            return Err(CryptoError::Malformed(
                "a stored sealed field names who sealed it (by)".into(),
            ));
        };
        let aad = field_aad(kind, group, by, &field.key_id);
        let plain = self
            .key
            .open_base64(&field.ciphertext, &field.iv, aad.as_bytes())?;
        let text = decode_text(&plain);
        if kind == FieldKind::Avatar && !text.starts_with("data:image/") {
            return Err(CryptoError::Malformed(
                "an avatar is a data:image URL".into(),
            ));
        }
        Ok(text)
    }
}

/// The plaintext of a key message, members in the protocol's order.
#[derive(Serialize)]
struct KeyMessageJson<'a> {
    v: u8,
    #[serde(rename = "keyId")]
    key_id: &'a str,
    key: &'a str,
}

impl MessageKey {
    /// A key message handing `key` to member `to` of `group` (this being the 1:1 key of
    /// `sender` and `to`; `to` may be `sender`, for the sender's own other devices), under a
    /// fresh random IV: what `send_group_message` carries with `to` set and no `keyId`.
    /// Plaintext `{"v":1,"keyId":…,"key":base64}`.
    pub fn encrypt_key_message(
        &self,
        key: &SenderKey,
        group: &str,
        id: &str,
        sender: &str,
        to: &str,
    ) -> Sealed {
        self.encrypt_key_message_with_iv(&fresh_iv(), key, group, id, sender, to)
    }

    pub(crate) fn encrypt_key_message_with_iv(
        &self,
        iv: &[u8; IV_BYTES],
        key: &SenderKey,
        group: &str,
        id: &str,
        sender: &str,
        to: &str,
    ) -> Sealed {
        let encoded = Zeroizing::new(to_base64(key.secret_bytes()));
        let plain = Zeroizing::new(
            serde_json::to_vec(&KeyMessageJson {
                v: 1,
                key_id: &key.key_id,
                key: &encoded,
            })
            .expect("three strings and a number are JSON"),
        );
        let aad = group_key_aad(group, id, sender, to);
        self.0.seal_sealed(iv, &plain, aad.as_bytes())
    }

    /// The sender key a key message hands over (groupCrypto.js `decryptKeyMessage`).
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a message without `to` (a chat message), an IV that is
    /// not 12 bytes, or a plaintext that is not `{"v":1,"keyId":string,"key":base64 of 32
    /// bytes}`; [`CryptoError::DoesNotOpen`] for another pair's key or a key message moved to
    /// another group, id, sender or member.
    pub fn decrypt_key_message(&self, message: &GroupMessage) -> Result<SenderKey, CryptoError> {
        let Some(to) = &message.to else {
            return Err(CryptoError::Malformed(
                "a key message names the member it is for (to)".into(),
            ));
        };
        let aad = group_key_aad(&message.group, &message.id, &message.sender, to);
        let plain = self
            .0
            .open_base64(&message.ciphertext, &message.iv, aad.as_bytes())?;
        let malformed = || CryptoError::Malformed("malformed key message".into());
        let text = Zeroizing::new(decode_text(&plain));
        let mut body: Value = serde_json::from_str(&text).map_err(|_| malformed())?;
        let key = match (
            body.get("v").and_then(js_integer),
            body.get("keyId").and_then(Value::as_str),
            body.get("key").and_then(Value::as_str),
        ) {
            (Some(1), Some(key_id), Some(key)) => from_base64(key)
                .map(Zeroizing::new)
                .ok_or_else(malformed)
                .and_then(|bytes| SenderKey::from_bytes(key_id, &bytes)),
            _ => Err(malformed()),
        };
        if let Some(Value::String(encoded)) = body.get_mut("key") {
            encoded.zeroize();
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use nexchat_core::protocol::MessageStatus;

    use super::*;
    use crate::crypto::Identity;

    fn group_message(to: Option<&str>, key_id: Option<&str>, sealed: &Sealed) -> GroupMessage {
        GroupMessage {
            id: "m1".into(),
            group: "g1".into(),
            sender: "Alice".into(),
            to: to.map(str::to_owned),
            key_id: key_id.map(str::to_owned),
            ciphertext: sealed.ciphertext.clone(),
            iv: sealed.iv.clone(),
            timestamp: 0,
            status: MessageStatus::Sent,
        }
    }

    #[test]
    fn a_sender_key_travels_in_a_key_message_and_opens_what_it_sealed() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let pair = alice
            .message_key("Alice", "bob", &bob.public_key())
            .expect("a valid key");
        let key = SenderKey::generate();
        assert_eq!(
            uuid::Uuid::parse_str(key.key_id()).map(|u| u.get_version_num()),
            Ok(4)
        );
        let sealed = pair.encrypt_key_message(&key, "g1", "m1", "Alice", "Bob");
        let received = bob
            .message_key("bob", "alice", &alice.public_key())
            .expect("a valid key")
            .decrypt_key_message(&group_message(Some("bob"), None, &sealed))
            .expect("the key message opens");
        assert_eq!(received.key_id(), key.key_id());
        assert_eq!(received.secret_bytes(), key.secret_bytes());

        let body = MessageBody::text("hi all");
        let message = key.encrypt("g1", "alice", "m1", &body);
        let stored = group_message(None, Some(key.key_id()), &message);
        assert_eq!(received.decrypt(&stored), Ok(body));
        assert!(matches!(
            received.decrypt(&group_message(None, None, &message)),
            Err(CryptoError::Malformed(_))
        ));

        let title = key.seal_field(FieldKind::Title, "Crew", "g1", "Alice");
        assert_eq!(title.by.as_deref(), Some("Alice"));
        assert_eq!(
            received.open_field(FieldKind::Title, &title, "g1"),
            Ok("Crew".into())
        );
        let shown = format!("{key:?}");
        assert!(
            shown.contains(key.key_id()) && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn a_key_message_that_does_not_hand_over_32_bytes_is_refused() {
        let me = Identity::generate();
        let pair = me
            .message_key("me", "me", &me.public_key())
            .expect("a valid key");
        for plain in [
            r#"{"v":1,"keyId":"k","key":"AAAA"}"#,
            r#"{"v":2,"keyId":"k","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
            r#"{"v":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
            "not json",
        ] {
            let iv = fresh_iv();
            let sealed = pair.0.seal_sealed(
                &iv,
                plain.as_bytes(),
                group_key_aad("g1", "m1", "Alice", "me").as_bytes(),
            );
            let result = pair.decrypt_key_message(&group_message(Some("me"), None, &sealed));
            assert!(
                matches!(
                    result,
                    Err(CryptoError::Malformed(_) | CryptoError::InvalidKey(_))
                ),
                "{plain}"
            );
        }
        assert!(SenderKey::from_bytes("k", &[0; 31]).is_err());
    }
}
