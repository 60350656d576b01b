//! Fan-out: one event pushed to every open session of a user through the [`Hub`], each session's
//! outbox then drained as its writer task would.
//!
//! [`Hub`]: nexchat_core::Hub

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use futures::FutureExt as _;
use nexchat_core::protocol::ServerEvent;
use nexchat_core::{Chat, Config, Outbound, Principal, SessionOutbox};

use crate::fixtures::{message, runtime, store};

fn fan_out(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    let mut config =
        Config::new("a benchmark secret that is at least 32 bytes long").expect("long enough");
    config.limits.sockets_per_user = 1024;
    let chat = rt.block_on(async { Chat::builder(config, store).build().await.expect("chat") });
    let event =
        ServerEvent::ReceiveMessage(message(uuid::Uuid::new_v4().to_string(), "alice", "bob"));
    let frame: Arc<str> = event.encode().into();

    let mut g = c.benchmark_group("hub");
    for sessions in [1usize, 10, 100] {
        let user = format!("bob{sessions}");
        let principal = Principal {
            username: user.clone(),
            expires_at: None,
        };
        let mut open: Vec<(nexchat_core::Session, SessionOutbox)> = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..sessions {
                v.push(
                    chat.connect(&principal.clone().into())
                        .await
                        .expect("connect"),
                );
            }
            v
        });
        // Drop what `connect` queued (online_users, sync_done).
        for (_, outbox) in &mut open {
            drain(outbox);
        }
        g.throughput(Throughput::Elements(sessions as u64));
        g.bench_with_input(
            BenchmarkId::new("push_encode", sessions),
            &sessions,
            |b, _| {
                b.iter(|| {
                    chat.hub().push(&user, &event, None);
                    for (_, outbox) in &mut open {
                        drain(outbox);
                    }
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("push_frame", sessions),
            &sessions,
            |b, _| {
                b.iter(|| {
                    chat.hub().push_frame(&user, &frame, None);
                    for (_, outbox) in &mut open {
                        drain(outbox);
                    }
                });
            },
        );
        rt.block_on(async {
            for (session, _) in &open {
                chat.disconnect(session).await;
            }
        });
    }
    g.finish();
}

/// Takes every frame that is queued, without waiting.
fn drain(outbox: &mut SessionOutbox) {
    while let Some(Some(Outbound::Frame(f))) = outbox.next().now_or_never() {
        std::hint::black_box(f);
    }
}

criterion_group!(group, fan_out);
