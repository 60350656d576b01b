//! The core of nexchat, an end-to-end-encrypted chat server you embed in your own app: the
//! [`Chat`] facade, the wire protocol, the storage traits, and no HTTP or database driver.
//!
//! # Embedding
//! An app builds one [`Chat`] from a [`Config`] and a [`store::Store`] (`nexchat-store` has
//! SQLite and MongoDB), then mounts an adapter that serves it: `nexchat_axum::router(chat)`
//! merges nexchat's REST routes and its WebSocket into an axum app (the `nexchat-axum` crate
//! docs have the whole recipe, dependencies and graceful shutdown included).
//!
//! ```no_run
//! # async fn demo(store: impl nexchat_core::store::Store) -> Result<(), Box<dyn std::error::Error>> {
//! use nexchat_core::{Chat, Config};
//!
//! // At least 32 random bytes, the same on every node.
//! let config = Config::new(std::env::var("CHAT_SECRET")?)?;
//! let chat = Chat::builder(config, store).build().await?;
//! // let app = axum::Router::new().merge(nexchat_axum::router(chat.clone()));
//! // ... serve the app; at shutdown:
//! chat.shutdown();
//! # Ok(()) }
//! ```
//!
//! Attachments (photos, voice notes, files) need a place for their encrypted bytes: a
//! [`blobs::BlobStore`] given with [`ChatBuilder::blobs`] (`nexchat-store` has files in a
//! directory and MongoDB). Without one the chat takes none.
//!
//! What an app then does with [`Chat`] directly is the app-facing API: accounts and logins
//! ([`Chat::register`], [`Chat::login`], [`Chat::caller`]), friends, user search, provisioning
//! and erasing accounts for an app's own [`Identity`], readiness and shutdown.
//!
//! # Writing an adapter
//! A socket adapter (what `nexchat-axum` is for axum) drives nexchat's WebSocket sessions
//! through the [`transport`] module. One socket frame flows socket →
//! [`transport::Transport::handle_frame`] → the friendship check → [`store`] → every socket of
//! the receiver (on this node, or on another one over the bus) → its
//! [`transport::SessionOutbox`] → socket.
//!
//! # Writing a store
//! Implement the traits of [`store`]; `store::memory::MemoryStore` (feature `memory`) is the
//! reference to read, and the `conformance` feature's suite checks a backend.

#![warn(
    missing_debug_implementations,
    unreachable_pub,
    clippy::missing_errors_doc
)]

pub mod blobs;
mod call_log;
mod chat;
mod clock;
mod config;
mod error;
mod fanout;
mod friend_guard;
mod hub;
mod identity;
mod kdf;
mod live_sessions;
pub mod metrics;
mod node_sessions;
mod password;
pub mod protocol;
mod rate;
mod session;
pub mod store;
mod throttle;
mod tickets;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use call_log::{CallEvent, CallLog, InvalidTransition};
pub use chat::{Chat, ChatBuilder, transport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigError, Limits};
pub use error::{ChatError, ChatResult};
pub use fanout::BusConfig;
pub use identity::{Identity, IdentityError, JwtIdentity, Principal};
pub use kdf::KdfDecoy;

#[doc(hidden)]
pub use async_trait::async_trait as __async_trait;
