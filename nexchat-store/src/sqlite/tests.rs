//! What needs the checkpointer's thresholds turned down to be seen in a short test: the WAL file
//! stays bounded under steady writes, and every acknowledged write survives the process being
//! killed while the WAL is being checkpointed and restarted.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexchat_core::conformance::support::{T0, msg, user};
use nexchat_core::protocol::StoredMessage;
use nexchat_core::store::{Inserted, MessageStore, StoreError, StoreResult, UserStore};

use super::SqliteStore;
use super::checkpoint::WalTuning;

/// Restarts after 256 pages (1 MiB), passes every 5 ms: many cycles in a few MiB of writes.
const SMALL: WalTuning = WalTuning {
    restart_frames: 256,
    pass_interval: Duration::from_millis(5),
};

/// Checks that `err` is the corrupt-row error of row `id` of `table`, its detail naming `what`.
pub(crate) fn expect_corrupt(err: StoreError, table: &str, id: &str, what: &str) {
    match err {
        StoreError::Corrupt {
            collection,
            id: got,
            detail,
        } => {
            assert_eq!((collection.as_str(), got.as_str()), (table, id));
            assert!(detail.contains(what), "{detail}");
        }
        other => panic!("expected a corrupt {table} row, got {other:?}"),
    }
}

fn open_small(path: &Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open_tuned(path, SMALL).unwrap())
}

async fn two_users(store: &SqliteStore) {
    for name in ["alice", "bob"] {
        store.create_user(&user(name)).await.unwrap();
    }
}

/// A message of about `size` bytes (a few pages each, so the WAL grows fast).
fn message(id: String, size: usize) -> StoredMessage {
    StoredMessage {
        ciphertext: "QUJD".repeat(size / 4),
        ..msg(&id, "alice", "bob", T0)
    }
}

fn wal_len(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_file_stays_bounded_under_steady_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = open_small(&path);
    two_users(&store).await;
    let (mut written, mut largest) = (0usize, 0u64);
    for round in 0..300 {
        let batch: Vec<_> = (0..32)
            .map(|i| message(format!("m{round}-{i}"), 8 * 1024))
            .collect();
        written += batch.len() * 8 * 1024;
        for result in insert_all(&store, batch).await {
            assert!(matches!(result.unwrap(), Inserted::New(_)));
        }
        largest = largest.max(wal_len(&path));
    }
    // About 75 MiB went through a WAL that starts over at 1 MiB, plus what is written before
    // the writer gets to restart it (generous: the machine may be busy). Without restarts the
    // file would hold all of it.
    assert!(written > 64 << 20, "wrote only {written} bytes");
    assert!(
        largest < 24 << 20,
        "the WAL file grew to {largest} bytes while {written} bytes were written"
    );
    // The last message is there, from any connection.
    assert!(store.get_message("m299-31").await.unwrap().is_some());
}

/// Runs the inserts of `batch` concurrently, so that they share commits.
async fn insert_all(
    store: &Arc<SqliteStore>,
    batch: Vec<StoredMessage>,
) -> Vec<StoreResult<Inserted>> {
    let tasks: Vec<_> = batch
        .into_iter()
        .map(|m| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.insert_message(&m).await })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// Set in the child process of the test below: the database to write to.
const CHILD_DB: &str = "NEXCHAT_SQLITE_TEST_CRASH_CHILD_DB";
const TEST_NAME: &str = "sqlite::tests::acknowledged_messages_survive_a_killed_process";

#[test]
fn acknowledged_messages_survive_a_killed_process() {
    if let Some(db) = std::env::var_os(CHILD_DB) {
        write_until_killed(Path::new(&db));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open_small(&path);
        two_users(&store).await;
    });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    let started = Instant::now();
    // Enough acknowledged writes for several WAL restarts (a message is about three pages).
    while acknowledged.len() < 4000 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the child wrote too slowly"
        );
        let line = lines.next().expect("the child stopped early").unwrap();
        if let Some(id) = line.strip_prefix("acknowledged ") {
            acknowledged.push(id.to_owned());
        }
    }
    child.kill().unwrap();
    // What the child printed before it died was acknowledged too.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix("acknowledged ") {
            acknowledged.push(id.to_owned());
        }
    }
    child.wait().unwrap();

    let check = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(check);
    runtime.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        for id in &acknowledged {
            assert!(
                store.get_message(id).await.unwrap().is_some(),
                "acknowledged message {id} is gone after the crash ({} acknowledged)",
                acknowledged.len()
            );
        }
    });
}

/// The child: writes batches of messages forever, printing the id of each acknowledged one.
fn write_until_killed(db: &Path) -> ! {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open_small(db);
        // The test harness may have left a line open.
        println!();
        for round in 0.. {
            let batch: Vec<_> = (0..16)
                .map(|i| message(format!("c{round}-{i}"), 8 * 1024))
                .collect();
            let results = insert_all(&store, batch).await;
            let mut out = std::io::stdout().lock();
            for result in results {
                let Inserted::New(m) = result.unwrap() else {
                    panic!("ids are fresh")
                };
                writeln!(out, "acknowledged {}", m.id).unwrap();
            }
            out.flush().unwrap();
        }
    });
    unreachable!("the loop above only ends when the process is killed")
}
