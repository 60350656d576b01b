//! The `nexchat` binary's subcommands against a real server: what a shell script or a bot sees
//! (JSON lines on stdout, errors on stderr and the exit status), and the session file.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Runs `nexchat ARGS` as the user whose session lives in `home`, with `stdin` as its input.
async fn nexchat(
    home: &Path,
    server: &str,
    args: &[&str],
    stdin: &str,
) -> (bool, Vec<Value>, String) {
    let mut child = command(home, server)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the nexchat binary runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("nexchat finishes")
        .expect("output");
    let lines = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let stderr = String::from_utf8(output.stderr).expect("UTF-8");
    (output.status.success(), lines, stderr)
}

/// Alice, registered with the binary (her session in the returned directory), and Bob, her
/// friend, a client of the SDK.
async fn registered_with_a_friend(
    url: &str,
) -> (tempfile::TempDir, String, nexchat_client::Client) {
    let home = tempfile::tempdir().expect("dir");
    let name = unique("alice");
    let register_args = ["register", name.as_str(), "--password-stdin"];
    let (ok, _, err) = nexchat(home.path(), url, &register_args, "a good password\n").await;
    assert!(ok, "{err}");
    let alice = nexchat_client::Client::login(url, &name, "a good password")
        .await
        .expect("login");
    let bob = register(url, "bob").await;
    befriend(&alice, &bob).await;
    (home, name, bob)
}

fn command(home: &Path, server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexchat"));
    command
        .env("NEXCHAT_CONFIG_DIR", home)
        .env("NEXCHAT_SERVER", server)
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn scripts_register_befriend_send_read_and_listen_in_json_lines() {
    let server = TestServer::start().await;
    let url = server.url();
    let (alice_home, bob_home) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (alice, bob) = (unique("alice"), unique("bob"));
    let password = format!("{PASSWORD}\n");

    let (ok, out, err) = nexchat(
        alice_home.path(),
        &url,
        &["register", &alice, "--password-stdin"],
        &password,
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out[0]["username"], alice.as_str());
    assert_eq!(out[0]["server"], url.as_str());
    let (ok, _, err) = nexchat(
        bob_home.path(),
        &url,
        &["register", &bob, "--password-stdin"],
        &password,
    )
    .await;
    assert!(ok, "{err}");

    // The session file: the owner's only, with the token and key and never the password.
    let file = alice_home.path().join("session.json");
    let text = std::fs::read_to_string(&file).expect("a session file");
    assert!(!text.contains(PASSWORD), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let (ok, out, err) = nexchat(alice_home.path(), &url, &["friends", "add", &bob], "").await;
    assert!(ok, "{err}");
    assert_eq!(out[0]["status"], "pending");
    let (_, out, _) = nexchat(bob_home.path(), &url, &["friends"], "").await;
    assert_eq!(out[0]["pendingReceived"][0], alice.as_str());
    let (ok, _, err) = nexchat(bob_home.path(), &url, &["friends", "accept", &alice], "").await;
    assert!(ok, "{err}");

    // Bob listens; Alice sends twice; Bob's listener prints both, decrypted, and acknowledges
    // them, so Alice's history shows them delivered, then seen (--seen).
    let mut listener = command(bob_home.path(), &url)
        .args(["listen", "--seen"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listen runs");
    let mut lines = BufReader::new(listener.stdout.take().expect("stdout")).lines();
    let mut next_line = async || -> Value {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("a line in time")
            .expect("read")
            .expect("listen still runs");
        serde_json::from_str(&line).expect("a JSON line")
    };
    loop {
        if next_line().await["type"] == "connected" {
            break;
        }
    }
    let mut sent = Vec::new();
    for text in ["first", "second: ünïcödé \"quoted\""] {
        let (ok, out, err) = nexchat(alice_home.path(), &url, &["send", &bob, text], "").await;
        assert!(ok, "{err}");
        sent.push(out[0]["id"].as_str().expect("an id").to_owned());
    }
    let mut received = Vec::new();
    while received.len() < 2 {
        let line = next_line().await;
        if line["type"] == "message" {
            assert_eq!(line["sender"], alice.as_str());
            received.push((
                line["id"].as_str().expect("id").to_owned(),
                line["text"].clone(),
            ));
        }
    }
    assert_eq!(received[0], (sent[0].clone(), Value::from("first")));
    assert_eq!(
        received[1],
        (sent[1].clone(), Value::from("second: ünïcödé \"quoted\""))
    );

    let seen = async {
        loop {
            let (_, out, _) = nexchat(alice_home.path(), &url, &["history", &bob], "").await;
            if out.iter().all(|m| m["status"] == "seen") {
                return out;
            }
        }
    };
    let history = tokio::time::timeout(WAIT, seen).await.expect("both seen");
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(
        texts,
        ["first", "second: ünïcödé \"quoted\""],
        "oldest first"
    );

    let (_, a, _) = nexchat(alice_home.path(), &url, &["safety-number", &bob], "").await;
    let (_, b, _) = nexchat(bob_home.path(), &url, &["safety-number", &alice], "").await;
    assert_eq!(a[0]["safetyNumber"], b[0]["safetyNumber"]);
    assert_eq!(a[0]["safetyNumber"].as_str().expect("digits").len(), 35);

    // Logging out ends the listener's session: it says so and exits with a failure.
    let (ok, out, err) = nexchat(bob_home.path(), &url, &["logout"], "").await;
    assert!(ok, "{err}");
    assert_eq!(out[0]["status"], "logged_out");
    let status = tokio::time::timeout(WAIT, listener.wait())
        .await
        .expect("listen ends")
        .expect("status");
    assert!(!status.success());
    assert!(!bob_home.path().join("session.json").exists());
}

#[tokio::test]
async fn mistakes_get_a_clear_message_and_a_failing_status() {
    let server = TestServer::start().await;
    let url = server.url();
    let home = tempfile::tempdir().expect("dir");

    let (ok, out, err) = nexchat(home.path(), &url, &["send", "bob", "hi"], "").await;
    assert!(!ok && out.is_empty());
    assert!(err.contains("not signed in"), "{err}");

    let (ok, _, err) = nexchat(
        home.path(),
        &url,
        &["register", "x", "--password-stdin"],
        "long enough\n",
    )
    .await;
    assert!(!ok);
    assert!(err.contains("not a username"), "{err}");

    let (ok, _, err) = nexchat(
        home.path(),
        &url,
        &["register", &unique("dan"), "--password-stdin"],
        "short\n",
    )
    .await;
    assert!(!ok);
    assert!(err.contains("8 to 1024"), "{err}");

    let name = unique("erin");
    let (ok, _, err) = nexchat(
        home.path(),
        &url,
        &["register", &name, "--password-stdin"],
        "a good password\n",
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = nexchat(
        home.path(),
        &url,
        &["login", &name, "--password-stdin"],
        "a wrong password\n",
    )
    .await;
    assert!(!ok);
    assert!(err.contains("401"), "{err}");

    let (ok, _, err) = nexchat(home.path(), &url, &["send", "nobody_here", "hi"], "").await;
    assert!(!ok);
    assert!(err.contains("nobody_here") || err.contains("404"), "{err}");

    let (ok, _, err) = nexchat(home.path(), &url, &["login", &name], "").await;
    assert!(!ok, "no terminal, no --password-stdin");
    assert!(err.contains("--password-stdin"), "{err}");
}

#[tokio::test]
async fn sending_and_reading_history_are_not_held_up_by_a_long_backlog() {
    let server = TestServer::start().await;
    let url = server.url();
    let (home, name, bob) = registered_with_a_friend(&url).await;
    // More messages wait for Alice than a client's event buffer holds (1024), none read.
    drop(bob.connect().await.expect("connect"));
    for i in 0..1100 {
        bob.send(&name, &format!("backlog {i}"))
            .await
            .expect("send");
    }

    let (ok, out, err) = nexchat(
        home.path(),
        &url,
        &["send", bob.username(), "past the backlog"],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out[0]["id"].is_string());
    let (ok, out, err) = nexchat(
        home.path(),
        &url,
        &["history", bob.username(), "--limit", "3"],
        "",
    )
    .await;
    assert!(ok, "{err}");
    let texts: Vec<&str> = out
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, ["backlog 1098", "backlog 1099", "past the backlog"]);
}

#[tokio::test]
async fn a_script_makes_a_group_and_talks_in_it() {
    let server = TestServer::start().await;
    let url = server.url();
    let (home, _, bob) = registered_with_a_friend(&url).await;
    let mut bob_events = bob.connect().await.expect("connect");
    connected(&mut bob_events).await;

    let (ok, out, err) =
        nexchat(home.path(), &url, &["groups", "create", bob.username()], "").await;
    assert!(ok, "{err}");
    let group = out[0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(out[0]["members"].as_array().expect("members").len(), 2);
    let (ok, out, err) = nexchat(
        home.path(),
        &url,
        &["groups", "send", &group, "hello group"],
        "",
    )
    .await;
    assert!(ok, "{err}");
    let sent = out[0]["id"].as_str().expect("id").to_owned();
    let got = next_matching(&mut bob_events, "the group message", |e| match e {
        nexchat_client::Event::GroupMessage(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (got.id.as_str(), got.text.as_str(), got.group.as_str()),
        (sent.as_str(), "hello group", group.as_str())
    );

    let (ok, out, err) = nexchat(home.path(), &url, &["groups"], "").await;
    assert!(ok, "{err}");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], group.as_str());

    let (ok, _, err) = nexchat(
        home.path(),
        &url,
        &["groups", "send", "not-a-group", "x"],
        "",
    )
    .await;
    assert!(!ok);
    assert!(err.contains("UUID"), "{err}");
}
