//! Accounts and tokens over real HTTP and WebSockets: register, log in, failed-login limits from
//! one address (the other throttle rows are in `throttle.rs`), token checks on REST and on the `/ws` upgrade, and sockets closed when their token expires.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

fn backup() -> Value {
    json!({"v": 1, "salt": "c2FsdA==", "iv": "AAAA", "ciphertext": "AA=="})
}

fn register_body(name: &str, password: &str) -> Value {
    json!({"username": name, "password": password, "publicKey": jwk(name),
           "encryptedPrivateKey": backup()})
}

async fn register(server: &TestServer, name: &str, password: &str) -> (u16, Value) {
    server
        .post("/auth/register", None, &register_body(name, password))
        .await
}

async fn login(server: &TestServer, name: &str, password: &str) -> (u16, Value) {
    server
        .post(
            "/auth/login",
            None,
            &json!({"username": name, "password": password}),
        )
        .await
}

/// Asserts an error body is exactly `{error: code, message: TEXT}`.
fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

#[tokio::test]
async fn register_answers_201_with_the_name_as_registered() {
    let server = TestServer::start().await;
    let name = unique("MiXeD");
    let (status, body) = register(&server, &name, PASSWORD).await;
    assert_eq!(status, 201);
    assert_eq!(body, json!({"username": name}));

    let (status, body) = login(&server, &name.to_lowercase(), PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], name.as_str(), "the name as registered");
}

#[tokio::test]
async fn a_name_taken_in_any_letter_case_is_409_conflict() {
    let server = TestServer::start().await;
    let name = unique("taken");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    for other in [name.clone(), name.to_uppercase()] {
        let (status, body) = register(&server, &other, "another password").await;
        assert_eq!(status, 409, "{other}: {body}");
        assert_error(&body, "conflict");
    }
    // The first account is untouched.
    assert_eq!(login(&server, &name, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn usernames_must_be_3_to_32_of_the_allowed_characters() {
    let server = TestServer::start().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let three = id[..3].to_owned();
    let thirty_two = format!("a.b-c_{}", &id[..26]);
    for good in [three, thirty_two] {
        let (status, body) = register(&server, &good, PASSWORD).await;
        assert_eq!(status, 201, "{good}: {body}");
    }
    let bad = [
        String::new(),
        id[..2].to_owned(),
        format!("{}{}", id, &id[..1]),
        format!("sp ace{}", &id[..4]),
        format!("sl/ash{}", &id[..4]),
        format!("émile{}", &id[..4]),
        format!("at@{}", &id[..4]),
    ];
    for name in bad {
        let (status, body) = register(&server, &name, PASSWORD).await;
        assert_eq!(status, 400, "{name:?}: {body}");
        assert_error(&body, "bad_request");
    }
}

#[tokio::test]
async fn passwords_must_be_8_to_1024_characters() {
    let server = TestServer::start().await;
    for good in ["8 chars!".to_owned(), "p".repeat(1024)] {
        let name = unique("pw");
        let (status, body) = register(&server, &name, &good).await;
        assert_eq!(status, 201, "{} chars: {body}", good.len());
    }
    for bad in ["7 chars".to_owned(), "p".repeat(1025), String::new()] {
        let (status, body) = register(&server, &unique("pw"), &bad).await;
        assert_eq!(status, 400, "{} chars: {body}", bad.len());
        assert_error(&body, "bad_request");
    }
}

#[tokio::test]
async fn a_public_key_must_be_a_p256_jwk_without_private_part() {
    let server = TestServer::start().await;
    let name = unique("keys");
    let mut with_d = jwk(&name);
    with_d["d"] = json!("private scalar");
    let not_ec = json!({"kty": "RSA", "crv": "P-256", "x": "a", "y": "b"});
    let other_curve = json!({"kty": "EC", "crv": "P-384", "x": "a", "y": "b"});
    let no_y = json!({"kty": "EC", "crv": "P-256", "x": "a"});
    for key in [with_d, not_ec, other_curve, no_y, json!("a string")] {
        let body = json!({"username": name, "password": PASSWORD, "publicKey": key,
                          "encryptedPrivateKey": backup()});
        let (status, answer) = server.post("/auth/register", None, &body).await;
        assert_eq!(status, 400, "{key}: {answer}");
        assert_error(&answer, "bad_request");
    }
    // Nothing was created: the name is still free.
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
}

#[tokio::test]
async fn an_encrypted_private_key_over_16_kib_is_413() {
    let server = TestServer::start().await;
    // `{"blob":""}` is 11 bytes of JSON: this fills exactly 16 KiB.
    let fits = json!({"blob": "k".repeat(16 * 1024 - 11)});
    assert_eq!(fits.to_string().len(), 16 * 1024);
    let over = json!({"blob": "k".repeat(16 * 1024 - 10)});

    let name = unique("big");
    for not_an_object in [json!("a string"), json!([1, 2]), json!(null)] {
        let body = json!({"username": name, "password": PASSWORD, "publicKey": jwk(&name),
                          "encryptedPrivateKey": not_an_object});
        let (status, answer) = server.post("/auth/register", None, &body).await;
        assert_eq!(status, 400, "{answer}");
        assert_error(&answer, "bad_request");
    }
    let body = json!({"username": name, "password": PASSWORD, "publicKey": jwk(&name),
                      "encryptedPrivateKey": over});
    let (status, answer) = server.post("/auth/register", None, &body).await;
    assert_eq!(status, 413, "{answer}");
    assert_error(&answer, "too_large");

    let body = json!({"username": name, "password": PASSWORD, "publicKey": jwk(&name),
                      "encryptedPrivateKey": fits});
    let (status, answer) = server.post("/auth/register", None, &body).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = login(&server, &name, PASSWORD).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["encryptedPrivateKey"], fits,
        "stored unread, returned as uploaded"
    );
}

#[tokio::test]
async fn a_rest_body_over_64_kib_is_413() {
    let server = TestServer::start().await;
    let user = server.register("body").await;
    // Just under the limit: the body is read, and the (unknown) padding ignored.
    let under = json!({"username": user.name, "password": "wrong password",
                       "padding": "p".repeat(63 * 1024)});
    let (status, answer) = server.post("/auth/login", None, &under).await;
    assert_eq!(status, 401, "{answer}");

    let over = json!({"username": user.name, "password": PASSWORD,
                      "padding": "p".repeat(64 * 1024)});
    let (status, answer) = server.post("/auth/login", None, &over).await;
    assert_eq!(status, 413, "{answer}");
    assert_error(&answer, "too_large");

    let over = json!({"receiver": "p".repeat(65 * 1024)});
    let (status, answer) = server
        .post("/friends/request", Some(&user.token), &over)
        .await;
    assert_eq!(status, 413, "{answer}");
    assert_error(&answer, "too_large");
}

#[tokio::test]
async fn malformed_bodies_are_400_bad_request() {
    let server = TestServer::start().await;
    let user = server.register("malformed").await;
    let json_type = "application/json";
    let cases = [
        ("/auth/register", None, json_type, "{not json".to_owned()),
        ("/auth/login", None, json_type, "[1, 2".to_owned()),
        (
            "/auth/login",
            None,
            json_type,
            r#"{"username": "x"}"#.to_owned(),
        ),
        (
            "/auth/login",
            None,
            json_type,
            r#"{"username": 5, "password": "p"}"#.to_owned(),
        ),
        (
            "/friends/request",
            Some(user.token.as_str()),
            json_type,
            "{}".to_owned(),
        ),
        (
            "/friends/accept",
            Some(user.token.as_str()),
            json_type,
            "null".to_owned(),
        ),
        (
            "/auth/login",
            None,
            "text/plain",
            r#"{"username": "x", "password": "y"}"#.to_owned(),
        ),
    ];
    for (path, token, content_type, body) in cases {
        let (status, _, answer) = server
            .raw(
                Method::POST,
                path,
                token,
                Some((content_type, body.clone())),
            )
            .await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_error(&answer, "bad_request");
    }
}

#[tokio::test]
async fn login_answers_token_name_keys_and_expiry() {
    let server = TestServer::start().await;
    let name = unique("login");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    let (status, body) = login(&server, &name, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let fields: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = fields.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "encryptedPrivateKey",
            "expiresAt",
            "publicKey",
            "token",
            "username"
        ]
    );
    assert_eq!(body["username"], name.as_str());
    assert_eq!(body["publicKey"], jwk(&name));
    assert_eq!(body["encryptedPrivateKey"], backup());
    let now = nexchat_core::Clock::now_ms(&server.clock);
    let expires_at = body["expiresAt"].as_i64().expect("expiresAt is an integer");
    let ten_hours = 10 * 3600 * 1000;
    assert!(
        (now + ten_hours - 1000..=now + ten_hours).contains(&expires_at),
        "expiresAt {expires_at} is not 10 h after {now}"
    );
    let token = body["token"].as_str().expect("token");
    assert_eq!(server.get("/friends/status", Some(token)).await.0, 200);
}

#[tokio::test]
async fn login_matches_the_name_in_any_letter_case() {
    let server = TestServer::start().await;
    let name = unique("CaSe");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    for spelling in [name.to_lowercase(), name.to_uppercase()] {
        let (status, body) = login(&server, &spelling, PASSWORD).await;
        assert_eq!(status, 200, "{spelling}: {body}");
        assert_eq!(body["username"], name.as_str());
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let server = TestServer::start().await;
    let name = unique("who");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    let (status, wrong_password) = login(&server, &name, "not the password").await;
    assert_eq!(status, 401);
    assert_error(&wrong_password, "unauthorized");
    let (status, unknown_user) = login(&server, &unique("nobody"), PASSWORD).await;
    assert_eq!(status, 401);
    assert_eq!(unknown_user, wrong_password, "one answer for both causes");
}

#[tokio::test]
async fn a_1024_character_password_counts_in_full() {
    let server = TestServer::start().await;
    let name = unique("long");
    let password: String = (0..1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(register(&server, &name, &password).await.0, 201);
    assert_eq!(login(&server, &name, &password).await.0, 200);
    // bcrypt alone would read only these 72 bytes.
    assert_eq!(login(&server, &name, &password[..72]).await.0, 401);
    let changed_tail = format!("{}Z", &password[..1023]);
    assert_eq!(login(&server, &name, &changed_tail).await.0, 401);
}

#[tokio::test]
async fn ten_failed_logins_from_one_address_lock_the_name_there_for_15_minutes() {
    let server = TestServer::start().await;
    let name = unique("locked");
    let bystander = unique("bystander");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    assert_eq!(register(&server, &bystander, PASSWORD).await.0, 201);
    for attempt in 1..=10 {
        // Failures count per name in any letter case.
        let spelling = if attempt % 2 == 0 {
            name.to_uppercase()
        } else {
            name.clone()
        };
        let (status, _) = login(&server, &spelling, "wrong password").await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    let body = json!({"username": name, "password": PASSWORD}).to_string();
    let (status, retry_after, answer) = server
        .raw(
            Method::POST,
            "/auth/login",
            None,
            Some(("application/json", body.clone())),
        )
        .await;
    assert_eq!(status, 429, "even the right password: {answer}");
    assert_error(&answer, "rate_limited");
    let retry_after: u64 = retry_after
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After {retry_after}"
    );

    // Other names are not affected (the address itself is far from its own limit).
    assert_eq!(login(&server, &bystander, PASSWORD).await.0, 200);

    server.clock.advance(Duration::from_secs(14 * 60));
    assert_eq!(login(&server, &name, PASSWORD).await.0, 429, "still locked");
    server.clock.advance(Duration::from_secs(60));
    let (status, answer) = login(&server, &name, PASSWORD).await;
    assert_eq!(status, 200, "free again after 15 minutes: {answer}");
}

#[tokio::test]
async fn failed_logins_of_unknown_names_are_counted_too_from_one_address() {
    let server = TestServer::start().await;
    let ghost = unique("ghost");
    for _ in 0..10 {
        assert_eq!(login(&server, &ghost, PASSWORD).await.0, 401);
    }
    let (status, answer) = login(&server, &ghost, PASSWORD).await;
    assert_eq!(status, 429, "{answer}");
    assert_error(&answer, "rate_limited");
}

#[tokio::test]
async fn concurrent_failed_logins_cannot_exceed_the_limit() {
    let server = TestServer::start().await;
    let name = unique("storm");
    assert_eq!(register(&server, &name, PASSWORD).await.0, 201);
    let attempts = (0..40).map(|_| login(&server, &name, "wrong password"));
    let statuses: Vec<u16> = join_all(attempts).await.into_iter().map(|r| r.0).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (10, 30),
        "at most 10 passwords may be tried per window: {statuses:?}"
    );
}

/// The three base64url parts of a JWT.
fn jwt_parts(token: &str) -> Vec<String> {
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    parts
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The token's payload with `sub` replaced.
fn forged_payload(token: &str, sub: &str) -> String {
    let payload = URL_SAFE_NO_PAD
        .decode(&jwt_parts(token)[1])
        .expect("base64url payload");
    let mut claims: Value = serde_json::from_slice(&payload).expect("JSON claims");
    claims["sub"] = json!(sub);
    b64(&claims)
}

/// Tokens that must all be refused, with what is wrong with each.
fn bad_tokens(user: &User, victim: &User) -> Vec<(&'static str, String)> {
    let parts = jwt_parts(&user.token);
    let mut signature: Vec<u8> = parts[2].bytes().collect();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let signature = String::from_utf8(signature).expect("ascii");
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let hs512_header = b64(&json!({"alg": "HS512", "typ": "JWT"}));
    vec![
        ("empty", String::new()),
        ("garbage", "not-a-token".to_owned()),
        (
            "tampered signature",
            format!("{}.{}.{signature}", parts[0], parts[1]),
        ),
        (
            "payload swapped to another user",
            format!(
                "{}.{}.{}",
                parts[0],
                forged_payload(&user.token, &victim.name),
                parts[2]
            ),
        ),
        (
            "alg none",
            format!(
                "{none_header}.{}.",
                forged_payload(&user.token, &victim.name)
            ),
        ),
        (
            "alg none, own claims",
            format!("{none_header}.{}.", parts[1]),
        ),
        (
            "another algorithm",
            format!("{hs512_header}.{}.{}", parts[1], parts[2]),
        ),
    ]
}

#[tokio::test]
async fn bad_tokens_are_401_on_rest() {
    let server = TestServer::start().await;
    let user = server.register("holder").await;
    let victim = server.register("victim").await;
    let (status, answer) = server.get("/friends/status", None).await;
    assert_eq!(status, 401, "missing token");
    assert_error(&answer, "unauthorized");
    let (status, _, _) = server.raw(Method::GET, "/users?q=ab", None, None).await;
    assert_eq!(status, 401, "missing token on /users");
    for (what, token) in bad_tokens(&user, &victim) {
        let (status, answer) = server.get("/friends/status", Some(&token)).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_error(&answer, "unauthorized");
    }
    // Not a bearer token.
    let response = server
        .http
        .get(server.url("/friends/status"))
        .header("authorization", format!("Token {}", user.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 401);
    // The genuine token still works.
    assert_eq!(
        server.get("/friends/status", Some(&user.token)).await.0,
        200
    );
}

#[tokio::test]
async fn bad_tokens_are_401_on_the_websocket_upgrade() {
    let server = TestServer::start().await;
    let user = server.register("holder").await;
    let victim = server.register("victim").await;
    let missing = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await;
    match missing {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 401, "missing token");
        }
        other => panic!("missing token upgraded: {:?}", other.map(|_| ())),
    }
    for (what, token) in bad_tokens(&user, &victim) {
        match server.ws_with_token(&token).await {
            Err(status) => assert_eq!(status, 401, "{what}"),
            Ok(_) => panic!("{what}: upgraded"),
        }
    }
    assert!(server.ws_with_token(&user.token).await.is_ok());
}

#[tokio::test]
async fn tokens_expire_after_10_hours_on_rest_and_websocket() {
    let server = TestServer::start().await;
    let user = server.register("expiring").await;
    server
        .clock
        .advance(Duration::from_secs(10 * 3600) - Duration::from_secs(2));
    assert_eq!(
        server.get("/friends/status", Some(&user.token)).await.0,
        200
    );
    assert!(server.ws_with_token(&user.token).await.is_ok());

    server.clock.advance(Duration::from_secs(3));
    let (status, answer) = server.get("/friends/status", Some(&user.token)).await;
    assert_eq!(status, 401, "expired token: {answer}");
    assert_error(&answer, "unauthorized");
    assert_eq!(server.ws_with_token(&user.token).await.err(), Some(401));

    // A new login issues a fresh token.
    let fresh = server.login(&user.name, PASSWORD).await;
    assert_eq!(
        server.get("/friends/status", Some(&fresh.token)).await.0,
        200
    );
}

#[tokio::test]
async fn an_open_socket_is_closed_with_4001_when_its_token_expires() {
    let server = TestServer::start().await;
    let user = server.register("sleeper").await;
    let (mut ws, _) = server.connect(&user).await;
    server
        .clock
        .advance(Duration::from_secs(10 * 3600) - Duration::from_secs(2));
    server.chat.transport().sweep().await;
    let later = server.login(&user.name, PASSWORD).await;
    ws.expect_silence().await;
    // The socket still works before expiry.
    ws.send(json!({"type": "request_public_key", "receiver": user.name}))
        .await;
    ws.expect("public_key_response").await;

    // A socket opened with a token issued later outlives the first one.
    let (mut later_ws, _) = server.connect(&later).await;
    server.clock.advance(Duration::from_secs(3));
    server.chat.transport().sweep().await;
    assert_eq!(ws.expect_close().await, 4001);
    later_ws.expect_silence().await;
}
