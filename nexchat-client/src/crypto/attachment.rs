//! Attachments (protocol 1.3): files encrypted under a key of their own, described inside the
//! encrypted body of the message that carries them (docs/protocol.md, "Attachments").

use serde::{Deserialize, Serialize};

/// One file as a message body describes it: where the ciphertext is (`id`), how to open it, and
/// what it is. Every member is written by the sender and checked by nobody but the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The upload's id (`POST /attachments`).
    pub id: String,
    /// The file's AES-GCM-256 key, base64 of 32 bytes.
    pub key: String,
    /// The 8-byte IV prefix, base64.
    pub nonce: String,
    /// Plaintext bytes per chunk (65,536 from the browser client).
    pub chunk: u32,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Base64 SHA-256 of the uploaded ciphertext.
    pub digest: String,
    /// The MIME type.
    #[serde(rename = "type")]
    pub mime: String,
    /// The file name.
    pub name: String,
    /// A `data:image/jpeg;base64,…` URL of at most 8 KiB, for photos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// A photo's width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// A photo's height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A voice note's length in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// A voice note's loudness, one byte (0–255) per bar, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<String>,
}
