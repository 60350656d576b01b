//! The load generator against the bare relay, both in this process over real sockets on
//! 127.0.0.1. These check that messages flow and are counted, never how fast (no timing asserts).

use nexchat_benches::load::connections::{self, ConnectionsArgs};
use nexchat_benches::load::messages::{self, AckMode, MessagesArgs};
use nexchat_benches::load::{Common, Target};
use nexchat_benches::relay::{self, RelayConfig};

async fn start_relay() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(relay::serve(
        listener,
        RelayConfig::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

fn common(url: String) -> Common {
    Common {
        url,
        target: Target::Bare,
        server_pid: Some(std::process::id()),
        nodes: Vec::new(),
        node_pids: Vec::new(),
        user_prefix: None,
        password: "unused-password".to_owned(),
        source_ips: 0,
        setup_concurrency: 4,
        connect_concurrency: 16,
        json_only: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_mode_delivers_and_acknowledges_every_message() {
    let url = start_relay().await;
    let args = MessagesArgs {
        users: 6,
        window: 4,
        duration: 0.5,
        warmup: 0.2,
        drain: 5.0,
        size: 64,
        ..MessagesArgs::default()
    };
    let r = messages::run(&common(url), &args).await.expect("run");
    assert_eq!(r.connections_held, 6);
    assert_eq!(r.errors_total, 0, "{:?}", r.errors);
    assert!(r.measured.acked > 0 && r.measured.delivered > 0 && r.measured.receipts > 0);
    assert_eq!(r.e2e_latency.count, r.measured.delivered);
    assert_eq!(r.ack_latency.count, r.measured.acked);
    // After the drain every message sent was acknowledged, delivered and receipted.
    assert_eq!(r.total.acked, r.total.sent);
    assert_eq!(r.total.delivered, r.total.sent);
    assert_eq!(r.total.receipts, r.total.sent);
    assert!(r.server_rss.connected_kib.is_some());
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["mode"], "messages");
    assert!(json["e2e_latency"]["p99_ms"].is_number());
    assert!(r.table().contains("end-to-end latency"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_mode_batches_receipts_and_sends_one_way() {
    let url = start_relay().await;
    let args = MessagesArgs {
        users: 4,
        rate: 400.0,
        duration: 0.5,
        warmup: 0.1,
        drain: 5.0,
        delivered_ack: AckMode::Batch,
        one_way: true,
        ..MessagesArgs::default()
    };
    let r = messages::run(&common(url), &args).await.expect("run");
    assert_eq!(r.senders, 2);
    assert_eq!(r.errors_total, 0, "{:?}", r.errors);
    assert!(r.measured.sent > 0);
    assert_eq!(r.total.delivered, r.total.sent);
    assert_eq!(r.total.receipts, r.total.sent);
    assert!(r.send_lag.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_mode_holds_idle_sockets_from_several_source_addresses() {
    let url = start_relay().await;
    let mut c = common(url);
    c.source_ips = 3;
    let args = ConnectionsArgs {
        conns: 30,
        conns_per_user: 1,
        hold: 0.2,
        settle: 0.1,
    };
    let r = connections::run(&c, &args).await.expect("run");
    assert_eq!(r.errors_total, 0, "{:?}", r.errors);
    assert_eq!(r.connections_held, 30);
    assert_eq!(r.connections_at_end, 30);
    assert!(r.server_bytes_per_connection.is_some());
}

#[tokio::test]
async fn refuses_targets_off_loopback() {
    let mut c = common("http://192.0.2.1:80".to_owned());
    c.target = Target::Bare;
    let err = messages::run(&c, &MessagesArgs::default())
        .await
        .expect_err("refused");
    assert!(err.contains("loopback"), "{err}");
}
