//! What the benchmark groups share: a runtime, a store on a temporary file, users, messages.

use futures::FutureExt as _;
use nexchat_core::protocol::{MessageStatus, StoredMessage};
use nexchat_core::store::{FriendStore, LinkStatus, UserRecord, UserStore};
use nexchat_core::transport::{Caller, Outbound, Session, SessionOutbox, Transport};
use nexchat_core::{Chat, Config, Principal};
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
        password_hash: Some(
            "$2b$04$benchbenchbenchbenchbenchbenchbenchbenchbenchbenchbe".to_owned(),
        ),
        public_key: Some(r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#.to_owned()),
        encrypted_private_key: Some("{}".to_owned()),
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

/// A chat over a store, driven through its transport as a socket adapter drives it, with
/// limits that let a benchmark open many sockets and relay without being rate limited.
pub struct Sockets {
    pub transport: Transport,
}

impl Sockets {
    /// Builds the chat; `tune` adjusts the configuration first.
    pub async fn start(store: SqliteStore, tune: impl FnOnce(&mut Config)) -> Self {
        let mut config =
            Config::new("a benchmark secret that is at least 32 bytes long").expect("long enough");
        config.limits.sockets_per_user = 1024;
        config.limits.typing_per_sec = u32::MAX;
        tune(&mut config);
        let chat = Chat::builder(config, store).build().await.expect("chat");
        Self {
            transport: chat.transport(),
        }
    }

    /// A greeted socket of `user`, its greeting already taken.
    pub async fn open(&self, user: &str) -> (Session, SessionOutbox) {
        let caller = Caller::from(Principal::new(user));
        let (session, mut outbox) = self.transport.connect(&caller).await.expect("connect");
        self.transport.greet(&session).await.expect("greet");
        Self::drain(&mut outbox);
        (session, outbox)
    }

    /// Takes every frame that is queued, without waiting; how many there were.
    pub fn drain(outbox: &mut SessionOutbox) -> usize {
        let mut taken = 0;
        while let Some(Some(Outbound::Frame(frame))) = outbox.next().now_or_never() {
            std::hint::black_box(frame);
            taken += 1;
        }
        taken
    }
}
