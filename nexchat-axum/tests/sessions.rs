//! Login sessions over real HTTP and WebSockets: logout, the session list, revoking a session,
//! unique tokens, WebSocket tickets, the Origin check of the upgrade, and frames after expiry.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use futures::StreamExt;
use nexchat_core::{Chat, Clock, Identity, IdentityError, ManualClock, Principal};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse";

/// A `request_public_key` frame: any event that is answered at once.
fn ask_key(of: &User) -> Value {
    json!({"type": "request_public_key", "receiver": of.name})
}

/// Asserts the very next frame (pings aside) is a close with `code`: nothing was acted on
/// before it.
async fn next_is_close(ws: &mut Ws, code: u16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.stream.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Close(frame)))) => {
                assert_eq!(frame.map_or(1005, |f| u16::from(f.code)), code);
                return;
            }
            other => panic!("expected a close with {code}, got {other:?}"),
        }
    }
}

/// The id of the session a token names, as `GET /auth/sessions` marks it current.
async fn current_session(server: &TestServer, token: &str) -> String {
    let (status, body) = server.get("/auth/sessions", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    let sessions = body["sessions"].as_array().expect("sessions");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one current session: {body}");
    current[0]["id"].as_str().expect("id").to_owned()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

async fn ticket(server: &TestServer, token: &str) -> (String, i64) {
    let response = server
        .http
        .post(server.url("/auth/ws-ticket"))
        .bearer_auth(token)
        .send()
        .await
        .expect("POST /auth/ws-ticket");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("JSON");
    (
        body["ticket"].as_str().expect("ticket").to_owned(),
        body["expiresAt"].as_i64().expect("expiresAt"),
    )
}

async fn with_ticket(server: &TestServer, ticket: &str) -> Result<Ws, u16> {
    server.ws_query(&format!("/ws?ticket={ticket}"), &[]).await
}

#[tokio::test]
async fn logout_ends_the_token_everywhere_and_closes_only_that_sessions_sockets() {
    let server = TestServer::start().await;
    let user = server.register("leaver").await;
    let other = server.login(&user.name, PASSWORD).await;
    let (mut first, _) = server.connect(&user).await;
    let (mut second, _) = server.connect(&user).await;
    let (mut elsewhere, _) = server.connect(&other).await;

    let (status, body) = server
        .post("/auth/logout", Some(&user.token), &json!({}))
        .await;
    assert_eq!(status, 204, "{body}");
    // The close was queued before the answer: a frame sent now is not acted on.
    first.send(ask_key(&user)).await;
    next_is_close(&mut first, 4003).await;
    next_is_close(&mut second, 4003).await;

    let (status, body) = server.get("/friends/status", Some(&user.token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(server.ws_with_token(&user.token).await.err(), Some(401));
    let (status, _) = server
        .post("/auth/logout", Some(&user.token), &json!({}))
        .await;
    assert_eq!(status, 401, "a second logout with the ended token");

    // The user's other session is untouched.
    elsewhere.send(ask_key(&user)).await;
    elsewhere.expect("public_key_response").await;
    assert_eq!(
        server.get("/friends/status", Some(&other.token)).await.0,
        200
    );
}

#[tokio::test]
async fn the_session_list_is_newest_first_with_the_current_one_marked() {
    let server = TestServer::start().await;
    let user = server.register("lister").await;
    let registered_at = server.clock.now_ms();
    let long_agent = "L".repeat(300);
    let mut tokens = Vec::new();
    for agent in ["Agent One/1.0", long_agent.as_str()] {
        server.clock.advance(Duration::from_secs(5));
        let client = reqwest::Client::builder()
            .user_agent(agent)
            .build()
            .expect("client");
        let (status, body) = server.login_via(&client, &user.name, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["token"].as_str().expect("token").to_owned());
    }

    let response = server
        .http
        .get(server.url("/auth/sessions"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .expect("GET /auth/sessions");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("JSON");
    let sessions = body["sessions"].as_array().expect("sessions").clone();
    assert_eq!(sessions.len(), 3, "{body}");
    let agents: Vec<&str> = sessions
        .iter()
        .map(|s| s["userAgent"].as_str().expect("userAgent"))
        .collect();
    assert_eq!(agents, [&long_agent[..200], "Agent One/1.0", ""]);
    let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, [false, true, false]);
    let created: Vec<i64> = sessions
        .iter()
        .map(|s| s["createdAt"].as_i64().expect("createdAt"))
        .collect();
    assert_eq!(
        created,
        [registered_at + 10_000, registered_at + 5_000, registered_at]
    );
    for session in &sessions {
        let keys: Vec<&str> = session
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{session}");
        assert_eq!(session["lastSeenAt"], session["createdAt"]);
    }

    // The last time a token was accepted shows, at most a minute late.
    server.clock.advance(Duration::from_secs(120));
    let used_at = server.clock.now_ms();
    assert_eq!(
        server.get("/friends/status", Some(&user.token)).await.0,
        200
    );
    server.clock.advance(Duration::from_secs(10));
    let (_, body) = server.get("/auth/sessions", Some(&tokens[1])).await;
    assert_eq!(body["sessions"][2]["lastSeenAt"], used_at, "{body}");
    assert_eq!(
        body["sessions"][0]["lastSeenAt"],
        used_at + 10_000,
        "the listing request itself counts: {body}"
    );
}

#[tokio::test]
async fn revoking_another_session_closes_its_sockets_and_ends_its_token() {
    let server = TestServer::start().await;
    let user = server.register("revoker").await;
    let lost = server.login(&user.name, PASSWORD).await;
    let stranger = server.register("stranger").await;
    let (mut mine, _) = server.connect(&user).await;
    let (mut lost_ws, _) = server.connect(&lost).await;
    let lost_id = current_session(&server, &lost.token).await;
    let stranger_id = current_session(&server, &stranger.token).await;

    // Someone else's session, or one that does not exist, is not found.
    for id in [
        stranger_id.as_str(),
        "00000000-0000-4000-8000-000000000000",
        "x",
    ] {
        let (status, body) = server
            .delete(&format!("/auth/sessions/{id}"), &user.token)
            .await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["error"], "not_found");
    }
    assert_eq!(
        server.get("/friends/status", Some(&stranger.token)).await.0,
        200
    );

    let (status, body) = server
        .delete(&format!("/auth/sessions/{lost_id}"), &user.token)
        .await;
    assert_eq!(status, 204, "{body}");
    lost_ws.send(ask_key(&user)).await;
    next_is_close(&mut lost_ws, 4003).await;
    assert_eq!(
        server.get("/friends/status", Some(&lost.token)).await.0,
        401
    );
    assert_eq!(server.ws_with_token(&lost.token).await.err(), Some(401));
    let (status, _) = server
        .delete(&format!("/auth/sessions/{lost_id}"), &user.token)
        .await;
    assert_eq!(status, 404, "an ended session is not open any more");

    mine.send(ask_key(&user)).await;
    mine.expect("public_key_response").await;
    let (_, body) = server.get("/auth/sessions", Some(&user.token)).await;
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(1), "{body}");

    // Revoking one's own session is a logout.
    let own = current_session(&server, &user.token).await;
    let (status, _) = server
        .delete(&format!("/auth/sessions/{own}"), &user.token)
        .await;
    assert_eq!(status, 204);
    next_is_close(&mut mine, 4003).await;
    assert_eq!(
        server.get("/friends/status", Some(&user.token)).await.0,
        401
    );
}

#[tokio::test]
async fn two_logins_in_the_same_second_get_different_tokens_and_sessions() {
    let server = TestServer::start().await;
    let user = server.register("twin").await;
    // The clock does not move: both logins happen at the same millisecond.
    let first = server.login(&user.name, PASSWORD).await;
    let second = server.login(&user.name, PASSWORD).await;
    assert_ne!(first.token, second.token);
    let (a, b) = (claims(&first.token), claims(&second.token));
    assert_eq!(a["iat"], b["iat"]);
    assert_ne!(a["sid"], b["sid"], "{a} {b}");
    assert_ne!(a["jti"], b["jti"], "{a} {b}");
    assert_eq!(
        a["sid"].as_str(),
        Some(current_session(&server, &first.token).await.as_str())
    );
    // Ending one leaves the other.
    assert_eq!(
        server
            .post("/auth/logout", Some(&first.token), &json!({}))
            .await
            .0,
        204
    );
    assert_eq!(
        server.get("/friends/status", Some(&second.token)).await.0,
        200
    );
}

#[tokio::test]
async fn a_ticket_opens_one_socket_once() {
    let server = TestServer::start().await;
    let user = server.register("ticketed").await;
    let (status, _) = server.post("/auth/ws-ticket", None, &json!({})).await;
    assert_eq!(status, 401, "a ticket needs a token");
    let (ticket_a, expires_at) = ticket(&server, &user.token).await;
    assert_eq!(expires_at, server.clock.now_ms() + 30_000);
    let mut ws = with_ticket(&server, &ticket_a).await.expect("upgrade");
    ws.expect("online_users").await;
    ws.expect("sync_done").await;
    ws.send(ask_key(&user)).await;
    ws.expect("public_key_response").await;
    assert_eq!(
        with_ticket(&server, &ticket_a).await.err(),
        Some(401),
        "twice"
    );
    assert_eq!(with_ticket(&server, "unknown").await.err(), Some(401));

    // A socket opened with a ticket belongs to the session: logout closes it.
    server
        .post("/auth/logout", Some(&user.token), &json!({}))
        .await;
    next_is_close(&mut ws, 4003).await;
}

#[tokio::test]
async fn a_ticket_expires_after_30_seconds() {
    let server = TestServer::start().await;
    let user = server.register("late").await;
    let (stale, _) = ticket(&server, &user.token).await;
    let (fresh, _) = ticket(&server, &user.token).await;
    server.clock.advance(Duration::from_millis(29_999));
    assert!(with_ticket(&server, &fresh).await.is_ok(), "29.999 s");
    server.clock.advance(Duration::from_millis(1));
    assert_eq!(with_ticket(&server, &stale).await.err(), Some(401), "30 s");
}

#[tokio::test]
async fn a_ticket_dies_with_its_session() {
    let server = TestServer::start().await;
    let user = server.register("bound").await;
    let other = server.login(&user.name, PASSWORD).await;
    let (of_other, _) = ticket(&server, &other.token).await;
    let (of_user, _) = ticket(&server, &user.token).await;
    let other_id = current_session(&server, &other.token).await;
    let (status, _) = server
        .delete(&format!("/auth/sessions/{other_id}"), &user.token)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        with_ticket(&server, &of_other).await.err(),
        Some(401),
        "the revoked session's ticket"
    );
    assert!(
        with_ticket(&server, &of_user).await.is_ok(),
        "the revoking session's ticket still works"
    );
}

#[tokio::test]
async fn a_ticket_is_used_up_by_a_refused_upgrade() {
    let server = TestServer::start().await;
    let user = server.register("spent").await;
    let (ticket, _) = ticket(&server, &user.token).await;
    let refused = server
        .ws_query(
            &format!("/ws?ticket={ticket}"),
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(refused.err(), Some(403));
    assert_eq!(with_ticket(&server, &ticket).await.err(), Some(401));
}

#[tokio::test]
async fn the_upgrade_checks_the_origin_before_the_token() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://app.example.org".into()];
    let server = TestServer::start_with(config).await;
    let user = server.register("origin").await;
    let path = format!("/ws?token={}", user.token);
    let own = format!("http://{}", server.addr);

    assert!(server.ws_query(&path, &[]).await.is_ok(), "no Origin");
    assert!(
        server.ws_query(&path, &[("origin", &own)]).await.is_ok(),
        "own origin"
    );
    assert!(
        server
            .ws_query(&path, &[("origin", "https://app.example.org")])
            .await
            .is_ok(),
        "configured origin"
    );
    for origin in [
        "http://evil.example",
        "null",
        "https://app.example.org.evil.example",
        &format!("https://{}", server.addr),
    ] {
        assert_eq!(
            server.ws_query(&path, &[("origin", origin)]).await.err(),
            Some(403),
            "{origin}"
        );
        assert_eq!(
            server
                .ws_query("/ws?token=garbage", &[("origin", origin)])
                .await
                .err(),
            Some(403),
            "{origin} with a bad token: the Origin is checked first"
        );
    }
    // Not from a trusted proxy: its X-Forwarded-Proto does not make the origin https.
    assert_eq!(
        server
            .ws_query(
                &path,
                &[
                    ("origin", &format!("https://{}", server.addr)),
                    ("x-forwarded-proto", "https")
                ]
            )
            .await
            .err(),
        Some(403)
    );
}

#[tokio::test]
async fn a_trusted_proxy_can_make_the_own_origin_https() {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
    let server = TestServer::start_with(config).await;
    let user = server.register("proxied").await;
    let path = format!("/ws?token={}", user.token);
    let https = format!("https://{}", server.addr);
    let http = format!("http://{}", server.addr);
    let forwarded = ("x-forwarded-proto", "https");
    assert!(
        server
            .ws_query(&path, &[("origin", &https), forwarded])
            .await
            .is_ok()
    );
    assert_eq!(
        server
            .ws_query(&path, &[("origin", &http), forwarded])
            .await
            .err(),
        Some(403)
    );
    assert!(server.ws_query(&path, &[("origin", &http)]).await.is_ok());
}

#[tokio::test]
async fn a_frame_sent_after_expiry_is_not_acted_on() {
    let server = TestServer::start().await;
    let sender = server.register("expiring").await;
    server.clock.advance(Duration::from_secs(3600));
    let receiver = server.register("receiver").await;
    server.befriend(&sender, &receiver).await;
    let (mut ws, _) = server.connect(&sender).await;
    let (mut inbox, _) = server.connect(&receiver).await;
    ws.expect("presence").await;

    // Past the sender's expiry, before the timer has run.
    server.clock.advance(Duration::from_secs(9 * 3600));
    ws.send(message(&receiver.name, &new_id())).await;
    next_is_close(&mut ws, 4001).await;
    inbox.recv_until("presence").await;
    inbox
        .send(json!({"type": "fetch_history", "withUser": sender.name}))
        .await;
    let history = inbox.expect("history_response").await;
    assert_eq!(history["messages"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn sessions_survive_a_restart_and_still_end() {
    let config = test_config();
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().expect("tempdir");
    let chat = sqlite_chat(config.clone(), clock.clone(), &dir).await;
    let spare = tempfile::tempdir().expect("tempdir");
    let server = TestServer::serve(chat, clock.clone(), spare, |r| r).await;
    let user = server.register("restarted").await;
    let other = server.login(&user.name, PASSWORD).await;
    drop(server);

    let chat = sqlite_chat(config, clock.clone(), &dir).await;
    let server = TestServer::serve(chat, clock, dir, |r| r).await;
    assert_eq!(
        server.get("/friends/status", Some(&user.token)).await.0,
        200
    );
    let (mut ws, _) = server.connect(&other).await;
    assert_eq!(
        server
            .post("/auth/logout", Some(&other.token), &json!({}))
            .await
            .0,
        204
    );
    next_is_close(&mut ws, 4003).await;
    assert_eq!(
        server.get("/friends/status", Some(&other.token)).await.0,
        401
    );
}

#[tokio::test]
async fn a_session_ended_through_another_node_is_closed_within_2_seconds() {
    let config = test_config();
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = shared_store(&dir).await;
    let node = || {
        Chat::builder_shared(config.clone(), std::sync::Arc::clone(&store))
            .clock(clock.clone())
            .build()
    };
    let (chat_a, chat_b) = (node().await.expect("node a"), node().await.expect("node b"));
    let spare = tempfile::tempdir().expect("tempdir");
    let a = TestServer::serve(chat_a, clock.clone(), spare, |r| r).await;
    let b = TestServer::serve(chat_b, clock.clone(), dir, |r| r).await;
    let user = a.register("roamer").await;
    let kept = a.login(&user.name, PASSWORD).await;
    let (mut ws, _) = b.connect(&user).await;
    let (mut kept_ws, _) = b.connect(&kept).await;

    let (status, _) = a.post("/auth/logout", Some(&user.token), &json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(a.get("/friends/status", Some(&user.token)).await.0, 401);
    clock.advance(Duration::from_secs(1));
    b.chat.transport().sweep().await;
    ws.send(ask_key(&user)).await;
    next_is_close(&mut ws, 4003).await;
    assert_eq!(b.get("/friends/status", Some(&user.token)).await.0, 401);
    kept_ws.send(ask_key(&user)).await;
    kept_ws.expect("public_key_response").await;
    assert_eq!(b.get("/friends/status", Some(&kept.token)).await.0, 200);
}

/// An app's own identity: the token is the user's name.
struct NameIsToken;

impl Identity for NameIsToken {
    async fn identify(&self, token: &str) -> Result<Principal, IdentityError> {
        if token.starts_with("app_") {
            Ok(Principal::new(token))
        } else {
            Err(IdentityError::Unauthorized)
        }
    }
}

#[tokio::test]
async fn an_apps_own_identity_gets_tickets_but_no_nexchat_sessions() {
    let server = TestServer::start_custom(|b| b.identity(NameIsToken), |r| r).await;
    let token = unique("app");
    // nexchat's session routes are not even mounted...
    for (status, _) in [
        server.post("/auth/logout", Some(&token), &json!({})).await,
        server.get("/auth/sessions", Some(&token)).await,
        server.delete("/auth/sessions/anything", &token).await,
    ] {
        assert_eq!(status, 404);
    }
    // ...and where the app keeps nexchat's own accounts beside its identity, they refuse its
    // users, who have no nexchat session.
    let server =
        TestServer::start_custom(|b| b.identity(NameIsToken).own_accounts(true), |r| r).await;
    for (status, body) in [
        server.post("/auth/logout", Some(&token), &json!({})).await,
        server.get("/auth/sessions", Some(&token)).await,
        server.delete("/auth/sessions/anything", &token).await,
    ] {
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "forbidden");
    }
    let (ticket, _) = ticket(&server, &token).await;
    let mut ws = with_ticket(&server, &ticket).await.expect("upgrade");
    ws.expect("online_users").await;
    assert_eq!(with_ticket(&server, &ticket).await.err(), Some(401));
    assert!(server.ws_with_token(&token).await.is_ok(), "?token= too");
}
