//! Throttling over real HTTP, per the protocol's v1.1 table: failed logins per (name, address),
//! per name and per address, successful registrations per address, and client addresses from a
//! trusted proxy's `X-Forwarded-For`. Requests come from different loopback addresses
//! (127.0.0.2, 127.0.0.3, ...), time from the chat's clock.

mod common;

use std::time::Duration;

use common::*;
use nexchat_core::Config;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse";

fn register_body(name: &str) -> Value {
    json!({"username": name, "password": PASSWORD, "publicKey": jwk(name),
           "encryptedPrivateKey": {"v": 1}})
}

/// POSTs `body` to `path` through `client`: the status, `Retry-After` and JSON body.
async fn post_via(
    server: &TestServer,
    client: &reqwest::Client,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Option<u64>, Value) {
    let mut request = client.post(server.url(path)).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn login_from(
    server: &TestServer,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> u16 {
    server.login_via(client, name, password).await.0
}

/// Asserts a 429 `rate_limited` answer with a `Retry-After` within `max_secs`.
fn assert_throttled((status, retry_after, body): (u16, Option<u64>, Value), max_secs: u64) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited", "{body}");
    let retry_after = retry_after.expect("Retry-After");
    assert!(
        (1..=max_secs).contains(&retry_after),
        "Retry-After {retry_after}"
    );
}

fn login_body(name: &str, password: &str) -> Value {
    json!({"username": name, "password": password})
}

/// A server with the given limits, registrations unlimited unless set.
async fn server_with(limits: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config();
    limits(&mut config);
    TestServer::start_with(config).await
}

#[tokio::test]
async fn the_victim_can_still_log_in_from_another_address_while_one_is_locked() {
    let server = TestServer::start().await;
    let victim = server.register("victim").await;
    let attacker = server.client_from("127.0.0.2");
    let friend = server.client_from("127.0.0.3");
    for attempt in 1..=10 {
        let status = login_from(&server, &attacker, &victim.name, "wrong password").await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    let locked = post_via(
        &server,
        &attacker,
        "/auth/login",
        &login_body(&victim.name, PASSWORD),
        &[],
    )
    .await;
    assert_throttled(locked, 900);
    assert_eq!(
        login_from(&server, &friend, &victim.name, PASSWORD).await,
        200,
        "the right password from another address"
    );
    assert_eq!(
        login_from(&server, &attacker, &victim.name.to_uppercase(), PASSWORD).await,
        429,
        "the name in any letter case"
    );

    server.clock.advance(Duration::from_secs(15 * 60 - 1));
    assert_eq!(
        login_from(&server, &attacker, &victim.name, PASSWORD).await,
        429
    );
    server.clock.advance(Duration::from_secs(1));
    assert_eq!(
        login_from(&server, &attacker, &victim.name, PASSWORD).await,
        200,
        "free again after 15 minutes"
    );
}

#[tokio::test]
async fn a_name_is_locked_from_every_address_past_its_own_limit() {
    let server = server_with(|c| c.limits.login_failures_per_name = 4).await;
    let victim = server.register("sprayed").await;
    let bystander = server.register("bystander").await;
    for i in 0..4 {
        let client = server.client_from(&format!("127.0.1.{}", i + 1));
        let status = login_from(&server, &client, &victim.name, "wrong password").await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let fresh_address = server.client_from("127.0.1.99");
    let locked = post_via(
        &server,
        &fresh_address,
        "/auth/login",
        &login_body(&victim.name, PASSWORD),
        &[],
    )
    .await;
    assert_throttled(locked, 900);
    assert_eq!(
        login_from(&server, &fresh_address, &bystander.name, PASSWORD).await,
        200,
        "other names from the same address are not affected"
    );
    server.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        login_from(&server, &fresh_address, &victim.name, PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn an_address_is_locked_for_every_name_past_its_limit() {
    let server = server_with(|c| c.limits.login_failures_per_address = 5).await;
    let user = server.register("sprayee").await;
    let sprayer = server.client_from("127.0.2.1");
    for i in 0..5 {
        // Unknown names count like known ones.
        let status = login_from(&server, &sprayer, &unique("guess"), "password1").await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let locked = post_via(
        &server,
        &sprayer,
        "/auth/login",
        &login_body(&user.name, PASSWORD),
        &[],
    )
    .await;
    assert_throttled(locked, 900);
    let other = server.client_from("127.0.2.2");
    assert_eq!(login_from(&server, &other, &user.name, PASSWORD).await, 200);
}

#[tokio::test]
async fn only_401_answers_count_as_failed_logins() {
    let server = server_with(|c| c.limits.login_failures_per_name_address = 2).await;
    let user = server.register("counted").await;
    let client = server.client_from("127.0.3.1");
    for _ in 0..5 {
        assert_eq!(
            login_from(&server, &client, &user.name, PASSWORD).await,
            200
        );
        let (status, _, _) = post_via(
            &server,
            &client,
            "/auth/login",
            &json!({"username": user.name}),
            &[],
        )
        .await;
        assert_eq!(status, 400, "a malformed login is no failed login");
    }
    for _ in 0..2 {
        assert_eq!(
            login_from(&server, &client, &user.name, "nope nope").await,
            401
        );
    }
    assert_eq!(
        login_from(&server, &client, &user.name, PASSWORD).await,
        429
    );
}

#[tokio::test]
async fn names_that_cannot_exist_are_refused_without_being_counted() {
    let server = server_with(|c| {
        c.limits.login_failures_per_address = 2;
        c.limits.login_failures_per_name = 2;
    })
    .await;
    let user = server.register("real").await;
    let client = server.client_from("127.0.4.1");
    let too_long = "x".repeat(33);
    for name in ["ab", "has space", "émile", too_long.as_str(), ""] {
        for _ in 0..3 {
            let (status, _, body) = post_via(
                &server,
                &client,
                "/auth/login",
                &login_body(name, PASSWORD),
                &[],
            )
            .await;
            assert_eq!(status, 401, "{name:?}: {body}");
            assert_eq!(body["error"], "unauthorized");
        }
    }
    assert_eq!(
        login_from(&server, &client, &user.name, PASSWORD).await,
        200,
        "nothing was counted against the address"
    );
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_refused_ones_do_not_count() {
    let server = server_with(|c| c.limits.registrations_per_hour = 3).await;
    let taken = server.register("taken").await;
    let client = server.client_from("127.0.5.1");
    let (status, _, _) =
        post_via(&server, &client, "/auth/register", &register_body("x"), &[]).await;
    assert_eq!(status, 400);
    let (status, _, _) = post_via(
        &server,
        &client,
        "/auth/register",
        &register_body(&taken.name),
        &[],
    )
    .await;
    assert_eq!(status, 409);
    for i in 0..3 {
        let (status, _, body) = post_via(
            &server,
            &client,
            "/auth/register",
            &register_body(&unique("new")),
            &[],
        )
        .await;
        assert_eq!(status, 201, "registration {i}: {body}");
    }
    let refused = post_via(
        &server,
        &client,
        "/auth/register",
        &register_body(&unique("new")),
        &[],
    )
    .await;
    assert_throttled(refused, 3600);
    let elsewhere = server.client_from("127.0.5.2");
    let (status, _, _) = post_via(
        &server,
        &elsewhere,
        "/auth/register",
        &register_body(&unique("new")),
        &[],
    )
    .await;
    assert_eq!(status, 201, "another address");
    server.clock.advance(Duration::from_secs(3600));
    let (status, _, _) = post_via(
        &server,
        &client,
        "/auth/register",
        &register_body(&unique("new")),
        &[],
    )
    .await;
    assert_eq!(status, 201, "an hour later");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_others_cannot() {
    let server = server_with(|c| {
        c.trusted_proxies = vec!["127.0.6.1".parse().expect("address")];
        c.limits.login_failures_per_name_address = 3;
    })
    .await;
    let user = server.register("proxied").await;
    let proxy = server.client_from("127.0.6.1");
    let forwarded = |client: &'static str| [("x-forwarded-for", client)];
    let login = login_body(&user.name, "wrong password");
    for _ in 0..3 {
        let (status, _, _) = post_via(
            &server,
            &proxy,
            "/auth/login",
            &login,
            &forwarded("198.51.100.7, 127.0.6.1"),
        )
        .await;
        assert_eq!(status, 401);
    }
    let right = login_body(&user.name, PASSWORD);
    let locked = post_via(
        &server,
        &proxy,
        "/auth/login",
        &right,
        &forwarded("198.51.100.7"),
    )
    .await;
    assert_throttled(locked, 900);
    let (status, _, _) = post_via(
        &server,
        &proxy,
        "/auth/login",
        &right,
        &forwarded("198.51.100.8"),
    )
    .await;
    assert_eq!(status, 200, "another client behind the same proxy");

    // A client that is not a trusted proxy cannot pick its address.
    let direct = server.client_from("127.0.6.2");
    for i in 0..3 {
        let fake = format!("203.0.113.{i}");
        let (status, _, _) = post_via(
            &server,
            &direct,
            "/auth/login",
            &login,
            &[("x-forwarded-for", fake.as_str())],
        )
        .await;
        assert_eq!(status, 401);
    }
    let locked = post_via(
        &server,
        &direct,
        "/auth/login",
        &right,
        &forwarded("203.0.113.99"),
    )
    .await;
    assert_throttled(locked, 900);
}
