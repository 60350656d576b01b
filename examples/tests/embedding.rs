//! Embedding over real sockets: nexchat's router nested under a prefix inside another app, and
//! a custom [`Identity`] that lets an app's own users chat without a nexchat account.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::Router;
use axum::routing::get;
use common::*;
use nexchat_core::{ChatError, ChatResult, Identity, Principal};
use serde_json::json;

/// The app's own routes, with nexchat nested under `/chat`.
fn app(chat_router: Router) -> Router {
    Router::new()
        .route("/", get(|| async { "my app" }))
        .route("/health", get(|| async { "ok" }))
        .nest("/chat", chat_router)
}

#[tokio::test]
async fn nested_under_a_prefix_next_to_the_apps_own_routes() {
    let server = TestServer::start_custom(|builder| builder, app).await;
    let home = server
        .http
        .get(server.url("/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(home.status().as_u16(), 200);
    assert_eq!(home.text().await.expect("text"), "my app");
    let health = server
        .http
        .get(server.url("/health"))
        .send()
        .await
        .expect("GET");
    assert_eq!(health.text().await.expect("text"), "ok");

    let mut users = Vec::new();
    for prefix in ["alice", "bob"] {
        let name = unique(prefix);
        let (status, body) = server
            .post(
                "/chat/auth/register",
                None,
                &json!({"username": name, "password": "correct horse", "publicKey": jwk(&name),
                        "encryptedPrivateKey": {}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = server
            .post(
                "/chat/auth/login",
                None,
                &json!({"username": name, "password": "correct horse"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        users.push((name, body["token"].as_str().expect("token").to_owned()));
    }
    let [(alice, alice_token), (bob, bob_token)] = &users[..] else {
        unreachable!()
    };
    // Nothing of nexchat's answers at the root.
    let (status, _) = server
        .post(
            "/auth/login",
            None,
            &json!({"username": alice, "password": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(server.ws_at("/ws", alice_token).await.is_err());

    let (status, _) = server
        .post(
            "/chat/friends/request",
            Some(alice_token),
            &json!({"receiver": bob}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .post(
            "/chat/friends/accept",
            Some(bob_token),
            &json!({"sender": alice}),
        )
        .await;
    assert_eq!(status, 200);

    let mut a = server
        .ws_at("/chat/ws", alice_token)
        .await
        .expect("upgrade");
    a.expect("online_users").await;
    a.expect("sync_done").await;
    let mut b = server.ws_at("/chat/ws", bob_token).await.expect("upgrade");
    b.expect("online_users").await;
    b.expect("sync_done").await;
    a.expect("presence").await;
    let id = new_id();
    a.send(message(bob, &id)).await;
    a.expect("message_sent").await;
    let got = b.expect("receive_message").await;
    assert_eq!(
        (got["id"].as_str(), got["sender"].as_str()),
        (Some(id.as_str()), Some(alice.as_str()))
    );
}

/// An app's own login: its session tokens mapped to its user names.
#[derive(Clone, Default)]
struct AppSessions(Arc<RwLock<HashMap<String, String>>>);

impl AppSessions {
    fn log_in(&self, username: &str) -> String {
        let token = format!("app-session-{}", new_id());
        self.0
            .write()
            .expect("lock")
            .insert(token.clone(), username.to_owned());
        token
    }

    fn log_out(&self, token: &str) {
        self.0.write().expect("lock").remove(token);
    }
}

#[async_trait]
impl Identity for AppSessions {
    async fn identify(&self, token: &str) -> ChatResult<Principal> {
        let sessions = self.0.read().map_err(|_| ChatError::Unauthorized)?;
        let username = sessions.get(token).ok_or(ChatError::Unauthorized)?;
        Ok(Principal {
            username: username.clone(),
            expires_at: None,
        })
    }
}

/// Publishes the user's key; frames of one socket run in order, so the answer to the key request
/// that follows proves the join was stored.
async fn join(ws: &mut Ws, name: &str) {
    ws.send(json!({"type": "join", "publicKey": jwk(name)}))
        .await;
    ws.send(json!({"type": "request_public_key", "receiver": name}))
        .await;
    assert_eq!(
        ws.expect("public_key_response").await["publicKey"],
        jwk(name)
    );
}

#[tokio::test]
async fn a_custom_identity_lets_the_apps_own_users_chat() {
    let sessions = AppSessions::default();
    let identity = sessions.clone();
    let server = TestServer::start_custom(move |builder| builder.identity(identity), app).await;
    let ann = unique("Ann");
    let ben = unique("ben");
    let ann_token = sessions.log_in(&ann);
    let ben_token = sessions.log_in(&ben);

    // Neither ever registered with nexchat: their first socket provisions them.
    let mut a = server.ws_at("/chat/ws", &ann_token).await.expect("upgrade");
    assert_eq!(a.expect("online_users").await["users"], json!([]));
    a.expect("sync_done").await;
    join(&mut a, &ann).await;
    let mut b = server.ws_at("/chat/ws", &ben_token).await.expect("upgrade");
    b.expect("online_users").await;
    b.expect("sync_done").await;
    join(&mut b, &ben).await;
    b.send(json!({"type": "request_public_key", "receiver": ann.to_lowercase()}))
        .await;
    assert_eq!(
        b.expect("public_key_response").await,
        json!({"type": "public_key_response", "username": ann, "publicKey": jwk(&ann)})
    );

    // The app's tokens work on REST too.
    let (status, body) = server
        .post(
            "/chat/friends/request",
            Some(&ann_token),
            &json!({"receiver": ben}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"status": "pending"})));
    b.expect("new_friend_request").await;
    let (status, _) = server
        .post(
            "/chat/friends/accept",
            Some(&ben_token),
            &json!({"sender": ann}),
        )
        .await;
    assert_eq!(status, 200);
    let activated = a.expect("friendship_activated").await;
    assert_eq!(
        activated,
        json!({"type": "friendship_activated", "with": ben, "online": true,
               "publicKey": jwk(&ben)})
    );
    b.expect("friendship_activated").await;

    let id = new_id();
    a.send(message(&ben, &id)).await;
    a.expect("message_sent").await;
    let got = b.expect("receive_message").await;
    assert_eq!(got["sender"], ann.as_str());
    assert_eq!(got["id"], id.as_str());

    // The app decides who is logged in: a token it forgot is refused.
    sessions.log_out(&ben_token);
    assert_eq!(server.ws_at("/chat/ws", &ben_token).await.err(), Some(401));
    let (status, _) = server.get("/chat/friends/status", Some(&ben_token)).await;
    assert_eq!(status, 401);
    assert_eq!(server.ws_at("/chat/ws", "made-up").await.err(), Some(401));
    // Provisioned users have no password: nexchat's own login refuses them.
    let (status, _) = server
        .post(
            "/chat/auth/login",
            None,
            &json!({"username": ann, "password": ""}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_custom_identity_naming_an_invalid_username_is_refused() {
    let sessions = AppSessions::default();
    let identity = sessions.clone();
    let server = TestServer::start_custom(move |builder| builder.identity(identity), app).await;
    let token = sessions.log_in("not a valid name!");
    assert_eq!(server.ws_at("/chat/ws", &token).await.err(), Some(401));
}
