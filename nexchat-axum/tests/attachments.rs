//! Attachments over real HTTP and real sockets: uploads stored whole and durably, downloads
//! (whole and by range) for exactly the people a message named them to, the size limit and the
//! quota, messages that may name only their sender's finished uploads, and collection.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use nexchat_core::blobs::{Blob, BlobError, BlobStore, ByteRange, ByteStream};
use nexchat_core::{Config, ManualClock};
use reqwest::Method;
use serde_json::{Value, json};

/// The test store's blob store, noting the id of every upload the chat begins, so a test can
/// ask which of them are stored, whatever the backend.
struct Watched {
    inner: Arc<dyn BlobStore>,
    begun: Mutex<Vec<String>>,
}

impl Watched {
    /// The ids of the uploads begun so far that are stored now, sorted.
    async fn stored(&self) -> Vec<String> {
        let begun = self.begun.lock().expect("the list").clone();
        let mut stored = Vec::new();
        for id in begun {
            if self.inner.size(&id).await.expect("a size").is_some() {
                stored.push(id);
            }
        }
        stored.sort();
        stored
    }
}

#[async_trait]
impl BlobStore for Watched {
    async fn put(&self, id: &str, body: ByteStream, max_bytes: u64) -> Result<u64, BlobError> {
        self.begun.lock().expect("the list").push(id.to_owned());
        self.inner.put(id, body, max_bytes).await
    }
    async fn size(&self, id: &str) -> Result<Option<u64>, BlobError> {
        self.inner.size(id).await
    }
    async fn get(&self, id: &str, range: Option<ByteRange>) -> Result<Option<Blob>, BlobError> {
        self.inner.get(id, range).await
    }
    async fn delete(&self, id: &str) -> Result<bool, BlobError> {
        self.inner.delete(id).await
    }
}

impl Watched {
    /// Waits until the chat has handed the store an upload (it has begun streaming in).
    async fn wait_for_an_upload(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.begun.lock().expect("the list").is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the upload never began"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Erases `user`'s account, as they would.
async fn erase(server: &TestServer, user: &User) {
    let (status, _, body) = server
        .raw(
            Method::DELETE,
            "/auth/account",
            Some(&user.token),
            Some((
                "application/json",
                json!({"password": "correct horse"}).to_string(),
            )),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

/// A server on the test store with `config`, and its watched blob store.
async fn start(config: Config) -> (TestServer, Arc<Watched>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::starting_now();
    let blobs = Arc::new(Watched {
        inner: blob_store(&dir).await,
        begun: Mutex::new(Vec::new()),
    });
    let watched = Arc::clone(&blobs);
    let chat = build_chat_with(config, clock.clone(), &dir, |builder| {
        builder.blobs(watched)
    })
    .await;
    (
        TestServer::serve(chat, clock, dir, |router| router).await,
        blobs,
    )
}

/// `n` bytes no two tests share, so a mix-up between uploads shows.
fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// Uploads `bytes` for `user` (with `Content-Length`): status and body.
async fn upload(server: &TestServer, user: &User, bytes: Vec<u8>) -> (u16, Value) {
    let response = server
        .http
        .post(server.url("/attachments"))
        .bearer_auth(&user.token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads `bytes` and returns the new attachment's id.
async fn uploaded(server: &TestServer, user: &User, bytes: Vec<u8>) -> String {
    let size = bytes.len() as u64;
    let (status, body) = upload(server, user, bytes).await;
    assert_eq!(status, 201, "upload: {body}");
    assert_eq!(body["size"], size, "{body}");
    body["id"].as_str().expect("an id").to_owned()
}

/// Downloads attachment `id` as `user`, with an optional `Range`: the status, the headers and
/// the bytes.
async fn download(
    server: &TestServer,
    user: &User,
    id: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = server
        .http
        .get(server.url(&format!("/attachments/{id}")))
        .bearer_auth(&user.token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    let response = request.send().await.expect("download");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("a body").to_vec(),
    )
}

/// Sends a 1:1 message naming `attachments` and returns the answer (`message_sent` or an
/// `error`).
async fn send_naming(ws: &mut Ws, to: &str, attachments: &[&str]) -> Value {
    let mut frame = message(to, &new_id());
    frame["attachments"] = json!(attachments);
    ws.send(frame).await;
    loop {
        let event = ws.recv().await;
        if event["type"] == "message_sent" || event["type"] == "error" {
            return event;
        }
    }
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .expect("an ASCII header")
}

#[tokio::test]
async fn an_upload_is_read_back_whole_by_its_uploader_and_the_receiver_it_was_sent_to() {
    let (server, _) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;

    let bytes = random_bytes(300_000);
    let id = uploaded(&server, &alice, bytes.clone()).await;
    let (status, headers, body) = download(&server, &alice, &id, None).await;
    assert_eq!(status, 200);
    assert!(
        body == bytes,
        "the uploader reads back exactly what was sent"
    );
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    assert_eq!(header(&headers, "content-length"), "300000");
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(header(&headers, "cache-control"), "private, no-store");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");

    let (status, _, unnamed) = download(&server, &bob, &id, None).await;
    assert_eq!(
        status, 404,
        "nobody else reads an upload before a message names it"
    );
    let (mut ws, _) = server.connect(&alice).await;
    let sent = send_naming(&mut ws, &bob.name, &[&id]).await;
    assert_eq!(sent["type"], "message_sent", "{sent}");
    let (status, _, body) = download(&server, &bob, &id, None).await;
    assert_eq!(status, 200);
    assert!(body == bytes, "the receiver reads the same bytes");

    // A friend of the uploader whom no message named it to, a random id and a malformed one:
    // one answer, byte for byte.
    let (status, _, for_carol) = download(&server, &carol, &id, None).await;
    let (missing_status, _, missing) = download(&server, &carol, &new_id(), None).await;
    let (bad_status, _, bad) = download(&server, &carol, "not-an-id", None).await;
    assert_eq!((status, missing_status, bad_status), (404, 404, 404));
    assert!(for_carol == missing && missing == bad && bad == unnamed);
    let answer: Value = serde_json::from_slice(&for_carol).expect("a JSON error");
    assert_eq!(answer["error"], "not_found");

    let (status, _, _) = server
        .raw(Method::GET, &format!("/attachments/{id}"), None, None)
        .await;
    assert_eq!(status, 401, "downloads need a token");
    let response = server
        .http
        .post(server.url("/attachments"))
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 401, "uploads need a token");
}

#[tokio::test]
async fn a_range_gives_the_bytes_asked_for_and_one_past_the_end_is_416() {
    let (server, _) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bytes = random_bytes(1000);
    let id = uploaded(&server, &alice, bytes.clone()).await;
    for (range, start, end) in [
        ("bytes=10-19", 10, 20),
        ("bytes=990-", 990, 1000),
        ("bytes=-5", 995, 1000),
        ("bytes=900-5000", 900, 1000),
        ("bytes=-5000", 0, 1000),
    ] {
        let (status, headers, body) = download(&server, &alice, &id, Some(range)).await;
        assert_eq!(status, 206, "{range}");
        assert!(body == bytes[start..end], "{range}: the bytes of the range");
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {start}-{}/1000", end - 1),
            "{range}"
        );
        assert_eq!(
            header(&headers, "content-length"),
            (end - start).to_string()
        );
    }
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let (status, headers, body) = download(&server, &alice, &id, Some(range)).await;
        assert_eq!(status, 416, "{range}");
        assert_eq!(header(&headers, "content-range"), "bytes */1000", "{range}");
        let answer: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(answer["error"], "range_not_satisfiable", "{range}");
    }
    for ignored in ["bytes=0-1,5-6", "lines=1-2", "bytes=9-3", "bytes=x-"] {
        let (status, headers, body) = download(&server, &alice, &id, Some(ignored)).await;
        assert_eq!(status, 200, "{ignored}: the whole attachment");
        assert!(body == bytes, "{ignored}");
        assert!(headers.get("content-range").is_none(), "{ignored}");
    }
}

#[tokio::test]
async fn a_former_friend_and_a_removed_group_member_can_no_longer_download() {
    let (server, _) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let dave = server.register("dave").await;
    let erin = server.register("erin").await;
    let fred = server.register("fred").await;
    for friend in [&bob, &dave, &erin, &fred] {
        server.befriend(&alice, friend).await;
    }
    let (mut ws, _) = server.connect(&alice).await;

    let direct = uploaded(&server, &alice, random_bytes(64)).await;
    let sent = send_naming(&mut ws, &bob.name, &[&direct]).await;
    assert_eq!(sent["type"], "message_sent", "{sent}");
    assert_eq!(download(&server, &bob, &direct, None).await.0, 200);
    let (status, _) = server
        .post(
            "/friends/remove",
            Some(&alice.token),
            &json!({"target": bob.name}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        download(&server, &bob, &direct, None).await.0,
        404,
        "a former friend"
    );
    assert_eq!(download(&server, &alice, &direct, None).await.0, 200);

    let (status, group) = server
        .post(
            "/groups",
            Some(&alice.token),
            &json!({"members": [dave.name, erin.name]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group = group["id"].as_str().expect("a group id").to_owned();
    let shared = uploaded(&server, &alice, random_bytes(64)).await;
    ws.send(
        json!({"type": "send_group_message", "group": group, "ciphertext": "AAAA",
                   "iv": "AAAAAAAAAAAAAAAA", "keyId": "k1", "id": new_id(),
                   "attachments": [shared]}),
    )
    .await;
    let sent = ws.recv_until("group_message_sent").await;
    assert_eq!(sent["group"], group.as_str());
    for member in [&dave, &erin] {
        assert_eq!(download(&server, member, &shared, None).await.0, 200);
    }
    let (status, _) = server
        .post(
            &format!("/groups/{group}/members"),
            Some(&alice.token),
            &json!({"username": fred.name}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        download(&server, &fred, &shared, None).await.0,
        404,
        "a member who joined after the message"
    );
    let (status, _, _) = server
        .raw(
            Method::DELETE,
            &format!("/groups/{group}/members/{}", erin.name),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        download(&server, &erin, &shared, None).await.0,
        404,
        "a removed member"
    );
    assert_eq!(download(&server, &dave, &shared, None).await.0, 200);
}

#[tokio::test]
async fn the_size_limit_and_the_quota_refuse_an_upload_and_keep_nothing_of_it() {
    let mut config = test_config();
    config.limits.max_attachment_bytes = 10_000;
    config.limits.attachment_quota_bytes = 25_000;
    let (server, blobs) = start(config).await;
    let alice = server.register("alice").await;

    let (status, body) = upload(&server, &alice, random_bytes(10_001)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    // Without a Content-Length the limit is found as the body streams in.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(random_bytes(6000)), Ok(random_bytes(6000))];
    let response = server
        .http
        .post(server.url("/attachments"))
        .bearer_auth(&alice.token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("a chunked upload");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"], "too_large");

    uploaded(&server, &alice, random_bytes(10_000)).await;
    uploaded(&server, &alice, random_bytes(10_000)).await;
    let (status, body) = upload(&server, &alice, random_bytes(5001)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("quota_exceeded")),
        "{body}"
    );
    // However small, an upload counts 4 KiB: empty ones are not free.
    let small = uploaded(&server, &alice, random_bytes(1000)).await;
    let (status, usage) = server.get("/attachments", Some(&alice.token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        usage,
        json!({"usedBytes": 24_096, "quotaBytes": 25_000, "maxBytes": 10_000})
    );
    let (status, body) = upload(&server, &alice, Vec::new()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("quota_exceeded")),
        "{body}"
    );
    let stored = blobs.stored().await;
    assert_eq!(stored.len(), 3, "nothing kept of a refusal: {stored:?}");
    assert!(stored.contains(&small));

    let (status, config) = server.get("/client-config", None).await;
    assert_eq!(status, 200);
    assert_eq!(config["maxAttachmentBytes"], 10_000);
}

#[tokio::test]
async fn a_message_names_only_its_senders_finished_uploads() {
    let (server, _) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let (mut ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;
    let bobs = uploaded(&server, &bob, random_bytes(10)).await;
    let mine = uploaded(&server, &alice, random_bytes(10)).await;

    for (attachments, code) in [
        (vec![bobs.clone()], "bad_request"),
        (vec![new_id()], "bad_request"),
        (vec![mine.clone(), "not-a-uuid".into()], "bad_request"),
        (vec![mine.clone(); 11], "too_large"),
    ] {
        let refs: Vec<&str> = attachments.iter().map(String::as_str).collect();
        let answer = send_naming(&mut ws, &bob.name, &refs).await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
    }
    bob_ws.expect_silence().await;
    assert_eq!(
        download(&server, &bob, &mine, None).await.0,
        404,
        "a refused message names nothing"
    );

    // The same message sent twice (a retry) is acknowledged twice and stored once.
    let id = new_id();
    let mut frame = message(&bob.name, &id);
    frame["attachments"] = json!([mine, mine]);
    for _ in 0..2 {
        ws.send(frame.clone()).await;
        let sent = ws.expect("message_sent").await;
        assert_eq!(sent["id"], id.as_str());
    }
    let received = bob_ws.expect("receive_message").await;
    assert_eq!(received["id"], id.as_str());
    assert!(
        received.get("attachments").is_none(),
        "ids are not echoed: {received}"
    );
    bob_ws.expect_silence().await;
    assert_eq!(download(&server, &bob, &mine, None).await.0, 200);

    let (status, group) = server
        .post(
            "/groups",
            Some(&alice.token),
            &json!({"members": [bob.name]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    ws.recv_until("group_changed").await;
    ws.send(
        json!({"type": "send_group_message", "group": group["id"], "ciphertext": "AAAA",
                   "iv": "AAAAAAAAAAAAAAAA", "to": bob.name, "id": new_id(),
                   "attachments": [mine]}),
    )
    .await;
    ws.expect_error("bad_request").await;
}

#[tokio::test]
async fn unnamed_uploads_go_after_the_grace_and_named_ones_stay() {
    let mut config = test_config();
    config.attachment_grace = Duration::from_secs(3600);
    let (server, blobs) = start(config).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let named = uploaded(&server, &alice, random_bytes(100)).await;
    let unnamed = uploaded(&server, &alice, random_bytes(100)).await;
    let (mut ws, _) = server.connect(&alice).await;
    let sent = send_naming(&mut ws, &bob.name, &[&named]).await;
    assert_eq!(sent["type"], "message_sent", "{sent}");

    server.clock.advance(Duration::from_secs(3599));
    assert_eq!(server.chat.collect_attachments().await.expect("collect"), 0);
    let recent = uploaded(&server, &alice, random_bytes(100)).await;
    server.clock.advance(Duration::from_secs(2));
    assert_eq!(
        server.chat.collect_attachments().await.expect("collect"),
        1,
        "only the old unnamed upload"
    );
    assert_eq!(download(&server, &alice, &unnamed, None).await.0, 404);
    assert_eq!(download(&server, &bob, &named, None).await.0, 200);
    assert_eq!(download(&server, &alice, &recent, None).await.0, 200);
    let mut left = vec![named.clone(), recent.clone()];
    left.sort();
    assert_eq!(blobs.stored().await, left);
    let (_, usage) = server.get("/attachments", Some(&alice.token)).await;
    assert_eq!(usage["usedBytes"], 2 * 4096, "each counts 4 KiB at least");
    // Named uploads stay however long they are kept.
    server.clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(server.chat.collect_attachments().await.expect("collect"), 1);
    assert_eq!(blobs.stored().await, std::slice::from_ref(&named));
    let bob = server.login(&bob.name, "correct horse").await;
    assert_eq!(download(&server, &bob, &named, None).await.0, 200);
}

#[tokio::test]
async fn an_erased_account_takes_its_uploads_with_it() {
    let (server, blobs) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    server.befriend(&alice, &bob).await;
    let bobs = uploaded(&server, &bob, random_bytes(10)).await;
    let named = uploaded(&server, &alice, random_bytes(10)).await;
    uploaded(&server, &alice, random_bytes(10)).await;
    let (mut ws, _) = server.connect(&alice).await;
    let sent = send_naming(&mut ws, &bob.name, &[&named]).await;
    assert_eq!(sent["type"], "message_sent", "{sent}");

    erase(&server, &alice).await;
    assert_eq!(download(&server, &bob, &named, None).await.0, 404);
    assert_eq!(blobs.stored().await, [bobs], "only bob's upload is left");
}

#[tokio::test]
async fn the_chats_own_timer_collects_once_the_grace_has_passed() {
    let mut config = test_config();
    // The timer collects every grace / 24: here every second, the timer's own pace.
    config.attachment_grace = Duration::from_secs(24);
    let (server, blobs) = start(config).await;
    let alice = server.register("alice").await;
    let unnamed = uploaded(&server, &alice, random_bytes(100)).await;
    assert_eq!(blobs.stored().await, std::slice::from_ref(&unnamed));
    server.clock.advance(Duration::from_secs(25));
    // No event says the collector ran; its effect is what the store holds. The clock moves a
    // second per look, so a collection that set its next time after the jump still comes due.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // The blob goes first, then the record (and with it the quota): both must be gone.
        let (_, usage) = server.get("/attachments", Some(&alice.token)).await;
        if blobs.stored().await.is_empty() && usage["usedBytes"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timer did not collect {unnamed}: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        server.clock.advance(Duration::from_secs(1));
    }
}

#[tokio::test]
async fn a_send_refused_after_naming_its_attachments_lets_nobody_read_them() {
    let (server, _) = start(test_config()).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    server.befriend(&alice, &bob).await;
    server.befriend(&alice, &carol).await;
    let (mut alice_ws, _) = server.connect(&alice).await;
    let (mut bob_ws, _) = server.connect(&bob).await;

    // Bob's message id, taken by Alice for a message naming her upload: refused.
    let taken = new_id();
    bob_ws.send(message(&alice.name, &taken)).await;
    bob_ws.expect("message_sent").await;
    let mine = uploaded(&server, &alice, random_bytes(10)).await;
    let mut frame = message(&bob.name, &taken);
    frame["attachments"] = json!([mine]);
    alice_ws.send(frame).await;
    let refused = alice_ws.recv_until("error").await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
    assert_eq!(download(&server, &bob, &mine, None).await.0, 404);

    // Alice's own message to Carol, its id sent again to Bob with an upload: Bob gets nothing.
    let to_carol = new_id();
    alice_ws.send(message(&carol.name, &to_carol)).await;
    alice_ws.recv_until("message_sent").await;
    let other = uploaded(&server, &alice, random_bytes(10)).await;
    let mut frame = message(&bob.name, &to_carol);
    frame["attachments"] = json!([other]);
    alice_ws.send(frame).await;
    // Acknowledged as the resend of the message to Carol it is; nothing new is stored.
    alice_ws.recv_until("message_sent").await;
    assert_eq!(download(&server, &bob, &other, None).await.0, 404);
    assert_eq!(download(&server, &carol, &other, None).await.0, 404);
}

#[tokio::test]
async fn an_upload_whose_account_is_erased_meanwhile_is_not_acknowledged_and_leaves_nothing() {
    let (server, blobs) = start(test_config()).await;
    let alice = server.register("alice").await;
    let (more, rest) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    more.send(Ok(random_bytes(1000))).await.expect("queued");
    let mut rest = rest;
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| rest.poll_recv(cx)));
    let uploading = tokio::spawn(
        server
            .http
            .post(server.url("/attachments"))
            .bearer_auth(&alice.token)
            .header("content-length", 2000)
            .body(body)
            .send(),
    );
    // The upload has begun once the blob store was handed it.
    blobs.wait_for_an_upload().await;
    erase(&server, &alice).await;
    more.send(Ok(random_bytes(1000))).await.expect("the rest");
    drop(more);
    let answer = uploading.await.expect("the task").expect("an answer");
    assert_eq!(answer.status().as_u16(), 409);
    let body: Value = answer.json().await.expect("a JSON error");
    assert_eq!(body["error"], "conflict");
    assert_eq!(
        blobs.stored().await,
        Vec::<String>::new(),
        "no blob is left"
    );
}

#[tokio::test]
async fn an_upload_dropped_midway_gives_its_quota_back() {
    let (server, blobs) = start(test_config()).await;
    let alice = server.register("alice").await;
    // What a transfer timeout does to the request: its future is dropped mid-upload.
    let first: Result<axum::body::Bytes, std::io::Error> = Ok(random_bytes(1000).into());
    let stalled: nexchat_core::blobs::ByteStream = Box::pin(futures::StreamExt::chain(
        futures::stream::iter([first]),
        futures::stream::pending(),
    ));
    let chat = server.chat.clone();
    let name = alice.name.clone();
    let upload =
        tokio::spawn(async move { chat.upload_attachment(&name, Some(5000), stalled).await });
    blobs.wait_for_an_upload().await;
    let (_, usage) = server.get("/attachments", Some(&alice.token)).await;
    assert_eq!(usage["usedBytes"], 5000, "reserved while it streams");
    upload.abort();
    assert!(upload.await.expect_err("aborted").is_cancelled());
    // The bytes and the reservation go in the background, soon after.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, usage) = server.get("/attachments", Some(&alice.token)).await;
        if usage["usedBytes"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still reserved: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(blobs.stored().await, Vec::<String>::new());
}
