//! A real nexchat server for the SDK's tests (the `nexchat-axum` router on SQLite and files,
//! served over TCP on loopback), and a TCP proxy that can hold or cut what crosses it.
#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nexchat_client::{Client, Event, Events};
use nexchat_core::{Chat, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a test waits for an event before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    pub chat: Chat,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestServer {
    /// The server on a fresh SQLite file and blob directory, with cheap bcrypt and no limit on
    /// registrations (every test registers from 127.0.0.1).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config =
            Config::new("test secret that is long enough for HS256 keys").expect("long enough");
        config.bcrypt_cost = 4;
        config.limits.registrations_per_hour = 0;
        // Some tests send a backlog of more messages than a socket's event buffer holds.
        config.limits.message_burst = 5_000;
        let store = nexchat_store::SqliteStore::open(dir.path().join("chat.db")).expect("sqlite");
        let blobs = nexchat_store::FileBlobStore::open(dir.path().join("blobs"))
            .await
            .expect("blob directory");
        let chat = Chat::builder(config, store)
            .blobs(Arc::new(blobs))
            .build()
            .await
            .expect("chat");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = nexchat_axum::router(chat.clone());
        let server = tokio::spawn(async move {
            nexchat_axum::serve(listener, app, Default::default(), std::future::pending())
                .await
                .expect("serve");
        });
        Self {
            addr,
            chat,
            _dir: dir,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A fresh username no other test uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..8])
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Registers a new user at `url` (which may be a proxy's).
pub async fn register(url: &str, prefix: &str) -> Client {
    Client::register(url, &unique(prefix), PASSWORD)
        .await
        .expect("register")
}

/// Makes `a` and `b` friends through the REST routes.
pub async fn befriend(a: &Client, b: &Client) {
    a.request_friend(b.username()).await.expect("request");
    b.accept_friend(a.username()).await.expect("accept");
}

/// The next event that `pick` takes, skipping others; panics after [`WAIT`].
pub async fn next_matching<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("the events ended while waiting for {what}"));
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

/// Waits for the greeting to end.
pub async fn connected(events: &mut Events) -> Vec<String> {
    next_matching(events, "connected", |e| match e {
        Event::Connected { online } => Some(online.clone()),
        _ => None,
    })
    .await
}

/// A TCP proxy in front of a server. Each direction can be held (bytes are read and kept back,
/// not forwarded), and every connection through it can be cut at once, dropping what was held.
pub struct Proxy {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    down: watch::Sender<bool>,
    held_up: Arc<AtomicUsize>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (up, _) = watch::channel(false);
        let (down, _) = watch::channel(false);
        let (cut, _) = watch::channel(0u64);
        let held_up = Arc::new(AtomicUsize::new(0));
        let (up_rx, down_rx, cut_rx) = (up.subscribe(), down.subscribe(), cut.subscribe());
        let counter = Arc::clone(&held_up);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let mut cut_rx = cut_rx.clone();
                let generation = *cut_rx.borrow_and_update();
                let up_pump = pump(
                    client_read,
                    server_write,
                    up_rx.clone(),
                    Some(Arc::clone(&counter)),
                );
                let down_pump = pump(server_read, client_write, down_rx.clone(), None);
                connections.spawn(async move {
                    // The cut is looked at first on every poll: bytes held when it came are
                    // dropped even though the holds are released right after it.
                    tokio::select! {
                        biased;
                        _ = cut_rx.wait_for(|g| *g != generation) => {}
                        _ = async { tokio::join!(up_pump, down_pump) } => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            down,
            held_up,
            cut,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds (or releases) what the client sends.
    pub fn hold_up(&self, hold: bool) {
        self.held_up.store(0, Ordering::SeqCst);
        self.up.send_replace(hold);
    }

    /// Holds (or releases) what the server sends.
    pub fn hold_down(&self, hold: bool) {
        self.down.send_replace(hold);
    }

    /// Bytes from the client read and held since [`Proxy::hold_up`].
    pub fn held_up_bytes(&self) -> usize {
        self.held_up.load(Ordering::SeqCst)
    }

    /// Cuts every connection open now (what was held is dropped) and stops holding.
    pub fn cut(&self) {
        self.cut.send_modify(|g| *g += 1);
        self.up.send_replace(false);
        self.down.send_replace(false);
    }
}

/// Copies `from` to `to`; while `hold` is true, what is read is kept back (and counted).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut hold: watch::Receiver<bool>,
    held: Option<Arc<AtomicUsize>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if *hold.borrow_and_update() {
            if let Some(held) = &held {
                held.fetch_add(n, Ordering::SeqCst);
            }
            if hold.wait_for(|h| !*h).await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
