//! The engine of `nexchat-load`: drives a running server over real WebSockets as many users.
//!
//! The workloads:
//! - [`messages::run`]: users in friend pairs send each other messages at a fixed total rate, or
//!   as fast as acknowledgements allow (a window of in-flight messages per connection), and the
//!   run reports throughput and latency (see [`report::MessagesReport`]).
//! - [`connections::run`]: opens N idle connections, holds them, and reports the server's memory
//!   per connection (see [`report::ConnectionsReport`]).
//! - [`group::run`]: one group of many members, all online, a few sending into it; reports
//!   fan-out throughput (deliveries at members) and latency (see [`report::GroupReport`]).
//! - [`hostile::run`]: clients that try to make the server hold memory or connections (sockets
//!   that never read, floods, junk frames, half-sent request heads), for soak runs.
//! - [`attachments::run`]: uploads and downloads of one file size over REST, one at a time and
//!   several at once, with the server's memory sampled during each (see
//!   [`report::AttachmentsReport`]).
//!
//! Against nexchat ([`Target::Nexchat`]) users are registered, logged in and paired as friends over
//! REST first; against the bare relay ([`Target::Bare`]) that setup is skipped and users name
//! themselves with `?user=NAME`. Every address is checked to be loopback (127.0.0.0/8 or ::1):
//! this tool never sends load anywhere else.

pub mod attachments;
pub mod conn;
pub mod connections;
pub mod group;
pub mod hostile;
pub mod messages;
pub mod monitor;
mod pacing;
pub mod report;
pub mod setup;
pub mod stats;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

/// What kind of server is being driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A nexchat server: REST setup, `/ws?token=JWT`.
    Nexchat,
    /// The bare relay: no setup, `/ws?user=NAME`.
    Bare,
}

/// Settings shared by every workload.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Base URL of the server (http, loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// The kind of server: `nexchat` (REST setup + token) or `bare` (the bare relay, `?user=`).
    #[arg(long, value_enum, default_value = "nexchat", global = true)]
    pub target: Target,
    /// Pid of the server process, to report its resident memory (VmRSS) and CPU use.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Base URL of a further node of the same chat (repeatable; `messages` only): sockets are
    /// dealt round-robin over `--url` and these, so with one more node each user's friend is on
    /// the other node and every message crosses the bus between them.
    #[arg(long = "node", global = true)]
    pub nodes: Vec<String>,
    /// Pid of a further node (repeatable): its CPU use is added to the server's.
    #[arg(long = "node-pid", global = true)]
    pub node_pids: Vec<u32>,
    /// Prefix of the user names (default: `lg` + 6 random hex digits, new every run).
    #[arg(long, global = true)]
    pub user_prefix: Option<String>,
    /// Password of every user.
    #[arg(long, default_value = "load-test-password", global = true)]
    pub password: String,
    /// Spread client sockets over this many source addresses 127.0.0.1..=127.0.0.N
    /// (bind before connect; one address has only ~28k ephemeral ports). 0 = let the kernel pick.
    #[arg(long, default_value_t = 0, global = true)]
    pub source_ips: u8,
    /// REST requests in flight during setup (register, login, friends).
    #[arg(long, default_value_t = 32, global = true)]
    pub setup_concurrency: usize,
    /// WebSocket handshakes in flight while connecting.
    #[arg(long, default_value_t = 128, global = true)]
    pub connect_concurrency: usize,
    /// Print only the JSON line (no table, no progress).
    #[arg(long, global = true)]
    pub json_only: bool,
}

impl Common {
    /// CPU ticks of the server and of every further node, summed (`None` when one is unreadable).
    pub fn server_cpu_ticks(&self) -> Option<u64> {
        let pids = self
            .server_pid
            .into_iter()
            .chain(self.node_pids.iter().copied());
        let mut total = None;
        for pid in pids {
            total = Some(total.unwrap_or(0) + crate::procfs::cpu_ticks(pid)?);
        }
        total
    }

    /// The user-name prefix of this run.
    pub fn prefix(&self) -> String {
        self.user_prefix
            .clone()
            .unwrap_or_else(|| format!("lg{:06x}", rand::random::<u32>() & 0xff_ffff))
    }

    /// The source address for the `i`-th client socket.
    pub fn source_for(&self, i: usize) -> Option<Ipv4Addr> {
        (self.source_ips > 0)
            .then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % usize::from(self.source_ips)) as u8))
    }
}

/// Where the server is: the HTTP base URL and the socket address, checked to be loopback.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL for REST calls, without a trailing slash.
    pub base: String,
    /// `host:port` as written in the URL (for the WebSocket request).
    pub authority: String,
    /// The resolved address.
    pub addr: SocketAddr,
}

impl Endpoint {
    /// Resolves `url` and refuses anything that is not a loopback address.
    pub async fn resolve(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad --url {url}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!("--url must be http://, not {}", parsed.scheme()));
        }
        let host = parsed.host_str().ok_or("--url has no host")?.to_owned();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        let addr = addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() && a.ip().is_loopback())
            .or_else(|| addrs.iter().copied().find(|a| a.ip().is_loopback()))
            .ok_or_else(|| {
                format!(
                    "{host} is not a loopback address: nexchat-load only targets 127.0.0.0/8 or ::1"
                )
            })?;
        let authority = if matches!(addr.ip(), IpAddr::V6(_)) {
            format!("[::1]:{port}")
        } else {
            format!("{}:{port}", addr.ip())
        };
        Ok(Self {
            base: format!("http://{authority}"),
            authority,
            addr,
        })
    }
}

/// Error counts by kind (`setup:register 409`, `connect:...`, `ws:rate_limited`, ...).
#[derive(Debug, Default)]
pub struct Errors {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Errors {
    /// Counts one error of `kind`.
    pub fn add(&self, kind: impl Into<String>) {
        if let Ok(mut m) = self.counts.lock() {
            *m.entry(kind.into()).or_default() += 1;
        }
    }

    /// A copy of the counts.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// All errors counted so far.
    pub fn total(&self) -> u64 {
        self.counts.lock().map(|m| m.values().sum()).unwrap_or(0)
    }
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the limit now in force.
///
/// Raising the hard limit itself needs CAP_SYS_RESOURCE (or a `ulimit -Hn` by root before start).
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}
