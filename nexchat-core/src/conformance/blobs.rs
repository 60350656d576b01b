//! The contract of [`crate::blobs::BlobStore`], as checks every blob backend runs: one
//! `#[tokio::test]` each with [`blob_conformance_tests!`](crate::blob_conformance_tests), given an
//! expression that makes a fresh, empty store (or a `(store, guard)` pair, as for
//! [`super::Fixture`]).
//!
//! ```
//! use nexchat_core::blobs::memory::MemoryBlobStore;
//!
//! async fn fresh() -> MemoryBlobStore {
//!     MemoryBlobStore::new()
//! }
//! nexchat_core::blob_conformance_tests!(fresh());
//! # fn main() {}
//! ```

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;

use crate::blobs::{BlobError, BlobStore, ByteRange, ByteStream};

/// A fresh blob store for one check, plus whatever must live as long as it.
pub trait BlobFixture: Send + Sync + 'static {
    /// The store under test.
    type Store: BlobStore;
    /// The store under test.
    fn store(&self) -> &Self::Store;
}

impl<S: BlobStore> BlobFixture for S {
    type Store = S;
    fn store(&self) -> &S {
        self
    }
}

/// A store and a guard dropped after it (a temporary directory, a database to drop).
impl<S: BlobStore, G: Send + Sync + 'static> BlobFixture for (S, G) {
    type Store = S;
    fn store(&self) -> &S {
        &self.0
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `len` bytes that differ from position to position (so a misplaced chunk shows).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// `bytes` as an upload arriving `chunk` bytes at a time.
fn upload(bytes: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = bytes
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

async fn read(
    store: &impl BlobStore,
    id: &str,
    range: Option<ByteRange>,
) -> Option<(u64, Vec<u8>)> {
    let blob = store.get(id, range).await.expect("get failed")?;
    let mut bytes = Vec::new();
    let mut body = blob.body;
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.expect("reading the blob failed"));
    }
    assert_eq!(
        bytes.len() as u64,
        blob.range.len(),
        "the body holds exactly the range it names"
    );
    Some((blob.size, bytes))
}

/// A blob written in small chunks reads back byte for byte, whole and by ranges.
pub async fn blobs_round_trip_whole_and_by_range<X: BlobFixture>(fixture: X) {
    let store = fixture.store();
    let bytes = pattern(3 * 1024 * 1024 + 17);
    let id = new_id();
    let size = store
        .put(&id, upload(&bytes, 64 * 1024 + 3), 25 * 1024 * 1024)
        .await
        .expect("put failed");
    assert_eq!(size, bytes.len() as u64);
    assert_eq!(store.size(&id).await.expect("size"), Some(size));
    assert_eq!(read(store, &id, None).await, Some((size, bytes.clone())));
    for (start, end) in [
        (0, 1),
        (5, 100_000),
        (1_000_000, size),
        (size, size),
        (size - 1, size),
    ] {
        let range = ByteRange { start, end };
        let (whole, part) = read(store, &id, Some(range)).await.expect("the blob");
        assert_eq!(whole, size, "a range read still names the whole size");
        assert_eq!(
            part,
            bytes[start as usize..end as usize],
            "bytes {start}..{end}"
        );
    }
    for (start, end) in [(0, size + 1), (size + 1, size + 2), (10, 5)] {
        match store.get(&id, Some(ByteRange { start, end })).await {
            Err(BlobError::Range { .. }) => {}
            other => panic!("bytes {start}..{end} of {size} must be a Range error, got {other:?}"),
        }
    }
    let empty = new_id();
    assert_eq!(store.put(&empty, upload(&[], 1), 10).await.expect("put"), 0);
    assert_eq!(read(store, &empty, None).await, Some((0, Vec::new())));
}

/// An upload past the limit, or one whose stream fails midway, leaves nothing behind; an id
/// is written once.
pub async fn blobs_are_whole_or_absent<X: BlobFixture>(fixture: X) {
    let store = fixture.store();
    let big = new_id();
    match store.put(&big, upload(&pattern(1000), 100), 999).await {
        Err(BlobError::TooLarge { max: 999 }) => {}
        other => panic!("1000 bytes past a 999 byte limit must be TooLarge, got {other:?}"),
    }
    assert_eq!(store.size(&big).await.expect("size"), None);
    assert!(store.get(&big, None).await.expect("get").is_none());
    let exact = new_id();
    assert_eq!(
        store
            .put(&exact, upload(&pattern(999), 100), 999)
            .await
            .expect("put"),
        999
    );

    let broken = new_id();
    let failing: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from(pattern(4096))),
        Err(std::io::Error::other("the client went away")),
    ]));
    match store.put(&broken, failing, 1 << 20).await {
        Err(BlobError::Upload(_)) => {}
        other => panic!("a broken upload must be an Upload error, got {other:?}"),
    }
    assert_eq!(
        store.size(&broken).await.expect("size"),
        None,
        "no half blob"
    );

    match store.put(&exact, upload(b"other", 5), 999).await {
        Err(BlobError::Exists(_)) => {}
        other => panic!("a second put of one id must be Exists, got {other:?}"),
    }
    let (_, kept) = read(store, &exact, None).await.expect("the blob");
    assert_eq!(kept, pattern(999), "the first blob is unchanged");
}

/// Deleting a blob makes it absent; ids that are not UUIDs are refused.
pub async fn blobs_delete_and_refuse_foreign_ids<X: BlobFixture>(fixture: X) {
    let store = fixture.store();
    let id = new_id();
    store
        .put(&id, upload(b"ciphertext", 4), 100)
        .await
        .expect("put");
    assert!(store.delete(&id).await.expect("delete"));
    assert!(
        !store.delete(&id).await.expect("delete"),
        "a second delete finds nothing"
    );
    assert_eq!(store.size(&id).await.expect("size"), None);
    assert!(store.get(&id, None).await.expect("get").is_none());
    for bad in [
        "../../etc/passwd",
        "",
        "not-a-uuid",
        "00000000-0000-0000-0000-00000000000/",
    ] {
        match store.put(bad, upload(b"x", 1), 100).await {
            Err(BlobError::InvalidId(_)) => {}
            other => panic!("put of id {bad:?} must be InvalidId, got {other:?}"),
        }
        assert!(matches!(
            store.get(bad, None).await,
            Err(BlobError::InvalidId(_))
        ));
    }
}

/// Many uploads at once, one id raced by several: each blob whole, one winner per id.
pub async fn race_blob_uploads<X: BlobFixture>(fixture: X) {
    let fixture = Arc::new(fixture);
    let shared = new_id();
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let fixture = Arc::clone(&fixture);
            let shared = shared.clone();
            tokio::spawn(async move {
                let own = new_id();
                let bytes = pattern(200_000 + i);
                let mine = fixture
                    .store()
                    .put(&own, upload(&bytes, 8192), 1 << 20)
                    .await;
                let raced = fixture
                    .store()
                    .put(&shared, upload(&bytes, 8192), 1 << 20)
                    .await;
                (own, bytes, mine, raced)
            })
        })
        .collect();
    let mut winners = 0;
    for handle in handles {
        let (own, bytes, mine, raced) = handle.await.expect("a racing task panicked");
        assert_eq!(mine.expect("a put of its own id"), bytes.len() as u64);
        assert_eq!(
            read(fixture.store(), &own, None).await.map(|(_, b)| b),
            Some(bytes)
        );
        match raced {
            Ok(_) => winners += 1,
            Err(BlobError::Exists(_)) => {}
            Err(other) => panic!("a losing put must be Exists, got {other:?}"),
        }
    }
    assert_eq!(winners, 1, "exactly one put of the shared id wins");
    let (size, bytes) = read(fixture.store(), &shared, None)
        .await
        .expect("the shared blob");
    assert_eq!(bytes.len() as u64, size);
    assert_eq!(bytes, pattern(bytes.len()), "the winner's bytes, whole");
}

/// Expands to one `#[tokio::test]` (multi-thread runtime, 2 workers) per blob check; the
/// argument is an expression giving a future of a fresh [`BlobFixture`].
#[macro_export]
macro_rules! blob_conformance_tests {
    ($make:expr) => {
        $crate::__blob_conformance_tests! { $make;
            blobs_round_trip_whole_and_by_range,
            blobs_are_whole_or_absent,
            blobs_delete_and_refuse_foreign_ids,
            race_blob_uploads,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __blob_conformance_tests {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::blobs::$check($make.await).await;
            }
        )*
    };
}
