//! User lookup over real HTTP: `GET /users?q=` (prefix search with presence of friends) and
//! `GET /users/NAME/public-key`.

mod common;

use common::*;
use serde_json::{Value, json};

/// Registers `name` without logging in (cheaper when a test needs many accounts).
async fn register_only(server: &TestServer, name: &str) {
    let body = json!({"username": name, "password": "correct horse", "publicKey": jwk(name),
                      "encryptedPrivateKey": {"v": 1}});
    let (status, answer) = server.post("/auth/register", None, &body).await;
    assert_eq!(status, 201, "{name}: {answer}");
}

async fn search(server: &TestServer, user: &User, q: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/users?q={q}"), Some(&user.token))
        .await;
    assert_eq!(status, 200, "q={q}: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    body["users"].as_array().expect("users array").clone()
}

fn names(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect()
}

#[tokio::test]
async fn search_is_a_case_insensitive_alphabetical_prefix_match_without_the_caller() {
    let server = TestServer::start().await;
    let prefix = unique("srch");
    let caller = server.register_named(&format!("{prefix}_Mia")).await;
    for suffix in ["Carol", "alice", "Bob", "dave"] {
        register_only(&server, &format!("{prefix}_{suffix}")).await;
    }
    // Names holding the prefix elsewhere than at the start are not matches.
    register_only(&server, &format!("x{prefix}_eve")).await;

    let found = search(&server, &caller, &prefix.to_uppercase()).await;
    let expected: Vec<String> = ["alice", "Bob", "Carol", "dave"]
        .iter()
        .map(|s| format!("{prefix}_{s}"))
        .collect();
    assert_eq!(names(&found), expected);
    for user in &found {
        assert_eq!(user.as_object().map(|o| o.len()), Some(2), "{user}");
        assert_eq!(user["online"], false, "{user}");
    }

    let found = search(&server, &caller, &format!("{prefix}_b")).await;
    assert_eq!(names(&found), [format!("{prefix}_Bob")]);
    assert!(
        search(&server, &caller, &format!("{prefix}_zz"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn search_takes_underscore_and_dot_literally() {
    let server = TestServer::start().await;
    let base = unique("lit");
    let caller = server.register("caller").await;
    register_only(&server, &format!("{base}_one")).await;
    register_only(&server, &format!("{base}Xone")).await;
    register_only(&server, &format!("{base}.two")).await;
    register_only(&server, &format!("{base}Ytwo")).await;
    let found = search(&server, &caller, &format!("{base}_")).await;
    assert_eq!(names(&found), [format!("{base}_one")]);
    let found = search(&server, &caller, &format!("{base}.")).await;
    assert_eq!(names(&found), [format!("{base}.two")]);
}

#[tokio::test]
async fn search_answers_at_most_20_users() {
    let server = TestServer::start().await;
    let prefix = unique("many");
    let caller = server.register("caller").await;
    let mut all: Vec<String> = (0..23).map(|i| format!("{prefix}_{i:02}")).collect();
    for name in all.iter().rev() {
        register_only(&server, name).await;
    }
    all.truncate(20);
    assert_eq!(names(&search(&server, &caller, &prefix).await), all);
}

#[tokio::test]
async fn online_is_true_only_for_online_friends() {
    let server = TestServer::start().await;
    let prefix = unique("pres");
    let caller = server.register_named(&format!("{prefix}_caller")).await;
    let online_friend = server.register_named(&format!("{prefix}_friend_on")).await;
    let offline_friend = server.register_named(&format!("{prefix}_friend_off")).await;
    let stranger = server.register_named(&format!("{prefix}_stranger")).await;
    server.befriend(&caller, &online_friend).await;
    server.befriend(&offline_friend, &caller).await;

    let (mut caller_ws, _) = server.connect(&caller).await;
    let (friend_ws, _) = server.connect(&online_friend).await;
    let (_stranger_ws, _) = server.connect(&stranger).await;
    caller_ws.expect("presence").await;

    let found = search(&server, &caller, &prefix).await;
    let online: Vec<(String, bool)> = found
        .iter()
        .map(|u| {
            (
                u["username"].as_str().expect("name").to_owned(),
                u["online"].as_bool().expect("online is a boolean"),
            )
        })
        .collect();
    assert_eq!(
        online,
        [
            (offline_friend.name.clone(), false),
            (online_friend.name.clone(), true),
            (stranger.name.clone(), false),
        ]
    );

    // Once the friend's last socket is gone, they are offline in search results too.
    friend_ws.close().await;
    let presence = caller_ws.expect("presence").await;
    assert_eq!(presence["online"], false);
    let found = search(&server, &caller, &format!("{prefix}_friend_on")).await;
    assert_eq!(
        found,
        [json!({"username": online_friend.name, "online": false})]
    );
}

#[tokio::test]
async fn an_empty_or_missing_q_is_400() {
    let server = TestServer::start().await;
    let user = server.register("asker").await;
    for path in ["/users", "/users?q=", "/users?other=a"] {
        let (status, body) = server.get(path, Some(&user.token)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "bad_request", "{body}");
    }
}

#[tokio::test]
async fn user_routes_need_a_token() {
    let server = TestServer::start().await;
    let user = server.register("private").await;
    assert_eq!(server.get("/users?q=pri", None).await.0, 401);
    let path = format!("/users/{}/public-key", user.name);
    assert_eq!(server.get(&path, None).await.0, 401);
    assert_eq!(server.get(&path, Some("garbage")).await.0, 401);
}

#[tokio::test]
async fn public_key_answers_the_registered_name_and_key() {
    let server = TestServer::start().await;
    let asker = server.register("asker").await;
    let owner = server.register("OwNeR").await;
    for spelling in [owner.name.clone(), owner.name.to_lowercase()] {
        let (status, body) = server
            .get(&format!("/users/{spelling}/public-key"), Some(&asker.token))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"username": owner.name, "publicKey": jwk(&owner.name)})
        );
    }
}

#[tokio::test]
async fn public_key_of_an_unknown_user_is_404_user_not_found() {
    let server = TestServer::start().await;
    let asker = server.register("asker").await;
    let (status, body) = server
        .get(
            &format!("/users/{}/public-key", unique("nobody")),
            Some(&asker.token),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "user_not_found");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn a_name_that_is_not_utf8_is_answered_in_json() {
    let server = TestServer::start().await;
    let asker = server.register("asker").await;
    let (status, body) = server
        .get("/users/%FF%FE/public-key", Some(&asker.token))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request", "{body}");
    assert!(body["message"].is_string());
}
