//! `GET /conversations` over real HTTP, fed by messages and ticks sent over real sockets: one
//! entry per user, newest first, unread counts that follow `message_seen`, paging with
//! `before`, a former friend's entry, the byte cap, and refusals.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// `(withUser, lastMessage.id, unread)` of each entry.
fn entries(body: &Value) -> Vec<(String, String, u64)> {
    body["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("no conversations in {body}"))
        .iter()
        .map(|c| {
            (
                c["withUser"].as_str().expect("withUser").to_owned(),
                c["lastMessage"]["id"].as_str().expect("id").to_owned(),
                c["unread"].as_u64().expect("unread"),
            )
        })
        .collect()
}

fn entry(with: &User, id: &str, unread: u64) -> (String, String, u64) {
    (with.name.clone(), id.to_owned(), unread)
}

async fn list(server: &TestServer, user: &User, query: &str) -> Value {
    let (status, body) = server
        .get(&format!("/conversations{query}"), Some(&user.token))
        .await;
    assert_eq!(status, 200, "GET /conversations{query}: {body}");
    body
}

/// Sends a message from `ws` to `to` and waits for its single tick.
async fn send(ws: &mut Ws, to: &User) -> String {
    let id = new_id();
    ws.send(message(&to.name, &id)).await;
    let sent = ws.recv_until("message_sent").await;
    assert_eq!(sent["id"], id.as_str());
    id
}

#[tokio::test]
async fn newest_first_with_unread_counts_that_follow_seen() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;

    assert_eq!(
        list(&server, &alice, "").await,
        json!({"conversations": [], "hasMore": false})
    );
    let b1 = send(&mut b, &alice).await;
    let b2 = send(&mut b, &alice).await;
    let c1 = send(&mut c, &alice).await;
    let a1 = send(&mut a, &bob).await;

    let body = list(&server, &alice, "").await;
    assert_eq!(
        entries(&body),
        vec![entry(&bob, &a1, 2), entry(&carol, &c1, 1)],
        "{body}"
    );
    assert_eq!(body["hasMore"], false);
    let last = &body["conversations"][0]["lastMessage"];
    assert_eq!(last["sender"], alice.name.as_str());
    assert_eq!(last["receiver"], bob.name.as_str());
    assert_eq!(last["status"], "sent");
    assert!(last["timestamp"].is_i64(), "{last}");
    assert_eq!(
        entries(&list(&server, &bob, "").await),
        vec![entry(&alice, &a1, 1)]
    );

    // Delivered is not seen; seen on one socket clears the count for every device.
    a.send(json!({"type": "message_delivered", "to": bob.name}))
        .await;
    b.recv_until("message_delivered").await;
    assert_eq!(
        entries(&list(&server, &alice, "").await)[0],
        entry(&bob, &a1, 2)
    );
    a.send(json!({"type": "message_seen", "to": bob.name, "ids": [b1]}))
        .await;
    b.recv_until("message_seen").await;
    assert_eq!(
        entries(&list(&server, &alice, "").await)[0],
        entry(&bob, &a1, 1)
    );
    a.send(json!({"type": "message_seen", "to": bob.name}))
        .await;
    let seen = b.recv_until("message_seen").await;
    assert_eq!(seen["ids"], json!([b2]));
    assert_eq!(
        entries(&list(&server, &alice, "").await),
        vec![entry(&bob, &a1, 0), entry(&carol, &c1, 1)]
    );

    // Carol writes again: her entry moves to the top.
    let c2 = send(&mut c, &alice).await;
    assert_eq!(
        entries(&list(&server, &alice, "").await),
        vec![entry(&carol, &c2, 2), entry(&bob, &a1, 0)]
    );
}

#[tokio::test]
async fn pages_with_limit_and_before() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let mut friends = Vec::new();
    for _ in 0..5 {
        let friend = server.register("friend").await;
        server.befriend(&alice, &friend).await;
        friends.push(friend);
    }
    let (mut a, _) = server.connect(&alice).await;
    let mut last = Vec::new();
    for friend in &friends {
        last.push(send(&mut a, friend).await);
    }

    let first = list(&server, &alice, "?limit=2").await;
    assert_eq!(
        entries(&first),
        vec![
            entry(&friends[4], &last[4], 0),
            entry(&friends[3], &last[3], 0)
        ]
    );
    assert_eq!(first["hasMore"], true);
    let second = list(
        &server,
        &alice,
        &format!("?limit=2&before={}", friends[3].name),
    )
    .await;
    assert_eq!(
        entries(&second),
        vec![
            entry(&friends[2], &last[2], 0),
            entry(&friends[1], &last[1], 0)
        ]
    );
    assert_eq!(second["hasMore"], true);
    // Any letter case names the same user.
    let upper = friends[1].name.to_uppercase();
    let third = list(&server, &alice, &format!("?limit=2&before={upper}")).await;
    assert_eq!(entries(&third), vec![entry(&friends[0], &last[0], 0)]);
    assert_eq!(third["hasMore"], false);

    // Above 200 is cut to 200: everything fits.
    let all = list(&server, &alice, "?limit=1000").await;
    assert_eq!(entries(&all).len(), 5);
    assert_eq!(all["hasMore"], false);
}

#[tokio::test]
async fn bad_queries_are_400_and_a_token_is_required() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let stranger = server.register("stranger").await;
    server.befriend(&alice, &bob).await;
    let (mut a, _) = server.connect(&alice).await;
    send(&mut a, &bob).await;

    for query in [
        "?limit=0".to_owned(),
        "?limit=-3".to_owned(),
        "?limit=many".to_owned(),
        format!("?before={}", stranger.name),
        "?before=nobody_at_all".to_owned(),
        "?before=".to_owned(),
        format!("?before={}", alice.name),
    ] {
        let (status, body) = server
            .get(&format!("/conversations{query}"), Some(&alice.token))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "bad_request", "{query}: {body}");
    }
    let (status, body) = server.get("/conversations", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = server.get("/conversations", Some("not a token")).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_former_friends_entry_stays_and_an_erased_accounts_goes() {
    let server = TestServer::start().await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let b1 = send(&mut b, &alice).await;
    let c1 = {
        let (mut c, _) = server.connect(&carol).await;
        send(&mut c, &alice).await
    };

    let (status, body) = server
        .post(
            "/friends/remove",
            Some(&alice.token),
            &json!({"target": bob.name}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    b.recv_until("friend_removed").await;
    assert_eq!(
        entries(&list(&server, &alice, "").await),
        vec![entry(&carol, &c1, 1), entry(&bob, &b1, 1)],
        "bob is no friend any more, and his entry stays, unread and all"
    );
    assert_eq!(
        entries(&list(&server, &bob, "").await),
        vec![entry(&alice, &b1, 0)]
    );
    // Still readable: seen ticks work on a former friend's messages.
    a.send(json!({"type": "message_seen", "to": bob.name}))
        .await;
    b.recv_until("message_seen").await;
    assert_eq!(
        entries(&list(&server, &alice, "").await)[1],
        entry(&bob, &b1, 0)
    );

    let body = json!({"password": "correct horse"}).to_string();
    let (status, _, answer) = server
        .raw(
            Method::DELETE,
            "/auth/account",
            Some(&carol.token),
            Some(("application/json", body)),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(
        entries(&list(&server, &alice, "").await),
        vec![entry(&bob, &b1, 0)],
        "the erased account's entry is gone"
    );
    let (status, _) = server
        .get(
            &format!("/conversations?before={}", carol.name),
            Some(&alice.token),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_page_fits_the_answer_byte_cap() {
    let mut config = test_config();
    // Room for about two entries of a few hundred bytes each.
    config.limits.max_answer_bytes = 700;
    let server = TestServer::start_with(config).await;
    let alice = server.register("alice").await;
    let mut friends = Vec::new();
    for _ in 0..4 {
        let friend = server.register("friend").await;
        server.befriend(&alice, &friend).await;
        friends.push(friend);
    }
    let (mut a, _) = server.connect(&alice).await;
    for friend in &friends {
        send(&mut a, friend).await;
    }
    let mut seen = Vec::new();
    let mut query = "?limit=4".to_owned();
    loop {
        let body = list(&server, &alice, &query).await;
        let page = entries(&body);
        assert!(!page.is_empty(), "a page is never empty: {body}");
        assert!(
            body.to_string().len() <= 700 + 100,
            "the page passes the cap: {body}"
        );
        seen.extend(page.into_iter().map(|(with, _, _)| with));
        if body["hasMore"] == false {
            break;
        }
        query = format!("?limit=4&before={}", seen.last().expect("an entry"));
    }
    let expected: Vec<String> = friends.iter().rev().map(|f| f.name.clone()).collect();
    assert_eq!(seen, expected, "the pages join up into the whole list");
}
