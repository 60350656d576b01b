//! The example server binary's HTTP hardening: cache policies (no stale scripts after an
//! upgrade, no stored tokens), the content security and permissions policies, the HTML charset,
//! a token secret too short to be safe refused at start (and one left out when the node is one
//! of several), a busy address refused before any file is made, `--help`, and the OpenAPI document served at `/openapi.json`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

/// A running `nexchat-server`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexchat-server"));
    command
        .args(["--addr", "127.0.0.1:0", "--bcrypt-cost", "4"])
        .arg("--sqlite")
        .arg(dir.path().join("chat.db"))
        .env_remove("NEXCHAT_JWT_SECRET")
        .stdin(Stdio::null());
    command
}

/// Starts the server and waits for the line naming its address.
fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = command(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nexchat-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server stopped before serving")
            .expect("stdout");
        if let Some(addr) = line.strip_prefix("nexchat is serving ") {
            break addr.trim_end_matches('/').to_owned();
        }
    };
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn pages_and_scripts_are_revalidated_and_locked_down() {
    let server = start();
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/", server.base))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(!csp.contains("ws:") && !csp.contains("wss:"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert_eq!(
        header(&page, "permissions-policy"),
        "camera=(self), microphone=(self)"
    );

    let script = http
        .get(format!("{}/app.js", server.base))
        .send()
        .await
        .expect("GET /app.js");
    assert_eq!(header(&script, "cache-control"), "no-cache");
    let modified = header(&script, "last-modified");
    let again = http
        .get(format!("{}/app.js", server.base))
        .header("if-modified-since", modified)
        .send()
        .await
        .expect("GET /app.js again");
    assert_eq!(again.status().as_u16(), 304, "revalidated, not resent");
}

#[tokio::test]
async fn answers_carrying_a_token_are_not_stored() {
    let server = start();
    let http = reqwest::Client::new();
    let body = json!({"username": "keeper", "password": "correct horse",
                      "publicKey": {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},
                      "encryptedPrivateKey": {"v": 1}});
    let registered = http
        .post(format!("{}/auth/register", server.base))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status().as_u16(), 201);
    let login = http
        .post(format!("{}/auth/login", server.base))
        .json(&json!({"username": "keeper", "password": "correct horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 200);
    assert_eq!(header(&login, "cache-control"), "no-store");
}

#[test]
fn a_token_secret_shorter_than_32_bytes_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (flag, env) in [
        (Some("31 bytes of secret, not enough!"), None),
        (None, Some("short")),
    ] {
        let mut command = command(&dir);
        if let Some(secret) = flag {
            command.args(["--jwt-secret", secret]);
        }
        if let Some(secret) = env {
            command.env("NEXCHAT_JWT_SECRET", secret);
        }
        let output = command.output().expect("run nexchat-server");
        assert!(!output.status.success(), "started with a short secret");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("at least 32"),
            "the refusal says why: {stderr}"
        );
        assert!(
            !dir.path().join("chat.db").exists(),
            "refused before opening anything"
        );
    }
}

#[cfg(feature = "nats")]
#[test]
fn the_nodes_of_a_chat_must_be_given_their_shared_token_secret() {
    // A generated secret would be this node's alone: the other nodes would refuse its tokens.
    let dir = tempfile::tempdir().expect("tempdir");
    let output = command(&dir)
        .env_remove("NEXCHAT_JWT_SECRET")
        .args(["--nats", "nats://127.0.0.1:4222"])
        .output()
        .expect("run nexchat-server");
    assert!(
        !output.status.success(),
        "a node started without the secret"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--jwt-secret") && stderr.contains("NEXCHAT_JWT_SECRET"),
        "the refusal names the flag: {stderr}"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(files.is_empty(), "no secret generated: {files:?}");
}

#[test]
fn a_busy_address_is_named_and_no_file_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
        .args(["--addr", &addr, "--sqlite"])
        .arg(dir.path().join("chat.db"))
        .env_remove("NEXCHAT_JWT_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("run nexchat-server");
    assert!(!output.status.success(), "started on a busy address");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("--addr"),
        "the refusal names the address and the flag: {stderr}"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(
        files.is_empty(),
        "neither database nor secret created: {files:?}"
    );
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
        .arg("--help")
        .output()
        .expect("run nexchat-server --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    // Each flag's text runs from its name to the next flag.
    let text_of = |flag: &str| {
        let start = help
            .find(&format!("  {flag} "))
            .unwrap_or_else(|| panic!("{flag} missing from --help:\n{help}"));
        let rest = &help[start + flag.len() + 2..];
        rest[..rest.find("\n  -").unwrap_or(rest.len())].to_owned()
    };
    for (flag, default) in [
        ("--addr", "[default: 127.0.0.1:8080]"),
        ("--sqlite", "[default: ./nexchat.db]"),
        (
            "--mongodb-database",
            "the database in the --mongodb URI's path, else nexchat",
        ),
        ("--mongodb", "[default: none, SQLite]"),
        ("--jwt-secret", "[default: generated]"),
        ("--ice-server", "[default: none]"),
        (
            "--trusted-proxy",
            "[default: none, the socket's peer is the client]",
        ),
        (
            "--allowed-origin",
            "[default: none, the server's own origin only]",
        ),
        ("--client-dir", "[default: "),
        ("--token-ttl-secs", "[default: 36000]"),
        ("--bcrypt-cost", "[default: 12]"),
        ("--rate-burst", "[default: 60]"),
        ("--sockets-per-user", "[default: 10]"),
        ("--registrations-per-hour", "[default: 10]"),
        ("--header-read-timeout-secs", "[default: 10]"),
    ] {
        let text = text_of(flag);
        assert!(
            text.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(default),
            "{flag} does not say {default:?}: {text}"
        );
    }
    // Every flag says its default.
    let flags = help
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| !matches!(*name, "help" | "version"));
    for flag in flags {
        let text = text_of(&format!("--{flag}"));
        assert!(
            text.contains("[default: "),
            "--{flag} has no default: {text}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_as_published() {
    let server = start();
    let response = reqwest::get(format!("{}/openapi.json", server.base))
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "application/json");
    let served: serde_json::Value = response.json().await.expect("JSON");
    let published: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json");
    assert_eq!(served, published);
}
