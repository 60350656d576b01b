//! [`FileBlobStore`]: each blob a file named by its id in one directory.
//!
//! An upload is written to a file of its own under `.partial/`, synced, and then published
//! under its id with a hard link, which refuses an id that is taken in the same step as it
//! publishes (so of two uploads of one id exactly one wins, and a blob is never replaced). The
//! directory is synced after, so the name survives a crash too. A reader therefore only ever
//! opens a whole, synced file: a crash mid-upload leaves at most a file under `.partial/`,
//! which [`FileBlobStore::open`] clears at the next start.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt as _;
use nexchat_core::blobs::{Blob, BlobError, BlobStore, ByteRange, ByteStream, is_blob_id, within};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// Where uploads are written before they are whole.
/// Bytes read from a blob file at a time when it is served.
const READ_CHUNK: usize = 256 * 1024;

const PARTIAL: &str = ".partial";

/// Blobs as files in a directory. See the module docs for how a blob is never seen half
/// written.
///
/// ```no_run
/// # async fn demo() -> Result<(), nexchat_core::blobs::BlobError> {
/// let blobs = nexchat_store::FileBlobStore::open("nexchat-blobs").await?;
/// # drop(blobs);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FileBlobStore {
    dir: PathBuf,
}

fn io(context: &str, path: &Path, err: std::io::Error) -> BlobError {
    BlobError::backend(format!("blob files: {context} {}", path.display()), err)
}

/// A file under `.partial/` that is removed when dropped, unless published first.
struct Partial {
    path: PathBuf,
}

impl Drop for Partial {
    fn drop(&mut self) {
        // Best effort: whatever is left is cleared at the next open.
        let _ = std::fs::remove_file(&self.path);
    }
}

impl FileBlobStore {
    /// Opens (creating it if needed) the directory `dir`, and clears the uploads a previous run
    /// left unfinished.
    ///
    /// # Errors
    /// [`BlobError::Store`] when the directory cannot be created or read.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let dir = dir.into();
        let partial = dir.join(PARTIAL);
        tokio::fs::create_dir_all(&partial)
            .await
            .map_err(|e| io("creating", &partial, e))?;
        let mut leftovers = tokio::fs::read_dir(&partial)
            .await
            .map_err(|e| io("reading", &partial, e))?;
        while let Some(entry) = leftovers
            .next_entry()
            .await
            .map_err(|e| io("reading", &partial, e))?
        {
            let path = entry.path();
            tokio::fs::remove_file(&path)
                .await
                .map_err(|e| io("clearing", &path, e))?;
        }
        Ok(Self { dir })
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, BlobError> {
        // Only UUIDs name files: no separator, dot or other surprise reaches the path.
        if is_blob_id(id) {
            Ok(self.dir.join(id))
        } else {
            Err(BlobError::InvalidId(id.to_owned()))
        }
    }

    /// Syncs the directory itself, so a name just added or removed survives a crash.
    async fn sync_dir(&self) -> Result<(), BlobError> {
        let dir = tokio::fs::File::open(&self.dir)
            .await
            .map_err(|e| io("opening", &self.dir, e))?;
        dir.sync_all()
            .await
            .map_err(|e| io("syncing", &self.dir, e))
    }

    /// Writes `body` to a new file under `.partial/`, synced; its size.
    async fn write_partial(
        &self,
        partial: &Partial,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let path = &partial.path;
        let mut file = tokio::fs::File::create_new(path)
            .await
            .map_err(|e| io("creating", path, e))?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Upload)?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge { max: max_bytes });
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| io("writing", path, e))?;
        }
        file.sync_all().await.map_err(|e| io("syncing", path, e))?;
        Ok(size)
    }
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        let path = self.path_of(id)?;
        if tokio::fs::try_exists(&path)
            .await
            .map_err(|e| io("looking for", &path, e))?
        {
            return Err(BlobError::Exists(id.to_owned()));
        }
        let partial = Partial {
            path: self
                .dir
                .join(PARTIAL)
                .join(format!("{id}.{}", uuid::Uuid::new_v4().simple())),
        };
        let size = self.write_partial(&partial, body, max_bytes).await?;
        match tokio::fs::hard_link(&partial.path, &path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(BlobError::Exists(id.to_owned()));
            }
            Err(e) => return Err(io("publishing", &path, e)),
        }
        drop(partial);
        self.sync_dir().await?;
        Ok(size)
    }

    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path_of(id)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &path, e)),
        }
    }

    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        let path = self.path_of(id)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("opening", &path, e)),
        };
        let size = file
            .metadata()
            .await
            .map_err(|e| io("reading", &path, e))?
            .len();
        let range = within(range, size)?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| io("seeking in", &path, e))?;
        // Each read is a trip to tokio's blocking pool: 256 KiB at a time, not the default
        // 4 KiB, keeps a 25 MiB download to ~100 trips (benches/README.md, "Attachments").
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(range.len()), READ_CHUNK);
        Ok(Some(Blob {
            size,
            range,
            body: Box::pin(body),
        }))
    }

    async fn delete(&self, id: &str) -> Result<bool, BlobError> {
        let path = self.path_of(id)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                self.sync_dir().await?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("deleting", &path, e)),
        }
    }
}
