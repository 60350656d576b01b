//! Several nodes as one chat: nodes sharing one store and linked by a real NATS server, each
//! with its own router and listener. Pushes, presence, typing and session ends cross nodes;
//! a node killed with SIGKILL has its users shown offline on the others; a NATS server
//! restarted under running nodes has them reconnect, and nothing acknowledged is lost.
//!
//! Needs `NEXCHAT_TEST_NATS_URL` (`eval "$(scripts/nats-test-server.sh)"`) and, for the node
//! that is killed, `NEXCHAT_TEST_MONGODB_URI` (`eval "$(scripts/mongo-test-server.sh)"`); the
//! README's test command starts both. Without them the tests fail: none is skipped. Each test
//! uses subjects of its own, so tests share one NATS server; the restart test runs a NATS
//! server of its own (`nats-server` on `PATH`, or `$NATS_SERVER`).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{
    QUIET, TestServer, User, WAIT, Ws, message, new_id, shared_store, test_config, unique,
};
use nexchat_core::{BusConfig, Chat, ManualClock};
use serde_json::json;

/// How often the test nodes beat: quick, so a dead node is noticed within a test's wait.
const HEARTBEAT: Duration = Duration::from_millis(200);
/// Silence after which the test nodes count another node as gone.
const NODE_TIMEOUT: Duration = Duration::from_millis(3000);

fn nats_url() -> String {
    std::env::var("NEXCHAT_TEST_NATS_URL").expect(
        "NEXCHAT_TEST_NATS_URL is not set: start a NATS server with \
         eval \"$(scripts/nats-test-server.sh)\" (scripts/test.sh does)",
    )
}

fn bus(prefix: &str) -> BusConfig {
    bus_at(&nats_url(), prefix)
}

fn bus_at(url: &str, prefix: &str) -> BusConfig {
    let mut bus = BusConfig::new(url);
    bus.subject_prefix = prefix.to_owned();
    bus.heartbeat_interval = HEARTBEAT;
    bus.node_timeout = NODE_TIMEOUT;
    bus
}

/// `n` nodes on one store, linked by the bus under subjects of their own.
async fn cluster(n: usize) -> Vec<TestServer> {
    cluster_on(&nats_url(), n).await
}

/// `n` nodes on one store, linked by the NATS server at `url`.
async fn cluster_on(url: &str, n: usize) -> Vec<TestServer> {
    let mut cluster = Cluster::new(url).await;
    for _ in 0..n {
        cluster.add_node().await;
    }
    cluster.nodes
}

/// Nodes on one store and one bus, added one at a time.
struct Cluster {
    url: String,
    prefix: String,
    store: Arc<dyn nexchat_core::store::Store>,
    /// The store's directory until the first node keeps it.
    store_dir: Option<tempfile::TempDir>,
    clock: ManualClock,
    nodes: Vec<TestServer>,
}

impl Cluster {
    async fn new(url: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = shared_store(&dir).await;
        Self {
            url: url.to_owned(),
            prefix: unique("nexchat_test"),
            store,
            store_dir: Some(dir),
            clock: ManualClock::starting_now(),
            nodes: Vec::new(),
        }
    }

    /// Starts one more node; the new one is the last of `nodes`.
    async fn add_node(&mut self) -> &TestServer {
        let mut config = test_config();
        config.bus = Some(bus_at(&self.url, &self.prefix));
        let chat = Chat::builder_shared(config, Arc::clone(&self.store))
            .clock(self.clock.clone())
            .build()
            .await
            .expect("a node joins the bus");
        let dir = self
            .store_dir
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let node = TestServer::serve(chat, self.clock.clone(), dir, |r| r).await;
        self.nodes.push(node);
        self.nodes.last().expect("just added")
    }
}

/// Opens a socket for `user` on `node` and reads its greeting.
async fn connect(node: &TestServer, user: &User) -> Ws {
    node.connect(user).await.0
}

#[tokio::test]
async fn a_message_and_its_ticks_cross_nodes() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;

    let mut alice_a = connect(a, &alice).await;
    let mut alice_c = connect(c, &alice).await;
    let mut bob_b = connect(b, &bob).await;
    let mut bob_c = connect(c, &bob).await;

    let id = new_id();
    alice_a.send(message(&bob.name, &id)).await;
    let sent = alice_a.recv_until("message_sent").await;
    assert_eq!(sent["id"], id.as_str());
    for ws in [&mut bob_b, &mut bob_c, &mut alice_c] {
        let received = ws.recv_until("receive_message").await;
        assert_eq!(received["id"], id.as_str(), "{received}");
        assert_eq!(received["sender"], alice.name.as_str());
    }

    bob_b
        .send(json!({"type": "message_seen", "to": alice.name, "ids": [id]}))
        .await;
    for ws in [&mut alice_a, &mut alice_c] {
        let seen = ws.recv_until("message_seen").await;
        assert_eq!(seen["from"], bob.name.as_str());
        assert_eq!(seen["ids"], json!([id]));
    }
    let sync = bob_c.recv_until("receipt_sync").await;
    assert_eq!(sync["withUser"], alice.name.as_str(), "{sync}");
    assert_eq!(sync["status"], "seen");
    bob_b.expect_silence().await;
}

#[tokio::test]
async fn presence_is_cluster_wide_with_one_event_per_change_and_typing_crosses() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;

    let mut bob_a = connect(a, &bob).await;
    let mut alice_b = connect(b, &alice).await;
    let online = bob_a.expect("presence").await;
    assert_eq!(online["username"], alice.name.as_str());
    assert_eq!(online["online"], true);

    // A second socket on a third node is no change.
    let alice_c = connect(c, &alice).await;
    bob_a.expect_silence().await;

    // What node A answers about alice: in a greeting, in the user search.
    let (_bob_a2, greeting) = a.connect(&bob).await;
    assert_eq!(greeting[0]["type"], "online_users");
    assert_eq!(greeting[0]["users"], json!([alice.name]));
    let (status, found) = a
        .get(&format!("/users?q={}", alice.name), Some(&bob.token))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["users"][0]["online"], true, "{found}");

    alice_b
        .send(json!({"type": "typing", "to": bob.name, "isTyping": true}))
        .await;
    let typing = bob_a.expect("typing").await;
    assert_eq!(typing["from"], alice.name.as_str());
    assert_eq!(typing["isTyping"], true);

    // One of two sockets closing is no change; the last one is.
    alice_b.close().await;
    let stopped = bob_a.expect("typing").await;
    assert_eq!(stopped["isTyping"], false, "typing ends with its socket");
    bob_a.expect_silence().await;
    alice_c.close().await;
    let offline = bob_a.expect("presence").await;
    assert_eq!(offline["username"], alice.name.as_str());
    assert_eq!(offline["online"], false);
    bob_a.expect_silence().await;
}

#[tokio::test]
async fn a_node_that_starts_later_learns_who_is_online_on_the_others() {
    let mut cluster = Cluster::new(&nats_url()).await;
    let a = cluster.add_node().await;
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;
    let _alice_a = connect(a, &alice).await;

    // Node B meets node A at A's next heartbeat and asks for its list: bob, connected to B,
    // learns alice is online in his greeting or, if B had not heard back yet, right after.
    let b = cluster.add_node().await;
    let (mut bob_b, greeting) = b.connect(&bob).await;
    assert_eq!(greeting[0]["type"], "online_users");
    if greeting[0]["users"] != json!([alice.name]) {
        let online = bob_b.expect("presence").await;
        assert_eq!(online["username"], alice.name.as_str());
        assert_eq!(online["online"], true);
    }
    bob_b.expect_silence().await;
    let (status, found) = b
        .get(&format!("/users?q={}", alice.name), Some(&bob.token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["users"][0]["online"], true, "{found}");
}

#[tokio::test]
async fn friend_events_and_key_changes_cross_nodes() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let mut alice_a = connect(a, &alice).await;
    let mut bob_b = connect(b, &bob).await;

    let (status, body) = a
        .post(
            "/friends/request",
            Some(&alice.token),
            &json!({"receiver": bob.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let request = bob_b.expect("new_friend_request").await;
    assert_eq!(request["from"], alice.name.as_str());

    // Accepted through node A, where bob has no socket: A must know he is online on B.
    let (status, body) = a
        .post(
            "/friends/accept",
            Some(&bob.token),
            &json!({"sender": alice.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let activated = alice_a.recv_until("friendship_activated").await;
    assert_eq!(activated["with"], bob.name.as_str());
    assert_eq!(activated["online"], true, "bob is online on the other node");
    let activated = bob_b.recv_until("friendship_activated").await;
    assert_eq!(activated["with"], alice.name.as_str());
    assert_eq!(activated["online"], true);

    bob_b
        .send(json!({"type": "join", "publicKey": common::jwk("bob, new key")}))
        .await;
    let changed = alice_a.recv_until("key_changed").await;
    assert_eq!(changed["username"], bob.name.as_str());
}

#[tokio::test]
async fn logout_on_one_node_closes_the_sessions_socket_on_another() {
    let nodes = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let alice = a.register("alice").await;
    let mut on_b = connect(b, &alice).await;

    let (status, body) = a.post("/auth/logout", Some(&alice.token), &json!({})).await;
    assert_eq!(status, 204, "{body}");
    // The clock does not move: node B's own re-check of the session never comes due, so only
    // the bus can have closed the socket.
    assert_eq!(on_b.expect_close().await, 4003);
    assert_eq!(b.get("/friends/status", Some(&alice.token)).await.0, 401);
}

/// One `nexchat-server` process on MongoDB and the bus, killed when dropped.
struct NodeProcess {
    child: Child,
    addr: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the example server as a node of the bus `prefix` at `nats`, on the store `store`
/// names (its flags).
async fn start_process(prefix: &str, nats: &str, store: &[&str]) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(store)
        .args(["--nats", nats])
        .args(["--bus-heartbeat-ms", &HEARTBEAT.as_millis().to_string()])
        .args([
            "--bus-node-timeout-ms",
            &NODE_TIMEOUT.as_millis().to_string(),
        ])
        .args(["--bcrypt-cost", "4", "--registrations-per-hour", "0"])
        .env(
            "NEXCHAT_JWT_SECRET",
            "test secret that is long enough for HS256 keys",
        )
        .args(["--bus-prefix", prefix])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nexchat-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("nexchat is serving http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
        }
    });
    let addr = match tokio::time::timeout(common::WAIT, rx).await {
        Ok(Ok(addr)) => addr,
        _ => {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("nexchat-server did not start: {err}");
        }
    };
    NodeProcess { child, addr }
}

#[tokio::test]
async fn a_killed_nodes_users_are_offline_on_the_others_within_the_bound() {
    let uri = std::env::var("NEXCHAT_TEST_MONGODB_URI").expect(
        "NEXCHAT_TEST_MONGODB_URI is not set: start the MongoDB test server with \
         eval \"$(scripts/mongo-test-server.sh)\" (scripts/test.sh does)",
    );
    let prefix = unique("nexchat_test");
    let db = format!("t{}", uuid::Uuid::new_v4().simple());
    let store = nexchat_store::MongoStore::connect(&uri, &db)
        .await
        .expect("MongoDB test server");
    let mut config = test_config();
    config.bus = Some(bus(&prefix));
    let chat = Chat::builder(config, store)
        .build()
        .await
        .expect("node A joins the bus");
    let a = TestServer::serve(
        chat,
        ManualClock::starting_now(),
        tempfile::tempdir().expect("tempdir"),
        |r| r,
    )
    .await;
    let mut doomed = start_process(
        &prefix,
        &nats_url(),
        &["--mongodb", &uri, "--mongodb-database", &db],
    )
    .await;

    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;
    let mut bob_a = connect(&a, &bob).await;
    let url = format!("ws://{}/ws?token={}", doomed.addr, alice.token);
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("a socket on the node to be killed");
    let mut alice_doomed = Ws { stream };
    alice_doomed.recv_until("sync_done").await;
    let online = bob_a.expect("presence").await;
    assert_eq!(online["username"], alice.name.as_str());
    assert_eq!(online["online"], true);

    doomed.child.kill().expect("SIGKILL");
    // `expect` waits at most common::WAIT, 10 s: the protocol's bound.
    let offline = bob_a.expect("presence").await;
    assert_eq!(offline["username"], alice.name.as_str());
    assert_eq!(offline["online"], false);
    let (status, found) = a
        .get(&format!("/users?q={}", alice.name), Some(&bob.token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["users"][0]["online"], false, "{found}");
}

/// A NATS server of one test's own (so that it can be restarted), killed when dropped.
struct NatsProcess {
    child: Child,
    port: u16,
}

impl NatsProcess {
    /// Starts `nats-server` (or `$NATS_SERVER`) on `port` and waits until it listens.
    async fn start(port: u16) -> Self {
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot run {binary} ({err}): install Debian's nats-server")
            });
        let deadline = tokio::time::Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server does not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts another on the same port.
    async fn restart(mut self) -> Self {
        self.child.kill().expect("kill nats-server");
        self.child.wait().expect("nats-server exits");
        let port = self.port;
        drop(self);
        Self::start(port).await
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next `receive_message` on `ws` within [`QUIET`], other events skipped.
async fn received_soon(ws: &mut Ws) -> Option<serde_json::Value> {
    tokio::time::timeout(QUIET, ws.recv_until("receive_message"))
        .await
        .ok()
}

#[tokio::test]
async fn pushes_resume_after_the_nats_server_restarts_and_nothing_acknowledged_is_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let nats = NatsProcess::start(port).await;
    let nodes = cluster_on(&nats.url(), 2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;
    let mut alice_a = connect(a, &alice).await;
    let mut bob_b = connect(b, &bob).await;

    let mut acknowledged = Vec::new();
    let send = async |alice_a: &mut Ws| {
        let id = new_id();
        alice_a.send(message(&bob.name, &id)).await;
        let sent = alice_a.recv_until("message_sent").await;
        assert_eq!(sent["id"], id.as_str());
        id
    };
    let first = send(&mut alice_a).await;
    acknowledged.push(first.clone());
    assert_eq!(
        bob_b.recv_until("receive_message").await["id"],
        first.as_str()
    );

    let nats = nats.restart().await;
    // The nodes reconnect by themselves: messages sent meanwhile are stored and acknowledged,
    // and live pushes come back within the wait.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let id = send(&mut alice_a).await;
        acknowledged.push(id.clone());
        if let Some(received) = received_soon(&mut bob_b).await {
            if received["id"] == id.as_str() {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no live push across nodes after the NATS server restarted"
        );
    }

    // Every acknowledged message is there, in order, for a socket that connects now.
    let (_bob_a, greeting) = a.connect(&bob).await;
    let delivered: Vec<&str> = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message")
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(delivered, acknowledged);
    drop(nats);
}

/// The status of `GET path` on `node`.
async fn status_of(node: &NodeProcess, path: &str) -> u16 {
    reqwest::get(format!("http://{}{path}", node.addr))
        .await
        .expect("GET")
        .status()
        .as_u16()
}

/// Polls `GET path` until it answers `status`; panics after [`WAIT`].
async fn wait_for_status(node: &NodeProcess, path: &str, status: u16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while status_of(node, path).await != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn readyz_says_whether_the_bus_is_connected_and_healthz_that_the_process_serves() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let nats = NatsProcess::start(port).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chat.db");
    let db = db.to_str().expect("a UTF-8 path");
    let node = start_process(&unique("nexchat_test"), &nats.url(), &["--sqlite", db]).await;
    assert_eq!(status_of(&node, "/healthz").await, 204);
    assert_eq!(status_of(&node, "/readyz").await, 204);

    drop(nats);
    wait_for_status(&node, "/readyz", 503).await;
    assert_eq!(
        status_of(&node, "/healthz").await,
        204,
        "the process still serves"
    );

    let _nats = NatsProcess::start(port).await;
    wait_for_status(&node, "/readyz", 204).await;
}
