//! The example server as a child process (`nexchat-server`), with its metrics listener and
//! its log lines at hand: for the tests that look at a node from outside, as an operator or a
//! load balancer does.

#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token secret every test node shares.
pub const SECRET: &str = "test secret that is long enough for HS256 keys";

/// How long a node may take to start.
const START: Duration = Duration::from_secs(20);

/// One `nexchat-server` process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it serves the chat (`127.0.0.1:port`).
    pub addr: String,
    /// Where it serves `/metrics`.
    pub metrics_addr: String,
    /// The node id it logged when it started.
    pub node: String,
    /// Every line it wrote to stdout so far (its log lines among them).
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the example server on a free port of 127.0.0.1 with metrics on another, cheap
    /// bcrypt, no registration limit and the shared test secret, plus `args`; `log` is its
    /// `RUST_LOG` filter. Waits until it serves.
    pub async fn start(args: &[&str], log: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
            .args(["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
            .args(["--bcrypt-cost", "4", "--registrations-per-hour", "0"])
            .args(args)
            .env("NEXCHAT_JWT_SECRET", SECRET)
            // The server's own lines at info at least: its start names the node.
            .env("RUST_LOG", format!("{log},nexchat_server=info"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nexchat-server");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let kept = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let (mut addr, mut metrics, mut node) = (None, None, None);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("nexchat is serving http://") {
                    addr = Some(rest.trim_end_matches('/').to_owned());
                }
                if let Some(rest) = line.strip_prefix("nexchat metrics at http://") {
                    metrics = Some(rest.trim_end_matches("/metrics").to_owned());
                }
                if line.contains("node started") {
                    node = field(&line, "node");
                }
                kept.lock().expect("lines").push(line);
                if addr.is_some() && metrics.is_some() && node.is_some() {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send((addr.take(), metrics.take(), node.take()));
                    }
                }
            }
        });
        match tokio::time::timeout(START, rx).await {
            Ok(Ok((Some(addr), Some(metrics_addr), Some(node)))) => Self {
                child,
                addr,
                metrics_addr,
                node,
                lines,
            },
            _ => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                let out = lines.lock().expect("lines").join("\n");
                panic!("nexchat-server did not start:\n{out}\n{err}");
            }
        }
    }

    /// The lines it wrote so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Its metrics now, by series (`name` or `name{labels}` as Prometheus writes them).
    pub async fn scrape(&self) -> Metrics {
        let response = reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("metrics text");
        Metrics::parse(&text)
    }

    /// Kills it at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field `name=value` of a log line (the value ends at a space, a comma or a brace).
pub fn field(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let value: String = line[start..]
        .chars()
        .take_while(|c| !matches!(c, ' ' | ',' | '}' | ':'))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// One scrape of a Prometheus text page.
#[derive(Debug, Clone)]
pub struct Metrics(HashMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Self {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Self(series)
    }

    /// The value of `series`, 0 when the page does not have it (a counter never incremented).
    pub fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// Whether the page has `series` at all.
    pub fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}

/// The chat's REST and WebSocket API at a base address (a node, or a proxy in front of nodes),
/// spoken from a chosen local address.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    /// (request, status, node) for each answer that named its node in `X-Upstream-Addr` (the
    /// test nginx adds it), in the order received.
    answered: std::sync::Mutex<Vec<(String, u16, String)>>,
}

impl Api {
    /// The API at `addr` (`host:port`), from any local address.
    pub fn at(addr: &str) -> Self {
        Self {
            base: addr.to_owned(),
            http: reqwest::Client::new(),
            answered: Default::default(),
        }
    }

    /// The API at `addr`, with every request coming from `local` (any 127.x.y.z on loopback).
    pub fn from(addr: &str, local: &str) -> Self {
        let local: std::net::IpAddr = local.parse().expect("address");
        Self {
            base: addr.to_owned(),
            http: reqwest::Client::builder()
                .local_address(local)
                .build()
                .expect("HTTP client"),
            answered: Default::default(),
        }
    }

    /// POST `body` with an optional token: status and JSON body.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.post_with(path, token, body, &[]).await
    }

    /// POST `body` with an optional token and extra headers: status and JSON body.
    pub async fn post_with(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .post(format!("http://{}{path}", self.base))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST");
        let status = self.note(&format!("POST {path}"), &response);
        (status, response.json().await.unwrap_or_default())
    }

    /// GET with a token: the status.
    pub async fn get(&self, path: &str, token: &str) -> u16 {
        let response = self
            .http
            .get(format!("http://{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        self.note(&format!("GET {path}"), &response)
    }

    /// The node (`host:port`) that answered each request so far through the test nginx, as
    /// (request, status, node). Read from the answers themselves: nginx writes its access log
    /// only after the answer has gone out.
    pub fn answered(&self) -> Vec<(String, u16, String)> {
        self.answered.lock().expect("answered").clone()
    }

    /// Records which node answered `request` when the answer says so; its status.
    fn note(&self, request: &str, response: &reqwest::Response) -> u16 {
        let status = response.status().as_u16();
        let node = response.headers().get("x-upstream-addr");
        if let Some(node) = node.and_then(|node| node.to_str().ok()) {
            let entry = (request.to_owned(), status, node.to_owned());
            self.answered.lock().expect("answered").push(entry);
        }
        status
    }

    /// Registers `name` (password "correct horse") and logs in.
    pub async fn register(&self, name: &str) -> crate::common::User {
        let (status, body) = self
            .post(
                "/auth/register",
                None,
                &serde_json::json!({"username": name, "password": "correct horse",
                    "publicKey": crate::common::jwk(name),
                    "encryptedPrivateKey": {"v": 1, "salt": "c2FsdA==", "ciphertext": "AA=="}}),
            )
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        let (status, body) = self
            .post(
                "/auth/login",
                None,
                &serde_json::json!({"username": name, "password": "correct horse"}),
            )
            .await;
        assert_eq!(status, 200, "login {name}: {body}");
        crate::common::User {
            name: body["username"].as_str().expect("username").to_owned(),
            token: body["token"].as_str().expect("token").to_owned(),
            public_key: body["publicKey"].clone(),
        }
    }

    /// Makes `a` and `b` friends.
    pub async fn befriend(&self, a: &crate::common::User, b: &crate::common::User) {
        let request = serde_json::json!({"receiver": b.name});
        let (status, body) = self
            .post("/friends/request", Some(&a.token), &request)
            .await;
        assert_eq!(status, 200, "request: {body}");
        let accept = serde_json::json!({"sender": a.name});
        let (status, body) = self.post("/friends/accept", Some(&b.token), &accept).await;
        assert_eq!(status, 200, "accept: {body}");
    }

    /// Opens a socket for `user` and reads its greeting up to `sync_done`.
    pub async fn connect(&self, user: &crate::common::User) -> crate::common::Ws {
        self.open(&format!("token={}", user.token)).await
    }

    /// Opens a socket for `user` the way the browser client does, with a ticket asked for
    /// right before (`POST /auth/ws-ticket`), and reads its greeting up to `sync_done`.
    pub async fn connect_with_ticket(&self, user: &crate::common::User) -> crate::common::Ws {
        let (status, body) = self
            .post("/auth/ws-ticket", Some(&user.token), &serde_json::json!({}))
            .await;
        assert_eq!(status, 200, "ticket: {body}");
        let ticket = body["ticket"].as_str().expect("ticket");
        self.open(&format!("ticket={ticket}")).await
    }

    /// Opens `/ws?{query}` and reads its greeting up to `sync_done`.
    async fn open(&self, query: &str) -> crate::common::Ws {
        let url = format!("ws://{}/ws?{query}", self.base);
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket upgrade");
        let mut ws = crate::common::Ws { stream };
        ws.recv_until("sync_done").await;
        ws
    }
}
