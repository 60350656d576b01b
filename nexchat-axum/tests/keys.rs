//! Keys only their owner can unlock, over real HTTP and WebSockets: `GET /auth/params`, the
//! register `kdf` field, the move of a v1 account to v1.1, password change and account deletion.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use nexchat_core::ManualClock;
use nexchat_core::protocol::PublicKey;
use nexchat_core::protocol::rest::RegisterRequest;
use nexchat_core::store::UserStore;
use nexchat_core::transport::ClientInfo;
use reqwest::Method;
use serde_json::{Value, json};

/// What a v1 client sends as its password.
const PASSWORD: &str = "correct horse";
/// What a v1.1 client sends instead, derived from the password (any opaque text to the server).
const AUTH_KEY: &str = "q1kK3o3oA2cTzUe0z3mP0aHk8Xv9yG6m1sWnR4bJt2E=";
const NEW_AUTH_KEY: &str = "Zm9yIHRoZSBuZXcgcGFzc3dvcmQsIGRlcml2ZWQgYWdhaW4=";

/// A `kdf` object as the browser client makes it: the defaults and 16 random bytes of salt.
fn kdf() -> Value {
    let salt: [u8; 16] = rand::random();
    json!({"alg": "argon2id", "v": 19, "m": 65536, "t": 3, "p": 1, "salt": STANDARD.encode(salt)})
}

fn backup(tag: &str) -> Value {
    json!({"v": 2, "iv": "AAAAAAAAAAAAAAAA", "ciphertext": format!("wrapped-{tag}")})
}

async fn register(server: &TestServer, name: &str, password: &str, kdf: Option<Value>) -> u16 {
    let mut body = json!({"username": name, "password": password, "publicKey": jwk(name),
                          "encryptedPrivateKey": backup("first")});
    if let Some(kdf) = kdf {
        body["kdf"] = kdf;
    }
    let (status, answer) = server.post("/auth/register", None, &body).await;
    assert!(status == 201 || status >= 400, "register {name}: {answer}");
    status
}

async fn login_status(server: &TestServer, name: &str, password: &str) -> u16 {
    let body = json!({"username": name, "password": password});
    server.post("/auth/login", None, &body).await.0
}

/// `GET /auth/params` for `name`: status, the body as sent, and the body parsed.
async fn params(server: &TestServer, name: &str) -> (u16, String, Value) {
    let response = server
        .http
        .get(server.url("/auth/params"))
        .query(&[("username", name)])
        .send()
        .await
        .expect("GET /auth/params");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, text, body)
}

async fn kdf_of(server: &TestServer, name: &str) -> Value {
    let (status, _, body) = params(server, name).await;
    assert_eq!(status, 200, "params of {name}: {body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only kdf: {body}"
    );
    body["kdf"].clone()
}

/// What the answer must not tell apart: each member's name, JSON type and, for strings, length.
fn shape(kdf: &Value) -> Vec<(String, &'static str, usize)> {
    let object = kdf.as_object().expect("kdf is an object");
    let mut shape: Vec<_> = object
        .iter()
        .map(|(key, value)| {
            let (kind, len) = match value {
                Value::String(s) => ("string", s.len()),
                Value::Number(n) if n.is_u64() => ("unsigned", 0),
                Value::Number(_) => ("number", 0),
                Value::Bool(_) => ("bool", 0),
                Value::Null => ("null", 0),
                Value::Array(_) => ("array", 0),
                Value::Object(_) => ("object", 0),
            };
            (key.clone(), kind, len)
        })
        .collect();
    shape.sort();
    shape
}

async fn change_password(server: &TestServer, token: &str, body: &Value) -> (u16, Value) {
    server.post("/auth/password", Some(token), body).await
}

async fn delete_account(server: &TestServer, token: &str, password: &str) -> (u16, Value) {
    let body = json!({"password": password}).to_string();
    let (status, _, answer) = server
        .raw(
            Method::DELETE,
            "/auth/account",
            Some(token),
            Some(("application/json", body)),
        )
        .await;
    (status, answer)
}

/// A friend of `user`'s in `user`'s own words: `GET /friends/status`.
async fn friends_status(server: &TestServer, user: &User) -> Value {
    let (status, body) = server.get("/friends/status", Some(&user.token)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn params_of_unknown_names_are_stable_in_any_case_and_shaped_like_real_ones() {
    let server = TestServer::start().await;
    let real = unique("real");
    let stored = kdf();
    assert_eq!(
        register(&server, &real, AUTH_KEY, Some(stored.clone())).await,
        201
    );
    let (_, real_text, real_body) = params(&server, &real).await;
    assert_eq!(real_body["kdf"], stored);

    let ghost = unique("ghost");
    let (status, ghost_text, first) = params(&server, &ghost).await;
    assert_eq!(status, 200, "{first}");
    for spelling in [ghost.clone(), ghost.to_uppercase(), ghost.clone()] {
        assert_eq!(
            params(&server, &spelling).await.2,
            first,
            "the made-up answer must be the same at every call and in every letter case"
        );
    }
    assert_eq!(
        shape(&first["kdf"]),
        shape(&real_body["kdf"]),
        "same members, value types and string lengths as a real account's"
    );
    assert_eq!(
        ghost_text.len(),
        real_text.len(),
        "the answers must be the same size: {ghost_text} / {real_text}"
    );
    for member in ["alg", "v", "m", "t", "p"] {
        assert_eq!(first["kdf"][member], stored[member], "{member}");
    }
    let salt = STANDARD
        .decode(first["kdf"]["salt"].as_str().expect("salt"))
        .expect("standard base64 salt");
    assert_eq!(salt.len(), 16);
    let other = params(&server, &unique("ghost")).await.2;
    assert_ne!(
        other["kdf"]["salt"], first["kdf"]["salt"],
        "each unknown name gets a salt of its own"
    );
    // Another server (another secret) makes up other salts for the same name.
    let mut config = test_config();
    config.jwt_secret = b"a different secret, just as long as the other".to_vec();
    let elsewhere = TestServer::start_with(config).await;
    assert_ne!(
        params(&elsewhere, &ghost).await.2["kdf"]["salt"],
        first["kdf"]["salt"]
    );
}

#[tokio::test]
async fn params_answer_null_for_a_v1_account_and_the_stored_object_for_a_v1_1_account() {
    let server = TestServer::start().await;
    let v1 = unique("v1");
    assert_eq!(register(&server, &v1, PASSWORD, None).await, 201);
    assert_eq!(kdf_of(&server, &v1).await, Value::Null);
    assert_eq!(kdf_of(&server, &v1.to_uppercase()).await, Value::Null);

    let explicit_null = unique("null");
    assert_eq!(
        register(&server, &explicit_null, PASSWORD, Some(Value::Null)).await,
        201
    );
    assert_eq!(kdf_of(&server, &explicit_null).await, Value::Null);

    let modern = unique("v11");
    let stored = kdf();
    assert_eq!(
        register(&server, &modern, AUTH_KEY, Some(stored.clone())).await,
        201
    );
    assert_eq!(kdf_of(&server, &modern.to_uppercase()).await, stored);
}

#[tokio::test]
async fn params_refuse_a_name_that_breaks_the_username_rule() {
    let server = TestServer::start().await;
    for name in ["ab", "has space", &"x".repeat(33), "bad/slash"] {
        let (status, _, body) = params(&server, name).await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
    let (status, body) = server.get("/auth/params", None).await;
    assert_eq!(status, 400, "no username: {body}");
}

#[tokio::test]
async fn register_keeps_a_kdf_up_to_1_kib_and_refuses_larger_or_non_objects() {
    let server = TestServer::start().await;
    let name = unique("kdf");
    let mut big = kdf();
    big["pad"] = json!("x".repeat(1024));
    assert_eq!(register(&server, &name, AUTH_KEY, Some(big)).await, 413);
    for wrong in [json!("argon2id"), json!([1, 2]), json!(19), json!(true)] {
        let body = json!({"username": name, "password": AUTH_KEY, "publicKey": jwk(&name),
                          "encryptedPrivateKey": backup("first"), "kdf": wrong});
        let (status, answer) = server.post("/auth/register", None, &body).await;
        assert_eq!(status, 400, "kdf {wrong}: {answer}");
        assert_eq!(answer["error"], "bad_request");
    }
    // The refusals created nothing: the name is still free, and takes a kdf that fits.
    let mut fits = kdf();
    let room = 1024 - fits.to_string().len() - r#","pad":"""#.len();
    fits["pad"] = json!("x".repeat(room));
    assert_eq!(fits.to_string().len(), 1024);
    assert_eq!(
        register(&server, &name, AUTH_KEY, Some(fits.clone())).await,
        201
    );
    assert_eq!(kdf_of(&server, &name).await, fits);
}

#[tokio::test]
async fn a_v1_account_logs_in_and_moves_to_v1_1_with_a_password_change() {
    let server = TestServer::start().await;
    let name = unique("mover");
    assert_eq!(register(&server, &name, PASSWORD, None).await, 201);
    assert_eq!(kdf_of(&server, &name).await, Value::Null);
    let user = server.login(&name, PASSWORD).await;

    // The client derives from the same password; the server sees only the auth key.
    let new_kdf = kdf();
    let (status, answer) = change_password(
        &server,
        &user.token,
        &json!({"currentPassword": PASSWORD, "newPassword": AUTH_KEY, "kdf": new_kdf,
                "encryptedPrivateKey": backup("v1.1")}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(kdf_of(&server, &name).await, new_kdf);
    assert_eq!(
        login_status(&server, &name, PASSWORD).await,
        401,
        "the password itself no longer logs in"
    );
    let (status, body) = server
        .post(
            "/auth/login",
            None,
            &json!({"username": name, "password": AUTH_KEY}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["encryptedPrivateKey"], backup("v1.1"));
    assert_eq!(body["publicKey"], jwk(&name), "the key pair stays");
}

#[tokio::test]
async fn a_password_change_ends_every_socket_and_keeps_the_public_key() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut first, _) = server.connect(&alice).await;
    let (mut second, _) = server.connect(&alice).await;
    bob_ws.recv_until("presence").await;

    let new_kdf = kdf();
    let (status, answer) = change_password(
        &server,
        &alice.token,
        &json!({"currentPassword": PASSWORD, "newPassword": NEW_AUTH_KEY, "kdf": new_kdf,
                "encryptedPrivateKey": backup("rewrapped")}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer.as_object().map(|o| o.len()),
        Some(2),
        "exactly {{token, expiresAt}}: {answer}"
    );
    assert!(answer["expiresAt"].as_i64().is_some(), "{answer}");
    assert_eq!(first.expect_close().await, 4003);
    assert_eq!(second.expect_close().await, 4003);

    let token = answer["token"].as_str().expect("token").to_owned();
    let fresh = User {
        token,
        ..alice.clone()
    };
    let (status, _) = server.get("/friends/status", Some(&fresh.token)).await;
    assert_eq!(status, 200, "the returned token starts a new session");
    let (status, _) = server.get("/friends/status", Some(&alice.token)).await;
    assert_eq!(
        status, 401,
        "the token of the ended session is refused at once"
    );
    assert_eq!(
        server.ws_with_token(&alice.token).await.err(),
        Some(401),
        "on /ws too"
    );
    let (mut third, _) = server.connect(&fresh).await;

    assert_eq!(login_status(&server, &alice.name, PASSWORD).await, 401);
    let again = server.login(&alice.name, NEW_AUTH_KEY).await;
    assert_eq!(
        again.public_key, alice.public_key,
        "the public key is unchanged"
    );
    let (status, body) = server
        .get(
            &format!("/users/{}/public-key", alice.name),
            Some(&bob.token),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["publicKey"], alice.public_key);

    // Bob saw Alice's sockets go and come, never a key change.
    let deadline = tokio::time::Instant::now() + QUIET;
    while let Ok(event) = tokio::time::timeout_at(deadline, bob_ws.recv()).await {
        assert_ne!(event["type"], "key_changed", "{event}");
    }
    third
        .send(json!({"type": "request_public_key", "receiver": bob.name}))
        .await;
    third.expect("public_key_response").await;
}

#[tokio::test]
async fn a_password_change_refuses_bad_bodies_and_changes_nothing() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let good = json!({"currentPassword": PASSWORD, "newPassword": NEW_AUTH_KEY, "kdf": kdf(),
                      "encryptedPrivateKey": backup("x")});
    let mut cases = Vec::new();
    for (field, value) in [
        ("kdf", json!("argon2id")),
        ("kdf", json!([])),
        ("encryptedPrivateKey", json!("text")),
        ("encryptedPrivateKey", Value::Null),
        ("newPassword", json!("short")),
        ("newPassword", json!("x".repeat(1025))),
    ] {
        let mut body = good.clone();
        body[field] = value;
        cases.push((body, 400));
    }
    let mut missing_kdf = good.clone();
    missing_kdf.as_object_mut().expect("object").remove("kdf");
    cases.push((missing_kdf, 400));
    let mut big_kdf = good.clone();
    big_kdf["kdf"]["pad"] = json!("x".repeat(1024));
    cases.push((big_kdf, 413));
    let mut big_backup = good.clone();
    big_backup["encryptedPrivateKey"]["pad"] = json!("x".repeat(16 * 1024));
    cases.push((big_backup, 413));
    for (body, expected) in cases {
        let (status, answer) = change_password(&server, &alice.token, &body).await;
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = server.post("/auth/password", None, &good).await;
    assert_eq!(status, 401, "a token is required");
    assert_eq!(login_status(&server, &alice.name, PASSWORD).await, 200);
    assert_eq!(kdf_of(&server, &alice.name).await, Value::Null);

    // `kdf: null` keeps v1's scheme: allowed.
    let mut keep_v1 = good;
    keep_v1["kdf"] = Value::Null;
    let (status, answer) = change_password(&server, &alice.token, &keep_v1).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(kdf_of(&server, &alice.name).await, Value::Null);
    assert_eq!(login_status(&server, &alice.name, NEW_AUTH_KEY).await, 200);
}

#[tokio::test]
async fn a_wrong_current_password_is_401_and_counts_as_a_failed_login() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let body = |current: &str| {
        json!({"currentPassword": current, "newPassword": NEW_AUTH_KEY, "kdf": kdf(),
               "encryptedPrivateKey": backup("x")})
    };
    for attempt in 1..=10 {
        let (status, answer) = change_password(&server, &alice.token, &body("wrong one")).await;
        assert_eq!(status, 401, "attempt {attempt}: {answer}");
        assert_eq!(answer["error"], "unauthorized");
    }
    let (status, answer) = change_password(&server, &alice.token, &body("wrong one")).await;
    assert_eq!(status, 429, "the 11th wrong attempt: {answer}");
    let (status, answer) = change_password(&server, &alice.token, &body(PASSWORD)).await;
    assert_eq!(
        status, 429,
        "even the right password while throttled: {answer}"
    );
    assert_eq!(
        login_status(&server, &alice.name, PASSWORD).await,
        429,
        "the failures count against logins of the name too"
    );
    server.clock.advance(Duration::from_secs(15 * 60));
    let (status, answer) = change_password(&server, &alice.token, &body(PASSWORD)).await;
    assert_eq!(status, 200, "free again after 15 minutes: {answer}");
}

#[tokio::test]
async fn deleting_an_account_erases_it_and_keeps_the_name_reserved() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&carol, &alice).await;
    server.befriend(&bob, &carol).await;
    let (status, _) = server
        .post(
            "/friends/request",
            Some(&alice.token),
            &json!({"receiver": dave.name}),
        )
        .await;
    assert_eq!(status, 200);
    let stored = kdf();
    let (status, answer) = change_password(
        &server,
        &alice.token,
        &json!({"currentPassword": PASSWORD, "newPassword": AUTH_KEY, "kdf": stored,
                "encryptedPrivateKey": backup("v1.1")}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let alice = User {
        token: answer["token"].as_str().expect("token").to_owned(),
        ..alice
    };

    let (mut bob_ws, _) = server.connect(&bob).await;
    let (mut carol_ws, _) = server.connect(&carol).await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut alice_other, _) = server.connect(&alice).await;
    for to in [&bob, &carol] {
        alice_ws.send(message(&to.name, &new_id())).await;
        alice_ws.recv_until("message_sent").await;
    }
    bob_ws.send(message(&alice.name, &new_id())).await;
    bob_ws.recv_until("message_sent").await;
    bob_ws.send(message(&carol.name, &new_id())).await;
    bob_ws.recv_until("message_sent").await;
    // A call ringing when the account goes.
    alice_ws
        .send(
            json!({"type": "call_offer", "to": bob.name, "offer": {"sdp": "o"},
                     "withVideo": false}),
        )
        .await;
    alice_ws.recv_until("call_started").await;
    bob_ws.recv_until("call_offer").await;

    let (status, answer) = delete_account(&server, &alice.token, "wrong one").await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(login_status(&server, &alice.name, AUTH_KEY).await, 200);

    let (status, answer) = delete_account(&server, &alice.token, AUTH_KEY).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(alice_ws.expect_close().await, 4003);
    assert_eq!(alice_other.expect_close().await, 4003);
    let ended = bob_ws.recv_until("call_ended").await;
    assert_eq!(ended["from"], alice.name.as_str());
    for ws in [&mut bob_ws, &mut carol_ws] {
        let removed = ws.recv_until("friend_removed").await;
        assert_eq!(removed["from"], alice.name.as_str());
    }

    // Nothing of the account is left to find or to use.
    assert_eq!(login_status(&server, &alice.name, AUTH_KEY).await, 401);
    assert_eq!(
        register(&server, &alice.name.to_uppercase(), PASSWORD, None).await,
        409,
        "the name stays reserved in every letter case"
    );
    let decoy = kdf_of(&server, &alice.name).await;
    assert_ne!(decoy, stored, "params no longer tell the stored parameters");
    assert_eq!(shape(&decoy), shape(&stored));
    assert_eq!(kdf_of(&server, &alice.name).await, decoy, "a stable decoy");
    let (status, _) = server.get("/friends/status", Some(&alice.token)).await;
    assert_eq!(status, 401, "the account's tokens are refused");
    assert_eq!(server.ws_with_token(&alice.token).await.err(), Some(401));
    let (status, body) = server
        .get(
            &format!("/users/{}/public-key", alice.name),
            Some(&bob.token),
        )
        .await;
    assert_eq!((status, &body["error"]), (404, &json!("user_not_found")));
    let prefix = &alice.name[..8];
    let (status, body) = server
        .get(&format!("/users?q={prefix}"), Some(&bob.token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["users"], json!([]), "not listed by search");

    for friend in [&bob, &carol] {
        let status = friends_status(&server, friend).await;
        let friends = status["friends"].as_array().expect("friends").clone();
        assert!(
            !friends.contains(&json!(alice.name)),
            "{} still lists the erased account: {status}",
            friend.name
        );
    }
    assert_eq!(
        friends_status(&server, &dave).await["pending_received"],
        json!([])
    );

    // Her messages are gone from the friends' side too; theirs with each other stay.
    bob_ws
        .send(json!({"type": "fetch_history", "withUser": alice.name}))
        .await;
    let refused = bob_ws.recv_until("error").await;
    assert_eq!(refused["code"], "user_not_found", "{refused}");
    drop(bob_ws);
    let (_, greeting) = server.connect(&carol).await;
    let senders: Vec<_> = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message")
        .map(|e| e["sender"].clone())
        .collect();
    assert_eq!(
        senders,
        vec![json!(bob.name)],
        "carol's undelivered messages: alice's are gone, bob's is left"
    );
    let (mut carol_ws2, _) = server.connect(&carol).await;
    carol_ws2
        .send(json!({"type": "fetch_history", "withUser": bob.name}))
        .await;
    let history = carol_ws2.recv_until("history_response").await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_wrong_password_for_deletion_is_401_and_counts_as_a_failed_login() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    for attempt in 1..=10 {
        let (status, answer) = delete_account(&server, &alice.token, "wrong one").await;
        assert_eq!(status, 401, "attempt {attempt}: {answer}");
    }
    let (status, answer) = delete_account(&server, &alice.token, PASSWORD).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(login_status(&server, &alice.name, PASSWORD).await, 429);
    server.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(login_status(&server, &alice.name, PASSWORD).await, 200);
}

#[tokio::test]
async fn a_restart_finishes_an_erasure_a_previous_run_left_midway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::starting_now();
    let (alice, bob) = (unique("alice"), unique("bob"));
    {
        let chat = sqlite_chat(test_config(), clock.clone(), &dir).await;
        for name in [&alice, &bob] {
            chat.register(
                RegisterRequest {
                    username: name.clone(),
                    password: PASSWORD.to_owned(),
                    public_key: PublicKey::from_json(&jwk(name).to_string()).expect("jwk"),
                    encrypted_private_key: backup("first"),
                    kdf: Some(kdf()),
                },
                &ClientInfo::default(),
            )
            .await
            .expect("register");
        }
        chat.friend_request(&alice, &bob).await.expect("request");
        chat.friend_accept(&bob, &alice).await.expect("accept");
    }
    // The server died right after the first step of Alice's erasure.
    {
        let store = nexchat_store::SqliteStore::open(dir.path().join("chat.db")).expect("open");
        assert!(store.mark_erasing(&alice).await.expect("mark"));
    }
    let chat = sqlite_chat(test_config(), clock.clone(), &dir).await;
    let server = TestServer::serve(chat, clock, dir, |router| router).await;
    assert_eq!(login_status(&server, &alice, PASSWORD).await, 401);
    assert_eq!(register(&server, &alice, PASSWORD, None).await, 409);
    let bob = server.login(&bob, PASSWORD).await;
    assert_eq!(friends_status(&server, &bob).await["friends"], json!([]));
}

#[tokio::test]
async fn of_two_racing_password_changes_exactly_one_wins() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let change = |new: &'static str| {
        let body = json!({"currentPassword": PASSWORD, "newPassword": new, "kdf": kdf(),
                          "encryptedPrivateKey": backup(new)});
        let (server, token) = (&server, alice.token.clone());
        async move { change_password(server, &token, &body).await.0 }
    };
    let (first, second) = tokio::join!(change(AUTH_KEY), change(NEW_AUTH_KEY));
    let mut statuses = [first, second];
    statuses.sort_unstable();
    // The loser either met the hash already replaced (409) or, checked after the winner's
    // change, a current password that no longer matches (401).
    assert!(
        matches!(statuses, [200, 401 | 409]),
        "exactly one change must win: {statuses:?}"
    );
    let winner = if first == 200 { AUTH_KEY } else { NEW_AUTH_KEY };
    let loser = if first == 200 { NEW_AUTH_KEY } else { AUTH_KEY };
    assert_eq!(login_status(&server, &alice.name, winner).await, 200);
    assert_eq!(login_status(&server, &alice.name, loser).await, 401);
    assert_eq!(login_status(&server, &alice.name, PASSWORD).await, 401);
}
