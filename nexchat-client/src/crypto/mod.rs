//! The client-side cryptography of nexchat, compatible byte for byte with the browser client
//! (`nexchat-axum/client/*.js`) and written down in `docs/protocol.md`.
//!
//! - [`Identity`]: the account's P-256 key pair, and from it with a friend's public key the
//!   [`MessageKey`] of the pair, which seals their 1:1 [`MessageBody`]s and group key messages.
//! - [`safety_number`]: the digits two friends compare to check each other's key.
//! - [`KdfParams`]: the password key derivation; its [`AccountKeys`] hold the auth key the
//!   server receives and the [`VaultKey`] that seals the key backup ([`VaultKey::seal`],
//!   [`VaultKey::open`], [`open_backup_v1`]).
//! - [`SenderKey`]: a member's key in a group, for chat messages and sealed titles and avatars.
//! - [`encrypt_file`] and [`decrypt_file`]: attachments, described by an [`Attachment`].
//!
//! `docs/crypto-vectors.json` pins all of it with fixed keys, names and ciphertexts; this
//! module's tests and the browser client's `client/tests/vectors.test.js` both check it.
//!
//! ```
//! use nexchat_client::crypto::{Identity, MessageBody, StoredMessage};
//!
//! let (alice, bob) = (Identity::generate(), Identity::generate());
//! let key = alice.message_key("Alice", "bob", &bob.public_key())?;
//! let sealed = key.encrypt("2f1d…", "Alice", "bob", &MessageBody::text("hi"));
//! // Sent as `send_message`; bob receives it as the server stored it.
//! let stored: StoredMessage = serde_json::from_value(serde_json::json!({
//!     "id": "2f1d…", "sender": "Alice", "receiver": "bob",
//!     "ciphertext": sealed.ciphertext, "iv": sealed.iv, "timestamp": 0, "status": "sent",
//! }))?;
//! let theirs = bob.message_key("bob", "Alice", &alice.public_key())?;
//! assert_eq!(theirs.decrypt(&stored)?.text, "hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything here is computation on this thread. Key derivation ([`KdfParams::derive`],
//! [`open_backup_v1`]) is slow on purpose; an async caller runs it on the blocking pool.

mod aead;
mod attachment;
mod backup;
mod encoding;
mod error;
mod group;
mod identity;
mod kdf;
mod message;
mod safety;
#[cfg(test)]
mod vectors;

pub use aead::Sealed;
pub use attachment::{Attachment, decrypt_file, encrypt_file};
pub use backup::open_backup_v1;
pub use error::CryptoError;
pub use group::{FieldKind, SenderKey};
pub use identity::Identity;
pub use kdf::{AccountKeys, KdfParams, VaultKey};
pub use message::{MessageBody, MessageKey};
pub use nexchat_core::protocol::{GroupMessage, PublicKey, SealedField, StoredMessage};
pub use safety::{SafetyNumber, safety_number};
