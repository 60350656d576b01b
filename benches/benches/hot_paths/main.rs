//! Criterion benchmarks of nexchat's hot paths, one group per stage a message passes through:
//!
//! - `protocol`: decoding a client frame ([`ClientEvent::decode`]) and encoding server events
//!   ([`ServerEvent::encode`]).
//! - `friend_guard`: the friendship check every relay passes ([`FriendGuard::check`]) on SQLite.
//! - `sqlite`: storing a message (group-committed, durable) and reading a history page.
//! - `hub`: fan-out of one event to every session of a user ([`Hub::push`]).
//!
//! Run: `cargo bench -p nexchat-benches --bench hot_paths` (add `-- GROUP` to pick one group,
//! `-- --quick` for a short pass).
//!
//! [`ClientEvent::decode`]: nexchat_core::protocol::ClientEvent::decode
//! [`ServerEvent::encode`]: nexchat_core::protocol::ServerEvent::encode
//! [`FriendGuard::check`]: nexchat_core::FriendGuard::check
//! [`Hub::push`]: nexchat_core::Hub::push
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod fixtures;
mod friend_guard;
mod hub;
mod protocol;
mod sqlite;

criterion::criterion_main!(
    protocol::group,
    friend_guard::group,
    sqlite::group,
    hub::group
);
