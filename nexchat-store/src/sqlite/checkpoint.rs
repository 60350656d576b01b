//! The checkpointer: copies committed pages from the WAL into the database file on a thread
//! and connection of its own, so that the writer's commits do not wait for it.
//!
//! With SQLite's automatic checkpoints, the connection that commits past `wal_autocheckpoint`
//! frames copies them into the database file and syncs it before its `COMMIT` returns: under
//! load that was the writer, every few batches, with every caller of the next batch waiting.
//! So the writer turns them off (`schema::open_writer`) and this thread runs a PASSIVE
//! checkpoint (which never waits for, nor blocks, the writer or the readers) a short while after
//! commits, merging the many versions a busy page has in the WAL into one write.
//!
//! A PASSIVE checkpoint cannot bound the WAL file on its own: SQLite starts writing the WAL from
//! its beginning again only when a write transaction begins while every frame in it has been
//! copied, and under steady load the writer begins its next transaction before a pass ends. So
//! once the WAL holds [`WalTuning::restart_frames`] frames, the checkpointer asks the writer to
//! run one PASSIVE checkpoint itself, between two transactions: it only has to copy what was
//! committed since the checkpointer's last pass, and its next transaction then restarts the WAL.
//!
//! Durability does not depend on this thread: a commit is durable once its frames are synced to
//! the WAL (`synchronous=FULL`). A checkpoint syncs the database file before it records the
//! frames as copied, so the WAL is only ever overwritten after its pages are safe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nexchat_core::store::{StoreError, StoreResult};
use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

/// When the checkpointer works.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalTuning {
    /// WAL frames (pages) past which the WAL should start over from its beginning. The file
    /// holds about this many, plus what the writer commits in one pass interval.
    pub(crate) restart_frames: i64,
    /// The least time between two passes: a page written by several batches in that time is
    /// copied once.
    pub(crate) pass_interval: Duration,
}

impl WalTuning {
    /// 8,192 pages (32 MiB at the default page size) and 100 ms: a WAL file of 32 to about
    /// 64 MiB at the writer's full speed, where a pass takes a fraction of the interval.
    pub(crate) const DEFAULT: Self = Self {
        restart_frames: 8192,
        pass_interval: Duration::from_millis(100),
    };
}

/// What the checkpointer thread and the writer share. The writer only touches atomics on its
/// way from one commit to the next, and the lock only to wake an idle checkpointer.
#[derive(Default)]
struct Shared {
    /// Commits so far.
    commits: AtomicU64,
    /// The checkpointer waits for the next commit (rather than for its interval to pass).
    idle: AtomicBool,
    /// Set when the store closes.
    stop: Mutex<bool>,
    wake: Condvar,
    /// Set by the checkpointer when the WAL is long; cleared by the writer once it has tried
    /// to copy the rest itself.
    restart_wanted: AtomicBool,
}

/// The handle to the checkpointer thread, held by the writer. Dropping it stops the thread and
/// closes its connection.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn`, a read-write connection to the writer's database with
    /// `synchronous=FULL` (a checkpoint syncs the database file only then).
    pub(crate) fn start(conn: Connection, tuning: WalTuning) -> StoreResult<Self> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("nexchat-sqlite-checkpointer".into())
                .spawn(move || run(&conn, &shared, tuning))
                .map_err(|e| StoreError::backend("starting the SQLite checkpointer", e))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Called by the writer, outside any transaction, after each commit.
    pub(crate) fn committed(&self, conn: &Connection) {
        self.shared.commits.fetch_add(1, Ordering::SeqCst);
        if self.shared.idle.load(Ordering::SeqCst) {
            // Under the lock, so the wakeup cannot fall between its check and its wait.
            let _stop = self.shared.stop.lock();
            self.shared.wake.notify_one();
        }
        if self.shared.restart_wanted.load(Ordering::Relaxed) {
            match passive_checkpoint(conn) {
                // The checkpointer is mid-pass: after the next commit, again.
                Ok(pass) if pass.busy => return,
                // When everything is in the database file, the next transaction restarts the
                // WAL. When a reader still read old frames, or the restart finds one, the
                // checkpointer's next pass asks again.
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SQLite checkpoint on the writer failed"),
            }
            self.shared.restart_wanted.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The answer of `PRAGMA wal_checkpoint`.
struct Pass {
    /// Another connection was checkpointing.
    busy: bool,
    /// Frames in the WAL.
    log: i64,
}

fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
        .query_row([], |row| {
            Ok(Pass {
                busy: row.get::<_, i64>(0)? != 0,
                log: row.get(1)?,
            })
        })
}

fn run(conn: &Connection, shared: &Shared, tuning: WalTuning) {
    let mut seen = 0;
    let mut last_pass = Instant::now();
    loop {
        let mut stop = shared.stop.lock();
        // Wait out the interval since the last pass, then, if no commit came since, for one.
        while !*stop {
            let Some(left) = tuning.pass_interval.checked_sub(last_pass.elapsed()) else {
                break;
            };
            shared.wake.wait_for(&mut stop, left);
        }
        shared.idle.store(true, Ordering::SeqCst);
        while !*stop && shared.commits.load(Ordering::SeqCst) == seen {
            shared.wake.wait(&mut stop);
        }
        shared.idle.store(false, Ordering::SeqCst);
        if *stop {
            return;
        }
        drop(stop);
        seen = shared.commits.load(Ordering::SeqCst);
        last_pass = Instant::now();
        match passive_checkpoint(conn) {
            Ok(pass) if pass.log >= tuning.restart_frames => {
                shared.restart_wanted.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}
