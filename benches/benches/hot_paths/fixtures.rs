//! What the benchmark groups share: a runtime, a store on a temporary file, users, messages.

use nexchat_core::protocol::{MessageStatus, StoredMessage};
use nexchat_core::store::{FriendStore, LinkStatus, UserRecord, UserStore};
use nexchat_store::SqliteStore;
use tempfile::TempDir;

/// A multi-thread runtime like the server's (two workers: this machine's cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A store on a new file in a directory that lives as long as the returned guard.
pub fn store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("an SQLite store");
    (store, dir)
}

/// A user record with a small fake key.
pub fn user(name: &str) -> UserRecord {
    UserRecord {
        username: name.to_owned(),
        password_hash: "$2b$04$benchbenchbenchbenchbenchbenchbenchbenchbenchbenchbe".to_owned(),
        public_key: r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#.to_owned(),
        encrypted_private_key: "{}".to_owned(),
        created_at: 1_700_000_000_000,
        kdf: None,
    }
}

/// Creates `a` and `b` and makes them friends.
pub async fn befriend(store: &SqliteStore, a: &str, b: &str) {
    for name in [a, b] {
        store.create_user(&user(name)).await.expect("create user");
    }
    assert!(store.create_request(a, b).await.expect("request"));
    let accepted = store
        .transition_link(a, b, LinkStatus::Pending, LinkStatus::Accepted)
        .await;
    assert!(accepted.expect("accept"));
}

/// Standard base64 of `n` pseudo-random bytes (the shape of a real ciphertext).
pub fn base64_of(n: usize) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A message as the chat stores it, with a 256-byte ciphertext.
pub fn message(id: String, sender: &str, receiver: &str) -> StoredMessage {
    StoredMessage {
        id,
        sender: sender.to_owned(),
        receiver: receiver.to_owned(),
        ciphertext: base64_of(256),
        iv: base64_of(12),
        timestamp: 1_700_000_000_000,
        status: MessageStatus::Sent,
    }
}
