//! [`GridFsBlobStore`]: blobs in MongoDB GridFS, written and deleted through the driver's own
//! GridFS API ([`GridFsBucket`], bucket `blobs`: collections `blobs.files` and `blobs.chunks`),
//! with one document per blob in `blobs` that says which GridFS file is the blob and whether it
//! is whole.
//!
//! - `blobs`: `_id` the blob id, `state` (`"writing"`, `"complete"`, `"deleting"`), `file` (the
//!   GridFS file's `ObjectId`, as hex: a fresh one per upload), `chunkSize`, `length`,
//!   `startedAt`, and `uploadedAt` once complete.
//! - `blobs.files`, `blobs.chunks`: standard GridFS (`filename` is the blob id), written by
//!   [`GridFsBucket::open_upload_stream`] in [`CHUNK_SIZE`] chunks and removed by
//!   [`GridFsBucket::delete`].
//!
//! Why GridFS alone does not decide what is a blob: GridFS's own `_id` on `*.files` cannot be
//! the claim on an id, and its files document cannot be the sign that a blob is whole, on the
//! wire-protocol server the tests run against (nx-27017 0.8.1, whose GridFS adapter creates a
//! files document at an upload's first chunk, and overwrites rather than refuses a second files
//! document with a taken `_id`). So:
//! - [`BlobStore::put`] first inserts the blob's document in `blobs`, state `"writing"`: the
//!   unique `_id` is the claim on the id, so of racing puts exactly one gets it and the others
//!   are [`BlobError::Exists`] without touching the blob. The upload then streams into a GridFS
//!   file of its own (a fresh `ObjectId`, so nothing of another upload of the same id, nor the
//!   driver's clean-up of a dropped upload stream, ever touches it), one chunk in memory at a
//!   time, and only once the file is closed does one conditional update (`{_id, file, state:
//!   "writing"}`) make the document `"complete"` with its length.
//! - Reads only ever look at complete documents, so a half-written blob is never served. They
//!   read the GridFS chunks of the file (`blobs.chunks` by `files_id` and `n`), not the driver's
//!   download stream: a ranged read then fetches only the chunks it needs, a few at a time,
//!   where the download stream (which cannot seek) would read every chunk before the range. (The
//!   download stream and [`GridFsBucket::find`] also cannot read nx-27017's replies: it answers
//!   `uploadDate` as a string, which they refuse ("expecting DateTime"), and a chunk's `_id` as
//!   an integer, where the driver's chunk type wants an `ObjectId`.)
//! - A put that fails (or whose future is dropped) marks its document `"deleting"`, deletes its
//!   GridFS file and then the document; so does [`BlobStore::delete`]. The document goes last
//!   so that whatever a crash leaves is still found by it.
//! - A crash leaves at most a document that is not complete, with its GridFS file (or part of
//!   it). [`GridFsBlobStore::new`] clears those of uploads begun over [`LEFTOVER_AGE`] ago
//!   (younger ones may be live uploads of another node) and those of deletions cut short;
//!   deleting the id clears one too, as the attachment collector does for an upload that died.
//!
//! The driver creates GridFS's indexes at a bucket's first chunk only when `blobs.files` is
//! empty, by `create` and `listIndexes` on the dotted collection names; nx-27017 refuses
//! `create` of a dotted name. [`GridFsBlobStore::new`] therefore creates those indexes itself
//! (`{filename, uploadDate}` on `blobs.files`, unique `{files_id, n}` on `blobs.chunks`, as the
//! GridFS spec has them) and, when `blobs.files` is empty, writes one empty GridFS file,
//! [`MARKER`], so that the driver's check finds a file and leaves the indexes to us.
//!
//! Writes use the write concern of the connection string, as [`super::MongoStore`]'s do: a put
//! returns once the server acknowledged every chunk, the files document and the final update.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::io::AsyncWriteExt as _;
use futures::{StreamExt as _, TryStreamExt as _};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error as MongoError, ErrorKind, GridFsErrorKind};
use mongodb::gridfs::GridFsBucket;
use mongodb::options::{GridFsBucketOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Cursor, Database, IndexModel};
use nexchat_core::blobs::{Blob, BlobError, BlobStore, ByteRange, ByteStream, is_blob_id, within};
use nexchat_core::store::StoreError;
use nexchat_core::{Clock as _, SystemClock};

use super::collections;
use super::docs::Reader;
use super::is_duplicate_key;

/// Bytes per GridFS chunk (the driver's default, 255 KiB), set explicitly on the bucket.
pub const CHUNK_SIZE: usize = 255 * 1024;

/// How long after it began an upload that never finished is taken for a leftover of a crash
/// and cleared by [`GridFsBlobStore::new`]: well past the longest upload (10 minutes by
/// default), so a live upload of another node is never cleared.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// The `_id` (and filename) of the empty GridFS file [`GridFsBlobStore::new`] writes into an
/// empty bucket: never a blob (blob ids are UUIDs), never read.
pub const MARKER: &str = "nexchat-gridfs-bucket";

/// Chunks fetched per round trip of a read: about 1 MiB in memory at a time.
const READ_BATCH: u32 = 4;

const WRITING: &str = "writing";
const COMPLETE: &str = "complete";
const DELETING: &str = "deleting";

/// Blobs in MongoDB GridFS, shared by every node of a deployment. See the module docs for how a
/// blob is never seen half written.
///
/// ```no_run
/// # async fn demo() -> Result<(), nexchat_core::blobs::BlobError> {
/// let uri = "mongodb://127.0.0.1:27017";
/// let blobs = nexchat_store::GridFsBlobStore::connect(uri, "nexchat").await?;
/// # drop(blobs);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GridFsBlobStore {
    /// One document per blob: which GridFS file, and whether it is whole.
    blobs: Collection<Document>,
    bucket: GridFsBucket,
    /// The bucket's files and chunks, for what the bucket's API does not do (indexes, reads
    /// by chunk).
    files: Collection<Document>,
    chunks: Collection<Document>,
}

/// A driver error met while doing `context`, kept whole as the source.
fn driver(context: &str, error: MongoError) -> BlobError {
    BlobError::backend(format!("mongodb gridfs: {context}"), error)
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

impl GridFsBlobStore {
    /// Connects to `uri` (a MongoDB connection string) and uses the database named `database`;
    /// see [`GridFsBlobStore::new`].
    ///
    /// # Errors
    /// [`BlobError::Store`], with the driver's error as its source, when the connection string
    /// is invalid, the server cannot be reached, or [`GridFsBlobStore::new`] fails.
    pub async fn connect(uri: &str, database: &str) -> Result<Self, BlobError> {
        let client = Client::with_uri_str(uri)
            .await
            .map_err(|e| driver("connecting", e))?;
        Self::new(client.database(database)).await
    }

    /// Uses an already configured database handle: creates the indexes and, in an empty
    /// bucket, the [`MARKER`] file (idempotent, so every node may do it at start), and clears
    /// what crashes left (see [`GridFsBlobStore::clear_leftovers`]) of uploads begun over
    /// [`LEFTOVER_AGE`] ago.
    ///
    /// # Errors
    /// [`BlobError::Store`], with the driver's error as its source, when an index or the
    /// marker cannot be created or the leftovers cannot be cleared.
    pub async fn new(db: Database) -> Result<Self, BlobError> {
        let options = GridFsBucketOptions::builder()
            .bucket_name(collections::BLOB_BUCKET.to_owned())
            .chunk_size_bytes(CHUNK_SIZE as u32)
            .build();
        let store = Self {
            blobs: db.collection(collections::BLOBS),
            bucket: db.gridfs_bucket(options),
            files: db.collection(collections::BLOB_FILES),
            chunks: db.collection(collections::BLOB_CHUNKS),
        };
        store.create_indexes().await?;
        store.mark_bucket().await?;
        let age = i64::try_from(LEFTOVER_AGE.as_millis()).unwrap_or(i64::MAX);
        store.clear_leftovers(now_ms().saturating_sub(age)).await?;
        Ok(store)
    }

    async fn create_indexes(&self) -> Result<(), BlobError> {
        let index = |keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        };
        // GridFS's own, as the spec (and the driver, in an empty bucket) creates them.
        self.files
            .create_index(index(doc! { "filename": 1, "uploadDate": 1 }, false))
            .await
            .map_err(|e| driver("creating indexes", e))?;
        self.chunks
            .create_index(index(doc! { "files_id": 1, "n": 1 }, true))
            .await
            .map_err(|e| driver("creating indexes", e))?;
        // Leftovers: unfinished uploads by age, and deletions cut short.
        self.blobs
            .create_index(index(doc! { "state": 1, "startedAt": 1 }, false))
            .await
            .map_err(|e| driver("creating indexes", e))?;
        Ok(())
    }

    /// Writes the [`MARKER`] file if the bucket has no file: the driver's upload stream, at the
    /// first chunk it writes into a bucket without files, creates the bucket's collections and
    /// indexes itself, by commands nx-27017 refuses for dotted names; with a file there it
    /// leaves that to [`GridFsBlobStore::create_indexes`].
    async fn mark_bucket(&self) -> Result<(), BlobError> {
        let any = self
            .files
            .find_one(doc! {})
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| driver("looking into the bucket", e))?;
        if any.is_some() {
            return Ok(());
        }
        // An empty file: no chunk, so the upload stream writes its files document only.
        let mut marker = self
            .bucket
            .open_upload_stream(MARKER)
            .id(Bson::String(MARKER.to_owned()))
            .await
            .map_err(|e| driver("marking the bucket", e))?;
        match marker.close().await {
            Ok(()) => Ok(()),
            // Another node marked it meanwhile.
            Err(e) if io_duplicate_key(&e) => Ok(()),
            Err(e) => Err(BlobError::backend("mongodb gridfs: marking the bucket", e)),
        }
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
            if let Some(before) = self.take_for_deletion(still).await? {
                self.remove(&id, &before).await?;
                cleared += 1;
            }
        }
        for id in self.ids(doc! { "state": DELETING }).await? {
            if let Some(doc) = self
                .blobs
                .find_one(doc! { "_id": &id, "state": DELETING })
                .await
                .map_err(|e| driver("finding leftovers", e))?
            {
                self.remove(&id, &doc).await?;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    /// The ids of the blobs `filter` finds, in any state.
    async fn ids(&self, filter: Document) -> Result<Vec<String>, BlobError> {
        let found: Vec<Document> = self
            .blobs
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
        self.blobs
            .find_one(doc! { "_id": id, "state": COMPLETE })
            .await
            .map_err(|e| driver("reading a blob", e))
    }

    /// Marks the document in `blobs` that `filter` finds as being deleted, from any state, so
    /// that nothing reads it and no put can claim its id until its file is gone; the document
    /// as it was.
    async fn take_for_deletion(&self, filter: Document) -> Result<Option<Document>, BlobError> {
        self.blobs
            .find_one_and_update(filter, doc! { "$set": { "state": DELETING } })
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| driver("deleting a blob", e))
    }

    /// Deletes the GridFS file of blob `id` (named by `doc`, its document in `blobs`), then
    /// that document (marked as being deleted).
    async fn remove(&self, id: &str, doc: &Document) -> Result<(), BlobError> {
        let file = file_of(doc)?;
        delete_file(&self.bucket, &self.files, &self.chunks, file).await?;
        self.blobs
            .delete_one(doc! { "_id": id, "state": DELETING })
            .await
            .map_err(|e| driver("deleting a blob", e))?;
        Ok(())
    }

    /// Writes `body` as GridFS file `file` (named `id`), one chunk in memory at a time; its
    /// size. On an error the stream is dropped unclosed: no files document is written for it
    /// (the caller deletes what chunks were).
    async fn upload(
        &self,
        id: &str,
        file: ObjectId,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut stream = self
            .bucket
            .open_upload_stream(id)
            .id(Bson::ObjectId(file))
            .await
            .map_err(|e| driver("opening an upload", e))?;
        let mut size = 0u64;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(BlobError::Upload)?;
            size += piece.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge { max: max_bytes });
            }
            stream
                .write_all(&piece)
                .await
                .map_err(|e| BlobError::backend("mongodb gridfs: writing a chunk", e))?;
        }
        stream
            .close()
            .await
            .map_err(|e| BlobError::backend("mongodb gridfs: closing an upload", e))?;
        Ok(size)
    }
}

/// The GridFS file of a document in `blobs`.
fn file_of(doc: &Document) -> Result<ObjectId, BlobError> {
    let r = Reader::new(collections::BLOBS, doc);
    let hex = r.str("file")?;
    ObjectId::parse_str(&hex)
        .map_err(|_| r.corrupt(format!("file {hex:?} is not an ObjectId")).into())
}

/// Whether an error of the upload stream is a duplicate key (of the files document).
fn io_duplicate_key(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<MongoError>())
        .is_some_and(is_duplicate_key)
}

/// Deletes GridFS file `file` with [`GridFsBucket::delete`]: its files document, then its
/// chunks. A file without a files document (an upload that never closed) is no error: the
/// driver deletes its chunks all the same and says it found no file; nx-27017 refuses the
/// delete of a files document that is not there before the driver reaches the chunks, which
/// are then deleted here.
async fn delete_file(
    bucket: &GridFsBucket,
    files: &Collection<Document>,
    chunks: &Collection<Document>,
    file: ObjectId,
) -> Result<(), BlobError> {
    match bucket.delete(Bson::ObjectId(file)).await {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                *e.kind,
                ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. })
            ) =>
        {
            Ok(())
        }
        Err(e) => {
            let there = files
                .find_one(doc! { "_id": file })
                .await
                .map_err(|e| driver("deleting a file", e))?;
            if there.is_some() {
                return Err(driver("deleting a file", e));
            }
            chunks
                .delete_many(doc! { "files_id": file })
                .await
                .map_err(|e| driver("deleting chunks", e))?;
            Ok(())
        }
    }
}

/// A put's claim on its id (its document in `blobs`, in state writing): given up, with its
/// GridFS file, unless [`Claim::publish`] succeeds. Dropping it unpublished (an error, or the
/// put's future dropped midway) clears it in a task of its own.
struct Claim {
    store: GridFsBlobStore,
    id: String,
    file: ObjectId,
    /// Published, or given up already: nothing left for `Drop` to do.
    settled: bool,
}

impl Claim {
    /// Inserts the document of a put of `id`; [`BlobError::Exists`] when `id` is taken
    /// (by a blob, or by an upload in progress).
    async fn take(store: &GridFsBlobStore, id: &str) -> Result<Self, BlobError> {
        let file = ObjectId::new();
        let blob = doc! {
            "_id": id,
            "state": WRITING,
            "file": file.to_hex(),
            "chunkSize": bson_u64(CHUNK_SIZE as u64),
            "length": 0_i64,
            "startedAt": now_ms(),
        };
        match store.blobs.insert_one(blob).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => return Err(BlobError::Exists(id.to_owned())),
            Err(e) => return Err(driver("claiming a blob id", e)),
        }
        Ok(Self {
            store: store.clone(),
            id: id.to_owned(),
            file,
            settled: false,
        })
    }

    /// Makes the blob readable at `size` bytes, if the claim is still this put's.
    async fn publish(mut self, size: u64) -> Result<u64, BlobError> {
        let published = self
            .store
            .blobs
            .update_one(
                doc! { "_id": &self.id, "file": self.file.to_hex(), "state": WRITING },
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
            // Deleted (or cleared as a leftover) while it was being written: `Drop` deletes
            // this upload's file.
            Err(BlobError::Store(StoreError::backend_failure(format!(
                "mongodb gridfs: blob {} was deleted before its upload finished",
                self.id
            ))))
        }
    }

    /// Gives the claim up now, rather than in a task of its own.
    async fn abandon(mut self) {
        self.settled = true;
        release(&self.store, &self.id, self.file).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Only a put's future dropped midway, or a claim lost to a deletion, gets here.
        // Without a runtime the leftover stays, never read, until the next open clears it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = self.store.clone();
            let (id, file) = (std::mem::take(&mut self.id), self.file);
            runtime.spawn(async move { release(&store, &id, file).await });
        }
    }
}

/// Deletes the unfinished upload into GridFS file `file` of blob `id`, and blob `id`'s
/// document if it is still that upload's. Best effort: what is left is never read, and is
/// cleared later.
async fn release(store: &GridFsBlobStore, id: &str, file: ObjectId) {
    let taken = store
        .blobs
        .update_one(
            doc! { "_id": id, "file": file.to_hex() },
            doc! { "$set": { "state": DELETING } },
        )
        .await;
    let outcome = match taken {
        Ok(taken) => {
            // The file is this upload's alone, whoever has the document now.
            let deleted = delete_file(&store.bucket, &store.files, &store.chunks, file).await;
            match deleted {
                Ok(()) if taken.matched_count == 1 => store
                    .blobs
                    .delete_one(doc! { "_id": id, "file": file.to_hex(), "state": DELETING })
                    .await
                    .map(drop)
                    .map_err(|e| driver("giving up an upload", e)),
                other => other,
            }
        }
        Err(e) => Err(driver("giving up an upload", e)),
    };
    if let Err(e) = outcome {
        tracing::warn!(blob = id, error = %e, "mongodb gridfs: clearing an upload failed");
    }
}

#[async_trait]
impl BlobStore for GridFsBlobStore {
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        check_id(id)?;
        let claim = Claim::take(self, id).await?;
        match self.upload(id, claim.file, body, max_bytes).await {
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
            Some(blob) => Ok(Some(FileInfo::read(&blob)?.length)),
            None => Ok(None),
        }
    }

    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        check_id(id)?;
        let Some(blob) = self.complete(id).await? else {
            return Ok(None);
        };
        let info = FileInfo::read(&blob)?;
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
                "files_id": info.file,
                "n": { "$gte": bson_u64(first), "$lte": bson_u64(last) },
            })
            .sort(doc! { "files_id": 1, "n": 1 })
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
        self.remove(id, &before).await?;
        // An unfinished upload is cleared too, but was not a blob.
        Ok(Reader::new(collections::BLOBS, &before).str("state")? == COMPLETE)
    }
}

/// What a read needs of a complete document in `blobs`.
#[derive(Debug, Clone, Copy)]
struct FileInfo {
    file: ObjectId,
    length: u64,
    chunk_size: u64,
}

impl FileInfo {
    fn read(blob: &Document) -> Result<Self, BlobError> {
        let file = file_of(blob)?;
        let r = Reader::new(collections::BLOBS, blob);
        let length = r.i64("length")?;
        let chunk_size = r.i64("chunkSize")?;
        match (u64::try_from(length), u64::try_from(chunk_size)) {
            (Ok(length), Ok(chunk_size)) if chunk_size > 0 => Ok(Self {
                file,
                length,
                chunk_size,
            }),
            _ => Err(r
                .corrupt(format!(
                    "length {length} or chunkSize {chunk_size} out of range"
                ))
                .into()),
        }
    }
}

/// Streams the bytes of `range` out of the GridFS chunks `next..=last`, as the cursor brings
/// them.
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
        let found = Reader::new(collections::BLOB_CHUNKS, &chunk)
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
            collection: collections::BLOB_CHUNKS.to_owned(),
            id: format!("{} (file {})", self.id, self.info.file.to_hex()),
            detail,
        }))
    }
}
