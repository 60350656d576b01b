//! The example server binary's HTTP hardening: cache policies (no stale scripts after an
//! upgrade, no stored tokens), the content security and permissions policies, the HTML charset,
//! and a token secret too short to be safe refused at start.

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
