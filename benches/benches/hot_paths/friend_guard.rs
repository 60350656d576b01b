//! The friendship check every relay passes through, against SQLite: a confirmed friendship
//! answered from the guard's memory, a refusal (always asked of the store), and the store's own
//! answer with memory disabled.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use nexchat_core::store::{Store, UserStore};
use nexchat_core::{FriendGuard, SystemClock};

use crate::fixtures::{befriend, runtime, store, user};

fn check(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    rt.block_on(async {
        befriend(&store, "alice", "bob").await;
        store
            .create_user(&user("mallory"))
            .await
            .expect("create user");
    });
    let store = Arc::new(store) as Arc<dyn Store>;
    let clock = Arc::new(SystemClock);
    let guard = FriendGuard::new(Arc::clone(&store), clock.clone(), Duration::from_secs(2));
    let uncached = FriendGuard::new(store, clock, Duration::ZERO);
    let mut g = c.benchmark_group("friend_guard");
    g.bench_function("friends", |b| {
        b.to_async(&rt)
            .iter(|| async { guard.check("alice", "bob").await.expect("friends") });
    });
    g.bench_function("friends_from_store", |b| {
        b.to_async(&rt)
            .iter(|| async { uncached.check("alice", "bob").await.expect("friends") });
    });
    g.bench_function("not_friends", |b| {
        b.to_async(&rt)
            .iter(|| async { guard.check("alice", "mallory").await.is_err() });
    });
    // Many sessions checking at once, as under load: 64 concurrent checks per iteration.
    g.throughput(criterion::Throughput::Elements(64));
    g.bench_function("friends_x64_concurrent", |b| {
        b.to_async(&rt).iter(|| async {
            let checks = (0..64).map(|_| guard.check("alice", "bob"));
            for r in futures::future::join_all(checks).await {
                r.expect("friends");
            }
        });
    });
    g.finish();
}

criterion_group!(group, check);
