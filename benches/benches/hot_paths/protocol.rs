//! Decoding client frames and encoding server events.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use nexchat_core::protocol::{ClientEvent, ServerEvent};

use crate::fixtures::{base64_of, message};

fn send_message_frame(ciphertext_bytes: usize) -> String {
    format!(
        r#"{{"type":"send_message","receiver":"bob_the_receiver","ciphertext":"{}","iv":"{}","id":"0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59"}}"#,
        base64_of(ciphertext_bytes),
        base64_of(12)
    )
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol/decode");
    for size in [256usize, 4096] {
        let frame = send_message_frame(size);
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_with_input(BenchmarkId::new("send_message", size), &frame, |b, f| {
            b.iter(|| ClientEvent::decode(black_box(f)).expect("decodes"));
        });
    }
    let delivered = r#"{"type":"message_delivered","to":"alice","ids":["0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59"]}"#;
    g.throughput(Throughput::Elements(1));
    g.bench_function("message_delivered", |b| {
        b.iter(|| ClientEvent::decode(black_box(delivered)).expect("decodes"))
    });
    let typing = r#"{"type":"typing","to":"bob","isTyping":true}"#;
    g.bench_function("typing", |b| {
        b.iter(|| ClientEvent::decode(black_box(typing)).expect("decodes"))
    });
    let bad = r#"{"type":"no_such_event","to":"bob"}"#;
    g.bench_function("unknown_type", |b| {
        b.iter(|| ClientEvent::decode(black_box(bad)).is_err())
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("protocol/encode");
    for size in [256usize, 4096] {
        let mut m = message(
            "0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59".to_owned(),
            "alice",
            "bob_the_receiver",
        );
        m.ciphertext = base64_of(size);
        let event = ServerEvent::ReceiveMessage(m);
        g.throughput(Throughput::Bytes(event.encode().len() as u64));
        g.bench_with_input(BenchmarkId::new("receive_message", size), &event, |b, e| {
            b.iter(|| black_box(e).encode())
        });
    }
    let sent = ServerEvent::MessageSent {
        id: "0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59".to_owned(),
        receiver: "bob_the_receiver".to_owned(),
        timestamp: 1_700_000_000_000,
    };
    g.throughput(Throughput::Elements(1));
    g.bench_function("message_sent", |b| b.iter(|| black_box(&sent).encode()));
    let receipt = ServerEvent::MessageDelivered {
        from: "bob_the_receiver".to_owned(),
        ids: vec!["0190f8a2-7b1c-8e3a-9f00-6e1d2c3b4a59".to_owned()],
    };
    g.bench_function("message_delivered", |b| {
        b.iter(|| black_box(&receipt).encode())
    });
    g.finish();
}

criterion_group!(group, decode, encode);
