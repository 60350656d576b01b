//! The blob store of files, in a real temporary directory: the blob checks of
//! `nexchat_core::conformance::blobs`, then what only files can show (an upload cut off by a
//! crash is never served, and is cleared at the next open).

use nexchat_core::blobs::BlobStore;
use nexchat_store::FileBlobStore;

async fn fresh() -> (FileBlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = FileBlobStore::open(dir.path().join("blobs"))
        .await
        .expect("opening the blob directory");
    (store, dir)
}

mod conformance {
    nexchat_core::blob_conformance_tests!(super::fresh());
}

/// A file left under `.partial/` by a process killed mid-upload is not a blob, and the next
/// open clears it.
#[tokio::test]
async fn an_upload_cut_off_by_a_crash_is_never_served_and_is_cleared_at_the_next_open() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("blobs");
    FileBlobStore::open(&root).await.expect("open");
    let id = uuid::Uuid::new_v4().to_string();
    let leftover = root.join(".partial").join(format!("{id}.cut"));
    std::fs::write(&leftover, b"half an upload").expect("writing the leftover");
    let store = FileBlobStore::open(&root).await.expect("reopen");
    assert!(
        !leftover.exists(),
        "the next open clears unfinished uploads"
    );
    assert_eq!(store.size(&id).await.expect("size"), None);
    assert!(store.get(&id, None).await.expect("get").is_none());
}
