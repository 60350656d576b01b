//! Embedding over real sockets: nexchat's router nested under a prefix inside another app, and
//! the host app of `examples/custom_identity.rs`, whose own login lets its users chat without a
//! nexchat account.

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
mod common;

// The example itself, not a copy: what it shows is what is tested.
#[allow(dead_code)]
#[path = "../examples/custom_identity.rs"]
mod custom_identity;

use axum::Router;
use axum::routing::get;
use common::*;
use custom_identity::Sessions;
use serde_json::{Value, json};

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

/// The host app of the example, on the test store, with `customize` applied to the chat.
async fn host_app(
    customize: impl FnOnce(nexchat_core::ChatBuilder) -> nexchat_core::ChatBuilder,
) -> (TestServer, Sessions) {
    let sessions = Sessions::default();
    let identity = sessions.clone();
    let app_sessions = sessions.clone();
    let server = TestServer::start_app(
        move |builder| customize(builder.identity(identity)),
        move |chat| custom_identity::app(chat, app_sessions),
    )
    .await;
    (server, sessions)
}

/// Signs a user up with the host app; returns their app token.
async fn sign_up(server: &TestServer, name: &str) -> String {
    let (status, body) = server
        .post("/signup", None, &json!({"username": name}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

/// Opens a socket with an app token and reads the greeting.
async fn open(server: &TestServer, token: &str) -> (Ws, Value) {
    let mut ws = server.ws_at("/chat/ws", token).await.expect("upgrade");
    let online = ws.expect("online_users").await;
    ws.expect("sync_done").await;
    (ws, online)
}

#[tokio::test]
async fn with_the_apps_own_login_nexchats_account_routes_are_not_mounted() {
    let (server, _) = host_app(|b| b).await;
    let token = sign_up(&server, &unique("ann")).await;
    let body = json!({"username": "someone", "password": "correct horse",
                      "publicKey": jwk("someone"), "encryptedPrivateKey": {}});
    for path in [
        "/chat/auth/register",
        "/chat/auth/login",
        "/chat/auth/password",
        "/chat/auth/logout",
    ] {
        let (status, _) = server.post(path, Some(&token), &body).await;
        assert_eq!(status, 404, "POST {path}");
    }
    for path in ["/chat/auth/params?username=someone", "/chat/auth/sessions"] {
        assert_eq!(server.get(path, Some(&token)).await.0, 404, "GET {path}");
    }
    assert_eq!(server.delete("/chat/auth/account", &token).await.0, 404);
    // What the app's users need is there.
    assert_eq!(
        server.get("/chat/friends/status", Some(&token)).await.0,
        200
    );
    let (status, body) = server
        .post("/chat/auth/ws-ticket", Some(&token), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_provisioned_user_is_befriended_before_their_first_visit() {
    let (server, sessions) = host_app(|b| b).await;
    let ann = unique("ann");
    let ben = unique("Ben");
    let ann_token = sign_up(&server, &ann).await;
    let ben_token = sign_up(&server, &ben).await;

    let (mut a, _) = open(&server, &ann_token).await;
    join(&mut a, &ann).await;
    // Ben has never used the chat, yet Ann finds him and asks him.
    let (status, found) = server
        .get(
            &format!("/chat/users?q={}", ben.to_lowercase()),
            Some(&ann_token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["users"], json!([{"username": ben, "online": false}]));
    let (status, body) = server
        .post(
            "/chat/friends/request",
            Some(&ann_token),
            &json!({"receiver": ben}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"status": "pending"})));
    let (status, _) = server
        .post(
            "/chat/friends/accept",
            Some(&ben_token),
            &json!({"sender": ann}),
        )
        .await;
    assert_eq!(status, 200);
    // Ben has no key yet: the friendship comes with a null one...
    assert_eq!(
        a.expect("friendship_activated").await,
        json!({"type": "friendship_activated", "with": ben, "online": false, "publicKey": null})
    );
    let (status, body) = server
        .get(&format!("/chat/users/{ben}/public-key"), Some(&ann_token))
        .await;
    assert_eq!((status, body["error"].clone()), (404, json!("not_found")));

    // ...and his first key, when he first connects, as key_changed.
    let (mut b, online) = open(&server, &ben_token).await;
    assert_eq!(online["users"], json!([ann]));
    assert_eq!(
        a.expect("presence").await,
        json!({"type": "presence", "username": ben, "online": true})
    );
    join(&mut b, &ben).await;
    assert_eq!(
        a.expect("key_changed").await,
        json!({"type": "key_changed", "username": ben, "publicKey": jwk(&ben)})
    );

    let id = new_id();
    a.send(message(&ben, &id)).await;
    a.expect("message_sent").await;
    let got = b.expect("receive_message").await;
    assert_eq!(
        (got["sender"].clone(), got["id"].clone()),
        (json!(ann), json!(id))
    );

    // The app decides who is logged in: a token it forgot is refused.
    let response = server
        .http
        .post(server.url("/logout"))
        .bearer_auth(&ben_token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(server.ws_at("/chat/ws", &ben_token).await.err(), Some(401));
    assert_eq!(
        server.get("/chat/friends/status", Some(&ben_token)).await.0,
        401
    );
    assert_eq!(server.ws_at("/chat/ws", "made-up").await.err(), Some(401));
    drop(sessions);
}

#[tokio::test]
async fn the_app_erases_a_user_and_the_name_never_comes_back() {
    let (server, sessions) = host_app(|b| b).await;
    let ann = unique("ann");
    let cid = unique("cid");
    let ann_token = sign_up(&server, &ann).await;
    let cid_token = sign_up(&server, &cid).await;
    server
        .post(
            "/chat/friends/request",
            Some(&ann_token),
            &json!({"receiver": cid}),
        )
        .await;
    server
        .post(
            "/chat/friends/accept",
            Some(&cid_token),
            &json!({"sender": ann}),
        )
        .await;
    let (mut a, _) = open(&server, &ann_token).await;
    let (mut c, _) = open(&server, &cid_token).await;
    a.expect("presence").await;

    server.chat.erase_user(&cid).await.expect("erased");
    assert_eq!(c.expect_close().await, 4003);
    assert_eq!(
        a.recv_until("friend_removed").await,
        json!({"type": "friend_removed", "from": cid})
    );
    let (status, found) = server
        .get(&format!("/chat/users?q={cid}"), Some(&ann_token))
        .await;
    assert_eq!((status, found["users"].clone()), (200, json!([])));
    // The app's session outlived the account: the name is not handed out again.
    assert_eq!(server.ws_at("/chat/ws", &cid_token).await.err(), Some(401));
    assert!(server.chat.provision_user(&cid).await.is_err());
    assert_eq!(
        server.chat.erase_user(&cid).await,
        Err(nexchat_core::ChatError::UserNotFound)
    );
    drop(sessions);
}

#[tokio::test]
async fn a_name_outside_the_rule_is_refused_with_the_rule() {
    let (server, sessions) = host_app(|b| b).await;
    // An app whose user ids are emails, answered as they are.
    let token = sessions.open("ann@example.org");
    assert_eq!(server.ws_at("/chat/ws", &token).await.err(), Some(403));
    let (status, body) = server.get("/chat/friends/status", Some(&token)).await;
    assert_eq!((status, body["error"].clone()), (403, json!("forbidden")));
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("3 to 32 characters of A-Z a-z 0-9 _ . -"),
        "{message}"
    );
    // The app's sign-up, which provisions, is told the same.
    let (status, _) = server
        .post("/signup", None, &json!({"username": "ann@example.org"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn kept_beside_the_apps_login_nexchat_accounts_and_app_users_never_cross() {
    let (server, sessions) = host_app(|b| b.own_accounts(true)).await;
    // An app user, known to the chat from their first request.
    let ann = unique("ann");
    let ann_token = sign_up(&server, &ann).await;
    assert_eq!(
        server.get("/chat/friends/status", Some(&ann_token)).await.0,
        200
    );
    // Nobody takes Ann's name through nexchat's routes, and her account has no password.
    let (status, _) = server
        .post(
            "/chat/auth/register",
            None,
            &json!({"username": ann.to_uppercase(), "password": "correct horse",
                    "publicKey": jwk("mallory"), "encryptedPrivateKey": {}}),
        )
        .await;
    assert_eq!(status, 409);
    for password in ["", "correct horse"] {
        let (status, _) = server
            .post(
                "/chat/auth/login",
                None,
                &json!({"username": ann, "password": password}),
            )
            .await;
        assert_eq!(status, 401);
    }
    // A name registered with nexchat is not handed to the app's user of that name.
    let mallory = unique("mallory");
    let (status, _) = server
        .post(
            "/chat/auth/register",
            None,
            &json!({"username": mallory, "password": "correct horse",
                    "publicKey": jwk(&mallory), "encryptedPrivateKey": {}}),
        )
        .await;
    assert_eq!(status, 201);
    let squatted = sessions.open(&mallory);
    assert_eq!(
        server.get("/chat/friends/status", Some(&squatted)).await.0,
        403
    );
    assert_eq!(server.ws_at("/chat/ws", &squatted).await.err(), Some(403));
    let (status, body) = server
        .post("/signup", None, &json!({"username": mallory}))
        .await;
    assert_eq!(status, 409, "{body}");
    // Both kinds of token work side by side.
    let (status, login) = server
        .post(
            "/chat/auth/login",
            None,
            &json!({"username": mallory, "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, 200);
    let mallory_token = login["token"].as_str().expect("token");
    let (status, body) = server
        .post(
            "/chat/friends/request",
            Some(mallory_token),
            &json!({"receiver": ann}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"status": "pending"})));
    let (status, body) = server.get("/chat/friends/status", Some(&ann_token)).await;
    assert_eq!(
        (status, body["pending_received"].clone()),
        (200, json!([mallory]))
    );
}

#[tokio::test]
async fn the_demo_client_is_served_under_a_prefix_with_its_headers() {
    let server = TestServer::start_app(
        |builder| builder,
        |chat| {
            let app = Router::new().route("/", get(|| async { "my app" }));
            nexchat_axum::demo_client::nest(app, "/chat", nexchat_axum::router(chat))
        },
    )
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| http.get(server.url(path)).send();
    let bare = get("/chat?x=1").await.expect("GET /chat");
    assert_eq!(bare.status().as_u16(), 308);
    assert_eq!(bare.headers()["location"], "/chat/?x=1");
    let page = get("/chat/").await.expect("GET /chat/");
    assert_eq!(page.status().as_u16(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("connect-src 'self'")
    );
    assert!(
        page.text()
            .await
            .expect("page")
            .contains(r#"<script type="module" src="app.js">"#)
    );
    // A script, then the same again with its ETag: not sent twice.
    let script = get("/chat/app.js").await.expect("GET app.js");
    assert_eq!(script.status().as_u16(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .contains("javascript")
    );
    let etag = script.headers()["etag"].clone();
    let again = http
        .get(server.url("/chat/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("GET app.js again");
    assert_eq!(again.status().as_u16(), 304);
    // The client's tests and packages are not served; the app's root stays the app's; the API
    // is beside the page.
    for path in [
        "/chat/tests/helpers.js",
        "/chat/package.json",
        "/chat/nope.js",
    ] {
        let missing = get(path).await.expect("GET");
        assert_eq!(missing.status().as_u16(), 404, "{path}");
    }
    assert_eq!(
        get("/").await.expect("GET /").text().await.expect("text"),
        "my app"
    );
    let (status, _) = server.get("/chat/client-config", None).await;
    assert_eq!(status, 200);
}
