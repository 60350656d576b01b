//! Property-based fuzzing of the frame decoder and the event handler: any sequence of frames a
//! client can send — random text, random JSON, valid events with fields swapped for random
//! values — is answered or refused, never crashes the server, and leaves the socket able to
//! answer a valid request afterwards. Every frame the server queues is a server event as
//! `docs/schema/server-events.json` describes.
//!
//! The test command runs 256 cases; a longer run:
//! `PROPTEST_CASES=20000 cargo test --release -p nexchat-axum --all-features --test fuzz`.

mod common;

use std::sync::OnceLock;

use common::*;
use nexchat_core::transport::{Caller, ClientInfo, Outbound, SessionOutbox};
use nexchat_core::{Chat, Principal};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The event types of the protocol, so random frames reach every handler.
const TYPES: &[&str] = &[
    "join",
    "request_public_key",
    "send_message",
    "message_delivered",
    "message_seen",
    "fetch_history",
    "typing",
    "call_offer",
    "call_answer",
    "call_ice",
    "call_ended",
    "fetch_call_history",
    "send_group_message",
    "group_delivered",
    "group_seen",
    "fetch_group_history",
    "group_typing",
];

/// Field names the protocol uses, so random objects hit real fields with wrong values.
const FIELDS: &[&str] = &[
    "publicKey",
    "receiver",
    "ciphertext",
    "iv",
    "id",
    "to",
    "ids",
    "withUser",
    "before",
    "limit",
    "isTyping",
    "offer",
    "withVideo",
    "answer",
    "callId",
    "candidate",
    "group",
    "keyId",
    "attachments",
];

struct World {
    runtime: tokio::runtime::Runtime,
    chat: Chat,
    alice: String,
    bob: String,
    _dir: tempfile::TempDir,
}

/// One chat for every case (opening a database per case would dominate the run), with two
/// friends; limits lifted so that rates and refusal counts never close the socket under test.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config();
        let limits = &mut config.limits;
        limits.message_burst = u32::MAX;
        limits.typing_per_sec = u32::MAX;
        limits.join_burst = u32::MAX;
        limits.call_offer_burst = u32::MAX;
        limits.abuse_refusals = u32::MAX;
        let (chat, alice, bob) = runtime.block_on(async {
            let chat = sqlite_chat(config, nexchat_core::ManualClock::starting_now(), &dir).await;
            let alice = "fuzz_alice".to_owned();
            let bob = "fuzz_bob".to_owned();
            for name in [&alice, &bob] {
                let request = serde_json::from_value(json!({
                    "username": name, "password": "correct horse", "publicKey": jwk(name),
                    "encryptedPrivateKey": {}
                }))
                .expect("register request");
                chat.register(request, &ClientInfo::default())
                    .await
                    .expect("register");
            }
            chat.friend_request(&alice, &bob).await.expect("request");
            chat.friend_accept(&bob, &alice).await.expect("accept");
            (chat, alice, bob)
        });
        World {
            runtime,
            chat,
            alice,
            bob,
            _dir: dir,
        }
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("fuzz_bob")),
        Just(json!("AAAAAAAAAAAAAAAA")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(FIELDS).prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A protocol event with random values in protocol fields.
fn event() -> impl Strategy<Value = String> {
    (
        prop::sample::select(TYPES),
        prop::collection::btree_map(prop::sample::select(FIELDS), json_value(), 0..6),
    )
        .prop_map(|(kind, fields)| {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), json!(kind));
            for (name, value) in fields {
                object.insert(name.to_owned(), value);
            }
            Value::Object(object).to_string()
        })
}

fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => event(),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,200}",
        1 => "[{}\\[\\]\":,a-z0-9]{0,64}",
    ]
}

/// Everything queued so far; each must be a server event as the published schema describes.
fn drain(outbox: &mut SessionOutbox) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(item) = outbox.try_next() {
        match item {
            Outbound::Frame(frame) => {
                contract::server_frame(&frame);
                let event: Value = serde_json::from_str(&frame).expect("checked to be JSON");
                events.push(event);
            }
            Outbound::Close(reason) => panic!("the socket was closed: {reason:?}"),
        }
    }
    events
}

proptest! {
    #[test]
    fn any_frames_are_answered_or_refused_and_the_socket_still_works(
        frames in prop::collection::vec(frame(), 1..12)
    ) {
        let world = world();
        world.runtime.block_on(async {
            let chat = world.chat.transport();
            let caller = Caller::from(Principal::new(world.alice.clone()));
            let (session, mut outbox) = chat.connect(&caller).await.expect("connect");
            chat.greet(&session).await.expect("greet");
            for frame in &frames {
                chat.handle_frame(&session, frame).await;
                drain(&mut outbox);
            }
            // A valid request after the noise is answered as usual.
            let ask = json!({"type": "request_public_key", "receiver": world.bob}).to_string();
            chat.handle_frame(&session, &ask).await;
            let events = drain(&mut outbox);
            assert!(
                events.iter().any(|e| e["type"] == "public_key_response"),
                "no answer after the fuzzed frames: {events:?}"
            );
            chat.disconnect(&session).await;
        });
    }
}
