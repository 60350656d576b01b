//! "Nothing acknowledged is lost": the real example server binary, killed with SIGKILL while a
//! sender streams messages and restarted on the same SQLite file, delivers every message it had
//! acknowledged with `message_sent`, in order. Its logs never hold a token.

// The protocol suite's harness (real sockets against the real router), shared with it.
#[path = "../../nexchat-axum/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{Ws, jwk, message, new_id, unique};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse";

/// One run of `nexchat-server`, killed when dropped.
struct ServerProcess {
    child: Child,
    /// `host:port` it serves on.
    addr: String,
    /// Everything it printed, stdout and stderr.
    log: Arc<Mutex<String>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    listener.local_addr().expect("local addr").port()
}

/// Copies `from` into `log` line by line, reporting the served address on `serving`.
fn drain(
    from: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    serving: Option<tokio::sync::oneshot::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut serving = serving;
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("nexchat is serving http://") {
                if let Some(tx) = serving.take() {
                    let _ = tx.send(rest.trim_end_matches('/').to_owned());
                }
            }
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// Starts the binary on `db` and waits for its "serving" line.
async fn start(db: &Path) -> ServerProcess {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
        .arg("--addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--sqlite")
        .arg(db)
        .args(["--bcrypt-cost", "4", "--rate-burst", "1000"])
        .args(["--registrations-per-hour", "0"])
        // As chatty as it gets, to be sure no token is ever logged.
        .env("RUST_LOG", "debug")
        .env_remove("NEXCHAT_JWT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nexchat-server");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    drain(
        child.stdout.take().expect("stdout"),
        Arc::clone(&log),
        Some(tx),
    );
    drain(child.stderr.take().expect("stderr"), Arc::clone(&log), None);
    let addr = match tokio::time::timeout(common::WAIT, rx).await {
        Ok(Ok(addr)) => addr,
        _ => {
            let _ = child.kill();
            panic!("no serving line; output:\n{}", log.lock().expect("log"));
        }
    };
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    ServerProcess { child, addr, log }
}

async fn post(server: &ServerProcess, path: &str, token: Option<&str>, body: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}{path}", server.addr))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn register_and_login(server: &ServerProcess, name: &str) -> String {
    post(
        server,
        "/auth/register",
        None,
        json!({"username": name, "password": PASSWORD, "publicKey": jwk(name),
               "encryptedPrivateKey": {}}),
    )
    .await;
    login(server, name).await
}

async fn login(server: &ServerProcess, name: &str) -> String {
    let body = post(
        server,
        "/auth/login",
        None,
        json!({"username": name, "password": PASSWORD}),
    )
    .await;
    body["token"].as_str().expect("token").to_owned()
}

async fn connect(server: &ServerProcess, token: &str) -> (Ws, Vec<Value>) {
    let url = format!("ws://{}/ws?token={token}", server.addr);
    let (stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    let mut ws = Ws { stream };
    let mut greeting = Vec::new();
    loop {
        let event = ws.recv().await;
        let done = event["type"] == "sync_done";
        greeting.push(event);
        if done {
            return (ws, greeting);
        }
    }
}

/// Reads `message_sent` ids until `count` arrived or the socket dies; whatever the socket had
/// already received is read too, since it was acknowledged.
async fn acknowledged(ws: &mut Ws, count: usize, acks: &mut Vec<String>) -> bool {
    while acks.len() < count {
        match tokio::time::timeout(common::WAIT, ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let event: Value = serde_json::from_str(&text).expect("JSON");
                assert_eq!(event["type"], "message_sent", "{event}");
                acks.push(event["id"].as_str().expect("id").to_owned());
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(_) | Err(_)) | None) => return false,
            Err(_) => panic!("no message_sent within {:?}", common::WAIT),
        }
    }
    true
}

#[tokio::test]
async fn every_acknowledged_message_survives_sigkill_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chat.db");
    let first = start(&db).await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    let alice_token = register_and_login(&first, &alice).await;
    let bob_token = register_and_login(&first, &bob).await;
    post(
        &first,
        "/friends/request",
        Some(&alice_token),
        json!({"receiver": bob}),
    )
    .await;
    post(
        &first,
        "/friends/accept",
        Some(&bob_token),
        json!({"sender": alice}),
    )
    .await;

    let (mut ws, _) = connect(&first, &alice_token).await;
    let sent: Vec<String> = (0..300).map(|_| new_id()).collect();
    for id in &sent {
        ws.send(message(&bob, id)).await;
    }
    let mut acks = Vec::new();
    assert!(
        acknowledged(&mut ws, 150, &mut acks).await,
        "the server died early"
    );
    let mut first = first;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");
    // Acknowledgements already on their way count too.
    acknowledged(&mut ws, sent.len(), &mut acks).await;
    assert!(
        acks.len() < sent.len(),
        "killed mid-stream, not after the last message"
    );
    assert_eq!(acks, sent[..acks.len()], "acknowledged in the order sent");
    let first_log = first.log.lock().expect("log").clone();
    drop(first);

    let second = start(&db).await;
    let bob_token_2 = login(&second, &bob).await;
    let (_bob_ws, greeting) = connect(&second, &bob_token_2).await;
    let delivered: Vec<String> = greeting
        .iter()
        .filter(|e| e["type"] == "receive_message")
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(
        delivered.len() >= acks.len(),
        "{} acknowledged, {} delivered",
        acks.len(),
        delivered.len()
    );
    assert_eq!(
        delivered,
        sent[..delivered.len()],
        "every acknowledged message, in order, and nothing else"
    );
    let stamps: Vec<i64> = greeting
        .iter()
        .filter_map(|e| e["timestamp"].as_i64())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "timestamps run forwards"
    );

    let log = format!("{first_log}{}", second.log.lock().expect("log"));
    for token in [&alice_token, &bob_token, &bob_token_2] {
        let signature = token.rsplit('.').next().expect("signature");
        assert!(!log.contains(signature), "a token was logged");
    }
}

/// Uploads `bytes` to `server` as the owner of `token`; returns the acknowledged id.
async fn upload(server: &ServerProcess, token: &str, bytes: Vec<u8>) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{}/attachments", server.addr))
        .bearer_auth(token)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}

/// The files directly in `dir` (not in its subdirectories).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.expect("an entry"))
                .filter(|entry| entry.file_type().expect("a file type").is_file())
                .map(|entry| entry.file_name().into_string().expect("UTF-8"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn an_upload_cut_off_by_sigkill_is_never_served_and_every_acknowledged_one_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chat.db");
    let blobs = dir.path().join("chat.db.blobs");
    let first = start(&db).await;
    let alice = unique("alice");
    let token = register_and_login(&first, &alice).await;
    let mut kept = Vec::new();
    for n in 0..3u8 {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ n).collect();
        kept.push((upload(&first, &token, bytes.clone()).await, bytes));
    }

    // A fourth upload declares 5 MB and sends 1 MB, then waits: the server is killed while the
    // upload is half on disk.
    let (more, rest) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    more.send(Ok(vec![7u8; 1 << 20])).await.expect("queued");
    let body = reqwest::Body::wrap_stream(tokio_stream_of(rest));
    let cut_off = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{}/attachments", first.addr))
            .bearer_auth(&token)
            .header("content-length", 5 << 20)
            .body(body)
            .send(),
    );
    let partial = blobs.join(".partial");
    common::wait_until("the upload is being written", || {
        std::fs::read_dir(&partial)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            })
            .unwrap_or(false)
    })
    .await;
    let mut first = first;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reap");
    drop(more);
    let answer = cut_off.await.expect("the upload task");
    assert!(
        answer.is_err(),
        "a killed server acknowledged nothing: {answer:?}"
    );

    let second = start(&db).await;
    let token = login(&second, &alice).await;
    let mut ids: Vec<String> = kept.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(files_in(&blobs), ids, "only the acknowledged uploads");
    assert_eq!(
        files_in(&partial),
        Vec::<String>::new(),
        "the half upload is gone"
    );
    for (id, bytes) in &kept {
        let response = reqwest::Client::new()
            .get(format!("http://{}/attachments/{id}", second.addr))
            .bearer_auth(&token)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.expect("bytes");
        assert!(body.as_ref() == bytes.as_slice(), "{id} read back whole");
    }
}

/// The items `receiver` gets, as a stream for a request body.
fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}
