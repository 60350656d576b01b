//! The wire protocol: every JSON value a client and the server exchange.
//!
//! [`ClientEvent`] and [`ServerEvent`] are the WebSocket frames, [`rest`] holds the REST bodies,
//! and [`types`] the records both carry (messages, calls, public keys). Field names follow the
//! protocol document exactly; the round-trip tests in this module pin them.
//!
//! With the feature `schema`, [`schema`] gives the JSON Schema of each direction's socket
//! events; with `openapi`, the REST bodies carry utoipa's `ToSchema`, from which `nexchat-axum`
//! (feature `openapi`) makes the OpenAPI document of its routes.

mod client;
pub mod groups;
#[cfg(feature = "openapi")]
mod openapi;
pub mod rest;
#[cfg(feature = "schema")]
pub mod schema;
mod server;
pub mod types;

pub use client::{ClientEvent, DecodeError};
pub use groups::{
    Group, GroupChange, GroupChangeKind, GroupMember, GroupMessage, GroupRole, Receipt, SealedField,
};
pub use server::ServerEvent;
pub use types::{
    CallKind, CallRecord, CallStatus, Conversation, EndReason, ErrorCode, MessageStatus, PublicKey,
    StoredMessage, is_valid_username,
};

#[cfg(test)]
mod tests;
