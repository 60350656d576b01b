//! The nexchat client SDK: accounts, friends and end-to-end-encrypted messages over the nexchat
//! protocol (`docs/protocol.md`), with the browser client's cryptography, byte for byte, so a
//! program written with it talks to browser users as one of them.
//!
//! - [`Client`]: sign up or in, friends, messages with their ticks, groups (under sender keys),
//!   files, safety numbers. It keeps one socket open, connects again with jittered backoff when
//!   it is lost, and sends again with the same ids the messages the server had not
//!   acknowledged.
//! - [`Event`]: what a connected client learns, already decrypted.
//! - [`crypto`]: the client-side cryptography on its own (identity and message keys, the
//!   password key derivation and key backup, safety numbers, group sender keys, attachments),
//!   on RustCrypto crates; `docs/crypto-vectors.json` pins it.
//! - [`protocol`]: the wire types, the same as the server's (`nexchat_core::protocol`).
//!
//! The `nexchat` terminal client (feature `cli`, on by default) is built on this crate; an
//! app that only needs the SDK sets `default-features = false`.
//!
//! See [`Client`] for an echo bot.

#![forbid(unsafe_code)]

mod api;
mod backoff;
mod client;
mod connection;
pub mod crypto;
mod error;
mod event;
mod keys;
mod sender_keys;

pub use client::{Client, ConnectOptions, Conversation, Events, HistoryPage, Session};
pub use connection::{Sent, Undecryptable};
pub use error::{Error, Result};
pub use event::{Event, GroupChatMessage, Message};
pub use nexchat_core::protocol;
