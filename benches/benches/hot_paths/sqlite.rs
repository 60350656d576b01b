//! Storing a message (durable: the future resolves after the group commit), reading a page of
//! history and a page of a user's conversation list, on a real SQLite file.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nexchat_core::protocol::MessageStatus;
use nexchat_core::store::MessageStore;

use crate::fixtures::{befriend, message, runtime, store, user};
use nexchat_core::store::UserStore;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn insert(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    rt.block_on(befriend(&store, "alice", "bob"));
    let mut g = c.benchmark_group("sqlite/insert_message");
    g.measurement_time(Duration::from_secs(8));
    // One at a time: the latency of one commit (one fsync).
    g.throughput(Throughput::Elements(1));
    g.bench_function("one", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .insert_message(&message(new_id(), "alice", "bob"))
                .await
                .expect("stored");
        });
    });
    // Many senders at once: the group commit puts them in one transaction.
    for n in [16usize, 256] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("concurrent", n), &n, |b, &n| {
            b.to_async(&rt).iter(|| async {
                let msgs: Vec<_> = (0..n).map(|_| message(new_id(), "alice", "bob")).collect();
                let inserts = msgs.iter().map(|m| store.insert_message(m));
                for r in futures::future::join_all(inserts).await {
                    r.expect("stored");
                }
            });
        });
    }
    g.finish();
}

fn history(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    let total = 10_000usize;
    let middle = rt.block_on(async {
        befriend(&store, "alice", "bob").await;
        let mut ids = Vec::with_capacity(total);
        for chunk in 0..total / 500 {
            let msgs: Vec<_> = (0..500)
                .map(|i| {
                    let (s, r) = if (chunk + i) % 2 == 0 {
                        ("alice", "bob")
                    } else {
                        ("bob", "alice")
                    };
                    message(new_id(), s, r)
                })
                .collect();
            ids.extend(msgs.iter().map(|m| m.id.clone()));
            for r in futures::future::join_all(msgs.iter().map(|m| store.insert_message(m))).await {
                r.expect("stored");
            }
        }
        ids[total / 2].clone()
    });
    let mut g = c.benchmark_group("sqlite/history");
    for limit in [50usize, 200] {
        g.throughput(Throughput::Elements(limit as u64));
        g.bench_with_input(
            BenchmarkId::new("newest_page", limit),
            &limit,
            |b, &limit| {
                b.to_async(&rt).iter(|| async {
                    store
                        .history("alice", "bob", None, limit)
                        .await
                        .expect("page")
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("page_before_middle", limit),
            &limit,
            |b, &limit| {
                b.to_async(&rt).iter(|| async {
                    store
                        .history("alice", "bob", Some(&middle), limit)
                        .await
                        .expect("page")
                });
            },
        );
    }
    g.finish();
}

/// A user with 1,000 conversations (ten messages each way with each user, 20,000 in all, half
/// of those to the user seen): the first page, a page from the middle, and a whole walk.
fn conversations(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    let users = 1_000usize;
    let others: Vec<String> = (0..users).map(|i| format!("user{i:04}")).collect();
    rt.block_on(async {
        store
            .create_user(&user("alice"))
            .await
            .expect("create user");
        for other in &others {
            store.create_user(&user(other)).await.expect("create user");
        }
        // Ten rounds over every user, in batches that share group commits.
        for round in 0..10 {
            let msgs: Vec<_> = others
                .iter()
                .flat_map(|other| {
                    [
                        message(new_id(), other, "alice"),
                        message(new_id(), "alice", other),
                    ]
                })
                .collect();
            for r in store.insert_messages(msgs).await {
                r.expect("stored");
            }
            if round % 2 == 0 {
                for other in &others {
                    store
                        .advance_status(other, "alice", None, MessageStatus::Seen)
                        .await
                        .expect("seen");
                }
            }
        }
    });
    let middle = others[users / 2].clone();
    let mut g = c.benchmark_group("sqlite/conversations");
    for limit in [50usize, 200] {
        g.throughput(Throughput::Elements(limit as u64));
        g.bench_with_input(
            BenchmarkId::new("first_page", limit),
            &limit,
            |b, &limit| {
                b.to_async(&rt).iter(|| async {
                    store
                        .conversations("alice", None, limit)
                        .await
                        .expect("page")
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("page_before_middle", limit),
            &limit,
            |b, &limit| {
                b.to_async(&rt).iter(|| async {
                    store
                        .conversations("alice", Some(&middle), limit)
                        .await
                        .expect("page")
                });
            },
        );
    }
    g.throughput(Throughput::Elements(users as u64));
    g.bench_function("all_1000_in_pages_of_200", |b| {
        b.to_async(&rt).iter(|| async {
            let mut before: Option<String> = None;
            let mut seen = 0usize;
            loop {
                let page = store
                    .conversations("alice", before.as_deref(), 200)
                    .await
                    .expect("page");
                seen += page.items.len();
                before = page.items.last().map(|c| c.with_user.clone());
                if !page.has_more {
                    break;
                }
            }
            assert_eq!(seen, users);
        });
    });
    g.finish();
}

criterion_group!(group, insert, history, conversations);
