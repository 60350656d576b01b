//! The nexchat client SDK: accounts, friends and end-to-end-encrypted messages over the nexchat
//! protocol (`docs/protocol.md`), with the same cryptography as the browser client, byte for
//! byte, so a program written with it talks to browser users as one of them.
//!
//! - [`crypto`]: the client-side cryptography (identity keys, message keys, the password key
//!   derivation and key backup, safety numbers, group sender keys, attachments), on RustCrypto.
//! - [`Event`]: what a connected client learns, already decrypted.

#![forbid(unsafe_code)]

pub mod crypto;
mod event;

pub use event::{Event, Message};
