//! The SDK against a real server over real sockets: accounts from the key backup, friends,
//! messages with ticks both ways, history, safety numbers, files, and the socket's recovery:
//! messages cut off on the way are sent again with their ids and stored once.

mod common;

use common::*;
use nexchat_client::protocol::{ErrorCode, MessageStatus};
use nexchat_client::{Client, ConnectOptions, Error, Event};

#[tokio::test]
async fn two_clients_befriend_and_chat_with_every_tick() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    let mut alice_events = alice.connect().await.expect("alice connects");
    let mut bob_events = bob.connect().await.expect("bob connects");
    connected(&mut alice_events).await;
    connected(&mut bob_events).await;

    alice.request_friend(bob.username()).await.expect("request");
    let from = next_matching(&mut bob_events, "the request", |e| match e {
        Event::FriendRequest { from } => Some(from.clone()),
        _ => None,
    })
    .await;
    assert_eq!(from, alice.username());
    bob.accept_friend(&from).await.expect("accept");
    next_matching(&mut alice_events, "the friendship", |e| {
        matches!(e, Event::FriendAdded { user, online: true } if user == bob.username())
            .then_some(())
    })
    .await;

    let sent = alice
        .send(bob.username(), "hello bob ✓")
        .await
        .expect("send");
    let got = next_matching(&mut bob_events, "the message", |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (got.id.as_str(), got.text.as_str()),
        (sent.id.as_str(), "hello bob ✓")
    );
    assert_eq!(
        (got.sender.as_str(), got.timestamp),
        (alice.username(), sent.timestamp)
    );

    // Bob's client acknowledged it on its own: two ticks; then he reads it: seen.
    let delivered = next_matching(&mut alice_events, "delivered", |e| match e {
        Event::Receipt {
            ids,
            status: MessageStatus::Delivered,
            ..
        } => Some(ids.clone()),
        _ => None,
    })
    .await;
    assert_eq!(delivered, vec![sent.id.clone()]);
    bob.mark_seen(alice.username(), vec![sent.id.clone()])
        .await
        .expect("seen");
    next_matching(&mut alice_events, "seen", |e| match e {
        Event::Receipt {
            ids,
            status: MessageStatus::Seen,
            peer,
        } if *ids == [sent.id.clone()] => Some(peer.clone()),
        _ => None,
    })
    .await;

    let reply = bob.send(alice.username(), "hi alice").await.expect("reply");
    let page = alice
        .history(bob.username(), None, 50)
        .await
        .expect("history");
    let texts: Vec<&str> = page
        .messages
        .iter()
        .map(|m| m.as_ref().expect("decrypts").text.as_str())
        .collect();
    assert_eq!(texts, ["hi alice", "hello bob ✓"]);
    assert_eq!(page.messages[0].as_ref().expect("decrypts").id, reply.id);
    assert_eq!(
        page.messages[1].as_ref().expect("decrypts").status,
        MessageStatus::Seen
    );

    let conversations = alice.conversations().await.expect("conversations");
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].peer, bob.username());
    assert_eq!(
        conversations[0]
            .last_message
            .as_ref()
            .expect("decrypts")
            .text,
        "hi alice"
    );

    let (a, b) = (
        alice
            .safety_number(bob.username())
            .await
            .expect("alice's number"),
        bob.safety_number(alice.username())
            .await
            .expect("bob's number"),
    );
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.to_string().len(), 6 * 5 + 5);
}

#[tokio::test]
async fn a_login_opens_the_account_from_its_key_backup_and_a_wrong_password_does_not() {
    let server = TestServer::start().await;
    let first = register(&server.url(), "carol").await;
    let name = first.username().to_owned();

    let again = Client::login(&server.url(), &name.to_uppercase(), PASSWORD)
        .await
        .expect("login in another letter case");
    assert_eq!(again.username(), name);
    assert_eq!(again.public_key(), first.public_key());

    let wrong = Client::login(&server.url(), &name, "not the password at all").await;
    assert!(
        matches!(wrong, Err(Error::Api { status: 401, .. })),
        "{wrong:?}"
    );

    // A kept session goes on without the password, with the same identity.
    let resumed = Client::resume(&again.session()).expect("resume");
    assert_eq!(resumed.public_key(), first.public_key());
    resumed.friends().await.expect("the token works");
    // A kept session whose key is not the account's is refused before it sends anything.
    let mut forged = again.session();
    forged.identity = register(&server.url(), "mallory").await.session().identity;
    let refused = Client::resume(&forged)
        .expect("a well-formed key")
        .connect()
        .await;
    assert!(matches!(refused, Err(Error::KeyMismatch)), "{refused:?}");
    let session_text = format!("{:?}", again.session());
    assert!(
        !session_text.contains(&again.session().token),
        "{session_text}"
    );
}

#[tokio::test]
async fn messages_sent_while_offline_arrive_at_connect_before_the_greeting_ends() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    befriend(&alice, &bob).await;
    let mut alice_events = alice.connect().await.expect("connect");
    connected(&mut alice_events).await;
    let first = alice.send(bob.username(), "one").await.expect("send");
    let second = alice.send(bob.username(), "two").await.expect("send");

    let mut bob_events = bob.connect().await.expect("connect");
    let mut texts = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, bob_events.next())
            .await
            .expect("events")
        {
            Some(Event::Message(m)) => texts.push((m.id, m.text)),
            Some(Event::Connected { online }) => {
                assert_eq!(online, vec![alice.username().to_owned()]);
                break;
            }
            Some(_) => {}
            None => panic!("the events ended"),
        }
    }
    assert_eq!(
        texts,
        [(first.id, "one".to_owned()), (second.id, "two".to_owned())]
    );
}

#[tokio::test]
async fn a_message_cut_off_before_the_server_read_it_is_sent_again_with_its_id() {
    let Cut {
        _server,
        proxy,
        alice,
        mut alice_events,
        bob,
        mut bob_events,
    } = Cut::start().await;

    // The frame reaches the proxy and goes no further; then the connection is cut.
    proxy.hold_up(true);
    let sending = send_in_background(&alice, bob.username(), "through the cut");
    // A `send_message` frame is a few hundred bytes (a pong is a handful).
    wait_for(|| proxy.held_up_bytes() > 100).await;
    proxy.cut();

    let sent = tokio::time::timeout(WAIT, sending)
        .await
        .expect("the send completes after the reconnect")
        .expect("task")
        .expect("stored");
    let got = next_matching(&mut bob_events, "the message", |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (got.id, got.text),
        (sent.id.clone(), "through the cut".to_owned())
    );
    next_matching(&mut alice_events, "the disconnect", |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    assert_stored_once(&bob, alice.username(), &sent.id).await;
}

#[tokio::test]
async fn a_message_whose_acknowledgement_was_lost_is_answered_again_and_stored_once() {
    let Cut {
        _server,
        proxy,
        alice,
        alice_events: _alice_events,
        bob,
        mut bob_events,
    } = Cut::start().await;

    // The server stores the message and pushes it to Bob; its answer to Alice is held, then
    // dropped with the connection.
    proxy.hold_down(true);
    let sending = send_in_background(&alice, bob.username(), "stored, answer lost");
    let got = next_matching(&mut bob_events, "the message", |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert!(!sending.is_finished(), "the answer was held back");
    proxy.cut();

    let sent = tokio::time::timeout(WAIT, sending)
        .await
        .expect("the send completes after the reconnect")
        .expect("task")
        .expect("stored");
    // The resend is the same message: same id, the first storing's timestamp.
    assert_eq!(
        (sent.id.as_str(), sent.timestamp),
        (got.id.as_str(), got.timestamp)
    );
    assert_stored_once(&bob, alice.username(), &sent.id).await;
}

#[tokio::test]
async fn a_message_the_server_refuses_fails_and_is_not_sent_again() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    let mut events = alice.connect().await.expect("connect");
    connected(&mut events).await;
    let refused = alice.send(bob.username(), "we are not friends").await;
    assert!(
        matches!(
            refused,
            Err(Error::Refused {
                code: ErrorCode::NotFriends,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(matches!(
        alice.send("no such user!", "x").await,
        Err(Error::InvalidUsername(_))
    ));
    // A history page the server refuses fails at once, not at the timeout.
    let unknown = alice.history(&unique("ghost"), None, 10).await;
    assert!(
        matches!(
            unknown,
            Err(Error::Refused {
                code: ErrorCode::UserNotFound,
                ..
            })
        ),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn ending_the_session_elsewhere_ends_the_events() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let mut events = alice.connect().await.expect("connect");
    connected(&mut events).await;
    alice.logout().await.expect("logout");
    let reason = next_matching(&mut events, "the end", |e| match e {
        Event::SessionEnded { reason } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("ended"), "{reason}");
    assert!(events.next().await.is_none(), "nothing after the end");
    assert!(matches!(alice.connect().await, Err(Error::SessionEnded(_))));
}

#[tokio::test]
async fn a_file_goes_encrypted_and_comes_back_whole_to_its_receiver() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    befriend(&alice, &bob).await;
    let mut alice_events = alice.connect().await.expect("connect");
    connected(&mut alice_events).await;
    let mut bob_events = bob.connect().await.expect("connect");
    connected(&mut bob_events).await;

    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    alice
        .send_file(
            bob.username(),
            "the report",
            &data,
            "report.bin",
            "application/octet-stream",
        )
        .await
        .expect("send the file");
    let got = next_matching(&mut bob_events, "the message", |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got.text, "the report");
    let [attachment] = got.attachments.as_slice() else {
        panic!("one attachment: {:?}", got.attachments)
    };
    assert_eq!(
        (attachment.name.as_str(), attachment.size),
        ("report.bin", 200_000)
    );
    assert_eq!(bob.download(attachment).await.expect("download"), data);
}

/// Alice behind a proxy that can cut her connection, Bob straight to the server; friends,
/// both connected, Alice holding Bob's key already (so sending needs only her socket).
struct Cut {
    _server: TestServer,
    proxy: Proxy,
    alice: Client,
    alice_events: nexchat_client::Events,
    bob: Client,
    bob_events: nexchat_client::Events,
}

impl Cut {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let proxy = Proxy::start(server.addr).await;
        let alice = register(&proxy.url(), "alice").await;
        let bob = register(&server.url(), "bob").await;
        befriend(&alice, &bob).await;
        alice
            .safety_number(bob.username())
            .await
            .expect("bob's key, fetched before the cut");
        let mut alice_events = alice.connect_with(fast_reconnect()).await.expect("connect");
        connected(&mut alice_events).await;
        let mut bob_events = bob.connect().await.expect("connect");
        connected(&mut bob_events).await;
        Self {
            _server: server,
            proxy,
            alice,
            alice_events,
            bob,
            bob_events,
        }
    }
}

/// `from.send(to, text)` in a task of its own, to be awaited later.
fn send_in_background(
    from: &Client,
    to: &str,
    text: &'static str,
) -> tokio::task::JoinHandle<nexchat_client::Result<nexchat_client::Sent>> {
    let (from, to) = (from.clone(), to.to_owned());
    tokio::spawn(async move { from.send(&to, text).await })
}

fn fast_reconnect() -> ConnectOptions {
    ConnectOptions {
        min_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(100),
        ..ConnectOptions::default()
    }
}

/// Bob's history with `peer` holds `id` exactly once.
async fn assert_stored_once(bob: &Client, peer: &str, id: &str) {
    let page = bob.history(peer, None, 200).await.expect("history");
    let copies = page
        .messages
        .iter()
        .filter(|m| m.as_ref().is_ok_and(|m| m.id == id))
        .count();
    assert_eq!(copies, 1, "{:?}", page.messages);
    assert_eq!(page.messages.len(), 1);
}

async fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_group_chats_under_sender_keys_and_a_new_key_follows_a_removal() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    let carol = register(&server.url(), "carol").await;
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    let mut events = Vec::new();
    for client in [&alice, &bob, &carol] {
        let mut stream = client.connect().await.expect("connect");
        connected(&mut stream).await;
        events.push(stream);
    }
    let [alice_events, bob_events, carol_events] = &mut events[..] else {
        unreachable!("three clients")
    };
    let group = alice
        .create_group(&[bob.username(), carol.username()])
        .await
        .expect("create")
        .id;
    let group_text = |who: &str| {
        let who = who.to_owned();
        move |e: &Event| match e {
            Event::GroupMessage(m) if m.sender == who => {
                Some((m.group.clone(), m.text.clone(), m.key_id.clone()))
            }
            _ => None,
        }
    };

    let first = alice
        .send_group(&group, "hello, both of you")
        .await
        .expect("send");
    for (stream, name) in [(&mut *bob_events, "bob"), (&mut *carol_events, "carol")] {
        let got = next_matching(stream, name, group_text(alice.username())).await;
        assert_eq!(
            (got.0, got.1.as_str()),
            (group.clone(), "hello, both of you")
        );
    }
    // Both acknowledged it on their own: it is delivered to every member.
    next_matching(alice_events, "delivered to all", |e| match e {
        Event::GroupReceipt {
            ids,
            status: MessageStatus::Delivered,
            ..
        } if *ids == [first.id.clone()] => Some(()),
        _ => None,
    })
    .await;

    bob.send_group(&group, "hi alice, hi carol")
        .await
        .expect("bob's first");
    let before = next_matching(alice_events, "bob's message", group_text(bob.username())).await;
    assert_eq!(before.1, "hi alice, hi carol");
    next_matching(carol_events, "bob's message", group_text(bob.username())).await;

    // Carol is removed: Bob's client makes a new key, which only Alice (and Bob) receive.
    alice
        .remove_group_member(&group, carol.username())
        .await
        .expect("remove");
    next_matching(bob_events, "the removal", |e| {
        matches!(e, Event::GroupChanged { .. }).then_some(())
    })
    .await;
    bob.send_group(&group, "just us now")
        .await
        .expect("after the removal");
    let got = next_matching(
        alice_events,
        "bob's new message",
        group_text(bob.username()),
    )
    .await;
    assert_eq!(got.1, "just us now");
    assert_ne!(got.2, before.2, "a new sender key after the removal");
    next_matching(carol_events, "her removal", |e| {
        matches!(e, Event::GroupRemoved { .. }).then_some(())
    })
    .await;

    // Carol never sent there: her first message would hand a key out, and the group's
    // members are not hers to read any more.
    let refused = carol.send_group(&group, "still here?").await;
    assert!(
        matches!(refused, Err(Error::Api { status: 404, .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_client_started_after_a_key_was_handed_out_finds_it_in_the_groups_history() {
    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    befriend(&alice, &bob).await;
    let mut alice_events = alice.connect().await.expect("connect");
    connected(&mut alice_events).await;
    let group = alice
        .create_group(&[bob.username()])
        .await
        .expect("create")
        .id;
    // Bob's first client takes Alice's key with her first message, and acknowledges both.
    let mut bob_events = bob.connect().await.expect("connect");
    connected(&mut bob_events).await;
    alice.send_group(&group, "first").await.expect("first");
    let first = next_matching(&mut bob_events, "the first message", |e| match e {
        Event::GroupMessage(m) => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(first, "first");

    // Bob starts again (a new process: no keys kept). Alice's next message comes under the
    // same key, with no key message of its own: the new client finds the key in the history.
    drop(bob_events);
    let bob_again = Client::login(&server.url(), bob.username(), PASSWORD)
        .await
        .expect("login");
    let mut again_events = bob_again.connect().await.expect("connect");
    connected(&mut again_events).await;
    alice.send_group(&group, "second").await.expect("second");
    let second = next_matching(&mut again_events, "the second message", |e| match e {
        Event::GroupMessage(m) => Some(m.text.clone()),
        Event::Undecryptable { reason, .. } => Some(format!("undecryptable: {reason}")),
        _ => None,
    })
    .await;
    assert_eq!(second, "second");
}

#[tokio::test]
async fn key_messages_from_this_users_other_devices_are_acknowledged_and_not_sent_again() {
    use futures::StreamExt;

    let server = TestServer::start().await;
    let alice = register(&server.url(), "alice").await;
    let bob = register(&server.url(), "bob").await;
    befriend(&alice, &bob).await;
    let group = alice
        .create_group(&[bob.username()])
        .await
        .expect("create")
        .id;
    // Alice's second device listens while the first hands its key to every member, Alice
    // included.
    let second = Client::login(&server.url(), alice.username(), PASSWORD)
        .await
        .expect("login");
    let mut second_events = second.connect().await.expect("connect");
    connected(&mut second_events).await;
    drop(alice.connect().await.expect("connect"));
    let sent = alice
        .send_group(&group, "from the first device")
        .await
        .expect("send");
    let got = next_matching(&mut second_events, "the message", |e| match e {
        Event::GroupMessage(m) => Some(m.id.clone()),
        _ => None,
    })
    .await;
    assert_eq!(got, sent.id);
    // The ticks go out in order behind the message: a history page asked after them is
    // answered after they are stored.
    second
        .history(bob.username(), None, 1)
        .await
        .expect("a round trip");

    // A new socket of Alice's gets nothing of it in its greeting: all acknowledged.
    let ticket: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/auth/ws-ticket", server.url()))
        .bearer_auth(&alice.session().token)
        .send()
        .await
        .expect("ticket")
        .json()
        .await
        .expect("JSON");
    let url = format!(
        "ws://{}/ws?ticket={}",
        server.addr,
        ticket["ticket"].as_str().expect("ticket")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
    let mut greeting = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame")
            .expect("open")
            .expect("frame");
        let frame: serde_json::Value =
            serde_json::from_str(frame.to_text().expect("text")).expect("JSON");
        if frame["type"] == "sync_done" {
            break;
        }
        greeting.push(frame["type"].clone());
    }
    assert_eq!(greeting, ["online_users"], "nothing left unacknowledged");
}
