//! [`BlobStore`]: where the ciphertext of attachments lives, apart from the records of
//! [`crate::store`]. A blob is opaque bytes under an id the chat makes (a UUID); the client
//! encrypted them before upload, so a blob store never holds anything readable.
//!
//! A blob is written whole or not at all: [`BlobStore::put`] reads the upload as it streams in
//! (never the whole of it in memory), and only once every byte is durable does the blob exist
//! under its id. Until then [`BlobStore::get`] does not find it, so nobody is ever served a
//! half-written blob, whatever happens to the process meanwhile. Backends: files in a directory
//! (`nexchat_store::FileBlobStore`) and [`memory::MemoryBlobStore`] (feature `memory`) for
//! tests. Each passes the checks of `nexchat_core::conformance::blobs` (feature
//! `conformance`).

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::store::StoreError;

#[cfg(any(test, feature = "memory"))]
pub mod memory;

/// A stream of bytes: an upload as it arrives, or a blob as it is read.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send + 'static>>;

/// The bytes `start..end` of a blob (`end` exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// How many bytes the range holds.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A blob being read: its whole size and the bytes of the range asked for.
pub struct Blob {
    /// The size of the whole blob, in bytes.
    pub size: u64,
    /// The range `body` holds.
    pub range: ByteRange,
    /// The bytes of `range`, streamed.
    pub body: ByteStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Why a blob could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The upload passed `max` bytes; nothing was kept.
    #[error("the upload is over the limit of {max} bytes")]
    TooLarge {
        /// The limit it passed.
        max: u64,
    },
    /// A blob with this id exists already; it is unchanged.
    #[error("blob {0} exists")]
    Exists(String),
    /// The id is not one this store can name a blob by (it takes UUIDs).
    #[error("{0} is not a blob id")]
    InvalidId(String),
    /// The range asked for is not within the blob.
    #[error("bytes {start}..{end} are not within a blob of {size} bytes")]
    Range {
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The blob's size.
        size: u64,
    },
    /// The upload stream failed before its end (the client went away); nothing was kept.
    #[error("the upload broke off: {0}")]
    Upload(#[source] std::io::Error),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BlobError {
    /// A [`BlobError::Store`] for a driver's `source` error met while doing `context`.
    pub fn backend(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Store(StoreError::backend(context, source))
    }
}

/// Blobs: written whole and durably, read by range, deleted. See the module docs.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Writes blob `id` from `body`, reading it as it streams; returns its size once every
    /// byte is durable and the blob can be read. Past `max_bytes` the upload is refused and
    /// nothing is kept.
    ///
    /// # Errors
    /// [`BlobError::TooLarge`] past `max_bytes`; [`BlobError::Exists`] when `id` is taken;
    /// [`BlobError::InvalidId`]; [`BlobError::Upload`] when `body` fails; [`BlobError::Store`]
    /// when the storage fails. In every case no blob `id` is left behind (an existing one is
    /// unchanged).
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError>;
    /// The size of blob `id` in bytes, `None` when there is none.
    ///
    /// # Errors
    /// [`BlobError::InvalidId`]; [`BlobError::Store`] when the storage fails.
    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError>;
    /// Reads blob `id`: the bytes of `range`, or the whole blob without one; `None` when
    /// there is no such blob.
    ///
    /// # Errors
    /// [`BlobError::Range`] when `range` ends past the blob or starts after its end;
    /// [`BlobError::InvalidId`]; [`BlobError::Store`] when the storage fails (a failure
    /// after the first bytes comes as an error item of the stream).
    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError>;
    /// Deletes blob `id`; false when there was none.
    ///
    /// # Errors
    /// [`BlobError::InvalidId`]; [`BlobError::Store`] when the storage fails.
    async fn delete(&self, id: &str) -> Result<bool, BlobError>;
}

/// Checks that `range` lies within a blob of `size` bytes, or picks the whole blob.
///
/// # Errors
/// [`BlobError::Range`] when it does not.
pub fn within(range: Option<ByteRange>, size: u64) -> Result<ByteRange, BlobError> {
    match range {
        None => Ok(ByteRange {
            start: 0,
            end: size,
        }),
        Some(r) if r.start <= r.end && r.end <= size => Ok(r),
        Some(r) => Err(BlobError::Range {
            start: r.start,
            end: r.end,
            size,
        }),
    }
}

/// Whether `id` is a UUID in its hyphenated form: the ids the chat makes, and the only ones a
/// backend naming files or documents by id needs to take.
pub fn is_blob_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

/// The one byte range a download asks for, as HTTP's `Range: bytes=…` names it (RFC 9110,
/// section 14.1.2); [`RangeRequest::resolve`] turns it into bytes of a blob of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// `bytes=A-`: from byte `A` to the end.
    From(u64),
    /// `bytes=A-B`: bytes `A` to `B`, both included (`B` past the end means the end).
    Between(u64, u64),
    /// `bytes=-N`: the last `N` bytes (the whole blob when it is shorter).
    Last(u64),
}

impl RangeRequest {
    /// The bytes of a blob of `size` bytes this range names; `None` when it names none (it
    /// starts at or past the end, or asks for the last 0 bytes): HTTP's 416.
    pub fn resolve(self, size: u64) -> Option<ByteRange> {
        let (start, end) = match self {
            Self::From(start) => (start, size),
            Self::Between(start, last) => (start, last.saturating_add(1).min(size)),
            Self::Last(n) => (size.saturating_sub(n), size),
        };
        (start < end).then_some(ByteRange { start, end })
    }
}

/// A blob store an application keeps a handle to: `Arc<B>` is one whenever `B` is (several
/// nodes in one process, or a test that looks at what was stored).
#[async_trait]
impl<B: BlobStore + ?Sized> BlobStore for std::sync::Arc<B> {
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        (**self).put(id, body, max_bytes).await
    }
    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        (**self).size(id).await
    }
    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        (**self).get(id, range).await
    }
    async fn delete(&self, id: &str) -> Result<bool, BlobError> {
        (**self).delete(id).await
    }
}
