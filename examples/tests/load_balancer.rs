//! nexchat behind a real load balancer: Debian's nginx (`scripts/nginx-test-server.sh`, the
//! configuration docs/deploy.md explains) in front of example-server processes sharing one
//! MongoDB store and one NATS bus, round-robin with no stickiness. A user's requests and
//! sockets land on different nodes and the chat works as one; the nodes trust nginx's
//! `X-Forwarded-For` (`--trusted-proxy`), so throttling counts real client addresses, and a
//! header forged by a client that reaches a node directly counts for nothing.
//!
//! Needs `NEXCHAT_TEST_NATS_URL` and `NEXCHAT_TEST_MONGODB_URI` (scripts/test.sh starts both),
//! and nginx (the script installs Debian's when missing and run as root). Without them the
//! tests fail: none is skipped.

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
mod common;
mod process;

use std::collections::HashSet;
use std::process::Command;

use common::{User, Ws, message, new_id, unique};
use process::{Api, ServerProcess};
use serde_json::json;

/// Server logs: warnings only (the tests read the nodes' metrics, not their logs).
const LOG: &str = "warn";

fn env(name: &str, how: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start it with eval \"$({how})\" (scripts/test.sh does)")
    })
}

/// `n` nodes on one fresh MongoDB database and one bus prefix, trusting nginx on 127.0.0.1,
/// with `extra` flags.
async fn nodes(n: usize, extra: &[&str]) -> Vec<ServerProcess> {
    let mongo = env("NEXCHAT_TEST_MONGODB_URI", "scripts/mongo-test-server.sh");
    let nats = env("NEXCHAT_TEST_NATS_URL", "scripts/nats-test-server.sh");
    let db = format!("t{}", uuid::Uuid::new_v4().simple());
    let prefix = unique("nexchat_test");
    let mut args = vec![
        "--mongodb",
        &mongo,
        "--mongodb-database",
        &db,
        "--nats",
        &nats,
        "--bus-prefix",
        &prefix,
        "--bus-heartbeat-ms",
        "200",
        "--bus-node-timeout-ms",
        "3000",
        "--trusted-proxy",
        "127.0.0.1",
    ];
    args.extend_from_slice(extra);
    let mut started = Vec::new();
    for _ in 0..n {
        started.push(ServerProcess::start(&args, LOG).await);
    }
    started
}

/// An nginx of the test's own in front of `nodes`, stopped when dropped.
struct Nginx {
    addr: String,
    pid: String,
    dir: String,
}

impl Nginx {
    fn start(nodes: &[ServerProcess]) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/nginx-test-server.sh"
        );
        let output = Command::new("bash")
            .arg(script)
            .args(nodes.iter().map(|n| n.addr.as_str()))
            .output()
            .expect("run scripts/nginx-test-server.sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "nginx did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let var = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .to_owned()
        };
        Self {
            addr: var("NEXCHAT_NGINX_ADDR"),
            pid: var("NEXCHAT_NGINX_PID"),
            dir: var("NEXCHAT_NGINX_DIR"),
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sockets open on each node, in the order of `nodes`.
async fn sockets(nodes: &[ServerProcess]) -> Vec<f64> {
    let mut counts = Vec::new();
    for node in nodes {
        counts.push(node.scrape().await.get("nexchat_sockets_open"));
    }
    counts
}

/// Opens a socket for `user` through the proxy; the index of the node it landed on.
async fn connect_where(api: &Api, nodes: &[ServerProcess], user: &User) -> (Ws, usize) {
    let before = sockets(nodes).await;
    let ws = api.connect(user).await;
    (ws, landed(nodes, &before).await)
}

/// The node whose socket count moved by one since `before`, the only one that moved.
async fn landed(nodes: &[ServerProcess], before: &[f64]) -> usize {
    // A socket is counted before its greeting is sent: the count has moved by now.
    let after = sockets(nodes).await;
    let landed: Vec<usize> = (0..nodes.len())
        .filter(|&i| after[i] == before[i] + 1.0)
        .collect();
    assert_eq!(
        landed.len(),
        1,
        "one node got the socket: {before:?} {after:?}"
    );
    landed[0]
}

#[tokio::test]
async fn requests_and_sockets_spread_over_nodes_and_the_chat_works_as_one() {
    let nodes = nodes(3, &[]).await;
    let nginx = Nginx::start(&nodes);
    let api = Api::at(&nginx.addr);

    let alice = api.register(&unique("alice")).await;
    let bob = api.register(&unique("bob")).await;
    api.befriend(&alice, &bob).await;
    let rest: HashSet<String> = api.answered().into_iter().map(|(_, _, n)| n).collect();
    assert_eq!(rest.len(), 3, "the REST calls went to every node: {rest:?}");

    let (mut bob_ws, bob_node) = connect_where(&api, &nodes, &bob).await;
    let mut alice_ws = Vec::new();
    for _ in 0..3 {
        alice_ws.push(connect_where(&api, &nodes, &alice).await);
    }
    let alice_nodes: HashSet<usize> = alice_ws.iter().map(|(_, n)| *n).collect();
    assert_eq!(alice_nodes.len(), 3, "alice has a socket on every node");
    // A `friendship_activated` crossing the bus as bob connected may come again after his
    // greeting (at least once, docs/protocol.md "Several nodes as one chat").
    let online = bob_ws.recv_until("presence").await;
    assert_eq!(online["username"], alice.name.as_str());
    assert_eq!(online["online"], true);

    // From a node bob has no socket on: the message crosses the bus.
    let (sender, sender_node) = alice_ws
        .iter_mut()
        .find(|(_, node)| *node != bob_node)
        .expect("a socket elsewhere");
    let sender_node = *sender_node;
    let bus_out = nodes[sender_node]
        .scrape()
        .await
        .get("nexchat_bus_published_total");
    let bus_in = nodes[bob_node]
        .scrape()
        .await
        .get("nexchat_bus_received_total");
    let id = new_id();
    sender.send(message(&bob.name, &id)).await;
    assert_eq!(sender.recv_until("message_sent").await["id"], id.as_str());
    let received = bob_ws.recv_until("receive_message").await;
    assert_eq!(received["id"], id.as_str());
    assert_eq!(received["sender"], alice.name.as_str());
    bob_ws
        .send(json!({"type": "message_delivered", "to": alice.name, "ids": [id]}))
        .await;
    let tick = sender.recv_until("message_delivered").await;
    assert_eq!(tick["ids"], json!([id]));
    // The push went over the bus: published by the sender's node, received by bob's, with
    // its lag measured.
    let at_sender = nodes[sender_node].scrape().await;
    let at_bob = nodes[bob_node].scrape().await;
    assert!(at_sender.get("nexchat_bus_published_total") > bus_out);
    assert!(at_bob.get("nexchat_bus_received_total") > bus_in);
    assert!(at_bob.get("nexchat_bus_lag_seconds_count") >= 1.0);
    assert!(at_bob.has("nexchat_bus_lag_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(at_sender.get("nexchat_bus_dropped_total"), 0.0);

    // The logout is answered by one node; alice's sockets on the two others close too.
    let (status, body) = api
        .post("/auth/logout", Some(&alice.token), &json!({}))
        .await;
    assert_eq!(status, 204, "{body}");
    let logout = api
        .answered()
        .into_iter()
        .find(|(request, _, _)| request == "POST /auth/logout")
        .expect("the logout's answer names its node");
    assert_eq!(logout.1, 204);
    let elsewhere = alice_ws
        .iter()
        .filter(|(_, n)| nodes[*n].addr != logout.2)
        .count();
    assert_eq!(elsewhere, 2, "two of alice's sockets are on other nodes");
    for (ws, node) in &mut alice_ws {
        assert_eq!(ws.expect_close().await, 4003, "socket on node {node}");
    }
    let offline = bob_ws.recv_until("presence").await;
    assert_eq!(offline["username"], alice.name.as_str());
    assert_eq!(offline["online"], false);
    for _ in 0..nodes.len() {
        let status = api.get("/friends/status", &alice.token).await;
        assert_eq!(status, 401, "the token is refused by every node");
    }
}

#[tokio::test]
async fn a_ticket_opens_the_socket_on_whichever_node_nginx_sends_the_upgrade_to() {
    let nodes = nodes(3, &[]).await;
    let nginx = Nginx::start(&nodes);
    let api = Api::at(&nginx.addr);
    let alice = api.register(&unique("alice")).await;
    let bob = api.register(&unique("bob")).await;
    api.befriend(&alice, &bob).await;
    let (mut bob_ws, _) = connect_where(&api, &nodes, &bob).await;

    // As the browser client connects: a ticket, then the upgrade, each where nginx sends it.
    let mut crossed = 0;
    let mut sockets_of_alice = Vec::new();
    for _ in 0..3 {
        let before = sockets(&nodes).await;
        let ws = api.connect_with_ticket(&alice).await;
        let (request, status, issuer) = api.answered().pop().expect("the ticket's answer");
        assert_eq!((request.as_str(), status), ("POST /auth/ws-ticket", 200));
        let node = landed(&nodes, &before).await;
        crossed += usize::from(nodes[node].addr != issuer);
        sockets_of_alice.push(ws);
    }
    assert!(
        crossed > 0,
        "no upgrade went to another node than its ticket's"
    );
    let online = bob_ws.recv_until("presence").await;
    assert_eq!(online["username"], alice.name.as_str());
    let id = new_id();
    sockets_of_alice[0].send(message(&bob.name, &id)).await;
    assert_eq!(
        bob_ws.recv_until("receive_message").await["id"],
        id.as_str()
    );
}

/// A failed login (wrong password) through `api`, with extra headers: the status.
async fn failed_login(api: &Api, name: &str, headers: &[(&str, &str)]) -> u16 {
    let body = json!({"username": name, "password": "wrong horse"});
    api.post_with("/auth/login", None, &body, headers).await.0
}

#[tokio::test]
async fn throttling_counts_the_address_nginx_forwards_and_ignores_a_forged_one() {
    // One failed login per client address per node: the second from one address on one node
    // is refused.
    let nodes = nodes(2, &["--login-failures-per-address", "1"]).await;
    let nginx = Nginx::start(&nodes);
    let carol = Api::at(&nginx.addr).register(&unique("carol")).await;

    // Through nginx from 127.0.0.2, each time claiming another address: nginx appends the
    // real one, which the nodes believe. One failure on each node, then refused.
    let mallory = Api::from(&nginx.addr, "127.0.0.2");
    let mut statuses = Vec::new();
    for forged in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let forwarded = [("x-forwarded-for", forged)];
        statuses.push(failed_login(&mallory, &carol.name, &forwarded).await);
    }
    assert_eq!(
        statuses,
        [401, 401, 429],
        "keyed by 127.0.0.2, not the claims"
    );

    // Another client of the same nginx is not held to 127.0.0.2's count: the nodes key by
    // the forwarded address, not by nginx's own.
    let other = Api::from(&nginx.addr, "127.0.0.3");
    for _ in 0..2 {
        assert_eq!(failed_login(&other, &carol.name, &[]).await, 401);
    }

    // Straight to a node from an address it does not trust, the header is ignored: every
    // claimed address is the one peer.
    let direct = Api::from(&nodes[0].addr, "127.0.0.4");
    let first = failed_login(&direct, &carol.name, &[("x-forwarded-for", "203.0.113.1")]).await;
    assert_eq!(first, 401);
    let second = failed_login(&direct, &carol.name, &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_eq!(second, 429, "the forged header did not make a new client");

    // The right password still works from a client with no failures.
    let (status, body) = Api::from(&nginx.addr, "127.0.0.5")
        .post(
            "/auth/login",
            None,
            &json!({"username": carol.name, "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
