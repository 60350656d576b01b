//! nexchat merged into a host app with its own state (`examples/host_state.rs`), over real
//! HTTP and WebSockets: the app's handlers use nexchat's extractors with the app's state type,
//! and nexchat's own routes keep working next to them.

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
mod common;

// The example itself, not a copy: what it shows is what is tested.
#[allow(dead_code)]
#[path = "../examples/host_state.rs"]
mod host_state;

use common::*;
use host_state::{MAX_NOTES, Notes};
use serde_json::json;

async fn host_app() -> TestServer {
    TestServer::start_app(
        |builder| builder,
        |chat| host_state::app(chat, Notes::default()),
    )
    .await
}

#[tokio::test]
async fn the_hosts_handlers_know_the_caller_through_auth_user_and_client() {
    let server = host_app().await;
    // Registered and logged in through nexchat's routes, merged at the root.
    let alice = server.register("alice").await;
    let (status, body) = server.get("/me", Some(&alice.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], alice.name.as_str());
    assert_eq!(body["address"], "127.0.0.1");
}

#[tokio::test]
async fn the_hosts_handlers_refuse_a_missing_or_unknown_token_in_nexchats_error_shape() {
    let server = host_app().await;
    for token in [None, Some("not-a-token")] {
        let (status, body) = server.get("/me", token).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "unauthorized", "{body}");
        let (status, _) = server.post("/notes", token, &json!({"text": "hi"})).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn the_hosts_own_state_is_kept_per_user_and_bounded() {
    let server = host_app().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (status, body) = server
        .post("/notes", Some(&alice.token), &json!({"text": "buy milk"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.get("/notes", Some(&alice.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["notes"], json!(["buy milk"]));
    let (_, body) = server.get("/notes", Some(&bob.token)).await;
    assert_eq!(body["notes"], json!([]), "bob sees none of alice's notes");

    for bad in [
        json!({"text": ""}),
        json!({"text": "x".repeat(501)}),
        json!({}),
    ] {
        let (status, body) = server.post("/notes", Some(&bob.token), &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request", "{body}");
    }
    for i in 1..MAX_NOTES {
        let (status, _) = server
            .post(
                "/notes",
                Some(&alice.token),
                &json!({"text": format!("note {i}")}),
            )
            .await;
        assert_eq!(status, 201, "note {i}");
    }
    let (status, _) = server
        .post(
            "/notes",
            Some(&alice.token),
            &json!({"text": "one too many"}),
        )
        .await;
    assert_eq!(status, 400);
    let (_, body) = server.get("/notes", Some(&alice.token)).await;
    let notes = body["notes"].as_array().expect("notes");
    assert_eq!(notes.len(), MAX_NOTES);
    assert_eq!(notes[0], "buy milk");
    let (_, body) = server.get("/notes", Some(&bob.token)).await;
    assert_eq!(body["notes"], json!([]), "refused notes changed nothing");
}

#[tokio::test]
async fn nexchats_routes_and_socket_work_inside_the_host_router() {
    let server = host_app().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (status, body) = server.get("/friends/status", Some(&alice.token)).await;
    assert_eq!(status, 200, "{body}");
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    alice_ws.send(message(&bob.name, &new_id())).await;
    let delivered = bob_ws.recv_until("receive_message").await;
    assert_eq!(delivered["sender"], alice.name.as_str());
    // An unknown path is the router's 404, not a host handler.
    assert_eq!(server.get("/nowhere", Some(&alice.token)).await.0, 404);
}
