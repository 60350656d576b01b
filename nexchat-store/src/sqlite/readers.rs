//! A fixed pool of reader threads, each owning one read-only connection.
//!
//! Jobs wait on one shared queue and the first idle thread takes the next, so one slow read
//! (a long history page) does not hold up the reads behind it while another thread is free.
//! In WAL mode a reader sees every transaction committed before its statement began, so a
//! caller that got an answer from the writer reads its own write.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use nexchat_core::store::{StoreError, StoreResult};
use parking_lot::Mutex;
use rusqlite::Connection;

/// A read, boxed to share the queue. It answers its caller itself.
pub(crate) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The handle to the reader threads; dropping it closes the queue and joins them.
pub(crate) struct ReaderPool {
    jobs: Option<mpsc::Sender<ReadJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl ReaderPool {
    pub(crate) fn start(connections: Vec<Connection>) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<ReadJob>();
        let queue = Arc::new(Mutex::new(queue));
        let mut pool = Self {
            jobs: Some(jobs),
            threads: Vec::with_capacity(connections.len()),
        };
        for (i, conn) in connections.into_iter().enumerate() {
            let queue = Arc::clone(&queue);
            let thread = std::thread::Builder::new()
                .name(format!("nexchat-sqlite-reader-{i}"))
                .spawn(move || run(&conn, &queue))
                .map_err(|e| StoreError::backend("starting an SQLite reader", e))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    pub(crate) fn submit(&self, job: ReadJob) -> StoreResult<()> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| StoreError::backend_failure("the SQLite readers have stopped"))
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, queue: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = queue.lock().recv();
        let Ok(job) = next else { return };
        // A panicking read drops its reply sender (its caller gets an error); the thread and
        // its connection stay in service.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("an SQLite read panicked");
        }
    }
}
