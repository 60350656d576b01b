//! Friend requests and friendships over real HTTP, with the live pushes the server sends over
//! the WebSocket: `new_friend_request`, `friendship_activated`, `friend_request_rejected` and
//! `friend_removed`.

mod common;

use common::*;
use serde_json::{Value, json};

async fn request(server: &TestServer, from: &User, to: &str) -> (u16, Value) {
    server
        .post(
            "/friends/request",
            Some(&from.token),
            &json!({"receiver": to}),
        )
        .await
}

async fn accept(server: &TestServer, user: &User, sender: &str) -> (u16, Value) {
    server
        .post(
            "/friends/accept",
            Some(&user.token),
            &json!({"sender": sender}),
        )
        .await
}

async fn reject(server: &TestServer, user: &User, sender: &str) -> (u16, Value) {
    server
        .post(
            "/friends/reject",
            Some(&user.token),
            &json!({"sender": sender}),
        )
        .await
}

async fn remove(server: &TestServer, user: &User, target: &str) -> (u16, Value) {
    server
        .post(
            "/friends/remove",
            Some(&user.token),
            &json!({"target": target}),
        )
        .await
}

async fn status(server: &TestServer, user: &User) -> Value {
    let (code, body) = server.get("/friends/status", Some(&user.token)).await;
    assert_eq!(code, 200, "{body}");
    body
}

fn lists(friends: &[&User], sent: &[&User], received: &[&User]) -> Value {
    let names = |users: &[&User]| users.iter().map(|u| u.name.clone()).collect::<Vec<_>>();
    json!({"friends": names(friends), "pending_sent": names(sent),
           "pending_received": names(received)})
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    assert!(answer.1["message"].is_string(), "{}", answer.1);
}

#[tokio::test]
async fn a_request_is_pending_and_pushed_to_every_socket_of_the_receiver() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_1, _) = server.connect(&bob).await;
    let (mut bob_2, _) = server.connect(&bob).await;

    // The receiver's name in another letter case still finds them.
    let answer = request(&server, &alice, &bob.name.to_uppercase()).await;
    assert_eq!(answer, (200, json!({"status": "pending"})));
    for ws in [&mut bob_1, &mut bob_2] {
        let push = ws.expect("new_friend_request").await;
        assert_eq!(
            push,
            json!({"type": "new_friend_request", "from": alice.name})
        );
    }
    alice_ws.expect_silence().await;

    assert_eq!(status(&server, &alice).await, lists(&[], &[&bob], &[]));
    assert_eq!(status(&server, &bob).await, lists(&[], &[], &[&alice]));
}

#[tokio::test]
async fn accepting_activates_the_friendship_for_both_with_presence_and_key() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    bob_ws.expect("new_friend_request").await;

    let answer = accept(&server, &bob, &alice.name).await;
    assert_eq!(answer, (200, json!({"status": "accepted"})));
    let to_alice = alice_ws.expect("friendship_activated").await;
    assert_eq!(
        to_alice,
        json!({"type": "friendship_activated", "with": bob.name, "online": true,
               "publicKey": jwk(&bob.name)})
    );
    let to_bob = bob_ws.expect("friendship_activated").await;
    assert_eq!(
        to_bob,
        json!({"type": "friendship_activated", "with": alice.name, "online": true,
               "publicKey": jwk(&alice.name)})
    );
    assert_eq!(status(&server, &alice).await, lists(&[&bob], &[], &[]));
    assert_eq!(status(&server, &bob).await, lists(&[&alice], &[], &[]));
}

#[tokio::test]
async fn friendship_activated_tells_whether_the_new_friend_is_online() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    // Bob accepts over REST without any socket open: he is offline.
    assert_eq!(accept(&server, &bob, &alice.name).await.0, 200);
    let push = alice_ws.expect("friendship_activated").await;
    assert_eq!(push["with"], bob.name.as_str());
    assert_eq!(push["online"], false);
    assert_eq!(push["publicKey"], jwk(&bob.name));
}

#[tokio::test]
async fn requesting_someone_who_already_asked_us_accepts_at_once() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    bob_ws.expect("new_friend_request").await;

    let answer = request(&server, &bob, &alice.name).await;
    assert_eq!(answer, (200, json!({"status": "accepted"})));
    assert_eq!(
        alice_ws.expect("friendship_activated").await["with"],
        bob.name.as_str()
    );
    assert_eq!(
        bob_ws.expect("friendship_activated").await["with"],
        alice.name.as_str()
    );
    alice_ws.expect_silence().await;
    bob_ws.expect_silence().await;
    assert_eq!(status(&server, &alice).await, lists(&[&bob], &[], &[]));
}

#[tokio::test]
async fn duplicate_requests_and_requests_between_friends_are_409() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    assert_error(&request(&server, &alice, &bob.name).await, 409, "conflict");
    assert_eq!(accept(&server, &bob, &alice.name).await.0, 200);
    assert_error(&request(&server, &alice, &bob.name).await, 409, "conflict");
    assert_error(&request(&server, &bob, &alice.name).await, 409, "conflict");
    assert_eq!(status(&server, &bob).await, lists(&[&alice], &[], &[]));
}

#[tokio::test]
async fn answering_or_removing_nothing_is_404_not_found() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    assert_error(&accept(&server, &bob, &alice.name).await, 404, "not_found");
    assert_error(&reject(&server, &bob, &alice.name).await, 404, "not_found");
    assert_error(&remove(&server, &bob, &alice.name).await, 404, "not_found");

    // Alice cannot accept or reject the request she sent herself.
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    assert_error(&accept(&server, &alice, &bob.name).await, 404, "not_found");
    assert_error(&reject(&server, &alice, &bob.name).await, 404, "not_found");
    assert_eq!(status(&server, &bob).await, lists(&[], &[], &[&alice]));

    // Once accepted, there is nothing pending to answer any more.
    assert_eq!(accept(&server, &bob, &alice.name).await.0, 200);
    assert_error(&accept(&server, &bob, &alice.name).await, 404, "not_found");
    assert_error(&reject(&server, &bob, &alice.name).await, 404, "not_found");
    assert_eq!(status(&server, &bob).await, lists(&[&alice], &[], &[]));
}

#[tokio::test]
async fn unknown_users_are_404_user_not_found() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let ghost = unique("ghost");
    assert_error(
        &request(&server, &alice, &ghost).await,
        404,
        "user_not_found",
    );
    assert_error(
        &accept(&server, &alice, &ghost).await,
        404,
        "user_not_found",
    );
    assert_error(
        &reject(&server, &alice, &ghost).await,
        404,
        "user_not_found",
    );
    assert_error(
        &remove(&server, &alice, &ghost).await,
        404,
        "user_not_found",
    );
}

#[tokio::test]
async fn friend_routes_need_a_token_and_a_valid_body() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (code, _) = server
        .post("/friends/request", None, &json!({"receiver": bob.name}))
        .await;
    assert_eq!(code, 401);
    assert_eq!(server.get("/friends/status", None).await.0, 401);
    for (path, body) in [
        ("/friends/request", json!({"sender": bob.name})),
        ("/friends/accept", json!({"receiver": bob.name})),
        ("/friends/reject", json!({})),
        ("/friends/remove", json!({"target": 5})),
    ] {
        let answer = server.post(path, Some(&alice.token), &body).await;
        assert_error(&answer, 400, "bad_request");
    }
    assert_error(
        &request(&server, &alice, &alice.name).await,
        400,
        "bad_request",
    );
}

#[tokio::test]
async fn a_rejected_request_is_pushed_to_the_requester_and_can_be_sent_again() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    bob_ws.expect("new_friend_request").await;

    let answer = reject(&server, &bob, &alice.name).await;
    assert_eq!(answer, (200, json!({"status": "rejected"})));
    let push = alice_ws.expect("friend_request_rejected").await;
    assert_eq!(
        push,
        json!({"type": "friend_request_rejected", "from": bob.name})
    );
    bob_ws.expect_silence().await;
    assert_eq!(status(&server, &alice).await, lists(&[], &[], &[]));
    assert_eq!(status(&server, &bob).await, lists(&[], &[], &[]));

    // Alice may ask again later, and this time Bob accepts.
    assert_eq!(
        request(&server, &alice, &bob.name).await,
        (200, json!({"status": "pending"}))
    );
    bob_ws.expect("new_friend_request").await;
    assert_eq!(accept(&server, &bob, &alice.name).await.0, 200);
    alice_ws.expect("friendship_activated").await;
    bob_ws.expect("friendship_activated").await;
}

#[tokio::test]
async fn the_one_who_rejected_may_ask_later() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    assert_eq!(reject(&server, &bob, &alice.name).await.0, 200);
    assert_eq!(
        request(&server, &bob, &alice.name).await,
        (200, json!({"status": "pending"}))
    );
    assert_eq!(status(&server, &alice).await, lists(&[], &[], &[&bob]));
    assert_eq!(
        accept(&server, &alice, &bob.name).await,
        (200, json!({"status": "accepted"}))
    );
}

#[tokio::test]
async fn removing_a_friend_is_pushed_to_the_target() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    alice_ws.expect("presence").await;

    // Either side of the friendship may end it: here the one who was asked.
    let answer = remove(&server, &bob, &alice.name).await;
    assert_eq!(answer, (200, json!({"status": "removed"})));
    let push = alice_ws.expect("friend_removed").await;
    assert_eq!(push, json!({"type": "friend_removed", "from": bob.name}));
    bob_ws.expect_silence().await;
    assert_eq!(status(&server, &alice).await, lists(&[], &[], &[]));
    assert_eq!(status(&server, &bob).await, lists(&[], &[], &[]));
    assert_error(&remove(&server, &alice, &bob.name).await, 404, "not_found");

    // They can become friends again.
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    assert_eq!(accept(&server, &bob, &alice.name).await.0, 200);
    assert_eq!(status(&server, &alice).await, lists(&[&bob], &[], &[]));
}

#[tokio::test]
async fn remove_withdraws_a_request_we_sent() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
    bob_ws.expect("new_friend_request").await;

    let answer = remove(&server, &alice, &bob.name).await;
    assert_eq!(answer, (200, json!({"status": "removed"})));
    let push = bob_ws.expect("friend_removed").await;
    assert_eq!(push["from"], alice.name.as_str());
    assert_eq!(status(&server, &alice).await, lists(&[], &[], &[]));
    assert_eq!(status(&server, &bob).await, lists(&[], &[], &[]));
    assert_error(&accept(&server, &bob, &alice.name).await, 404, "not_found");
    // And may send it again.
    assert_eq!(request(&server, &alice, &bob.name).await.0, 200);
}

#[tokio::test]
async fn status_lists_are_snake_case_arrays_of_registered_names_in_order() {
    let server = TestServer::start().await;
    let me = server.register("me").await;
    let prefix = unique("p");
    let mut users = Vec::new();
    for suffix in ["Dora", "carl", "Bea", "abe", "Fay", "eve"] {
        users.push(server.register_named(&format!("{prefix}_{suffix}")).await);
    }
    let [dora, carl, bea, abe, fay, eve] = &users[..] else {
        unreachable!()
    };
    // Friends: Dora and abe; we asked carl and Fay; Bea and eve asked us.
    server.befriend(&me, dora).await;
    server.befriend(abe, &me).await;
    for to in [carl, fay] {
        assert_eq!(request(&server, &me, &to.name.to_lowercase()).await.0, 200);
    }
    for from in [bea, eve] {
        assert_eq!(request(&server, from, &me.name).await.0, 200);
    }
    let body = status(&server, &me).await;
    assert_eq!(body, lists(&[abe, dora], &[carl, fay], &[bea, eve]));
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 3);
}
