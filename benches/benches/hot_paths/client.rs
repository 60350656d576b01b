//! The client SDK's cryptography (`nexchat-client`), what a bot or the terminal client spends
//! per message and per login: sealing and opening a 1:1 message, deriving a friend's message
//! key, a safety number, and the password key derivation at the parameters new accounts get.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nexchat_client::crypto::{Identity, KdfParams, MessageBody, safety_number};
use nexchat_client::protocol::{MessageStatus, StoredMessage};

const ID: &str = "0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59";

fn messages(c: &mut Criterion) {
    let (alice, bob) = (Identity::generate(), Identity::generate());
    let key = alice
        .message_key("alice", "bob", &bob.public_key())
        .expect("a P-256 key");
    let mut g = c.benchmark_group("client/message");
    for size in [256usize, 4096] {
        let body = MessageBody::text("x".repeat(size));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encrypt", size), &body, |b, body| {
            b.iter(|| key.encrypt(ID, "alice", "bob", black_box(body)))
        });
        let sealed = key.encrypt(ID, "alice", "bob", &body);
        let stored = StoredMessage {
            id: ID.into(),
            sender: "alice".into(),
            receiver: "bob".into(),
            ciphertext: sealed.ciphertext,
            iv: sealed.iv,
            timestamp: 0,
            status: MessageStatus::Sent,
        };
        g.bench_with_input(BenchmarkId::new("decrypt", size), &stored, |b, stored| {
            b.iter(|| key.decrypt(black_box(stored)).expect("opens"))
        });
    }
    g.throughput(Throughput::Elements(1));
    let bob_key = bob.public_key();
    g.bench_function("message_key", |b| {
        b.iter(|| {
            alice
                .message_key("alice", "bob", black_box(&bob_key))
                .expect("derives")
        })
    });
    let alice_key = alice.public_key();
    g.bench_function("safety_number", |b| {
        b.iter(|| safety_number("alice", black_box(&alice_key), "bob", &bob_key))
    });
    g.finish();
}

fn login(c: &mut Criterion) {
    let mut g = c.benchmark_group("client/kdf");
    // Argon2id over 64 MiB takes a good part of a second: few samples are enough.
    g.sample_size(10);
    let params = KdfParams::generate();
    g.bench_function("default_params", |b| {
        b.iter(|| params.derive(black_box("correct horse battery staple")))
    });
    g.finish();
}

criterion_group!(group, messages, login);
