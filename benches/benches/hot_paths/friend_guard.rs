//! The friendship check every relay passes through, against SQLite, measured as a `typing`
//! frame handled through the [`Transport`]: to a friend (the check answered from the chat's
//! memory), to a friend with that memory disabled (the store's answer), and to a user who is
//! not a friend (refused, always asked of the store).
//!
//! [`Transport`]: nexchat_core::transport::Transport

use std::time::Duration;

use criterion::{Criterion, criterion_group};
use nexchat_core::store::UserStore;
use nexchat_store::SqliteStore;

use crate::fixtures::{Sockets, befriend, runtime, store, user};

/// A chat over a store where alice and bob are friends and mallory is a stranger, each with
/// one greeted socket; `cache` is how long a confirmed friendship is remembered.
async fn world(store: SqliteStore, cache: Duration) -> Sockets {
    befriend(&store, "alice", "bob").await;
    store
        .create_user(&user("mallory"))
        .await
        .expect("create user");
    Sockets::start(store, |config| config.friend_cache_ttl = cache).await
}

fn typing_to(to: &str) -> String {
    serde_json::json!({"type": "typing", "to": to, "isTyping": true}).to_string()
}

fn check(c: &mut Criterion) {
    let rt = runtime();
    let (cached_store, _dir) = store();
    let (uncached_store, _dir2) = store();
    let cached = rt.block_on(world(cached_store, Duration::from_secs(2)));
    let uncached = rt.block_on(world(uncached_store, Duration::ZERO));
    let mut g = c.benchmark_group("friend_guard");
    for (name, sockets, to, answer) in [
        ("friends", &cached, "bob", "typing"),
        ("friends_from_store", &uncached, "bob", "typing"),
        ("not_friends", &cached, "mallory", "error"),
    ] {
        let frame = typing_to(to);
        let (alice, mut alice_out) = rt.block_on(sockets.open("alice"));
        let (_receiver, mut receiver_out) = rt.block_on(sockets.open(to));
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    sockets.transport.handle_frame(&alice, &frame).await;
                    let got = if answer == "error" {
                        Sockets::drain(&mut alice_out)
                    } else {
                        Sockets::drain(&mut receiver_out)
                    };
                    assert_eq!(got, 1, "one {answer} per frame");
                })
            });
        });
    }
    // Many sockets relaying at once, as under load: 64 concurrent frames per iteration, one
    // from each of 64 sockets (a socket's own frames are handled one at a time).
    let frame = typing_to("bob");
    let mut senders = Vec::new();
    for _ in 0..64 {
        senders.push(rt.block_on(cached.open("alice")));
    }
    let (_bob, mut bob_out) = rt.block_on(cached.open("bob"));
    g.throughput(criterion::Throughput::Elements(64));
    g.bench_function("friends_x64_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let relays = senders
                    .iter()
                    .map(|(session, _)| cached.transport.handle_frame(session, &frame));
                futures::future::join_all(relays).await;
                assert_eq!(Sockets::drain(&mut bob_out), 64);
            })
        });
    });
    g.finish();
}

criterion_group!(group, check);
