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

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
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
    // A `presence` crossing while the greeting was made may come on top of it (at least once,
    // docs/protocol.md "Several nodes as one chat"): a repeat of alice online, nothing else.
    while let Some(event) = bob_b.next_event(QUIET).await {
        assert_eq!(
            (
                event["type"].as_str(),
                event["username"].as_str(),
                event["online"].as_bool()
            ),
            (Some("presence"), Some(alice.name.as_str()), Some(true)),
            "only a repeat of alice's presence: {event}"
        );
    }
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

/// A socket ticket of `user`'s session, from `node`.
async fn ticket(node: &TestServer, user: &User) -> String {
    let (status, body) = node
        .post("/auth/ws-ticket", Some(&user.token), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["ticket"].as_str().expect("ticket").to_owned()
}

#[tokio::test]
async fn a_ticket_from_one_node_opens_a_socket_on_another_once() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;
    let mut bob_c = connect(c, &bob).await;

    // Issued by A, used on B: the socket is alice's, and it works across the bus.
    let issued = ticket(a, &alice).await;
    let mut alice_b = b
        .ws_query(&format!("/ws?ticket={issued}"), &[])
        .await
        .expect("the upgrade on B with A's ticket");
    alice_b.recv_until("sync_done").await;
    let online = bob_c.recv_until("presence").await;
    assert_eq!(online["username"], alice.name.as_str());
    let id = new_id();
    alice_b.send(message(&bob.name, &id)).await;
    assert_eq!(alice_b.recv_until("message_sent").await["id"], id.as_str());
    assert_eq!(bob_c.recv_until("receive_message").await["id"], id.as_str());
    // Used up: neither another node nor the issuer takes it again.
    for node in [c, a, b] {
        let again = node.ws_query(&format!("/ws?ticket={issued}"), &[]).await;
        assert_eq!(again.err(), Some(401), "a used ticket on another try");
    }
    // A ticket used first on its issuer is used up for the others too.
    let issued = ticket(a, &alice).await;
    assert!(
        a.ws_query(&format!("/ws?ticket={issued}"), &[])
            .await
            .is_ok()
    );
    let elsewhere = c.ws_query(&format!("/ws?ticket={issued}"), &[]).await;
    assert_eq!(elsewhere.err(), Some(401));
    // A ticket naming no node of the chat, or not naming a node at all, opens nothing.
    let foreign = format!("{}.{}", "0".repeat(32), "1".repeat(64));
    let bare = "1".repeat(64);
    for forged in [foreign, bare, format!("{}.x", "*".repeat(32))] {
        let refused = b.ws_query(&format!("/ws?ticket={forged}"), &[]).await;
        assert_eq!(refused.err(), Some(401), "{forged}");
    }
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
async fn a_node_killed_mid_conversation_loses_no_acknowledged_message_and_its_users_go_offline() {
    let (a, mut doomed) = node_and_node_to_kill().await;

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

    // Mid-conversation: alice sends twenty messages and the node dies with some of them in
    // flight, after acknowledging the first five.
    let ids: Vec<String> = (0..20).map(|_| new_id()).collect();
    for id in &ids {
        alice_doomed.send(message(&bob.name, id)).await;
    }
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        let sent = alice_doomed.recv_until("message_sent").await;
        acknowledged.push(sent["id"].as_str().expect("id").to_owned());
    }
    doomed.child.kill().expect("SIGKILL");
    // `recv` waits at most common::WAIT, 10 s: the protocol's bound.
    let offline = loop {
        let event = bob_a.recv().await;
        if event["type"] == "presence" {
            break event;
        }
    };
    assert_eq!(offline["username"], alice.name.as_str());
    assert_eq!(offline["online"], false);
    let (status, found) = a
        .get(&format!("/users?q={}", alice.name), Some(&bob.token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["users"][0]["online"], false, "{found}");
    // Both come back on the surviving node: every acknowledged message is there, in order.
    let _alice_a = connect(&a, &alice).await;
    let (_, greeting) = a.connect(&bob).await;
    let delivered: Vec<&str> = greeting
        .iter()
        .filter(|event| event["type"] == "receive_message")
        .filter_map(|event| event["id"].as_str())
        .collect();
    let kept: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| delivered.contains(id))
        .collect();
    assert_eq!(
        kept, delivered,
        "the stored messages come in the order sent"
    );
    for id in &acknowledged {
        assert!(delivered.contains(&id.as_str()), "acknowledged {id} lost");
    }
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

fn sdp(kind: &str) -> serde_json::Value {
    json!({"type": kind, "sdp": format!("v=0 {kind}")})
}

/// Reads `ws` until it is told that `user` came online. The node of `ws` has then counted
/// `user`'s sockets on the other nodes (it updates its roster before it tells its sockets), so
/// a call to `user` rings there instead of being refused `offline`.
async fn until_online(ws: &mut Ws, user: &User) {
    loop {
        let presence = ws.recv_until("presence").await;
        if presence["username"] == user.name.as_str() && presence["online"] == true {
            return;
        }
    }
}

/// Places a call from `from` to `to` and returns its id (from `call_started`).
async fn place_call(from: &mut Ws, to: &User) -> String {
    from.send(
        json!({"type": "call_offer", "to": to.name, "offer": sdp("offer"), "withVideo": true}),
    )
    .await;
    let started = from.recv_until("call_started").await;
    started["callId"].as_str().expect("callId").to_owned()
}

/// The next `call_logged` of call `id` on `ws`.
async fn logged(ws: &mut Ws, id: &str) -> serde_json::Value {
    let logged = ws.recv_until("call_logged").await;
    assert_eq!(logged["call"]["callId"], id, "{logged}");
    logged["call"].clone()
}

#[tokio::test]
async fn a_call_across_nodes_rings_answers_relays_ice_and_ends() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.befriend(&alice, &bob).await;
    let mut alice_a = connect(a, &alice).await;
    let mut bob_b = connect(b, &bob).await;
    let mut bob_c = connect(c, &bob).await;
    until_online(&mut alice_a, &bob).await;

    let id = place_call(&mut alice_a, &bob).await;
    for ws in [&mut bob_b, &mut bob_c] {
        let offer = ws.recv_until("call_offer").await;
        assert_eq!(offer["callId"], id.as_str());
        assert_eq!(offer["from"], alice.name.as_str());
        assert_eq!(offer["offer"], sdp("offer"));
    }

    // Answered on node B, which does not relay the call: node A, which does, gets it.
    bob_b
        .send(
            json!({"type": "call_answer", "to": alice.name, "answer": sdp("answer"), "callId": id}),
        )
        .await;
    let answer = alice_a.recv_until("call_answer").await;
    assert_eq!(answer["callId"], id.as_str());
    assert_eq!(answer["answer"], sdp("answer"));
    let elsewhere = bob_c.recv_until("call_answered_elsewhere").await;
    assert_eq!(elsewhere["callId"], id.as_str());

    // ICE both ways; bob's socket on node C is out of the call now, though its node asks A.
    bob_b
        .send(json!({"type": "call_ice", "to": alice.name, "candidate": {"n": 1}, "callId": id}))
        .await;
    let ice = alice_a.recv_until("call_ice").await;
    assert_eq!(ice["candidate"], json!({"n": 1}));
    alice_a
        .send(json!({"type": "call_ice", "to": bob.name, "candidate": {"n": 2}, "callId": id}))
        .await;
    assert_eq!(
        bob_b.recv_until("call_ice").await["candidate"],
        json!({"n": 2})
    );
    bob_c
        .send(json!({"type": "call_ended", "to": alice.name, "callId": id}))
        .await;
    let refused = bob_c.recv_until("error").await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    assert_eq!(refused["ref"], id.as_str());

    // The clock moves 7 s; bob hangs up on node B.
    a.clock.advance(Duration::from_secs(7));
    bob_b
        .send(json!({"type": "call_ended", "to": alice.name, "callId": id}))
        .await;
    let ended = alice_a.recv_until("call_ended").await;
    assert_eq!(ended["from"], bob.name.as_str());
    let call = logged(&mut alice_a, &id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["endReason"], "hangup");
    assert_eq!(call["duration"], 7);
    assert_eq!(logged(&mut bob_b, &id).await, call);
    assert_eq!(logged(&mut bob_c, &id).await, call);

    // Both are free again: bob calls alice back from node C.
    let again = place_call(&mut bob_c, &alice).await;
    assert_eq!(
        alice_a.recv_until("call_offer").await["callId"],
        again.as_str()
    );
}

/// The next event on `ws` of one of `kinds`, others skipped.
async fn next_of(ws: &mut Ws, kinds: &[&str]) -> serde_json::Value {
    loop {
        let event = ws.recv().await;
        if kinds.iter().any(|kind| event["type"] == *kind) {
            return event;
        }
    }
}

#[tokio::test]
async fn busy_and_offline_are_decided_for_the_whole_cluster() {
    let nodes = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let carol = a.register("carol").await;
    let dave = a.register("dave").await;
    for friend in [&alice, &carol, &dave] {
        a.befriend(friend, &bob).await;
    }
    let mut alice_a = connect(a, &alice).await;
    let mut bob_b = connect(b, &bob).await;
    let mut carol_c = connect(c, &carol).await;
    let mut dave_a = connect(a, &dave).await;
    let offer = |to: &User| json!({"type": "call_offer", "to": to.name, "offer": sdp("offer"), "withVideo": false});

    // Two calls to bob placed at once on two nodes: exactly one rings, the other is busy.
    tokio::join!(alice_a.send(offer(&bob)), carol_c.send(offer(&bob)));
    let from_a = next_of(&mut alice_a, &["call_started", "error"]).await;
    let from_c = next_of(&mut carol_c, &["call_started", "error"]).await;
    let (mut winner, started, mut loser, refused) =
        match (from_a["type"].as_str(), from_c["type"].as_str()) {
            (Some("call_started"), Some("error")) => (alice_a, from_a, carol_c, from_c),
            (Some("error"), Some("call_started")) => (carol_c, from_c, alice_a, from_a),
            _ => panic!("exactly one call may ring: {from_a} / {from_c}"),
        };
    assert_eq!(refused["code"], "busy", "{refused}");
    let busy_id = refused["ref"].as_str().expect("ref").to_owned();
    let call = logged(&mut loser, &busy_id).await;
    assert_eq!(call["endReason"], "busy");
    let ringing = started["callId"].as_str().expect("callId").to_owned();
    assert_eq!(
        bob_b.recv_until("call_offer").await["callId"],
        ringing.as_str()
    );

    // A third caller, on another node again, finds bob busy too.
    dave_a.send(offer(&bob)).await;
    let refused = next_of(&mut dave_a, &["call_started", "error"]).await;
    assert_eq!(refused["code"], "busy", "{refused}");

    // Bob's only socket is on node B. Once it closes, the call ringing for him ends, and the
    // next call to him is `offline`, decided on node A.
    bob_b.close().await;
    let ended = winner.recv_until("call_ended").await;
    assert_eq!(ended["callId"], ringing.as_str());
    let call = logged(&mut winner, &ringing).await;
    assert_eq!(call["endReason"], "disconnected", "{call}");
    common::wait_until("bob offline on node A", || !a.chat.is_online(&bob.name)).await;
    dave_a.send(offer(&bob)).await;
    let refused = next_of(&mut dave_a, &["call_started", "error"]).await;
    assert_eq!(refused["code"], "offline", "{refused}");
}

#[tokio::test]
async fn a_node_that_starts_mid_call_leaves_the_calls_of_live_nodes_alone() {
    let mut cluster = Cluster::new(&nats_url()).await;
    cluster.add_node().await;
    cluster.add_node().await;
    let (alice, bob) = {
        let a = &cluster.nodes[0];
        let alice = a.register("alice").await;
        let bob = a.register("bob").await;
        a.befriend(&alice, &bob).await;
        (alice, bob)
    };
    let mut alice_a = connect(&cluster.nodes[0], &alice).await;
    let mut bob_b = connect(&cluster.nodes[1], &bob).await;
    until_online(&mut alice_a, &bob).await;
    let id = place_call(&mut alice_a, &bob).await;
    assert_eq!(bob_b.recv_until("call_offer").await["callId"], id.as_str());

    // Node C starts while node A relays the ringing call: it closes out only calls of nodes
    // that are gone, and node A answers.
    cluster.add_node().await;
    let (a, c) = (&cluster.nodes[0], &cluster.nodes[2]);
    let mut alice_c = connect(c, &alice).await;
    alice_c
        .send(json!({"type": "fetch_call_history", "withUser": bob.name}))
        .await;
    let page = alice_c.recv_until("call_history_response").await;
    assert_eq!(page["calls"][0]["callId"], id.as_str());
    assert_eq!(page["calls"][0]["status"], "ringing", "{page}");

    bob_b
        .send(
            json!({"type": "call_answer", "to": alice.name, "answer": sdp("answer"), "callId": id}),
        )
        .await;
    assert_eq!(
        alice_a.recv_until("call_answer").await["callId"],
        id.as_str()
    );
    a.clock.advance(Duration::from_secs(3));
    alice_a
        .send(json!({"type": "call_ended", "to": bob.name, "callId": id}))
        .await;
    assert_eq!(bob_b.recv_until("call_ended").await["callId"], id.as_str());
    let call = logged(&mut bob_b, &id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["endReason"], "hangup");
    assert_eq!(call["duration"], 3);
}

/// A node served in this test's process, and a node process to be killed, on one fresh
/// MongoDB database and one bus.
async fn node_and_node_to_kill() -> (TestServer, NodeProcess) {
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
        .expect("the node joins the bus");
    let node = TestServer::serve(
        chat,
        ManualClock::starting_now(),
        tempfile::tempdir().expect("tempdir"),
        |r| r,
    )
    .await;
    let doomed = start_process(
        &prefix,
        &nats_url(),
        &["--mongodb", &uri, "--mongodb-database", &db],
    )
    .await;
    (node, doomed)
}

/// A socket of `user` on `node` (a process), once that node knows `friend` is online.
async fn connect_knowing(node: &NodeProcess, user: &User, friend: &User) -> Ws {
    let url = format!("ws://{}/ws?token={}", node.addr, user.token);
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("a socket on the node process");
    let mut ws = Ws { stream };
    // In the greeting, or right after.
    let online = ws.recv_until("online_users").await;
    let listed = online["users"]
        .as_array()
        .is_some_and(|users| users.contains(&json!(friend.name)));
    if !listed {
        let presence = ws.recv_until("presence").await;
        assert_eq!(presence["username"], friend.name.as_str());
    }
    ws
}

#[tokio::test]
async fn when_the_node_relaying_a_call_dies_the_call_ends_for_the_other_party() {
    let (b, mut doomed) = node_and_node_to_kill().await;
    let alice = b.register("alice").await;
    let bob = b.register("bob").await;
    b.befriend(&alice, &bob).await;
    let mut bob_b = connect(&b, &bob).await;
    let mut alice_doomed = connect_knowing(&doomed, &alice, &bob).await;
    // Alice's call is relayed by the node she placed it on; bob answers on node B.
    let id = place_call(&mut alice_doomed, &bob).await;
    assert_eq!(bob_b.recv_until("call_offer").await["callId"], id.as_str());
    bob_b
        .send(
            json!({"type": "call_answer", "to": alice.name, "answer": sdp("answer"), "callId": id}),
        )
        .await;
    assert_eq!(
        alice_doomed.recv_until("call_answer").await["callId"],
        id.as_str()
    );

    doomed.child.kill().expect("SIGKILL");
    // `recv_until` waits at most common::WAIT, 10 s, for each event: the node timeout is 3 s.
    let ended = bob_b.recv_until("call_ended").await;
    assert_eq!(ended["callId"], id.as_str());
    assert_eq!(ended["from"], alice.name.as_str());
    let call = logged(&mut bob_b, &id).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["endReason"], "disconnected");
    // Bob is free: a call to him from a live node rings (and alice is free too, though
    // offline now).
    let carol = b.register("carol").await;
    b.befriend(&carol, &bob).await;
    let mut carol_b = connect(&b, &carol).await;
    let again = place_call(&mut carol_b, &bob).await;
    assert_eq!(
        bob_b.recv_until("call_offer").await["callId"],
        again.as_str()
    );
}

#[tokio::test]
async fn when_the_node_holding_a_partys_socket_dies_the_call_relayed_elsewhere_ends() {
    let (b, mut doomed) = node_and_node_to_kill().await;
    let alice = b.register("alice").await;
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    let dave = b.register("dave").await;
    b.befriend(&bob, &alice).await;
    b.befriend(&carol, &dave).await;
    let mut bob_b = connect(&b, &bob).await;
    let mut carol_b = connect(&b, &carol).await;
    let mut alice_doomed = connect_knowing(&doomed, &alice, &bob).await;
    let _dave_doomed = connect_knowing(&doomed, &dave, &carol).await;

    // Bob's call is relayed by node B, where he placed it; alice answers on the other node.
    let answered = place_call(&mut bob_b, &alice).await;
    assert_eq!(
        alice_doomed.recv_until("call_offer").await["callId"],
        answered.as_str()
    );
    alice_doomed
        .send(
            json!({"type": "call_answer", "to": bob.name, "answer": sdp("answer"),
                     "callId": answered}),
        )
        .await;
    assert_eq!(
        bob_b.recv_until("call_answer").await["callId"],
        answered.as_str()
    );
    // Carol's, relayed by node B too, rings for dave, whose only socket is on the other node.
    let ringing = place_call(&mut carol_b, &dave).await;

    doomed.child.kill().expect("SIGKILL");
    // Node B finds the node gone (3 s) and ends both as if those sockets had closed.
    let ended = bob_b.recv_until("call_ended").await;
    assert_eq!(ended["callId"], answered.as_str());
    assert_eq!(ended["from"], alice.name.as_str());
    let call = logged(&mut bob_b, &answered).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(call["endReason"], "disconnected");
    let ended = carol_b.recv_until("call_ended").await;
    assert_eq!(ended["callId"], ringing.as_str());
    let call = logged(&mut carol_b, &ringing).await;
    assert_eq!(call["status"], "missed", "{call}");
    assert_eq!(call["endReason"], "disconnected");
    // Bob and carol are free: a call between them rings.
    b.befriend(&bob, &carol).await;
    let again = place_call(&mut bob_b, &carol).await;
    assert_eq!(
        carol_b.recv_until("call_offer").await["callId"],
        again.as_str()
    );
}
