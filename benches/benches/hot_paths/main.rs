//! Criterion benchmarks of nexchat's hot paths, one group per stage a message passes through:
//!
//! - `protocol`: decoding a client frame ([`ClientEvent::decode`]) and encoding server events
//!   ([`ServerEvent::encode`]).
//! - `friend_guard`: the friendship check every relay passes, on SQLite, as a `typing` frame
//!   handled through the [`Transport`].
//! - `sqlite`: storing a message (group-committed, durable) and reading a history page.
//! - `hub`: fan-out of a `typing` frame to every session of its receiver.
//! - `client`: the client SDK's cryptography per message and per login.
//!
//! Run: `cargo bench -p nexchat-benches --bench hot_paths` (add `-- GROUP` to pick one group,
//! `-- --quick` for a short pass).
//!
//! [`ClientEvent::decode`]: nexchat_core::protocol::ClientEvent::decode
//! [`ServerEvent::encode`]: nexchat_core::protocol::ServerEvent::encode
//! [`Transport`]: nexchat_core::transport::Transport
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod client;
mod fixtures;
mod friend_guard;
mod hub;
mod protocol;
mod sqlite;

criterion::criterion_main!(
    protocol::group,
    friend_guard::group,
    sqlite::group,
    hub::group,
    client::group
);
