//! The example server's choice of MongoDB database: the one the `--mongodb` URI names in its
//! path, unless `--mongodb-database` says otherwise, else `nexchat`.
//!
//! Needs `NEXCHAT_TEST_MONGODB_URI` (panics without it, so nothing skips quietly): start a
//! server with `eval "$(scripts/mongo-test-server.sh)"`, as `scripts/test.sh` does.

#![cfg(feature = "mongodb")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const URI_VAR: &str = "NEXCHAT_TEST_MONGODB_URI";

fn uri() -> String {
    std::env::var(URI_VAR).unwrap_or_else(|_| {
        panic!(
            "{URI_VAR} is not set: these tests need a MongoDB wire-protocol server. Start one \
             with `eval \"$(scripts/mongo-test-server.sh)\"`"
        )
    })
}

/// Starts the server with `args`, returns the database its start-up log names, and stops it.
fn database_used(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexchat-server"))
        .args(["--addr", "127.0.0.1:0", "--sqlite"])
        .arg(dir.path().join("unused.db"))
        .args([
            "--jwt-secret",
            "a test secret that is long enough for HS256",
        ])
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nexchat-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut database = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("stdout");
        if line.contains("storage: MongoDB") {
            database = line
                .split_once("database=")
                .map(|(_, name)| name.trim().to_owned());
        }
        if line.starts_with("nexchat is serving") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    database.expect("the server logs which MongoDB database it uses")
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

#[test]
fn the_uris_database_is_used_unless_the_flag_names_another() {
    let base = uri();
    let base = base.trim_end_matches('/');
    let in_uri = unique("uri");
    let with_path = format!("{base}/{in_uri}");
    assert_eq!(database_used(&["--mongodb", &with_path]), in_uri);
    let by_flag = unique("flag");
    assert_eq!(
        database_used(&["--mongodb", &with_path, "--mongodb-database", &by_flag]),
        by_flag
    );
    assert_eq!(database_used(&["--mongodb", base]), "nexchat");
}
