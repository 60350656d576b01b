//! Storage backends for nexchat: implementations of [`nexchat_core::store::Store`].
//!
//! - [`SqliteStore`] (feature `sqlite`, on by default): one embedded database file, for a
//!   single server. One writer thread gathers the writes of every session into one transaction
//!   (group commit), so a message is acknowledged only once it is durable, yet a busy server pays
//!   one fsync per batch rather than one per message.
//!
//! - [`FileBlobStore`]: the blobs of attachments as files in a directory (beside the SQLite
//!   database), each written to a file of its own, synced, and only then published under its id.
//!
//! - `GridFsBlobStore` (feature `mongodb`): the blobs of attachments in MongoDB GridFS beside
//!   `MongoStore`, written through the driver's GridFS API, made readable only once the whole
//!   file is written.
//!
//! Every backend passes the storage conformance suite in `nexchat_core::conformance`.
//!
//! ```no_run
//! # fn main() -> Result<(), nexchat_core::store::StoreError> {
//! let store = nexchat_store::SqliteStore::open("nexchat.db")?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```

#![warn(
    clippy::missing_errors_doc,
    missing_debug_implementations,
    unreachable_pub
)]

mod file_blobs;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use file_blobs::FileBlobStore;
#[cfg(feature = "mongodb")]
pub use mongo::{GridFsBlobStore, MongoStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
