//! The writer thread and its group commit.
//!
//! Every write is a job on one channel. The thread takes the first job, then every job already
//! waiting (up to [`MAX_BATCH`]), runs them all in one transaction and commits once, so one fsync
//! covers the whole batch. Only then does each job's caller get its answer: an `Ok` always means
//! "committed".
//!
//! A job that could fail halfway (a name already taken after a first change, a corrupt row)
//! runs inside its own SAVEPOINT, so only its own changes roll back and the rest of the batch
//! commits. The hot jobs (store a message, move its tick) cannot: each statement is atomic in
//! SQLite, and only their first one can fail for a reason of their own. They run without a
//! savepoint ([`Isolation::Statement`]), because a savepoint first copies every page the job
//! touches into its journal. Should such a job fail after changing rows all the same (the disk
//! failing between two statements), the writer rolls back the whole transaction rather than
//! commit half a job. If SQLite rolls back the whole transaction itself (an I/O error, a full
//! disk), every job that ran in it is answered with that error and the remaining jobs start a
//! fresh transaction.
//!
//! The writer never checkpoints the WAL during a transaction's path to its commit: the
//! checkpointer thread (`checkpoint.rs`) does that beside it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

use nexchat_core::store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::Error;
use super::checkpoint::Checkpointer;

/// The most jobs committed in one transaction. Bounds how long the first caller of a batch
/// waits behind the others, and the size of a single transaction.
const MAX_BATCH: usize = 1024;

/// How a job keeps a failure of its own from reaching the rest of its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// The job runs inside a savepoint: on failure, its changes roll back, and only them.
    Savepoint,
    /// The job changes the database in one statement (SQLite makes each statement atomic), or
    /// in several of which only the first can fail for a reason of its own (a conflict, a
    /// corrupt row): it needs no savepoint. If it fails after changing rows anyway, the whole
    /// transaction rolls back.
    Statement,
}

/// What the writer remembers between jobs.
#[derive(Debug, Clone)]
pub(crate) struct WriterState {
    /// The timestamp of the last stored message: no new message gets an earlier one.
    pub(crate) last_timestamp: i64,
    /// The same for group messages, which keep an order of their own.
    pub(crate) last_group_timestamp: i64,
}

impl WriterState {
    /// Reads the state back from the database. The last message in storage order has the
    /// greatest timestamp (the writer keeps it so), which avoids a scan of the whole table; the
    /// same holds for group messages.
    pub(crate) fn load(conn: &Connection) -> StoreResult<Self> {
        let last: Option<i64> = conn
            .query_row(
                "SELECT max(timestamp) FROM (SELECT timestamp FROM messages ORDER BY seq DESC LIMIT 1)",
                [],
                |row| row.get(0),
            )
            .map_err(|e| StoreError::backend("sqlite: reading last timestamp", e))?;
        let last_group: Option<i64> = conn
            .query_row(
                "SELECT max(timestamp) FROM
                     (SELECT timestamp FROM group_messages ORDER BY seq DESC LIMIT 1)",
                [],
                |row| row.get(0),
            )
            .map_err(|e| StoreError::backend("sqlite: reading last group timestamp", e))?;
        Ok(Self {
            last_timestamp: last.unwrap_or(i64::MIN),
            last_group_timestamp: last_group.unwrap_or(i64::MIN),
        })
    }
}

/// One queued write, type-erased so jobs of every result type share the channel.
trait WriteJob: Send {
    /// Runs the work inside a savepoint of the open transaction.
    fn run(&mut self, conn: &Connection, state: &mut WriterState);
    /// Answers the caller once the fate of the transaction is known: `Err` when it did not
    /// commit, which turns a successful result into that error.
    fn finish(self: Box<Self>, transaction: Result<(), &StoreError>);
}

struct Job<T, F> {
    isolation: Isolation,
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &mut WriterState) -> Result<T, Error> + Send,
{
    fn run(&mut self, conn: &Connection, state: &mut WriterState) {
        if let Some(work) = self.work.take() {
            self.result = Some(match self.isolation {
                Isolation::Savepoint => in_savepoint(conn, state, work),
                Isolation::Statement => in_statement(conn, state, work),
            });
        }
    }

    fn finish(self: Box<Self>, transaction: Result<(), &StoreError>) {
        let answer = match (self.result, transaction) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Err(StoreError::backend_failure("write was not run")),
        };
        // The caller may have stopped waiting; its write stands regardless.
        let _ = self.reply.send(answer);
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    state: &mut WriterState,
    work: impl FnOnce(&Connection, &mut WriterState) -> Result<T, Error>,
) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT job")
        .and_then(|mut s| s.execute([]))
        .map_err(Error::from)?;
    let outcome = catch_unwind(AssertUnwindSafe(|| work(conn, state))).unwrap_or_else(|_| {
        Err(StoreError::backend_failure("a write panicked; it was rolled back").into())
    });
    if outcome.is_err() {
        // Fails only when SQLite already rolled back the whole transaction, which the batch
        // loop notices and handles.
        let _ = conn.execute_batch("ROLLBACK TO job");
    }
    let released = conn
        .prepare_cached("RELEASE job")
        .and_then(|mut s| s.execute([]));
    match (outcome, released) {
        (Err(e), _) => Err(e.into()),
        (Ok(_), Err(e)) => Err(Error::from(e).into()),
        (Ok(value), Ok(_)) => Ok(value),
    }
}

fn in_statement<T>(
    conn: &Connection,
    state: &mut WriterState,
    work: impl FnOnce(&Connection, &mut WriterState) -> Result<T, Error>,
) -> Result<T, StoreError> {
    let changes = conn.total_changes();
    let outcome = catch_unwind(AssertUnwindSafe(|| work(conn, state))).unwrap_or_else(|_| {
        Err(StoreError::backend_failure("a write panicked; it was rolled back").into())
    });
    if outcome.is_err() && conn.total_changes() != changes && !conn.is_autocommit() {
        // The job broke its promise: it changed rows, then failed. Without a savepoint the
        // only way to undo its part is to undo the whole transaction; the batch loop sees
        // the rollback and answers every job that ran in it with an error.
        tracing::error!("a single-statement write failed after changing rows");
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome.map_err(StoreError::from)
}

/// The handle to the writer thread. Dropping it lets queued jobs finish, then joins the thread
/// (which closes the connection).
pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn WriteJob>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn`, with `checkpointer` (its own connection to the same
    /// file) beside it. The writer stops the checkpointer before closing its connection, so
    /// that it is the last to close and folds the rest of the WAL into the database file.
    pub(crate) fn start(
        conn: Connection,
        state: WriterState,
        checkpointer: Checkpointer,
    ) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Box<dyn WriteJob>>();
        let thread = std::thread::Builder::new()
            .name("nexchat-sqlite-writer".into())
            .spawn(move || {
                run(&conn, state, &queue, &checkpointer);
                drop(checkpointer);
                drop(conn);
            })
            .map_err(|e| StoreError::backend("starting the SQLite writer", e))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `work`; `reply` gets its result once its transaction has committed.
    pub(crate) fn submit<T, F>(
        &self,
        isolation: Isolation,
        work: F,
        reply: oneshot::Sender<StoreResult<T>>,
    ) -> StoreResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterState) -> Result<T, Error> + Send + 'static,
    {
        let job = Box::new(Job {
            isolation,
            work: Some(work),
            result: None,
            reply,
        });
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| StoreError::backend_failure("the SQLite writer has stopped"))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    conn: &Connection,
    mut state: WriterState,
    queue: &mpsc::Receiver<Box<dyn WriteJob>>,
    checkpointer: &Checkpointer,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(conn, &mut state, batch, checkpointer);
    }
}

fn commit_batch(
    conn: &Connection,
    state: &mut WriterState,
    batch: Vec<Box<dyn WriteJob>>,
    checkpointer: &Checkpointer,
) {
    let mut queue = batch.into_iter().peekable();
    while queue.peek().is_some() {
        let before = state.clone();
        if let Err(e) = execute(conn, "BEGIN IMMEDIATE") {
            for job in queue {
                job.finish(Err(&e));
            }
            return;
        }
        let mut ran = Vec::new();
        let mut lost = None;
        for mut job in queue.by_ref() {
            job.run(conn, state);
            if conn.is_autocommit() {
                let e = StoreError::backend_failure(
                    "sqlite rolled back the transaction after an error; the write was not stored",
                );
                job.finish(Err(&e));
                lost = Some(e);
                break;
            }
            ran.push(job);
        }
        let outcome = match lost {
            Some(e) => Err(e),
            None => execute(conn, "COMMIT").inspect_err(|_| {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            }),
        };
        if let Err(e) = &outcome {
            // Each job's caller gets the error and whoever refuses its request logs it: an
            // error line here would log the same failure once more.
            tracing::debug!(error = %e.chain(), jobs = ran.len(), "SQLite batch did not commit");
            *state = before;
        }
        for job in ran {
            job.finish(outcome.as_ref().map(|_| ()));
        }
        if outcome.is_ok() {
            // After the answers: this may copy pages into the database file and sync it.
            checkpointer.committed(conn);
        }
    }
}

fn execute(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(|e| StoreError::backend(format!("sqlite: {sql}"), e))
}
