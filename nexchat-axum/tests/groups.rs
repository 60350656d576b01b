//! Groups over real HTTP and real sockets: membership the server enforces (friends only, roles,
//! the last admin, limits), one stored message fanned out to every member, ticks per member,
//! history and backlog of exactly what a member was sent, and no answer that tells a stranger
//! a group exists.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// A sealed field as a client sends it (the server only checks its shape).
fn sealed(key_id: &str) -> Value {
    json!({"ciphertext": "c2VhbGVk", "iv": "AAAAAAAAAAAAAAAA", "keyId": key_id})
}

/// A chat message to `group` under sender key `k1`.
fn group_message(group: &str, id: &str) -> Value {
    json!({"type": "send_group_message", "group": group, "ciphertext": "AAAA",
           "iv": "AAAAAAAAAAAAAAAA", "keyId": "k1", "id": id})
}

/// A key message to `to` in `group`.
fn key_message(group: &str, to: &str, id: &str) -> Value {
    json!({"type": "send_group_message", "group": group, "ciphertext": "AAAA",
           "iv": "AAAAAAAAAAAAAAAA", "to": to, "id": id})
}

async fn request(
    server: &TestServer,
    method: Method,
    path: &str,
    user: &User,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| ("application/json", b.to_string()));
    let (status, _, answer) = server.raw(method, path, Some(&user.token), body).await;
    (status, answer)
}

/// Creates a group of `admin` and `members` (who must be friends of `admin`); returns its id.
async fn create(server: &TestServer, admin: &User, members: &[&User]) -> String {
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    let (status, body) = request(
        server,
        Method::POST,
        "/groups",
        admin,
        Some(json!({"members": names, "title": sealed("k0")})),
    )
    .await;
    assert_eq!(status, 201, "create: {body}");
    body["id"].as_str().expect("id").to_owned()
}

/// `(username, role)` of each member of a group record.
fn roster(group: &Value) -> Vec<(String, String)> {
    group["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {group}"))
        .iter()
        .map(|m| {
            (
                m["username"].as_str().expect("username").to_owned(),
                m["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect()
}

fn entry(user: &User, role: &str) -> (String, String) {
    (user.name.clone(), role.to_owned())
}

/// Waits for `group_changed` on `ws` and returns `(kind, user, group)`.
async fn changed(ws: &mut Ws) -> (String, Value, Value) {
    let event = ws.recv_until("group_changed").await;
    (
        event["change"]["kind"].as_str().expect("kind").to_owned(),
        event["change"]["user"].clone(),
        event["group"].clone(),
    )
}

/// Sends a chat message and waits for its single tick; returns its id.
async fn send(ws: &mut Ws, group: &str) -> String {
    let id = new_id();
    ws.send(group_message(group, &id)).await;
    let sent = ws.recv_until("group_message_sent").await;
    assert_eq!(
        (sent["id"].as_str(), sent["group"].as_str()),
        (Some(id.as_str()), Some(group))
    );
    id
}

/// Three friends of alice (bob, carol and dave), each friends with alice only.
async fn alice_and_friends(server: &TestServer) -> (User, User, User, User) {
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;
    (alice, bob, carol, dave)
}

#[tokio::test]
async fn a_group_is_made_of_the_admins_friends_and_every_member_is_told() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = alice_and_friends(&server).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut d, _) = server.connect(&dave).await;

    // A stranger to alice cannot be put in her group: nothing is created.
    let (status, body) = request(
        &server,
        Method::POST,
        "/groups",
        &alice,
        Some(json!({"members": [bob.name, dave.name]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_friends")),
        "{body}"
    );
    let (status, body) = request(
        &server,
        Method::POST,
        "/groups",
        &alice,
        Some(json!({"members": ["nobody_at_all"]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("user_not_found")),
        "{body}"
    );
    let (_, list) = request(&server, Method::GET, "/groups", &alice, None).await;
    assert_eq!(
        list["groups"],
        json!([]),
        "a refused creation leaves no group"
    );

    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (kind, _, group) = changed(&mut b).await;
    assert_eq!(kind, "created");
    assert_eq!(
        roster(&group),
        [
            entry(&alice, "admin"),
            entry(&bob, "member"),
            entry(&carol, "member")
        ]
    );
    assert_eq!(
        group["title"]["by"],
        alice.name.as_str(),
        "the server stamps who sealed the title"
    );
    assert_eq!(group["title"]["keyId"], "k0");
    d.expect_silence().await;

    let (status, seen_by_carol) =
        request(&server, Method::GET, &format!("/groups/{id}"), &carol, None).await;
    assert_eq!((status, roster(&seen_by_carol)), (200, roster(&group)));
    // A stranger learns nothing: the same 404 for this group as for one that never existed.
    let (status, hidden) =
        request(&server, Method::GET, &format!("/groups/{id}"), &dave, None).await;
    let (status_none, none) = request(
        &server,
        Method::GET,
        &format!("/groups/{}", new_id()),
        &dave,
        None,
    )
    .await;
    assert_eq!((status, status_none), (404, 404));
    assert_eq!(
        hidden, none,
        "an existing group and a missing one answer alike"
    );
    assert_eq!(hidden["error"], "not_found");
}

#[tokio::test]
async fn a_message_is_stored_once_reaches_every_member_and_ticks_settle_when_all_have_it() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut a2, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;
    let (mut d, _) = server.connect(&dave).await;

    let m1 = send(&mut a, &id).await;
    for ws in [&mut b, &mut c, &mut a2] {
        let got = ws.recv_until("receive_group_message").await;
        assert_eq!(
            (
                got["id"].as_str(),
                got["group"].as_str(),
                got["sender"].as_str()
            ),
            (
                Some(m1.as_str()),
                Some(id.as_str()),
                Some(alice.name.as_str())
            )
        );
        assert_eq!(
            (got["keyId"].as_str(), got["status"].as_str()),
            (Some("k1"), Some("sent"))
        );
    }
    d.expect_silence().await;

    // Resending the same id is acknowledged again with the same timestamp, and pushed to nobody.
    let first = {
        let (_, page) = request(&server, Method::GET, "/groups", &alice, None).await;
        page["groups"][0]["lastMessage"]["timestamp"].clone()
    };
    a.send(group_message(&id, &m1)).await;
    let again = a.expect("group_message_sent").await;
    assert_eq!(again["timestamp"], first);
    b.expect_silence().await;

    b.send(json!({"type": "group_delivered", "group": id}))
        .await;
    handled(&mut b, &id).await;
    let info = receipts(&server, &alice, &id, &m1).await;
    assert_eq!(
        info,
        [
            (bob.name.clone(), "delivered".to_owned()),
            (carol.name.clone(), "sent".to_owned())
        ]
    );
    a.expect_silence().await;
    c.send(json!({"type": "group_delivered", "group": id, "ids": [m1]}))
        .await;
    let delivered = a.recv_until("group_delivered").await;
    assert_eq!(delivered["ids"], json!([m1]));
    b.send(json!({"type": "group_seen", "group": id, "ids": [m1]}))
        .await;
    c.send(json!({"type": "group_seen", "group": id})).await;
    let seen = a.recv_until("group_seen").await;
    handled(&mut b, &id).await;
    assert_eq!(
        (seen["group"].as_str(), &seen["ids"]),
        (Some(id.as_str()), &json!([m1]))
    );
    let info = receipts(&server, &alice, &id, &m1).await;
    assert_eq!(
        info,
        [
            (bob.name.clone(), "seen".to_owned()),
            (carol.name.clone(), "seen".to_owned())
        ]
    );

    // Message info is the sender's alone.
    let (status, _) = request(
        &server,
        Method::GET,
        &format!("/groups/{id}/messages/{m1}/receipts"),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// The ids of the newest page of the group's history, as `ws`'s user sees it.
async fn history(ws: &mut Ws, group: &str) -> Vec<String> {
    ws.send(json!({"type": "fetch_group_history", "group": group}))
        .await;
    let page = ws.recv_until("group_history_response").await;
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Waits until the socket's frames so far are handled: the answer to a history request comes
/// after them.
async fn handled(ws: &mut Ws, group: &str) {
    ws.send(json!({"type": "fetch_group_history", "group": group, "limit": 1}))
        .await;
    ws.recv_until("group_history_response").await;
}

async fn receipts(
    server: &TestServer,
    user: &User,
    group: &str,
    message: &str,
) -> Vec<(String, String)> {
    let (status, body) = request(
        server,
        Method::GET,
        &format!("/groups/{group}/messages/{message}/receipts"),
        user,
        None,
    )
    .await;
    assert_eq!(status, 200, "receipts: {body}");
    body["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .map(|r| {
            (
                r["username"].as_str().expect("username").to_owned(),
                r["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_users_other_sockets_learn_their_ticks_and_typing_reaches_the_other_members() {
    let server = TestServer::start().await;
    let (alice, bob, carol, _) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut a, _) = server.connect(&alice).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut b2, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;
    let m1 = send(&mut a, &id).await;
    b.recv_until("receive_group_message").await;
    b2.recv_until("receive_group_message").await;
    b.send(json!({"type": "group_seen", "group": id})).await;
    let sync = b2.recv_until("group_receipt_sync").await;
    assert_eq!(
        (&sync["ids"], sync["status"].as_str()),
        (&json!([m1]), Some("seen"))
    );

    c.send(json!({"type": "group_typing", "group": id, "isTyping": true}))
        .await;
    for ws in [&mut a, &mut b] {
        let typing = ws.recv_until("group_typing").await;
        assert_eq!(
            (typing["from"].as_str(), typing["isTyping"].as_bool()),
            (Some(carol.name.as_str()), Some(true))
        );
    }
}

#[tokio::test]
async fn admins_add_remove_and_promote_and_members_may_only_leave() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut b, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;
    let (mut d, _) = server.connect(&dave).await;
    let members = format!("/groups/{id}/members");

    // A member may do none of an admin's work.
    let (status, body) = request(
        &server,
        Method::POST,
        &members,
        &bob,
        Some(json!({"username": dave.name})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _) = request(
        &server,
        Method::DELETE,
        &format!("{members}/{}", carol.name),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &bob,
        Some(json!({"title": sealed("k2")})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = request(
        &server,
        Method::PUT,
        &format!("{members}/{}/role", bob.name),
        &bob,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 403);

    // An admin adds only friends.
    let (status, body) = request(
        &server,
        Method::POST,
        &members,
        &alice,
        Some(json!({"username": dave.name})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("not_friends")),
        "{body}"
    );
    server.befriend(&alice, &dave).await;
    let (status, group) = request(
        &server,
        Method::POST,
        &members,
        &alice,
        Some(json!({"username": dave.name.to_uppercase()})),
    )
    .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(roster(&group).last(), Some(&entry(&dave, "member")));
    for ws in [&mut b, &mut d] {
        let (kind, user, _) = changed(ws).await;
        assert_eq!(
            (kind.as_str(), user.as_str()),
            ("member_added", Some(dave.name.as_str()))
        );
    }
    let (status, body) = request(
        &server,
        Method::POST,
        &members,
        &alice,
        Some(json!({"username": dave.name})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    // Promote bob; the last admin cannot be demoted.
    let (status, group) = request(
        &server,
        Method::PUT,
        &format!("{members}/{}/role", bob.name),
        &alice,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(roster(&group)[1], entry(&bob, "admin"));
    let (kind, user, _) = changed(&mut c).await;
    assert_eq!(
        (kind.as_str(), user.as_str()),
        ("member_added", Some(dave.name.as_str()))
    );
    let (kind, user, _) = changed(&mut c).await;
    assert_eq!(
        (kind.as_str(), user.as_str()),
        ("role_changed", Some(bob.name.as_str()))
    );
    let (status, _) = request(
        &server,
        Method::PUT,
        &format!("{members}/{}/role", alice.name),
        &bob,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 200, "two admins: one may be demoted");
    let (status, body) = request(
        &server,
        Method::PUT,
        &format!("{members}/{}/role", bob.name),
        &bob,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    // bob (admin) removes carol: she is told, the rest see who did it, and she is out.
    let (status, _) = request(
        &server,
        Method::DELETE,
        &format!("{members}/{}", carol.name),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let removed = c.recv_until("group_removed").await;
    assert_eq!(
        (removed["group"].as_str(), removed["by"].as_str()),
        (Some(id.as_str()), Some(bob.name.as_str()))
    );
    let event = loop {
        let event = d.recv_until("group_changed").await;
        if event["change"]["kind"] != "role_changed" {
            break event;
        }
    };
    assert_eq!(
        (
            event["change"]["kind"].as_str(),
            event["change"]["by"].as_str(),
            event["change"]["user"].as_str()
        ),
        (
            Some("member_removed"),
            Some(bob.name.as_str()),
            Some(carol.name.as_str())
        )
    );
    let (status, _) = request(&server, Method::GET, &format!("/groups/{id}"), &carol, None).await;
    assert_eq!(status, 404);
    c.send(group_message(&id, &new_id())).await;
    c.expect_error("not_found").await;
    c.send(json!({"type": "group_typing", "group": id, "isTyping": true}))
        .await;
    c.expect_error("not_found").await;

    // dave leaves on his own.
    let (status, _) = request(
        &server,
        Method::DELETE,
        &format!("{members}/{}", dave.name),
        &dave,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let removed = d.recv_until("group_removed").await;
    assert_eq!(removed["by"], dave.name.as_str());
    let (_, group) = request(&server, Method::GET, &format!("/groups/{id}"), &bob, None).await;
    assert_eq!(
        roster(&group),
        [entry(&alice, "member"), entry(&bob, "admin")]
    );
}

#[tokio::test]
async fn when_the_last_admin_leaves_the_longest_standing_member_leads_and_the_last_member_deletes_it()
 {
    let server = TestServer::start().await;
    let (alice, bob, carol, _) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut b, _) = server.connect(&bob).await;
    let (status, _) = request(
        &server,
        Method::DELETE,
        &format!("/groups/{id}/members/{}", alice.name),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let event = b.recv_until("group_changed").await;
    assert_eq!(
        (
            event["change"]["kind"].as_str(),
            event["change"]["promoted"].as_str()
        ),
        (Some("member_left"), Some(bob.name.as_str()))
    );
    assert_eq!(
        roster(&event["group"]),
        [entry(&bob, "admin"), entry(&carol, "member")]
    );
    for user in [&carol, &bob] {
        let (status, _) = request(
            &server,
            Method::DELETE,
            &format!("/groups/{id}/members/{}", user.name),
            user,
            None,
        )
        .await;
        assert_eq!(status, 204);
    }
    let (status, _) = request(&server, Method::GET, &format!("/groups/{id}"), &bob, None).await;
    assert_eq!(status, 404, "a group without members is gone");
    let (_, list) = request(&server, Method::GET, "/groups", &bob, None).await;
    assert_eq!(list["groups"], json!([]));
}

#[tokio::test]
async fn members_see_only_what_was_sent_to_them_and_a_removed_member_gets_nothing_new() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = alice_and_friends(&server).await;
    server.befriend(&alice, &dave).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut a, _) = server.connect(&alice).await;
    let before_dave = send(&mut a, &id).await;
    let key_for_bob = new_id();
    a.send(key_message(&id, &bob.name, &key_for_bob)).await;
    a.recv_until("group_message_sent").await;
    let (status, _) = request(
        &server,
        Method::POST,
        &format!("/groups/{id}/members"),
        &alice,
        Some(json!({"username": dave.name})),
    )
    .await;
    assert_eq!(status, 200);
    let after_dave = send(&mut a, &id).await;

    let (mut b, _) = server.connect(&bob).await;
    let (mut c, _) = server.connect(&carol).await;
    let (mut d, _) = server.connect(&dave).await;
    assert_eq!(
        history(&mut b, &id).await,
        [after_dave.clone(), key_for_bob.clone(), before_dave.clone()]
    );
    assert_eq!(
        history(&mut c, &id).await,
        [after_dave.clone(), before_dave.clone()],
        "a key message is for its one member"
    );
    assert_eq!(
        history(&mut d, &id).await,
        std::slice::from_ref(&after_dave),
        "dave joined after the first message"
    );
    d.send(json!({"type": "fetch_group_history", "group": id, "before": before_dave}))
        .await;
    d.expect_error("bad_request").await;

    // Carol is removed while offline: her backlog loses what she had not received, and nothing
    // sent after the removal reaches her.
    c.close().await;
    let (status, _) = request(
        &server,
        Method::DELETE,
        &format!("/groups/{id}/members/{}", carol.name),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let after_carol = send(&mut a, &id).await;
    let (mut c, greeting) = server.connect(&carol).await;
    assert!(
        greeting
            .iter()
            .all(|e| e["type"] != "receive_group_message"),
        "a removed member's backlog is dropped: {greeting:?}"
    );
    c.send(json!({"type": "fetch_group_history", "group": id}))
        .await;
    c.expect_error("not_found").await;
    let got = d.recv_until("receive_group_message").await;
    assert_eq!(got["id"], after_carol.as_str());
    c.expect_silence().await;
}

#[tokio::test]
async fn an_offline_member_gets_group_messages_in_order_with_the_one_to_one_backlog() {
    let server = TestServer::start().await;
    let (alice, bob, _, _) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob]).await;
    let (mut a, _) = server.connect(&alice).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        // Timestamps are what the merge orders by (1:1 messages first of equal ones).
        server.clock.advance(std::time::Duration::from_millis(1));
        if i % 2 == 0 {
            let one = new_id();
            a.send(message(&bob.name, &one)).await;
            a.recv_until("message_sent").await;
            sent.push(one);
        } else {
            sent.push(send(&mut a, &id).await);
        }
    }
    let (_, greeting) = server.connect(&bob).await;
    let got: Vec<String> = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message" || e["type"] == "receive_group_message")
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        got, sent,
        "the two backlogs merged in the order they were sent"
    );
    let (mut b, greeting) = server.connect(&bob).await;
    assert_eq!(
        greeting
            .iter()
            .filter(|e| e["type"] == "receive_group_message")
            .count(),
        3,
        "not acknowledged: sent again at the next connect"
    );
    b.send(json!({"type": "group_delivered", "group": id}))
        .await;
    handled(&mut b, &id).await;
    let (_, greeting) = server.connect(&bob).await;
    assert!(
        greeting
            .iter()
            .all(|e| e["type"] != "receive_group_message"),
        "{greeting:?}"
    );
}

#[tokio::test]
async fn the_list_shows_each_group_with_its_last_message_and_unread_count() {
    let server = TestServer::start().await;
    let (alice, bob, carol, _) = alice_and_friends(&server).await;
    let first = create(&server, &alice, &[&bob]).await;
    let second = create(&server, &alice, &[&bob, &carol]).await;
    let (mut a, _) = server.connect(&alice).await;
    send(&mut a, &second).await;
    server.clock.advance(std::time::Duration::from_millis(1));
    let last = send(&mut a, &first).await;
    let (_, list) = request(&server, Method::GET, "/groups", &bob, None).await;
    let rows: Vec<(String, String, u64)> = list["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["group"]["id"].as_str().expect("id").to_owned(),
                g["lastMessage"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                g["unread"].as_u64().expect("unread"),
            )
        })
        .collect();
    assert_eq!(
        rows[0],
        (first.clone(), last.clone(), 1),
        "latest message first: {list}"
    );
    assert_eq!((rows[1].0.as_str(), rows[1].2), (second.as_str(), 1));
    let (mut b, _) = server.connect(&bob).await;
    b.send(json!({"type": "group_seen", "group": first})).await;
    handled(&mut b, &first).await;
    let (_, list) = request(&server, Method::GET, "/groups", &bob, None).await;
    assert_eq!(list["groups"][0]["unread"], 0);
    assert_eq!(list["groups"][1]["unread"], 1);
}

#[tokio::test]
async fn limits_sizes_and_malformed_frames_are_refused_with_the_protocols_codes() {
    let mut config = test_config();
    config.limits.max_group_members = 3;
    config.limits.max_groups_per_user = 2;
    let server = TestServer::start_with(config).await;
    let (alice, bob, carol, dave) = alice_and_friends(&server).await;
    server.befriend(&alice, &dave).await;
    let (status, body) = request(
        &server,
        Method::POST,
        "/groups",
        &alice,
        Some(json!({"members": [bob.name, carol.name, dave.name]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (status, body) = request(
        &server,
        Method::POST,
        &format!("/groups/{id}/members"),
        &alice,
        Some(json!({"username": dave.name})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "a full group: {body}"
    );
    create(&server, &alice, &[&dave]).await;
    let (status, body) = request(
        &server,
        Method::POST,
        "/groups",
        &alice,
        Some(json!({"members": []})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "alice is in two groups: {body}"
    );

    let long = "A".repeat(2048);
    let (status, body) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &alice,
        Some(json!({"title": {"ciphertext": long, "iv": "AAAAAAAAAAAAAAAA", "keyId": "k"}})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    let (status, body) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &alice,
        Some(
            json!({"title": {"ciphertext": "not base64!", "iv": "AAAAAAAAAAAAAAAA", "keyId": "k"}}),
        ),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );

    let (mut a, _) = server.connect(&alice).await;
    a.send(
        json!({"type": "send_group_message", "group": id, "ciphertext": "AAAA",
                  "iv": "AAAAAAAAAAAAAAAA", "id": new_id()}),
    )
    .await;
    a.expect_error("bad_request").await;
    a.send(key_message(&id, &dave.name, &new_id())).await;
    a.expect_error("not_found").await;
    a.send(group_message(&new_id(), &new_id())).await;
    a.expect_error("not_found").await;
    let (_, list) = request(&server, Method::GET, "/groups", &alice, None).await;
    assert_eq!(list["groups"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_erased_account_leaves_its_groups_and_its_messages_go() {
    let server = TestServer::start().await;
    let (alice, bob, carol, _) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob, &carol]).await;
    let (mut b, _) = server.connect(&bob).await;
    let gone = send(&mut b, &id).await;
    let (mut c, _) = server.connect(&carol).await;
    let (status, body) = request(
        &server,
        Method::DELETE,
        "/auth/account",
        &bob,
        Some(json!({"password": "correct horse"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let event = loop {
        let event = c.recv_until("group_changed").await;
        if event["change"]["kind"] == "member_left" {
            break event;
        }
    };
    assert_eq!(event["change"]["user"], bob.name.as_str());
    assert_eq!(
        roster(&event["group"]),
        [entry(&alice, "admin"), entry(&carol, "member")]
    );
    c.send(json!({"type": "fetch_group_history", "group": id}))
        .await;
    let page = c.recv_until("group_history_response").await;
    assert!(
        page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["id"] != gone.as_str())
    );
}

#[tokio::test]
async fn an_admin_reseals_the_title_and_avatar_and_every_member_sees_who_did() {
    let server = TestServer::start().await;
    let (alice, bob, _, dave) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob]).await;
    let (mut b, _) = server.connect(&bob).await;
    let body = json!({"title": sealed("k7"), "avatar": sealed("k7")});
    let (status, group) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &alice,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{group}");
    let event = b.recv_until("group_changed").await;
    assert_eq!(
        (
            event["change"]["kind"].as_str(),
            event["change"]["by"].as_str()
        ),
        (Some("details_changed"), Some(alice.name.as_str()))
    );
    for field in ["title", "avatar"] {
        assert_eq!(event["group"][field]["keyId"], "k7", "{event}");
        assert_eq!(event["group"][field]["by"], alice.name.as_str());
    }
    // `by` is the server's to say: a client cannot pass its field off as another member's.
    let forged = json!({"title": {"ciphertext": "c2VhbGVk", "iv": "AAAAAAAAAAAAAAAA", "keyId": "k8", "by": bob.name}});
    let (_, group) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &alice,
        Some(forged),
    )
    .await;
    assert_eq!(
        (group["title"]["by"].as_str(), &group["avatar"]),
        (Some(alice.name.as_str()), &Value::Null)
    );
    let (status, _) = request(
        &server,
        Method::PUT,
        &format!("/groups/{id}/details"),
        &dave,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 404, "a stranger is told nothing, not forbidden");
}

#[tokio::test]
async fn group_sends_share_the_message_rate_and_a_resend_past_it_is_free() {
    let mut config = test_config();
    config.limits.message_burst = 3;
    config.limits.messages_per_sec = 0.001;
    let server = TestServer::start_with(config).await;
    let (alice, bob, _, _) = alice_and_friends(&server).await;
    let id = create(&server, &alice, &[&bob]).await;
    let (mut a, _) = server.connect(&alice).await;
    let first = send(&mut a, &id).await;
    send(&mut a, &id).await;
    let one = new_id();
    a.send(message(&bob.name, &one)).await;
    a.recv_until("message_sent").await;
    let refused = new_id();
    a.send(group_message(&id, &refused)).await;
    let error = a.expect_error("rate_limited").await;
    assert_eq!(error["ref"], refused.as_str());
    a.send(group_message(&id, &first)).await;
    let again = a.expect("group_message_sent").await;
    assert_eq!(
        again["id"],
        first.as_str(),
        "a resend of a stored message costs nothing"
    );
}

#[tokio::test]
async fn an_id_names_one_message_and_tells_a_stranger_nothing() {
    let server = TestServer::start().await;
    let (alice, bob, _, dave) = alice_and_friends(&server).await;
    let first = create(&server, &alice, &[&bob]).await;
    let second = create(&server, &alice, &[&bob]).await;
    let (mut a, _) = server.connect(&alice).await;
    let id = send(&mut a, &first).await;
    // The same id into another group, or as a key message, is not a resend: refused.
    a.send(group_message(&second, &id)).await;
    let error = a.expect_error("bad_request").await;
    assert_eq!(error["ref"], id.as_str());
    a.send(key_message(&first, &bob.name, &id)).await;
    a.expect_error("bad_request").await;
    // Someone outside the group who holds the id learns nothing from it.
    let (mut d, _) = server.connect(&dave).await;
    d.send(group_message(&first, &id)).await;
    d.expect_error("not_found").await;
    let (mut b, _) = server.connect(&bob).await;
    b.send(group_message(&first, &id)).await;
    b.expect_error("bad_request").await;
    let (_, list) = request(&server, Method::GET, "/groups", &bob, None).await;
    let second_entry = list["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"]["id"] == second.as_str())
        .expect("the second group");
    assert_eq!(
        second_entry["lastMessage"],
        Value::Null,
        "nothing reached the second group"
    );
}
