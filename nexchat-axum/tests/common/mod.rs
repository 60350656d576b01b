//! Test harness: a real nexchat router on 127.0.0.1:0, spoken to with raw JSON over real HTTP
//! and WebSockets.
//!
//! The store is SQLite in a temporary directory, or MongoDB when `NEXCHAT_TEST_STORE=mongodb`
//! and `NEXCHAT_TEST_MONGODB_URI` are set (the README's test command runs the suite both ways).
//!
//! With `NEXCHAT_TEST_NODES=3` as well (and a NATS server at `NEXCHAT_TEST_NATS_URL`), the
//! suites of several users ([`SPREAD_SUITES`]) run each test over three nodes sharing the store
//! and linked by the bus: REST goes to the first node, and each user's sockets to one node,
//! round-robin in the order the users log in. The tests in [`ONE_NODE`] stay on one node.

#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nexchat_core::{Chat, ChatBuilder, Config, ManualClock};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an event that must come.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test listens to be sure an event does not come.
pub const QUIET: Duration = Duration::from_millis(300);

pub struct TestServer {
    pub addr: SocketAddr,
    pub chat: Chat,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    /// Keeps the SQLite directory alive for the server's lifetime.
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    /// The other nodes, when the test runs over several.
    others: Vec<TestServer>,
    /// Which node each user's sockets go to (by name) and each token's user, over several.
    placement: Mutex<Placement>,
}

/// Suites whose tests run over several nodes with `NEXCHAT_TEST_NODES`: the scenarios of
/// several users (messages, ticks, typing, presence, friends, calls).
pub const SPREAD_SUITES: &[&str] = &[
    "messages",
    "friends",
    "calls",
    "several_sockets",
    "conversations",
    "devices",
    "keys",
    "end_reasons",
    "users",
    "groups",
];

/// Tests of those suites that stay on one node, and why.
pub const ONE_NODE: &[(&str, &str)] = &[(
    "ticks_are_stored_before_the_next_request_of_their_socket_is_answered",
    "expects nothing between the receiver's greeting and its next answer, but across nodes a \
     push of a message sent just before the receiver connected may still be crossing the bus \
     and arrive after the greeting too (at-least-once, as docs/protocol.md says)",
)];

#[derive(Debug, Default)]
struct Placement {
    nodes: HashMap<String, usize>,
    tokens: HashMap<String, usize>,
}

/// How many nodes this test runs over.
fn nodes_for_this_test() -> usize {
    let Ok(nodes) = std::env::var("NEXCHAT_TEST_NODES") else {
        return 1;
    };
    let nodes: usize = nodes.parse().expect("NEXCHAT_TEST_NODES is a number");
    let suite = env!("CARGO_CRATE_NAME");
    let thread = std::thread::current();
    let test = thread.name().unwrap_or_default();
    let one_node = ONE_NODE.iter().any(|(name, _)| test.ends_with(name));
    if SPREAD_SUITES.contains(&suite) && !one_node {
        nodes.max(1)
    } else {
        1
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A config for tests: cheap bcrypt, no limit on registrations (every test registers its users
/// from 127.0.0.1), calls not rate-limited (suites place many), everything else at the
/// protocol's defaults.
pub fn test_config() -> Config {
    let mut config =
        Config::new("test secret that is long enough for HS256 keys").expect("long enough");
    config.bcrypt_cost = 4;
    config.limits.registrations_per_hour = 0;
    config.limits.call_offer_burst = 10_000;
    config
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub token: String,
    pub public_key: Value,
}

pub fn jwk(seed: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": format!("x-{seed}"), "y": format!("y-{seed}")})
}

/// A fresh message id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A `send_message` frame to `receiver` with the client-chosen `id`.
pub fn message(receiver: &str, id: &str) -> Value {
    json!({"type": "send_message", "receiver": receiver, "ciphertext": "AAAA",
           "iv": "AAAAAAAAAAAAAAAA", "id": id})
}

/// Polls `condition` until it holds, for state the server changes after a socket event with no
/// event of its own to wait on (a socket leaving the hub). Panics after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A fresh username no other test uses (tests may share a MongoDB server).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..8])
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Self {
        let clock = ManualClock::starting_now();
        Self::start_with_clock(config, clock).await
    }

    pub async fn start_with_clock(config: Config, clock: ManualClock) -> Self {
        let nodes = nodes_for_this_test();
        if nodes > 1 {
            return Self::start_nodes(config, clock, nodes).await;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let chat = build_chat(config, clock.clone(), &dir).await;
        Self::serve(chat, clock, dir, |router| router).await
    }

    /// Starts `n` nodes on one store, linked by the NATS server at `NEXCHAT_TEST_NATS_URL` under
    /// subjects of their own: the first is this server, the others serve the users placed on
    /// them.
    async fn start_nodes(config: Config, clock: ManualClock, n: usize) -> Self {
        let url = std::env::var("NEXCHAT_TEST_NATS_URL")
            .expect("NEXCHAT_TEST_NODES needs a NATS server at NEXCHAT_TEST_NATS_URL");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = shared_store(&dir).await;
        let mut bus = nexchat_core::BusConfig::new(url);
        bus.subject_prefix = unique("nexchat_suite");
        let blobs = blob_store(&dir).await;
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            let mut config = config.clone();
            config.bus = Some(bus.clone());
            let chat = Chat::builder_shared(config, Arc::clone(&store))
                .clock(clock.clone())
                .blobs(Arc::clone(&blobs))
                .build()
                .await
                .expect("a node joins the bus");
            let dir = tempfile::tempdir().expect("tempdir");
            nodes.push(Self::serve(chat, clock.clone(), dir, |router| router).await);
        }
        let mut first = nodes.remove(0);
        first.others = nodes;
        first
    }

    /// Every node of this test (one, unless it runs over several).
    pub fn nodes(&self) -> impl Iterator<Item = &TestServer> {
        std::iter::once(self).chain(&self.others)
    }

    /// Where the sockets of the user whose token is in `path_and_query` go.
    fn node_for(&self, path_and_query: &str) -> SocketAddr {
        let token = path_and_query
            .split(['?', '&'])
            .find_map(|pair| pair.strip_prefix("token="));
        let placement = self.placement.lock().expect("placement");
        match token.and_then(|t| placement.tokens.get(t)) {
            Some(&i) if i > 0 => self.others[i - 1].addr,
            _ => self.addr,
        }
    }

    /// Notes which node `name`'s sockets go to (the next, round-robin, for a user not seen
    /// before), and that `token` is theirs.
    fn place(&self, name: &str, token: &str) {
        if self.others.is_empty() {
            return;
        }
        let mut placement = self.placement.lock().expect("placement");
        let count = placement.nodes.len();
        let node = *placement
            .nodes
            .entry(name.to_lowercase())
            .or_insert(count % (self.others.len() + 1));
        placement.tokens.insert(token.to_owned(), node);
    }

    /// Starts a chat built through `customize` (e.g. with a custom identity), its router passed
    /// through `wrap`, on the test store.
    pub async fn start_custom(
        customize: impl FnOnce(ChatBuilder) -> ChatBuilder,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::starting_now();
        let chat = build_chat_with(test_config(), clock.clone(), &dir, customize).await;
        Self::serve(chat, clock, dir, wrap).await
    }

    /// Serves `chat` with the router passed through `wrap` (to mount it inside another app).
    pub async fn serve(
        chat: Chat,
        clock: ManualClock,
        dir: tempfile::TempDir,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> Self {
        let http = nexchat_axum::ServeConfig::default();
        Self::serve_with(
            chat,
            clock,
            dir,
            |chat| wrap(nexchat_axum::router(chat)),
            http,
        )
        .await
    }

    /// Starts a chat built through `customize` on the test store, served inside the whole app
    /// `app` makes of it (an app that mounts nexchat's router itself).
    pub async fn start_app(
        customize: impl FnOnce(ChatBuilder) -> ChatBuilder,
        app: impl FnOnce(Chat) -> axum::Router,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::starting_now();
        let chat = build_chat_with(test_config(), clock.clone(), &dir, customize).await;
        let http = nexchat_axum::ServeConfig::default();
        Self::serve_with(chat, clock, dir, app, http).await
    }

    /// Starts a server the documented way (`nexchat_axum::serve`) with these HTTP settings.
    pub async fn start_with_http(config: Config, http: nexchat_axum::ServeConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::starting_now();
        let chat = build_chat(config, clock.clone(), &dir).await;
        Self::serve_with(chat, clock, dir, nexchat_axum::router, http).await
    }

    async fn serve_with(
        chat: Chat,
        clock: ManualClock,
        dir: tempfile::TempDir,
        app: impl FnOnce(Chat) -> axum::Router,
        http: nexchat_axum::ServeConfig,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = app(chat.clone());
        let server = tokio::spawn(async move {
            // Served the documented way: the client's address is known to the throttles.
            nexchat_axum::serve(listener, app, http, std::future::pending())
                .await
                .expect("serve");
        });
        Self {
            addr,
            chat,
            clock,
            http: reqwest::Client::new(),
            dir,
            server,
            others: Vec::new(),
            placement: Mutex::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST with a JSON body and optional token; returns status and JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET with optional token; returns status and JSON body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn register(&self, prefix: &str) -> User {
        let name = unique(prefix);
        self.register_named(&name).await
    }

    pub async fn register_named(&self, name: &str) -> User {
        let public_key = jwk(name);
        let (status, body) = self
            .post(
                "/auth/register",
                None,
                &json!({"username": name, "password": "correct horse", "publicKey": public_key,
                        "encryptedPrivateKey": {"v": 1, "salt": "c2FsdA==", "ciphertext": "AA=="}}),
            )
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        self.login(name, "correct horse").await
    }

    pub async fn login(&self, name: &str, password: &str) -> User {
        let (status, body) = self
            .post(
                "/auth/login",
                None,
                &json!({"username": name, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {name}: {body}");
        let user = User {
            name: body["username"].as_str().expect("username").to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
            public_key: body["publicKey"].clone(),
        };
        self.place(&user.name, &user.token);
        user
    }

    /// Makes `a` and `b` friends over REST.
    pub async fn befriend(&self, a: &User, b: &User) {
        let (status, body) = self
            .post(
                "/friends/request",
                Some(&a.token),
                &json!({"receiver": b.name}),
            )
            .await;
        assert_eq!(status, 200, "request: {body}");
        let (status, body) = self
            .post(
                "/friends/accept",
                Some(&b.token),
                &json!({"sender": a.name}),
            )
            .await;
        assert_eq!(status, 200, "accept: {body}");
    }

    /// Opens a WebSocket for `user` and consumes the greeting up to `sync_done`, returning the
    /// socket and the greeting's events.
    pub async fn connect(&self, user: &User) -> (Ws, Vec<Value>) {
        let mut ws = self.ws(user).await;
        let mut greeting = Vec::new();
        loop {
            let event = ws.recv().await;
            let done = event["type"] == "sync_done";
            greeting.push(event);
            if done {
                break;
            }
        }
        // Over several nodes, every node knows the user is online before the test goes on,
        // as a single node does once the greeting is read.
        if !self.others.is_empty() {
            wait_until("the user online on every node", || {
                self.nodes().all(|node| node.chat.is_online(&user.name))
            })
            .await;
        }
        (ws, greeting)
    }

    /// Any request with an optional token and raw `(content type, body)`: status, the
    /// `Retry-After` header and the JSON body.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> (u16, Option<String>, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii header").to_owned());
        (
            status,
            retry_after,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Opens a WebSocket for `user` without reading anything.
    pub async fn ws(&self, user: &User) -> Ws {
        self.ws_with_token(&user.token)
            .await
            .expect("websocket upgrade")
    }

    /// Tries to open a WebSocket; `Err(status)` when the upgrade is refused.
    pub async fn ws_with_token(&self, token: &str) -> Result<Ws, u16> {
        self.ws_at("/ws", token).await
    }

    /// Tries to open a WebSocket at `path` (e.g. `/chat/ws` when nested); `Err(status)` when
    /// the upgrade is refused.
    pub async fn ws_at(&self, path: &str, token: &str) -> Result<Ws, u16> {
        self.ws_query(&format!("{path}?token={token}"), &[]).await
    }

    /// Tries to open a WebSocket at `path_and_query` with extra request headers (`Origin`,
    /// ...); `Err(status)` when the upgrade is refused.
    pub async fn ws_query(
        &self,
        path_and_query: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let addr = self.node_for(path_and_query);
        self.settle_bus_at(addr).await;
        let url = format!("ws://{addr}{path_and_query}");
        let mut request = url.into_client_request().expect("websocket request");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Ws { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(err) => panic!("websocket connect failed: {err}"),
        }
    }

    /// Over several nodes: waits until the node at `addr` has handled every bus message the
    /// other nodes had sent, so that a socket opened there next gets no push of something that
    /// happened before it (its greeting holds that already), as on one node.
    async fn settle_bus_at(&self, addr: SocketAddr) {
        if self.others.is_empty() {
            return;
        }
        let Some(target) = self.nodes().find(|node| node.addr == addr) else {
            return;
        };
        let counts = |node: &TestServer| node.chat.transport().bus_counts().expect("a bus");
        let sent: Vec<(String, u64)> = self
            .nodes()
            .filter(|node| node.addr != addr)
            .map(|node| (node.chat.node_id().to_owned(), counts(node).published))
            .collect();
        wait_until("the node to handle what the others sent", || {
            let received = counts(target).received;
            sent.iter()
                .all(|(node, n)| received.get(node).copied().unwrap_or(0) >= *n)
        })
        .await;
    }

    /// An HTTP client whose requests come from `local` (any 127.x.y.z address works on
    /// loopback), for tests of per-address limits.
    pub fn client_from(&self, local: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(local.parse::<std::net::IpAddr>().expect("address"))
            .build()
            .expect("HTTP client")
    }

    /// Logs in through `client`: the status and JSON body.
    pub async fn login_via(
        &self,
        client: &reqwest::Client,
        name: &str,
        password: &str,
    ) -> (u16, Value) {
        let response = client
            .post(self.url("/auth/login"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .expect("POST /auth/login");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// DELETE with a token; returns status and JSON body.
    pub async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn build_chat(config: Config, clock: ManualClock, dir: &tempfile::TempDir) -> Chat {
    build_chat_with(config, clock, dir, |builder| builder).await
}

/// The chat on the test store (MongoDB at `NEXCHAT_TEST_MONGODB_URI` when `NEXCHAT_TEST_STORE` is
/// `mongodb`, else SQLite in `dir`), on `clock`, with `customize` applied to its builder.
pub async fn build_chat_with(
    config: Config,
    clock: ManualClock,
    dir: &tempfile::TempDir,
    customize: impl FnOnce(ChatBuilder) -> ChatBuilder,
) -> Chat {
    if std::env::var("NEXCHAT_TEST_STORE").as_deref() == Ok("mongodb") {
        let uri = std::env::var("NEXCHAT_TEST_MONGODB_URI")
            .expect("NEXCHAT_TEST_STORE=mongodb needs NEXCHAT_TEST_MONGODB_URI");
        let db = format!("t{}", uuid::Uuid::new_v4().simple());
        let store = nexchat_store::MongoStore::connect(&uri, &db)
            .await
            .expect("connect to the MongoDB test server");
        let builder = Chat::builder(config, store)
            .clock(clock)
            .blobs(blob_store(dir).await);
        return customize(builder).build().await.expect("chat");
    }
    sqlite_chat_with(config, clock, dir, customize).await
}

/// The test store (MongoDB when `NEXCHAT_TEST_MONGODB_URI` is set, else SQLite in `dir`), to
/// share between several chats as between nodes.
pub async fn shared_store(
    dir: &tempfile::TempDir,
) -> std::sync::Arc<dyn nexchat_core::store::Store> {
    if let Ok(uri) = std::env::var("NEXCHAT_TEST_MONGODB_URI") {
        let db = format!("t{}", uuid::Uuid::new_v4().simple());
        let store = nexchat_store::MongoStore::connect(&uri, &db)
            .await
            .expect("connect to the MongoDB test server");
        return std::sync::Arc::new(store);
    }
    let store = nexchat_store::SqliteStore::open(dir.path().join("chat.db")).expect("sqlite");
    std::sync::Arc::new(store)
}

/// Where a test chat keeps attachments: a database of its own on the MongoDB test server when
/// `NEXCHAT_TEST_STORE` is `mongodb`, else files in `blobs/` of the test's directory.
pub async fn blob_store(dir: &tempfile::TempDir) -> Arc<dyn nexchat_core::blobs::BlobStore> {
    if std::env::var("NEXCHAT_TEST_STORE").as_deref() == Ok("mongodb") {
        let uri = std::env::var("NEXCHAT_TEST_MONGODB_URI")
            .expect("NEXCHAT_TEST_STORE=mongodb needs NEXCHAT_TEST_MONGODB_URI");
        let db = format!("t{}", uuid::Uuid::new_v4().simple());
        let blobs = nexchat_store::GridFsBlobStore::connect(&uri, &db)
            .await
            .expect("connect to the MongoDB test server");
        return Arc::new(blobs);
    }
    let blobs = nexchat_store::FileBlobStore::open(dir.path().join("blobs"))
        .await
        .expect("a blob directory");
    Arc::new(blobs)
}

pub async fn sqlite_chat(config: Config, clock: ManualClock, dir: &tempfile::TempDir) -> Chat {
    sqlite_chat_with(config, clock, dir, |builder| builder).await
}

async fn sqlite_chat_with(
    config: Config,
    clock: ManualClock,
    dir: &tempfile::TempDir,
    customize: impl FnOnce(ChatBuilder) -> ChatBuilder,
) -> Chat {
    let store = nexchat_store::SqliteStore::open(dir.path().join("chat.db")).expect("sqlite");
    let builder = Chat::builder(config, store)
        .clock(clock)
        .blobs(blob_store(dir).await);
    customize(builder).build().await.expect("chat")
}

/// The published JSON Schemas of the socket events (`docs/schema/`), compiled once: every frame
/// a [`Ws`] sends or receives is checked against its direction's schema.
pub mod contract {
    use std::sync::LazyLock;

    use jsonschema::Validator;
    use serde_json::Value;

    static CLIENT: LazyLock<Validator> =
        LazyLock::new(|| compile(include_str!("../../../docs/schema/client-events.json")));
    static SERVER: LazyLock<Validator> =
        LazyLock::new(|| compile(include_str!("../../../docs/schema/server-events.json")));

    fn compile(text: &str) -> Validator {
        let schema: Value = serde_json::from_str(text).expect("the published schema is JSON");
        jsonschema::validator_for(&schema).expect("the published schema is a JSON Schema")
    }

    fn check(validator: &Validator, direction: &str, text: &str) {
        let frame: Value = serde_json::from_str(text)
            .unwrap_or_else(|err| panic!("{direction} frame is not JSON ({err}): {text}"));
        if let Err(err) = validator.validate(&frame) {
            panic!(
                "{direction} frame does not match docs/schema at {}: {err}\nframe: {text}",
                err.instance_path()
            );
        }
    }

    /// Panics unless `text` is a client event as `docs/schema/client-events.json` describes.
    pub fn client_frame(text: &str) {
        check(&CLIENT, "client", text);
    }

    /// Panics unless `text` is a server event as `docs/schema/server-events.json` describes.
    pub fn server_frame(text: &str) {
        check(&SERVER, "server", text);
    }
}

/// A client WebSocket speaking raw JSON. Every text frame it sends (but those of
/// [`Ws::send_raw`]) and every text frame it receives must match the published schema of its
/// direction, or the test fails with the frame and the reason.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Sends a client event, which must match the client schema.
    pub async fn send(&mut self, event: Value) {
        self.send_text(event.to_string()).await;
    }

    /// Sends a text frame, which must be a client event as the client schema describes.
    pub async fn send_text(&mut self, text: String) {
        contract::client_frame(&text);
        self.send_raw(text).await;
    }

    /// Sends a text frame unchecked: for tests of what the server does with a frame that
    /// breaks the protocol on purpose.
    pub async fn send_raw(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next JSON event; panics after [`WAIT`] or when the socket closes.
    pub async fn recv(&mut self) -> Value {
        match self.next_message(WAIT).await {
            Some(Message::Text(text)) => serde_json::from_str(&text).expect("server sent JSON"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next event, which must be of `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let event = self.recv().await;
        assert_eq!(event["type"], kind, "expected {kind}, got {event}");
        event
    }

    /// The next `error` event, which must carry `code`.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let event = self.expect("error").await;
        assert_eq!(event["code"], code, "unexpected error: {event}");
        event
    }

    /// Skips events until one of `kind` arrives.
    pub async fn recv_until(&mut self, kind: &str) -> Value {
        loop {
            let event = self.recv().await;
            if event["type"] == kind {
                return event;
            }
        }
    }

    /// The next event within `wait`, if one comes.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Value> {
        match self.next_message(wait).await? {
            Message::Text(text) => Some(serde_json::from_str(&text).expect("a JSON event")),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Asserts nothing arrives for [`QUIET`].
    pub async fn expect_silence(&mut self) {
        if let Some(message) = self.next_message(QUIET).await {
            panic!("expected silence, got {message:?}");
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn expect_close(&mut self) -> u16 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame.map_or(1005, |f| u16::from(f.code));
                }
                Ok(Some(Ok(Message::Text(text)))) => contract::server_frame(&text),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(err))) => panic!("socket failed before a close frame: {err}"),
                Ok(None) => panic!("socket ended without a close frame"),
                Err(_) => panic!("no close within {WAIT:?}"),
            }
        }
    }

    /// The next data or close frame within `wait` (pings do not restart the wait).
    async fn next_message(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("socket closed"),
                Ok(Some(Err(err))) => panic!("socket error: {err}"),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(Some(Ok(message))) => {
                    if let Message::Text(text) = &message {
                        contract::server_frame(text);
                    }
                    return Some(message);
                }
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
