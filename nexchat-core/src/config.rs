//! Every setting of the chat, with the protocol's documented defaults.

use std::time::Duration;

use serde_json::Value;

use crate::kdf::KdfDecoy;

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
    /// Failed logins per username within `login_failure_window` (10).
    pub login_failures: u32,
    /// The window for `login_failures` (15 minutes).
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
    /// Largest `kdf` parameters object of an account, as JSON text (1 KiB).
    pub max_kdf_bytes: usize,
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
            login_failures: 10,
            login_failure_window: Duration::from_secs(15 * 60),
            abuse_refusals: 20,
            abuse_window: Duration::from_secs(10),
            outbox_frames: 1024,
            writes_in_flight: 64,
            max_kdf_bytes: 1024,
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
    /// What a real account's `kdf` parameters look like: `GET /auth/params` answers a name
    /// without an account with these and a made-up salt (the browser client's defaults).
    pub kdf_decoy: KdfDecoy,
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
            kdf_decoy: KdfDecoy::default(),
        }
    }
}
