//! What an operator sees of a running node: the Prometheus metrics of the example server
//! (`--metrics-addr`) move with the traffic, and every log line of a request or a socket names
//! the node.

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
mod common;
mod process;

use common::{message, new_id, unique};
use process::{Api, ServerProcess, field};

/// The server's log filter for these tests: the request and socket lines at debug.
const LOG: &str = "info,tower_http=debug,nexchat_axum=debug";

async fn sqlite_node(dir: &tempfile::TempDir) -> ServerProcess {
    let db = dir.path().join("chat.db");
    let db = db.to_str().expect("a UTF-8 path");
    ServerProcess::start(&["--sqlite", db], LOG).await
}

/// Polls the node's metrics until `series` reads `value`; panics after [`common::WAIT`].
async fn wait_for_metric(node: &ServerProcess, series: &str, value: f64) -> process::Metrics {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let metrics = node.scrape().await;
        if metrics.get(series) == value {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} stayed at {} (waiting for {value})",
            metrics.get(series)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_sockets_messages_pushes_and_store_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = sqlite_node(&dir).await;
    let api = Api::at(&node.addr);
    let alice = api.register(&unique("alice")).await;
    let bob = api.register(&unique("bob")).await;
    api.befriend(&alice, &bob).await;

    let before = node.scrape().await;
    assert_eq!(before.get("nexchat_sockets_open"), 0.0);
    assert!(
        before.get("nexchat_store_seconds_count{op=\"create_user\"}") >= 2.0,
        "two registrations were stored"
    );
    let mut bob_ws = api.connect(&bob).await;
    let mut alice_ws = api.connect(&alice).await;
    let online = bob_ws.expect("presence").await;
    assert_eq!(online["online"], true);
    let id = new_id();
    alice_ws.send(message(&bob.name, &id)).await;
    assert_eq!(alice_ws.recv_until("message_sent").await["id"], id.as_str());
    assert_eq!(
        bob_ws.recv_until("receive_message").await["id"],
        id.as_str()
    );

    let after = node.scrape().await;
    assert_eq!(after.get("nexchat_sockets_open"), 2.0);
    let stored = "nexchat_messages_stored_total";
    assert_eq!(
        after.get(stored) - before.get(stored),
        1.0,
        "one message stored"
    );
    // Bob was pushed alice's presence and her message.
    let pushed = "nexchat_pushes_delivered_total";
    assert!(
        after.get(pushed) - before.get(pushed) >= 2.0,
        "pushes: {} then {}",
        before.get(pushed),
        after.get(pushed)
    );
    let inserts = "nexchat_store_seconds_count{op=\"insert_messages\"}";
    assert!(
        after.get(inserts) > before.get(inserts),
        "the insert was timed"
    );
    assert!(
        after.has("nexchat_store_seconds_bucket{op=\"insert_messages\",le=\"+Inf\"}"),
        "store latency is a histogram with buckets"
    );
    assert_eq!(
        after.get("nexchat_store_errors_total{op=\"insert_messages\"}"),
        0.0
    );

    // The same id again is acknowledged but not stored twice.
    alice_ws.send(message(&bob.name, &id)).await;
    alice_ws.recv_until("message_sent").await;
    assert_eq!(node.scrape().await.get(stored) - before.get(stored), 1.0);

    bob_ws.close().await;
    wait_for_metric(&node, "nexchat_sockets_open", 1.0).await;
    alice_ws.close().await;
    wait_for_metric(&node, "nexchat_sockets_open", 0.0).await;
}

#[tokio::test]
async fn every_log_line_of_a_request_or_a_socket_names_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = sqlite_node(&dir).await;
    let api = Api::at(&node.addr);
    let alice = api.register(&unique("alice")).await;
    let ws = api.connect(&alice).await;
    ws.close().await;
    wait_for_metric(&node, "nexchat_sockets_open", 0.0).await;
    // Both the request's closing line and the socket's are written once the socket is gone.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let lines = loop {
        let lines = node.lines();
        if lines.iter().any(|l| l.contains("socket closed")) {
            break lines;
        }
        assert!(tokio::time::Instant::now() < deadline, "no socket lines");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    let of_request: Vec<&String> = lines.iter().filter(|l| l.contains("http{")).collect();
    let of_socket: Vec<&String> = lines.iter().filter(|l| l.contains("socket{")).collect();
    assert!(
        of_request
            .iter()
            .any(|l| l.contains("finished processing request")),
        "the requests were logged: {lines:#?}"
    );
    assert!(
        of_socket.iter().any(|l| l.contains("socket opened")),
        "the socket was logged: {lines:#?}"
    );
    for line in of_request.iter().chain(&of_socket) {
        assert_eq!(
            field(line, "node").as_deref(),
            Some(node.node.as_str()),
            "{line}"
        );
    }
    assert_eq!(node.node.len(), 32, "a random id: {}", node.node);
    // No colour codes in a log that is not a terminal.
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:#?}");
}
