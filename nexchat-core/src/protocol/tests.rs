//! Round trips of every wire value: the exact JSON of the protocol document is decoded and
//! encoded back unchanged, which pins every field name and tag.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::rest::*;
use super::*;

fn key(seed: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": format!("x{seed}"), "y": format!("y{seed}")})
}

/// Decodes `wire` as `T`, encodes it back, and checks nothing changed.
fn round_trip<T: Serialize + DeserializeOwned>(wire: Value) -> T {
    let decoded: T = serde_json::from_value(wire.clone())
        .unwrap_or_else(|e| panic!("cannot decode {wire}: {e}"));
    let encoded = serde_json::to_value(&decoded).expect("encode");
    assert_eq!(encoded, wire, "round trip changed the JSON");
    decoded
}

/// With the feature `schema`, the exact wire JSON of each event also matches the published
/// schema of its direction.
#[cfg(feature = "schema")]
mod against_schema {
    use std::sync::LazyLock;

    use jsonschema::Validator;
    use serde_json::Value;

    use super::super::schema;

    static CLIENT: LazyLock<Validator> = LazyLock::new(|| compile(schema::client_events()));
    static SERVER: LazyLock<Validator> = LazyLock::new(|| compile(schema::server_events()));

    fn compile(schema: schemars::Schema) -> Validator {
        jsonschema::validator_for(schema.as_value()).expect("a valid JSON Schema")
    }

    fn check(validator: &Validator, wire: &Value) {
        if let Err(err) = validator.validate(wire) {
            panic!(
                "{wire} does not match its schema at {}: {err}",
                err.instance_path()
            );
        }
    }

    pub(super) fn client(wire: &Value) {
        check(&CLIENT, wire);
    }

    pub(super) fn server(wire: &Value) {
        check(&SERVER, wire);
    }
}

fn client(wire: Value) -> ClientEvent {
    #[cfg(feature = "schema")]
    against_schema::client(&wire);
    let event: ClientEvent = round_trip(wire.clone());
    assert_eq!(ClientEvent::decode(&wire.to_string()), Ok(event.clone()));
    event
}

fn server(wire: Value) -> ServerEvent {
    #[cfg(feature = "schema")]
    against_schema::server(&wire);
    let event: ServerEvent = round_trip(wire.clone());
    let frame: Value = serde_json::from_str(&event.encode()).expect("encode is JSON");
    assert_eq!(frame, wire);
    event
}

fn message_json(status: &str) -> Value {
    json!({"id": "6f1c2a8e-3b1d-4c55-9a51-1f1d2c3b4a59", "sender": "alice", "receiver": "bob",
           "ciphertext": "AAAA", "iv": "AAAAAAAAAAAAAAAA", "timestamp": 1_700_000_000_000_i64,
           "status": status})
}

fn call_json(status: &str, answered: Option<i64>, ended: Option<i64>, duration: u64) -> Value {
    let mut call = json!({"callId": "c-1", "caller": "alice", "callee": "bob", "type": "video",
                          "status": status, "startedAt": 1000, "duration": duration});
    if let Some(at) = answered {
        call["answeredAt"] = json!(at);
    }
    if let Some(at) = ended {
        call["endedAt"] = json!(at);
    }
    call
}

#[test]
fn join_and_request_public_key() {
    assert_eq!(
        client(json!({"type": "join", "publicKey": key("a")})),
        ClientEvent::Join {
            public_key: PublicKey::from_jwk(&key("a")).expect("key")
        }
    );
    assert_eq!(
        client(json!({"type": "request_public_key", "receiver": "bob"})),
        ClientEvent::RequestPublicKey {
            receiver: "bob".into()
        }
    );
}

#[test]
fn send_message_with_and_without_id() {
    let event = client(
        json!({"type": "send_message", "receiver": "bob", "ciphertext": "AAAA",
                              "iv": "BBBB", "id": "m-1"}),
    );
    assert_eq!(
        event,
        ClientEvent::SendMessage {
            receiver: "bob".into(),
            ciphertext: "AAAA".into(),
            iv: "BBBB".into(),
            id: Some("m-1".into()),
            attachments: Vec::new(),
        }
    );
    assert_eq!(event.reference(), Some("m-1"));
    let event = client(
        json!({"type": "send_message", "receiver": "bob", "ciphertext": "AAAA",
                              "iv": "BBBB"}),
    );
    assert_eq!(event.reference(), None);
}

#[test]
fn ticks_with_and_without_ids() {
    for kind in ["message_delivered", "message_seen"] {
        let event = client(json!({"type": kind, "to": "alice", "ids": ["m-1", "m-2"]}));
        let ids = Some(vec!["m-1".to_owned(), "m-2".to_owned()]);
        let expected = if kind == "message_seen" {
            ClientEvent::MessageSeen {
                to: "alice".into(),
                ids,
            }
        } else {
            ClientEvent::MessageDelivered {
                to: "alice".into(),
                ids,
            }
        };
        assert_eq!(event, expected);
        client(json!({"type": kind, "to": "alice"}));
    }
}

#[test]
fn fetch_history_and_fetch_call_history() {
    for kind in ["fetch_history", "fetch_call_history"] {
        let event = client(json!({"type": kind, "withUser": "bob", "before": "m-9", "limit": 20}));
        let expected = if kind == "fetch_history" {
            ClientEvent::FetchHistory {
                with_user: "bob".into(),
                before: Some("m-9".into()),
                limit: Some(20),
            }
        } else {
            ClientEvent::FetchCallHistory {
                with_user: "bob".into(),
                before: Some("m-9".into()),
                limit: Some(20),
            }
        };
        assert_eq!(event, expected);
        client(json!({"type": kind, "withUser": "bob"}));
    }
}

#[test]
fn typing() {
    assert_eq!(
        client(json!({"type": "typing", "to": "bob", "isTyping": true})),
        ClientEvent::Typing {
            to: "bob".into(),
            is_typing: true
        }
    );
}

#[test]
fn call_signalling_from_clients() {
    let offer = json!({"type": "offer", "sdp": "v=0"});
    assert_eq!(
        client(json!({"type": "call_offer", "to": "bob", "offer": offer, "withVideo": true})),
        ClientEvent::CallOffer {
            to: "bob".into(),
            offer: offer.clone(),
            with_video: true
        }
    );
    let event = client(
        json!({"type": "call_answer", "to": "alice", "answer": offer,
                              "callId": "c-1"}),
    );
    assert_eq!(event.reference(), Some("c-1"));
    client(json!({"type": "call_answer", "to": "alice", "answer": offer}));
    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"});
    let event = client(
        json!({"type": "call_ice", "to": "bob", "candidate": candidate,
                              "callId": "c-1"}),
    );
    assert_eq!(event.reference(), Some("c-1"));
    client(json!({"type": "call_ice", "to": "bob", "candidate": candidate}));
    let event = client(json!({"type": "call_ended", "to": "bob", "callId": "c-1"}));
    assert_eq!(
        event,
        ClientEvent::CallEnded {
            to: "bob".into(),
            call_id: Some("c-1".into())
        }
    );
    client(json!({"type": "call_ended", "to": "bob"}));
}

#[test]
fn client_frames_with_other_spellings_are_refused() {
    for frame in [
        json!({"type": "typing", "to": "bob", "is_typing": true}),
        json!({"type": "Typing", "to": "bob", "isTyping": true}),
        json!({"type": "fetch_history", "with_user": "bob"}),
        json!({"type": "call_offer", "to": "bob", "offer": {}, "with_video": true}),
        json!({"type": "sendMessage", "receiver": "bob", "ciphertext": "A", "iv": "A"}),
        json!({"type": "join", "public_key": key("a")}),
    ] {
        let err = ClientEvent::decode(&frame.to_string()).expect_err("must be refused");
        assert!(!err.message.is_empty());
    }
    let err = ClientEvent::decode(r#"{"type":"send_message","id":"m-1"}"#).expect_err("refused");
    assert_eq!(err.reference.as_deref(), Some("m-1"));
    let err = ClientEvent::decode(r#"{"type":"call_ice","callId":"c-1"}"#).expect_err("refused");
    assert_eq!(err.reference.as_deref(), Some("c-1"));
}

#[test]
fn greeting_events() {
    assert_eq!(
        server(json!({"type": "online_users", "users": ["bob", "carol"]})),
        ServerEvent::OnlineUsers {
            users: vec!["bob".into(), "carol".into()]
        }
    );
    for status in ["sent", "delivered", "seen"] {
        let mut wire = message_json(status);
        wire["type"] = json!("receive_message");
        server(wire);
    }
    assert_eq!(
        server(json!({"type": "sync_done"})),
        ServerEvent::SyncDone {}
    );
}

#[test]
fn message_answers_and_ticks() {
    assert_eq!(
        server(
            json!({"type": "message_sent", "id": "m-1", "receiver": "bob",
                      "timestamp": 1_700_000_000_000_i64})
        ),
        ServerEvent::MessageSent {
            id: "m-1".into(),
            receiver: "bob".into(),
            timestamp: 1_700_000_000_000
        }
    );
    server(json!({"type": "message_delivered", "from": "bob", "ids": ["m-1"]}));
    server(json!({"type": "message_seen", "from": "bob", "ids": ["m-1", "m-2"]}));
    let event = server(json!({"type": "history_response", "withUser": "bob",
                              "messages": [message_json("seen"), message_json("sent")],
                              "hasMore": true}));
    assert!(matches!(
        event,
        ServerEvent::HistoryResponse { has_more: true, .. }
    ));
    server(json!({"type": "typing", "from": "alice", "isTyping": false}));
}

#[test]
fn keys_presence_and_friends() {
    server(json!({"type": "public_key_response", "username": "bob", "publicKey": key("b")}));
    server(json!({"type": "key_changed", "username": "bob", "publicKey": key("c")}));
    server(json!({"type": "presence", "username": "bob", "online": true}));
    server(json!({"type": "new_friend_request", "from": "alice"}));
    assert_eq!(
        server(
            json!({"type": "friendship_activated", "with": "bob", "online": false,
                      "publicKey": key("b")})
        ),
        ServerEvent::FriendshipActivated {
            with: "bob".into(),
            online: false,
            public_key: Some(PublicKey::from_jwk(&key("b")).expect("key"))
        }
    );
    assert_eq!(
        server(
            json!({"type": "friendship_activated", "with": "bob", "online": false,
                      "publicKey": null})
        ),
        ServerEvent::FriendshipActivated {
            with: "bob".into(),
            online: false,
            public_key: None
        }
    );
    server(json!({"type": "friend_request_rejected", "from": "bob"}));
    server(json!({"type": "friend_removed", "from": "bob"}));
}

#[test]
fn call_signalling_from_the_server() {
    let sdp = json!({"type": "offer", "sdp": "v=0"});
    server(
        json!({"type": "call_offer", "from": "alice", "callId": "c-1", "offer": sdp,
                  "withVideo": false}),
    );
    server(json!({"type": "call_answer", "from": "bob", "callId": "c-1", "answer": sdp}));
    server(json!({"type": "call_ice", "from": "bob", "callId": "c-1",
                  "candidate": {"candidate": "x"}}));
    server(json!({"type": "call_ended", "from": "bob", "callId": "c-1"}));
    server(json!({"type": "call_started", "callId": "c-1", "to": "bob"}));
}

#[test]
fn events_between_devices_of_one_user() {
    for status in ["delivered", "seen"] {
        let event = server(json!({"type": "receipt_sync", "withUser": "alice",
                                  "ids": ["m-1", "m-2"], "status": status}));
        let ServerEvent::ReceiptSync { with_user, ids, .. } = event else {
            panic!("not a receipt_sync: {event:?}");
        };
        assert_eq!((with_user.as_str(), ids.len()), ("alice", 2));
    }
    assert_eq!(
        server(json!({"type": "call_answered_elsewhere", "callId": "c-1"})),
        ServerEvent::CallAnsweredElsewhere {
            call_id: "c-1".into()
        }
    );
}

#[test]
fn call_records_omit_absent_times() {
    let records = [
        call_json("ringing", None, None, 0),
        call_json("in_progress", Some(2000), None, 0),
        call_json("completed", Some(2000), Some(65_999), 63),
        call_json("missed", None, Some(46_000), 0),
    ];
    for record in &records {
        let call: CallRecord = round_trip(record.clone());
        assert_eq!(call.kind, CallKind::Video);
        server(json!({"type": "call_logged", "call": record}));
    }
    let mut voice = call_json("missed", None, Some(46_000), 0);
    voice["type"] = json!("voice");
    let call: CallRecord = round_trip(voice.clone());
    assert_eq!(call.kind, CallKind::Voice);
    assert_eq!(call.answered_at, None);
    server(json!({"type": "call_history_response", "withUser": "bob",
                  "calls": [records[2], voice], "hasMore": false}));
}

#[test]
fn errors_with_and_without_ref() {
    let event = server(
        json!({"type": "error", "code": "rate_limited", "message": "slow down",
                              "ref": "m-1"}),
    );
    assert!(matches!(event, ServerEvent::Error { reference: Some(ref r), .. } if r == "m-1"));
    server(json!({"type": "error", "code": "bad_request", "message": "frame is not JSON"}));
}

#[test]
fn every_error_code_spelling() {
    let codes = [
        (ErrorCode::BadRequest, "bad_request"),
        (ErrorCode::Unauthorized, "unauthorized"),
        (ErrorCode::Forbidden, "forbidden"),
        (ErrorCode::UserNotFound, "user_not_found"),
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::NotFriends, "not_friends"),
        (ErrorCode::Offline, "offline"),
        (ErrorCode::Busy, "busy"),
        (ErrorCode::Conflict, "conflict"),
        (ErrorCode::TooLarge, "too_large"),
        (ErrorCode::MethodNotAllowed, "method_not_allowed"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::Internal, "internal"),
    ];
    for (code, name) in codes {
        assert_eq!(serde_json::to_value(code).expect("encode"), json!(name));
        let body: ErrorBody = round_trip(json!({"error": name, "message": "text"}));
        assert_eq!(body.error, code);
    }
}

#[test]
fn statuses_match_their_protocol_names() {
    for status in [
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Seen,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("encode"),
            json!(status.as_str())
        );
        assert_eq!(MessageStatus::parse(status.as_str()), Some(status));
    }
    for status in [
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Completed,
        CallStatus::Missed,
    ] {
        assert_eq!(
            serde_json::to_value(status).expect("encode"),
            json!(status.as_str())
        );
        assert_eq!(CallStatus::parse(status.as_str()), Some(status));
    }
    assert_eq!(CallStatus::InProgress.as_str(), "in_progress");
}

#[test]
fn stored_message_fields() {
    let message: StoredMessage = round_trip(message_json("delivered"));
    assert_eq!(message.status, MessageStatus::Delivered);
    assert_eq!(message.timestamp, 1_700_000_000_000);
}

#[test]
fn account_bodies() {
    let request: RegisterRequest = round_trip(json!({
        "username": "Alice", "password": "correct horse", "publicKey": key("a"),
        "encryptedPrivateKey": {"v": 1, "salt": "c2FsdA==", "iv": "AAAA", "ciphertext": "AA=="}
    }));
    assert_eq!(request.username, "Alice");
    round_trip::<RegisterResponse>(json!({"username": "Alice"}));
    round_trip::<LoginRequest>(json!({"username": "alice", "password": "correct horse"}));
    let login: LoginResponse = round_trip(json!({
        "token": "t.o.k", "username": "Alice", "publicKey": key("a"),
        "encryptedPrivateKey": {"v": 1}, "expiresAt": 1_700_036_000_000_i64
    }));
    assert_eq!(login.expires_at, 1_700_036_000_000);
}

#[test]
fn key_separation_bodies() {
    let kdf = json!({"alg": "argon2id", "v": 19, "m": 65536, "t": 3, "p": 1,
                     "salt": "AAECAwQFBgcICQoLDA0ODw=="});
    let request: RegisterRequest = round_trip(json!({
        "username": "Alice", "password": "an auth key", "publicKey": key("a"),
        "encryptedPrivateKey": {"v": 2}, "kdf": kdf
    }));
    assert_eq!(request.kdf, Some(kdf.clone()));
    let explicit_null: RegisterRequest = serde_json::from_value(json!({
        "username": "Alice", "password": "correct horse", "publicKey": key("a"),
        "encryptedPrivateKey": {"v": 1}, "kdf": null
    }))
    .expect("decode");
    assert_eq!(explicit_null.kdf, None, "null counts as absent");

    assert_eq!(
        round_trip::<AuthParams>(json!({"kdf": kdf})).kdf,
        Some(kdf.clone())
    );
    assert_eq!(round_trip::<AuthParams>(json!({"kdf": null})).kdf, None);

    let change = json!({"currentPassword": "old one", "newPassword": "new one",
                        "kdf": kdf, "encryptedPrivateKey": {"v": 2}});
    let decoded: PasswordChangeRequest = round_trip(change.clone());
    assert_eq!(decoded.current_password, "old one");
    let mut keep_v1 = change.clone();
    keep_v1["kdf"] = Value::Null;
    assert_eq!(
        round_trip::<PasswordChangeRequest>(keep_v1).kdf,
        Value::Null
    );
    let mut missing = change;
    missing.as_object_mut().expect("object").remove("kdf");
    assert!(
        serde_json::from_value::<PasswordChangeRequest>(missing).is_err(),
        "kdf is required in a password change"
    );
    round_trip::<TokenResponse>(json!({"token": "t.o.k", "expiresAt": 1_700_036_000_000_i64}));
    round_trip::<AccountDeleteRequest>(json!({"password": "an auth key"}));
}

#[test]
fn user_bodies() {
    let found: UserSearchResponse = round_trip(json!({"users": [
        {"username": "alice", "online": true}, {"username": "alina", "online": false}
    ]}));
    assert_eq!(found.users.len(), 2);
    round_trip::<PublicKeyBody>(json!({"username": "bob", "publicKey": key("b")}));
}

#[test]
fn friend_bodies() {
    let status: FriendsStatus = round_trip(json!({
        "friends": ["bob"], "pending_sent": ["carol"], "pending_received": ["dave"]
    }));
    assert_eq!(status.pending_sent, ["carol"]);
    assert_eq!(status.pending_received, ["dave"]);
    round_trip::<FriendRequestBody>(json!({"receiver": "bob"}));
    round_trip::<FriendAnswerBody>(json!({"sender": "bob"}));
    round_trip::<FriendRemoveBody>(json!({"target": "bob"}));
    for kind in ["pending", "accepted", "rejected", "removed"] {
        round_trip::<FriendStatusBody>(json!({"status": kind}));
    }
    round_trip::<ClientConfig>(json!({"iceServers": [{"urls": "stun:stun.example.org"}]}));
}

#[test]
fn public_keys_keep_only_the_public_members() {
    let uploaded = json!({"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "ext": true,
                          "key_ops": []});
    let parsed: PublicKey = serde_json::from_value(uploaded).expect("a public key");
    assert_eq!(
        serde_json::to_value(parsed).expect("encode"),
        json!({"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy"})
    );
    let mut private = key("a");
    private["d"] = json!("secret");
    assert!(serde_json::from_value::<PublicKey>(private).is_err());
    assert!(
        serde_json::from_value::<RegisterRequest>(json!({
            "username": "alice", "password": "correct horse",
            "publicKey": {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"},
            "encryptedPrivateKey": {}
        }))
        .is_err()
    );
}

#[test]
fn references_are_found_without_decoding_the_frame() {
    let found = |text: &str| ClientEvent::reference_in(text);
    assert_eq!(
        found(r#"{"type":"send_message","pad":[1,{"a":2}],"id":"m-1"}"#).as_deref(),
        Some("m-1")
    );
    assert_eq!(
        found(r#"{"type":"call_ice","callId":"c-1","candidate":{}}"#).as_deref(),
        Some("c-1")
    );
    assert_eq!(found(r#"{"type":"typing","to":"bob"}"#), None);
    assert_eq!(found(r#"{"type":"send_message","id":5}"#), None);
    assert_eq!(found("not json"), None);
}

#[test]
fn call_records_carry_their_end_reason_once_ended() {
    for name in [
        "hangup",
        "declined",
        "cancelled",
        "no_answer",
        "offline",
        "busy",
        "disconnected",
    ] {
        let mut wire = call_json("missed", None, Some(2000), 0);
        wire["endReason"] = json!(name);
        let call: CallRecord = round_trip(wire);
        let reason = call.end_reason.expect("an end reason");
        assert_eq!(reason.as_str(), name);
        assert_eq!(EndReason::parse(name), Some(reason));
    }
    assert_eq!(EndReason::parse("hung_up"), None);
    let ringing: CallRecord = round_trip(call_json("ringing", None, None, 0));
    assert_eq!(ringing.end_reason, None);
    let mut unknown = call_json("missed", None, Some(2000), 0);
    unknown["endReason"] = json!("exploded");
    assert!(serde_json::from_value::<CallRecord>(unknown).is_err());
}

#[test]
fn conversations_answer() {
    let wire = json!({"conversations": [{"withUser": "bob", "lastMessage": message_json("seen"),
                                         "unread": 3}],
                      "hasMore": true});
    let answer: ConversationsResponse = round_trip(wire);
    assert_eq!(answer.conversations[0].with_user, "bob");
    assert_eq!(answer.conversations[0].unread, 3);
    assert_eq!(
        answer.conversations[0].last_message.status,
        MessageStatus::Seen
    );
}
