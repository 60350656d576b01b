//! Every setting of the chat, with the protocol's documented defaults.

use std::time::Duration;

use serde_json::Value;

/// Size and rate limits. Defaults are the protocol's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest WebSocket message answered with `too_large` rather than accepted (64 KiB).
    pub max_frame_bytes: usize,
    /// WebSocket messages above this close the socket with 1008 (1 MiB).
    pub max_frame_hard_bytes: usize,
    /// Largest `ciphertext`, in base64 characters (48 KiB).
    pub max_ciphertext_bytes: usize,
    /// Largest `iv`, in base64 characters.
    pub max_iv_bytes: usize,
    /// Burst of new messages per user (60).
    pub message_burst: u32,
    /// Sustained new messages per second per user (1).
    pub messages_per_sec: f64,
    /// Typing events per second per user (5).
    pub typing_per_sec: u32,
    /// Open sockets per user (10).
    pub sockets_per_user: usize,
    /// Largest REST request body (64 KiB).
    pub max_body_bytes: usize,
    /// Largest `encryptedPrivateKey`, as JSON text (16 KiB).
    pub max_private_key_bytes: usize,
    /// The window of the three `login_failures_*` limits (15 minutes).
    pub login_failure_window: Duration,
    /// Refusals (`too_large`, `rate_limited`) within `abuse_window` that close a socket (20).
    pub abuse_refusals: u32,
    /// The window for `abuse_refusals` (10 s).
    pub abuse_window: Duration,
    /// Frames a session's outbox holds before the session is judged too slow and closed.
    pub outbox_frames: usize,
    /// Writes of one socket (sends and ticks) on their way to the store (64). A client may
    /// send this many messages and ticks before they are answered; past that the socket is
    /// not read until one is.
    pub writes_in_flight: usize,
    /// Failed logins (401) for one username from one client address within
    /// `login_failure_window` (10); past it that name is refused (429) from that address.
    pub login_failures_per_name_address: u32,
    /// Failed logins for one username from all addresses within `login_failure_window` (100);
    /// past it that name is refused everywhere.
    pub login_failures_per_name: u32,
    /// Failed logins from one client address, any names, within `login_failure_window` (100);
    /// past it logins from that address are refused.
    pub login_failures_per_address: u32,
    /// Successful registrations (201) from one client address per hour (10). For each of these
    /// four limits, 0 means no limit (test suites and load tools register many users from one
    /// address).
    pub registrations_per_hour: u32,
    /// Keys each throttle counter (per name, per address, ...) holds at most (100,000): the
    /// bound on their memory whatever names and addresses are tried. When one is full, the key
    /// idle the longest is forgotten.
    pub throttle_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_frame_hard_bytes: 1024 * 1024,
            max_ciphertext_bytes: 48 * 1024,
            max_iv_bytes: 64,
            message_burst: 60,
            messages_per_sec: 1.0,
            typing_per_sec: 5,
            sockets_per_user: 10,
            max_body_bytes: 64 * 1024,
            max_private_key_bytes: 16 * 1024,
            login_failure_window: Duration::from_secs(15 * 60),
            abuse_refusals: 20,
            abuse_window: Duration::from_secs(10),
            outbox_frames: 1024,
            writes_in_flight: 64,
            login_failures_per_name_address: 10,
            login_failures_per_name: 100,
            login_failures_per_address: 100,
            registrations_per_hour: 10,
            throttle_keys: 100_000,
        }
    }
}

/// Configuration of a [`crate::Chat`].
///
/// ```
/// use nexchat_core::Config;
/// let config = Config::new("a secret of at least 32 bytes, from your vault");
/// assert_eq!(config.limits.message_burst, 60);
/// assert_eq!(config.token_ttl.as_secs(), 10 * 3600);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// HMAC key for HS256 tokens.
    pub jwt_secret: Vec<u8>,
    /// Token lifetime (10 hours).
    pub token_ttl: Duration,
    /// bcrypt cost for new passwords (12; lower only for tests and benchmarks).
    pub bcrypt_cost: u32,
    /// How long a call may ring unanswered before it ends `missed` (45 s).
    pub ring_timeout: Duration,
    /// Interval of WebSocket pings; a socket silent for two intervals is closed (20 s).
    pub ping_interval: Duration,
    /// How long a confirmed friendship is trusted without asking the store again (2 s). An
    /// unfriend on this node takes effect at once; one made through another node sharing the
    /// store takes effect within this time.
    pub friend_cache_ttl: Duration,
    /// STUN/TURN servers handed to clients for WebRTC (`RTCIceServer` objects).
    pub ice_servers: Vec<Value>,
    /// Size and rate limits.
    pub limits: Limits,
    /// Origins besides the server's own that may open a WebSocket (`https://app.example.org`,
    /// scheme and host as a browser sends them in `Origin`). Empty by default: same origin only.
    pub allowed_origins: Vec<String>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (for throttling)
    /// and whose `X-Forwarded-Proto: https` makes the server's own origin `https://`. Empty by
    /// default: the socket's peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a node trusts what it knows about a login session without asking the store
    /// again (2 s). A session ended on this node is refused at once; one ended through another
    /// node sharing the store is refused, and its sockets here closed, within this time.
    pub session_cache_ttl: Duration,
}

impl Config {
    /// Defaults with the given token secret.
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            token_ttl: Duration::from_secs(10 * 3600),
            bcrypt_cost: 12,
            ring_timeout: Duration::from_secs(45),
            ping_interval: Duration::from_secs(20),
            friend_cache_ttl: Duration::from_secs(2),
            ice_servers: Vec::new(),
            limits: Limits::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            session_cache_ttl: Duration::from_secs(2),
        }
    }
}
