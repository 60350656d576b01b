//! The SQLite backend: one database file, one writer thread doing group commit, a few reader
//! threads.
//!
//! Why this shape: SQLite allows one writer at a time, and in WAL mode with `synchronous=FULL`
//! every commit costs an fsync. So one thread owns the only write connection and commits
//! everything that is queued at once (`writer.rs`); each caller's future resolves only after the
//! transaction holding its write has committed. Copying the WAL back into the database file
//! (checkpointing) happens on a thread of its own (`checkpoint.rs`), not in the writer's
//! commits. Reads run on their own read-only connections (`readers.rs`), which in WAL mode
//! never wait for the writer. No SQLite call ever runs on an async worker thread.
//!
//! One [`SqliteStore`] per database file: the writer thread is what serialises writes and keeps
//! message timestamps in order, so a second store (or process) writing the same file would
//! break both promises.

mod attachments;
mod calls;
mod checkpoint;
mod erasure;
mod friends;
mod groups;
mod messages;
mod paging;
mod readers;
mod rows;
mod schema;
mod sessions;
#[cfg(test)]
mod tests;
mod users;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};

use nexchat_core::store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

use checkpoint::{Checkpointer, WalTuning};
use readers::ReaderPool;
use writer::{Isolation, Writer, WriterState};

/// Read-only connections (and threads) per store. Reads are short index lookups served mostly
/// from the page cache, so a few are plenty; more would only compete with the async workers.
const READERS: usize = 4;

/// A [`nexchat_core::store::Store`] in one SQLite file.
///
/// Dropping the store lets queued writes finish, then closes the database and waits for its
/// threads; do that outside the hot path (at shutdown).
pub struct SqliteStore {
    // Field order is drop order: readers close first so the writer's connection is the last
    // one, which checkpoints the WAL into the database file on close.
    readers: ReaderPool,
    writer: Writer,
    path: PathBuf,
}

impl SqliteStore {
    /// The schema version [`SqliteStore::open`] migrates a database to (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: i64 = schema::VERSION;

    /// Opens (creating if needed) the database at `path`, brings its schema up to date, and
    /// starts the writer and reader threads.
    ///
    /// This blocks while it opens files and runs migrations; call it at startup (or from
    /// `tokio::task::spawn_blocking`). A database written by a newer version of nexchat (a
    /// higher schema version) is refused rather than guessed at. Open each file once: see the
    /// module docs.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or is not an SQLite database (the
    /// driver's error is its source), when its schema version is newer than
    /// [`Self::SCHEMA_VERSION`], or when a migration or a thread fails to start.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_tuned(path.as_ref(), WalTuning::DEFAULT)
    }

    fn open_tuned(path: &Path, tuning: WalTuning) -> StoreResult<Self> {
        let path = path.to_path_buf();
        let mut conn = schema::open_writer(&path)?;
        schema::migrate(&mut conn)?;
        let state = WriterState::load(&conn)?;
        let readers = (0..READERS)
            .map(|_| schema::open_reader(&path))
            .collect::<StoreResult<Vec<_>>>()?;
        let readers = ReaderPool::start(readers)?;
        let checkpointer = Checkpointer::start(schema::open_checkpointer(&path)?, tuning)?;
        let writer = Writer::start(conn, state, checkpointer)?;
        Ok(Self {
            readers,
            writer,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on a reader connection.
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.readers.submit(Box::new(move |conn: &Connection| {
            // The caller may have stopped waiting; nothing to do then.
            let _ = reply.send(work(conn).map_err(StoreError::from));
        }))?;
        answer
            .await
            .map_err(|_| StoreError::backend_failure("an SQLite read failed unexpectedly"))?
    }

    /// Runs `work` in the writer's next transaction, inside a savepoint of its own; resolves
    /// once that transaction committed.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, Error> + Send + 'static,
    {
        self.submit_as(Isolation::Savepoint, work).await
    }

    /// Like [`Self::write`] for `work` that needs no savepoint (see
    /// [`writer::Isolation::Statement`]).
    async fn write_statement<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, Error> + Send + 'static,
    {
        self.submit_as(Isolation::Statement, work).await
    }

    /// Queues `work` on the writer now, and returns a future of its answer: jobs submitted one
    /// after another run in that order, whenever their answers are awaited.
    fn submit_as<T, F>(
        &self,
        isolation: Isolation,
        work: F,
    ) -> impl Future<Output = StoreResult<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let submitted = self.writer.submit(isolation, work, reply);
        async move {
            submitted?;
            answer
                .await
                .map_err(|_| StoreError::backend_failure("an SQLite write failed unexpectedly"))?
        }
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What the SQL helpers return: a driver error or a domain answer (conflict, corrupt row, ...).
/// It exists so `?` works on both; callers only ever see [`StoreError`].
#[derive(Debug)]
pub(crate) enum Error {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sql(err)
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Sql(e) => StoreError::backend("sqlite", e),
            Error::Store(e) => e,
        }
    }
}

/// True when `err` is a UNIQUE or PRIMARY KEY constraint refusing an insert.
fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// The two names of a pair in a fixed order (the one SQLite's `min`/`max` give the generated
/// `pair_lo`/`pair_hi` columns: byte order, which is also `str`'s order).
fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A `usize` limit as an SQL `LIMIT` (which is signed).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
