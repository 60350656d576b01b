//! The wire protocol: every JSON value a client and the server exchange.
//!
//! [`ClientEvent`] and [`ServerEvent`] are the WebSocket frames, [`rest`] holds the REST bodies,
//! and [`types`] the records both carry (messages, calls, public keys). Field names follow the
//! protocol document exactly; the round-trip tests in this module pin them.

mod client;
pub mod rest;
mod server;
pub mod types;

pub use client::{ClientEvent, DecodeError};
pub use server::ServerEvent;
pub use types::{
    CallKind, CallRecord, CallStatus, Conversation, EndReason, ErrorCode, MessageStatus, PublicKey,
    StoredMessage,
};

#[cfg(test)]
mod tests;
