//! [`MongoBlobStore`]: blobs in two plain collections, laid out like GridFS. Not GridFS itself:
//! the test server refuses its dotted collection names (`fs.files`), and takes any collection
//! named `*_files` or `*_chunks` for its own GridFS tables (updates of `blob_files` are
//! acknowledged and dropped there), hence `blobs` and `blob_parts`.
//!
//! - `blobs`: one document per blob, `_id` the id, `state` (`"writing"`, `"complete"`,
//!   `"deleting"`), `upload` (a token of the `put` that wrote it), `chunkSize`, `length`,
//!   `startedAt`, and `uploadedAt` once complete.
//! - `blob_parts`: the bytes, `{blob, n, data}` with `data` binary, [`CHUNK_SIZE`] bytes each
//!   but the last; a unique index on `{blob, n}`.
//!
//! A blob is whole or absent:
//! - [`BlobStore::put`] first inserts the blob's document in state `"writing"`: the unique `_id`
//!   is the claim on the id, so of racing puts exactly one gets it and the others are
//!   [`BlobError::Exists`] without touching it. The upload then streams into chunks, one chunk
//!   in memory at a time, and only once every chunk is written does one conditional update
//!   (`{_id, upload: token, state: "writing"}`) make the document `"complete"` with its length.
//! - Reads only ever look at complete documents, so a half-written blob is never served,
//!   whatever happens to the process meanwhile; a ranged read fetches only the chunks it needs,
//!   a few at a time.
//! - A put that fails (or whose future is dropped) marks its document `"deleting"`, deletes its
//!   chunks and then the document; so does [`BlobStore::delete`]. The document goes last so
//!   that whatever a crash leaves is still found by it.
//! - A crash leaves at most a document that is not complete, with some chunks.
//!   [`MongoBlobStore::new`] clears those of uploads begun over [`LEFTOVER_AGE`] ago (younger
//!   ones may be live uploads of another node) and those of deletions cut short; deleting the
//!   id clears one too, as the attachment collector does for an upload that died.
//!
//! Writes use the write concern of the connection string, as [`super::MongoStore`]'s do: a put
//! returns once the server acknowledged every chunk and the final update.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};
use mongodb::error::Error as MongoError;
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Cursor, Database, IndexModel};
use nexchat_core::blobs::{Blob, BlobError, BlobStore, ByteRange, ByteStream, is_blob_id, within};
use nexchat_core::store::StoreError;
use nexchat_core::{Clock as _, SystemClock};

use super::collections;
use super::docs::Reader;
use super::is_duplicate_key;

/// Bytes per chunk, as GridFS: a chunk document stays well below BSON's 16 MiB.
pub const CHUNK_SIZE: usize = 255 * 1024;

/// How long after it began an upload that never finished is taken for a leftover of a crash
/// and cleared by [`MongoBlobStore::new`]: well past the longest upload (10 minutes by
/// default), so a live upload of another node is never cleared.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// Chunks fetched per round trip of a read: about 1 MiB in memory at a time.
const READ_BATCH: u32 = 4;

const WRITING: &str = "writing";
const COMPLETE: &str = "complete";
const DELETING: &str = "deleting";

/// Blobs in MongoDB, shared by every node of a deployment. See the module docs for how a blob
/// is never seen half written.
///
/// ```no_run
/// # async fn demo() -> Result<(), nexchat_core::blobs::BlobError> {
/// let uri = "mongodb://127.0.0.1:27017";
/// let blobs = nexchat_store::MongoBlobStore::connect(uri, "nexchat").await?;
/// # drop(blobs);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MongoBlobStore {
    files: Collection<Document>,
    chunks: Collection<Document>,
}

/// A driver error met while doing `context`, kept whole as the source.
fn driver(context: &str, error: MongoError) -> BlobError {
    BlobError::backend(format!("mongodb blobs: {context}"), error)
}

fn check_id(id: &str) -> Result<(), BlobError> {
    if is_blob_id(id) {
        Ok(())
    } else {
        Err(BlobError::InvalidId(id.to_owned()))
    }
}

/// A count or offset as BSON's `i64` (blobs never come near its end).
fn bson_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    SystemClock.now_ms()
}

impl MongoBlobStore {
    /// Connects to `uri` (a MongoDB connection string) and uses the database named `database`;
    /// see [`MongoBlobStore::new`].
    ///
    /// # Errors
    /// [`BlobError::Store`], with the driver's error as its source, when the connection string
    /// is invalid, the server cannot be reached, or [`MongoBlobStore::new`] fails.
    pub async fn connect(uri: &str, database: &str) -> Result<Self, BlobError> {
        let client = Client::with_uri_str(uri)
            .await
            .map_err(|e| driver("connecting", e))?;
        Self::new(client.database(database)).await
    }

    /// Uses an already configured database handle: creates the indexes (idempotent, so every
    /// node may do it at start) and clears what crashes left (see
    /// [`MongoBlobStore::clear_leftovers`]) of uploads begun over [`LEFTOVER_AGE`] ago.
    ///
    /// # Errors
    /// [`BlobError::Store`], with the driver's error as its source, when an index cannot be
    /// created or the leftovers cannot be cleared.
    pub async fn new(db: Database) -> Result<Self, BlobError> {
        let store = Self {
            files: db.collection(collections::BLOBS),
            chunks: db.collection(collections::BLOB_PARTS),
        };
        let unique = IndexOptions::builder().unique(true).build();
        store
            .chunks
            // A blob's chunks in order; one chunk per place.
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "blob": 1, "n": 1 })
                    .options(unique)
                    .build(),
            )
            .await
            .map_err(|e| driver("creating indexes", e))?;
        store
            .files
            // Leftovers: unfinished uploads by age, and deletions cut short.
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "state": 1, "startedAt": 1 })
                    .build(),
            )
            .await
            .map_err(|e| driver("creating indexes", e))?;
        let age = i64::try_from(LEFTOVER_AGE.as_millis()).unwrap_or(i64::MAX);
        store.clear_leftovers(now_ms().saturating_sub(age)).await?;
        Ok(store)
    }

    /// Clears what crashes left: uploads begun before `started_before` (ms) that never
    /// finished, and every deletion cut short. Returns how many blobs' leftovers it cleared.
    /// None of them was ever readable; this only frees their space.
    ///
    /// # Errors
    /// [`BlobError::Store`] when the storage fails.
    pub async fn clear_leftovers(&self, started_before: i64) -> Result<u64, BlobError> {
        let mut cleared = 0;
        let unfinished = doc! { "state": WRITING, "startedAt": { "$lt": started_before } };
        for id in self.ids(unfinished).await? {
            // Unless it finished meanwhile.
            let still = doc! { "_id": &id, "state": WRITING };
            if self.mark_deleting(still).await? {
                self.remove(&id).await?;
                cleared += 1;
            }
        }
        for id in self.ids(doc! { "state": DELETING }).await? {
            self.remove(&id).await?;
            cleared += 1;
        }
        Ok(cleared)
    }

    /// The ids of the blobs `filter` finds, in any state.
    async fn ids(&self, filter: Document) -> Result<Vec<String>, BlobError> {
        let found: Vec<Document> = self
            .files
            .find(filter)
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| driver("finding leftovers", e))?
            .try_collect()
            .await
            .map_err(|e| driver("finding leftovers", e))?;
        found
            .iter()
            .map(|d| Ok(Reader::new(collections::BLOBS, d).str("_id")?))
            .collect()
    }

    /// Blob `id`'s document in `blobs`, if it is complete.
    async fn complete(&self, id: &str) -> Result<Option<Document>, BlobError> {
        self.files
            .find_one(doc! { "_id": id, "state": COMPLETE })
            .await
            .map_err(|e| driver("reading a blob", e))
    }

    /// Marks the document in `blobs` that `filter` finds as being deleted, from any state, so
    /// that nothing reads it and no put can claim its id until its chunks are gone; the
    /// document as it was.
    async fn take_for_deletion(&self, filter: Document) -> Result<Option<Document>, BlobError> {
        self.files
            .find_one_and_update(filter, doc! { "$set": { "state": DELETING } })
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| driver("deleting a blob", e))
    }

    /// [`MongoBlobStore::take_for_deletion`], saying only whether it found one.
    async fn mark_deleting(&self, filter: Document) -> Result<bool, BlobError> {
        Ok(self.take_for_deletion(filter).await?.is_some())
    }

    /// Deletes blob `id`'s chunks, then its document in `blobs` (marked as being deleted).
    async fn remove(&self, id: &str) -> Result<(), BlobError> {
        remove(&self.files, &self.chunks, id).await
    }

    /// Writes `body` as the chunks of blob `id`, one chunk in memory at a time; its size.
    async fn write_chunks(
        &self,
        id: &str,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut size = 0u64;
        let mut n = 0i64;
        let mut chunk: Vec<u8> = Vec::new();
        while let Some(piece) = body.next().await {
            let mut piece = piece.map_err(BlobError::Upload)?;
            size += piece.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge { max: max_bytes });
            }
            while !piece.is_empty() {
                if chunk.capacity() == 0 {
                    chunk.reserve_exact(CHUNK_SIZE);
                }
                let take = (CHUNK_SIZE - chunk.len()).min(piece.len());
                chunk.extend_from_slice(&piece.split_to(take));
                if chunk.len() == CHUNK_SIZE {
                    self.write_chunk(id, n, std::mem::take(&mut chunk)).await?;
                    n += 1;
                }
            }
        }
        if !chunk.is_empty() {
            self.write_chunk(id, n, chunk).await?;
        }
        Ok(size)
    }

    async fn write_chunk(&self, id: &str, n: i64, bytes: Vec<u8>) -> Result<(), BlobError> {
        let data = Binary {
            subtype: BinarySubtype::Generic,
            bytes,
        };
        self.chunks
            .insert_one(doc! { "blob": id, "n": n, "data": data })
            .await
            .map_err(|e| driver("writing a chunk", e))?;
        Ok(())
    }
}

/// Deletes blob `id`'s chunks, then its document in `blobs` if it is marked as being deleted.
async fn remove(
    files: &Collection<Document>,
    chunks: &Collection<Document>,
    id: &str,
) -> Result<(), BlobError> {
    chunks
        .delete_many(doc! { "blob": id })
        .await
        .map_err(|e| driver("deleting chunks", e))?;
    files
        .delete_one(doc! { "_id": id, "state": DELETING })
        .await
        .map_err(|e| driver("deleting a blob", e))?;
    Ok(())
}

/// A put's claim on its id (its document in `blobs`, in state writing): given up, with what
/// chunks were written, unless [`Claim::publish`] succeeds. Dropping it unpublished (an error,
/// or the put's future dropped midway) clears it in a task of its own.
struct Claim {
    files: Collection<Document>,
    chunks: Collection<Document>,
    id: String,
    upload: String,
    /// Published, or given up already: nothing left for `Drop` to do.
    settled: bool,
}

impl Claim {
    /// Inserts the document of a put of `id`; [`BlobError::Exists`] when `id` is taken
    /// (by a blob, or by an upload in progress).
    async fn take(store: &MongoBlobStore, id: &str) -> Result<Self, BlobError> {
        let upload = uuid::Uuid::new_v4().simple().to_string();
        let file = doc! {
            "_id": id,
            "state": WRITING,
            "upload": &upload,
            "chunkSize": bson_u64(CHUNK_SIZE as u64),
            "length": 0_i64,
            "startedAt": now_ms(),
        };
        match store.files.insert_one(file).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => return Err(BlobError::Exists(id.to_owned())),
            Err(e) => return Err(driver("claiming a blob id", e)),
        }
        let claim = Self {
            files: store.files.clone(),
            chunks: store.chunks.clone(),
            id: id.to_owned(),
            upload,
            settled: false,
        };
        // Chunks of this id without a document (left by a put whose claim was cleared beneath
        // it) are never read, but would collide with ours.
        if let Err(e) = store.chunks.delete_many(doc! { "blob": id }).await {
            claim.abandon().await;
            return Err(driver("clearing old chunks", e));
        }
        Ok(claim)
    }

    /// Makes the blob readable at `size` bytes, if the claim is still this put's.
    async fn publish(mut self, size: u64) -> Result<u64, BlobError> {
        let published = self
            .files
            .update_one(
                doc! { "_id": &self.id, "upload": &self.upload, "state": WRITING },
                doc! { "$set": {
                    "state": COMPLETE,
                    "length": bson_u64(size),
                    "uploadedAt": now_ms(),
                } },
            )
            .await
            .map_err(|e| driver("finishing a blob", e))?;
        if published.matched_count == 1 {
            self.settled = true;
            Ok(size)
        } else {
            // Deleted (or cleared as a leftover) while it was being written.
            Err(BlobError::Store(StoreError::backend_failure(format!(
                "mongodb blobs: blob {} was deleted before its upload finished",
                self.id
            ))))
        }
    }

    /// Gives the claim up now, rather than in a task of its own.
    async fn abandon(mut self) {
        self.settled = true;
        release(&self.files, &self.chunks, &self.id, &self.upload).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Only a put's future dropped midway gets here. Without a runtime the leftover stays,
        // never read, until the next open clears it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (files, chunks) = (self.files.clone(), self.chunks.clone());
            let (id, upload) = (
                std::mem::take(&mut self.id),
                std::mem::take(&mut self.upload),
            );
            runtime.spawn(async move { release(&files, &chunks, &id, &upload).await });
        }
    }
}

/// Deletes the unfinished upload `upload` of blob `id`, if its document in `blobs` is still
/// that upload's. Best effort: what is left is never read, and is cleared later.
async fn release(
    files: &Collection<Document>,
    chunks: &Collection<Document>,
    id: &str,
    upload: &str,
) {
    let taken = files
        .update_one(
            doc! { "_id": id, "upload": upload },
            doc! { "$set": { "state": DELETING } },
        )
        .await;
    let outcome = match taken {
        Ok(taken) if taken.matched_count == 1 => remove(files, chunks, id).await,
        // Someone else's now (a deletion): they clear it.
        Ok(_) => Ok(()),
        Err(e) => Err(driver("giving up an upload", e)),
    };
    if let Err(e) = outcome {
        tracing::warn!(blob = id, error = %e, "mongodb blobs: clearing an upload failed");
    }
}

#[async_trait]
impl BlobStore for MongoBlobStore {
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        check_id(id)?;
        let claim = Claim::take(self, id).await?;
        match self.write_chunks(id, body, max_bytes).await {
            Ok(size) => claim.publish(size).await,
            Err(e) => {
                claim.abandon().await;
                Err(e)
            }
        }
    }

    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        check_id(id)?;
        match self.complete(id).await? {
            Some(file) => Ok(Some(FileInfo::read(&file)?.length)),
            None => Ok(None),
        }
    }

    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        check_id(id)?;
        let Some(file) = self.complete(id).await? else {
            return Ok(None);
        };
        let info = FileInfo::read(&file)?;
        let range = within(range, info.length)?;
        if range.is_empty() {
            return Ok(Some(Blob {
                size: info.length,
                range,
                body: Box::pin(futures::stream::empty()),
            }));
        }
        let first = range.start / info.chunk_size;
        let last = (range.end - 1) / info.chunk_size;
        let cursor = self
            .chunks
            .find(doc! {
                "blob": id,
                "n": { "$gte": bson_u64(first), "$lte": bson_u64(last) },
            })
            .sort(doc! { "blob": 1, "n": 1 })
            .projection(doc! { "_id": 0, "n": 1, "data": 1 })
            .batch_size(READ_BATCH)
            .await
            .map_err(|e| driver("reading a blob", e))?;
        let reader = ChunkReader {
            cursor,
            id: id.to_owned(),
            info,
            range,
            next: first,
            last,
        };
        Ok(Some(Blob {
            size: info.length,
            range,
            body: Box::pin(reader.into_stream()),
        }))
    }

    async fn delete(&self, id: &str) -> Result<bool, BlobError> {
        check_id(id)?;
        // Marked first, so readers stop at once and nothing claims the id meanwhile.
        let Some(before) = self.take_for_deletion(doc! { "_id": id }).await? else {
            return Ok(false);
        };
        self.remove(id).await?;
        // An unfinished upload is cleared too, but was not a blob.
        Ok(Reader::new(collections::BLOBS, &before).str("state")? == COMPLETE)
    }
}

/// What a read needs of a complete document in `blobs`.
#[derive(Debug, Clone, Copy)]
struct FileInfo {
    length: u64,
    chunk_size: u64,
}

impl FileInfo {
    fn read(file: &Document) -> Result<Self, BlobError> {
        let r = Reader::new(collections::BLOBS, file);
        let length = r.i64("length")?;
        let chunk_size = r.i64("chunkSize")?;
        match (u64::try_from(length), u64::try_from(chunk_size)) {
            (Ok(length), Ok(chunk_size)) if chunk_size > 0 => Ok(Self { length, chunk_size }),
            _ => Err(r
                .corrupt(format!(
                    "length {length} or chunkSize {chunk_size} out of range"
                ))
                .into()),
        }
    }
}

/// Streams the bytes of `range` out of the chunks `next..=last`, as the cursor brings them.
struct ChunkReader {
    cursor: Cursor<Document>,
    id: String,
    info: FileInfo,
    range: ByteRange,
    /// The chunk expected next.
    next: u64,
    /// The last chunk the range needs.
    last: u64,
}

impl ChunkReader {
    fn into_stream(self) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures::stream::try_unfold(self, |mut reader| async move {
            if reader.next > reader.last {
                return Ok(None);
            }
            let bytes = reader.read_next().await?;
            Ok(Some((bytes, reader)))
        })
    }

    /// The part of chunk `next` within the range.
    async fn read_next(&mut self) -> std::io::Result<Bytes> {
        let n = self.next;
        let Some(mut chunk) = self
            .cursor
            .try_next()
            .await
            .map_err(|e| std::io::Error::other(driver("reading a blob", e)))?
        else {
            return Err(self.broken(format!("chunk {n} is missing")));
        };
        let found = Reader::new(collections::BLOB_PARTS, &chunk)
            .i64("n")
            .map_err(std::io::Error::other)?;
        if found != bson_u64(n) {
            return Err(self.broken(format!("chunk {n} is missing (found {found})")));
        }
        let data = match chunk.remove("data") {
            Some(Bson::Binary(data)) => Bytes::from(data.bytes),
            _ => return Err(self.broken(format!("chunk {n} holds no binary data"))),
        };
        // Where chunk `n` lies in the blob, and the part of it the range wants.
        let start = n * self.info.chunk_size;
        let end = (start + self.info.chunk_size).min(self.info.length);
        if data.len() as u64 != end - start {
            return Err(self.broken(format!(
                "chunk {n} holds {} bytes, not {}",
                data.len(),
                end - start
            )));
        }
        let from = self.range.start.max(start) - start;
        let to = self.range.end.min(end) - start;
        self.next += 1;
        Ok(data.slice(from as usize..to as usize))
    }

    /// A blob whose chunks do not add up, as an error of the stream.
    fn broken(&self, detail: String) -> std::io::Error {
        std::io::Error::other(BlobError::Store(StoreError::Corrupt {
            collection: collections::BLOB_PARTS.to_owned(),
            id: self.id.clone(),
            detail,
        }))
    }
}
