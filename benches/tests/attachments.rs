//! The attachments workload against nexchat's routes (SQLite, attachments as files), served in
//! this process on 127.0.0.1. These check that files go up and come back whole and that every
//! phase is counted, never how fast (no timing asserts).

use nexchat_benches::load::attachments::{self, AttachmentsArgs};
use nexchat_benches::load::{Common, Target};

async fn start_server(dir: &tempfile::TempDir, max_attachment_mib: u64) -> String {
    let mut config =
        nexchat_core::Config::new("a benchmark secret long enough for HS256 keys").expect("long");
    config.bcrypt_cost = 4;
    config.limits.registrations_per_hour = 0;
    config.limits.max_attachment_bytes = max_attachment_mib << 20;
    let store = nexchat_store::SqliteStore::open(dir.path().join("chat.db")).expect("sqlite");
    let blobs = nexchat_store::FileBlobStore::open(dir.path().join("blobs"))
        .await
        .expect("blob directory");
    let chat = nexchat_core::Chat::builder(config, store)
        .blobs(blobs)
        .build()
        .await
        .expect("chat");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(nexchat_axum::serve(
        listener,
        nexchat_axum::router(chat),
        nexchat_axum::ServeConfig::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

fn common(url: String) -> Common {
    Common {
        url,
        target: Target::Nexchat,
        // This process is the server: its memory is what gets sampled.
        server_pid: Some(std::process::id()),
        nodes: Vec::new(),
        node_pids: Vec::new(),
        user_prefix: None,
        password: "load-test-password".to_owned(),
        source_ips: 0,
        setup_concurrency: 4,
        connect_concurrency: 16,
        json_only: true,
    }
}

fn args(rounds: usize, concurrent: usize, chunked: bool) -> AttachmentsArgs {
    AttachmentsArgs {
        size_mib: 1,
        rounds,
        concurrent,
        chunk_kib: 16,
        chunked,
        sample_ms: 5,
        settle: 0.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_goes_up_and_comes_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = start_server(&dir, 25).await;
    let r = attachments::run(&common(url), &args(2, 3, false))
        .await
        .expect("run");
    assert_eq!(r.errors_total, 0, "{:?}", r.errors);
    assert_eq!(r.size_bytes, 1 << 20);
    assert_eq!(r.server_max_bytes, Some(25 << 20));
    assert_eq!((r.uploads.started, r.uploads.rates.count), (2, 2));
    assert_eq!((r.downloads.started, r.downloads.rates.count), (2, 2));
    assert_eq!(r.concurrent_uploads.rates.count, 3);
    assert_eq!(r.concurrent_downloads.rates.count, 3);
    assert_eq!(r.verified, 5);
    assert!(r.concurrent_uploads.server_rss.peak_kib.is_some());
    assert!(r.concurrent_uploads.server_rss.samples > 0);
    // Every upload is a file of its own on the server.
    let files = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
        .count();
    assert_eq!(files, 5);
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["mode"], "attachments");
    assert!(json["concurrent_uploads"]["aggregate_mib_per_sec"].is_number());
    assert!(r.table().contains("uploads at once"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_uploads_are_stored_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = start_server(&dir, 25).await;
    let r = attachments::run(&common(url), &args(1, 2, true))
        .await
        .expect("run");
    assert_eq!(r.errors_total, 0, "{:?}", r.errors);
    assert!(!r.content_length);
    assert_eq!(r.verified, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_servers_limit_is_refused_before_any_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = start_server(&dir, 1).await;
    let mut too_big = args(1, 1, false);
    too_big.size_mib = 2;
    let err = attachments::run(&common(url), &too_big)
        .await
        .expect_err("over the limit");
    assert!(err.contains("--max-attachment-mib"), "{err}");
}
