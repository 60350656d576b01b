//! What a node records for operators, through the [`metrics`](::metrics) facade: sockets, messages,
//! pushes, store latency, the bus and the password-hashing line.
//!
//! nexchat only records; the application chooses an exporter (the example server installs
//! `metrics-exporter-prometheus` behind `--metrics-addr`). With no recorder installed every
//! call below is a no-op. Counters only grow: rates ("messages per second") are the
//! exporter's business (`rate(nexchat_messages_stored_total[1m])` in Prometheus).
//!
//! | name | kind | what |
//! |---|---|---|
//! | `nexchat_sockets_open` | gauge | sockets open on this node |
//! | `nexchat_messages_stored_total` | counter | messages newly stored by this node (a resent id is not counted again) |
//! | `nexchat_pushes_delivered_total` | counter | frames pushed to a socket of this node (one per socket), whichever node the push came from |
//! | `nexchat_store_seconds{op}` | histogram | time of each store call, by method (`insert_messages`, `find_user`, ...) |
//! | `nexchat_store_errors_total{op}` | counter | store calls that failed, by method |
//! | `nexchat_bus_published_total` | counter | messages this node published on the bus |
//! | `nexchat_bus_publish_failures_total` | counter | publications the NATS client refused |
//! | `nexchat_bus_dropped_total` | counter | publications dropped because the bus was too far behind |
//! | `nexchat_bus_received_total` | counter | messages this node received from other nodes |
//! | `nexchat_bus_lag_seconds` | histogram | from the moment another node queued a message to the moment this node received it (wall clocks: includes the clocks' offset) |
//! | `nexchat_hashing_waiting` | gauge | password hashes waiting for a slot |
//! | `nexchat_hashing_refused_total` | counter | password hashes refused because the line was full (answered 429) |

mod attachment_store;
mod group_store;
mod store;

pub(crate) use store::MeteredStore;

/// Sockets open on this node (gauge).
pub const SOCKETS_OPEN: &str = "nexchat_sockets_open";
/// Messages newly stored by this node (counter).
pub const MESSAGES_STORED: &str = "nexchat_messages_stored_total";
/// Frames pushed to sockets of this node (counter).
pub const PUSHES_DELIVERED: &str = "nexchat_pushes_delivered_total";
/// Seconds each store call took, labelled `op` (histogram).
pub const STORE_SECONDS: &str = "nexchat_store_seconds";
/// Store calls that failed, labelled `op` (counter).
pub const STORE_ERRORS: &str = "nexchat_store_errors_total";
/// Messages published on the bus (counter).
pub const BUS_PUBLISHED: &str = "nexchat_bus_published_total";
/// Publications the NATS client refused (counter).
pub const BUS_PUBLISH_FAILURES: &str = "nexchat_bus_publish_failures_total";
/// Publications dropped while the bus was too far behind (counter).
pub const BUS_DROPPED: &str = "nexchat_bus_dropped_total";
/// Messages received from other nodes (counter).
pub const BUS_RECEIVED: &str = "nexchat_bus_received_total";
/// Seconds from another node queueing a bus message to this node receiving it (histogram).
pub const BUS_LAG_SECONDS: &str = "nexchat_bus_lag_seconds";
/// Password hashes waiting for a slot (gauge).
pub const HASHING_WAITING: &str = "nexchat_hashing_waiting";
/// Password hashes refused because the line was full (counter).
pub const HASHING_REFUSED: &str = "nexchat_hashing_refused_total";

/// Describes every metric above to the installed recorder (its `# HELP` and unit). Call it once
/// after installing a recorder; recording works without it.
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SOCKETS_OPEN, Unit::Count, "Sockets open on this node");
    describe_counter!(
        MESSAGES_STORED,
        Unit::Count,
        "Messages newly stored by this node"
    );
    describe_counter!(
        PUSHES_DELIVERED,
        Unit::Count,
        "Frames pushed to sockets of this node, one per socket"
    );
    describe_histogram!(
        STORE_SECONDS,
        Unit::Seconds,
        "Time of each store call, by method"
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Store calls that failed, by method"
    );
    describe_counter!(BUS_PUBLISHED, Unit::Count, "Messages published on the bus");
    describe_counter!(
        BUS_PUBLISH_FAILURES,
        Unit::Count,
        "Publications the NATS client refused"
    );
    describe_counter!(
        BUS_DROPPED,
        Unit::Count,
        "Publications dropped while the bus was too far behind"
    );
    describe_counter!(
        BUS_RECEIVED,
        Unit::Count,
        "Messages received from other nodes"
    );
    describe_histogram!(
        BUS_LAG_SECONDS,
        Unit::Seconds,
        "From another node queueing a bus message to this node receiving it"
    );
    describe_gauge!(
        HASHING_WAITING,
        Unit::Count,
        "Password hashes waiting for a slot"
    );
    describe_counter!(
        HASHING_REFUSED,
        Unit::Count,
        "Password hashes refused because the line was full"
    );
}

/// A socket joined (`1.0`) or left (`-1.0`) this node.
pub(crate) fn sockets_open(change: f64) {
    ::metrics::gauge!(SOCKETS_OPEN).increment(change);
}

/// `n` frames were pushed to sockets of this node.
pub(crate) fn pushes_delivered(n: u64) {
    if n > 0 {
        ::metrics::counter!(PUSHES_DELIVERED).increment(n);
    }
}

/// A password hash joined (`1.0`) or left (`-1.0`) the line for a slot.
pub(crate) fn hashing_waiting(change: f64) {
    ::metrics::gauge!(HASHING_WAITING).increment(change);
}

/// A password hash was refused: the line was full.
pub(crate) fn hashing_refused() {
    ::metrics::counter!(HASHING_REFUSED).increment(1);
}

/// What the bus did with one message.
#[cfg(feature = "nats")]
pub(crate) mod bus {
    use super::{BUS_DROPPED, BUS_LAG_SECONDS, BUS_PUBLISH_FAILURES, BUS_PUBLISHED, BUS_RECEIVED};

    /// The header carrying when a bus message was queued, in ms since the Unix epoch.
    pub(crate) const SENT_AT: &str = "Nexchat-Sent-At";

    /// Now, in ms since the Unix epoch (0 if the clock is before it).
    pub(crate) fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn published() {
        ::metrics::counter!(BUS_PUBLISHED).increment(1);
    }

    pub(crate) fn publish_failed() {
        ::metrics::counter!(BUS_PUBLISH_FAILURES).increment(1);
    }

    pub(crate) fn dropped() {
        ::metrics::counter!(BUS_DROPPED).increment(1);
    }

    /// A message arrived; `sent_at_ms` is its [`SENT_AT`] header, when it had one.
    pub(crate) fn received(sent_at_ms: Option<u64>) {
        ::metrics::counter!(BUS_RECEIVED).increment(1);
        if let Some(sent) = sent_at_ms {
            // A clock behind the sender's reads as no lag rather than a negative one.
            let lag_ms = now_ms().saturating_sub(sent);
            ::metrics::histogram!(BUS_LAG_SECONDS).record(lag_ms as f64 / 1000.0);
        }
    }
}
