//! Fan-out: a `typing` frame handled through the [`Transport`] and pushed to every open session
//! of its receiver, each session's outbox then drained as its writer task would. The friendship
//! check is answered from the chat's memory, so the encoding and the fan-out dominate.
//!
//! [`Transport`]: nexchat_core::transport::Transport

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

use crate::fixtures::{Sockets, befriend, runtime, store};

fn fan_out(c: &mut Criterion) {
    let rt = runtime();
    let (store, _dir) = store();
    rt.block_on(befriend(&store, "alice", "bob"));
    let sockets = rt.block_on(Sockets::start(store, |_| {}));
    let (alice, mut alice_out) = rt.block_on(sockets.open("alice"));
    let typing = serde_json::json!({"type": "typing", "to": "bob", "isTyping": true}).to_string();

    let mut g = c.benchmark_group("hub");
    let mut open = Vec::new();
    for sessions in [1usize, 10, 100] {
        while open.len() < sessions {
            open.push(rt.block_on(sockets.open("bob")));
        }
        g.throughput(Throughput::Elements(sessions as u64));
        g.bench_with_input(
            BenchmarkId::new("typing_relay", sessions),
            &sessions,
            |b, _| {
                b.iter(|| {
                    rt.block_on(async {
                        sockets.transport.handle_frame(&alice, &typing).await;
                        let mut pushed = 0;
                        for (_, outbox) in &mut open {
                            pushed += Sockets::drain(outbox);
                        }
                        assert_eq!(pushed, sessions, "every session gets the push");
                        Sockets::drain(&mut alice_out);
                    })
                });
            },
        );
    }
    g.finish();
    rt.block_on(async {
        for (session, _) in &open {
            sockets.transport.disconnect(session).await;
        }
        sockets.transport.disconnect(&alice).await;
    });
}

criterion_group!(group, fan_out);
