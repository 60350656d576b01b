//! Every setting of the chat, with the protocol's documented defaults.

use std::time::Duration;

use serde_json::Value;

use crate::kdf::KdfDecoy;

/// Size and rate limits. Defaults are the protocol's table.
///
/// New limits may come in any release, so the struct cannot be written as a literal outside
/// this crate: start from the defaults and set what differs.
///
/// ```
/// use nexchat_core::{Config, Limits};
/// let mut limits = Limits::default();
/// limits.sockets_per_user = 4;
/// let mut config = Config::new("a secret of at least 32 bytes, from your vault")?;
/// config.limits = limits;
/// config.limits.message_burst = 20;
/// assert_eq!((config.limits.sockets_per_user, config.limits.message_burst), (4, 20));
/// # Ok::<(), nexchat_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// Bytes of frames queued to one socket (pushes, answers, its greeting) before it is judged
    /// too slow and closed with 1008 (4 MiB). Must exceed `max_answer_bytes`.
    pub outbox_bytes: usize,
    /// Large answers (a history or call-history page, a page of the greeting) one socket may
    /// have queued and unwritten (2); past that its next request is not read until one drains.
    pub answers_in_flight: usize,
    /// Bytes of stored messages, calls or conversation entries in one answer (1 MiB): a history
    /// or `/conversations` page that would pass it holds fewer entries, with `hasMore`. The
    /// greeting's offline messages come in pages of this size too.
    pub max_answer_bytes: usize,
    /// Burst of `join` events per user (10).
    pub join_burst: u32,
    /// Sustained `join` events per second per user (one every 10 s).
    pub joins_per_sec: f64,
    /// Burst of `call_offer` events per user (10).
    pub call_offer_burst: u32,
    /// Sustained `call_offer` events per second per user (one every 6 s).
    pub call_offers_per_sec: f64,
    /// bcrypt hashes and checks run at once (the number of cores); registrations and logins
    /// past it wait in line.
    pub hashes_at_once: usize,
    /// Registrations and logins waiting for a bcrypt slot (64); past it they get 429 with
    /// `Retry-After` instead of waiting, so a flood of logins cannot queue without bound.
    pub hashes_waiting: usize,
    /// Writes of one socket (sends and ticks) on their way to the store (64). A client may
    /// send this many messages and ticks before they are answered; past that the socket is
    /// not read until one is.
    pub writes_in_flight: usize,
    /// Largest `kdf` parameters object of an account, as JSON text (1 KiB).
    pub max_kdf_bytes: usize,
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
    /// Members of one group, its admins included (256; `conflict` past it).
    pub max_group_members: usize,
    /// Groups one user is a member of (100; `conflict` past it).
    pub max_groups_per_user: usize,
    /// A group's sealed title: characters of base64 ciphertext (1,024; `too_large` past it). An
    /// avatar may be as large as a message's ciphertext ([`Limits::max_ciphertext_bytes`]).
    pub max_group_title_bytes: usize,
    /// One attachment's ciphertext, in bytes (25 MiB; 413 `too_large` past it).
    pub max_attachment_bytes: u64,
    /// The bytes one user's attachments may take together, uploads in progress included
    /// (1 GiB; 413 `quota_exceeded` past it).
    pub attachment_quota_bytes: u64,
    /// Attachments one message may name (10; `too_large` past it).
    pub max_attachments_per_message: usize,
}

impl Limits {
    /// How many of the largest messages one answer holds within `max_answer_bytes` (at least
    /// one): the page size for reading messages from the store a chunk at a time.
    pub fn messages_per_answer(&self) -> usize {
        // A stored message is its ciphertext plus well under 1 KiB of ids, names and fields.
        (self.max_answer_bytes / (self.max_ciphertext_bytes + 1024)).max(1)
    }
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
            outbox_bytes: 4 * 1024 * 1024,
            answers_in_flight: 2,
            max_answer_bytes: 1024 * 1024,
            join_burst: 10,
            joins_per_sec: 0.1,
            call_offer_burst: 10,
            call_offers_per_sec: 1.0 / 6.0,
            hashes_at_once: std::thread::available_parallelism().map_or(2, usize::from),
            hashes_waiting: 64,
            writes_in_flight: 64,
            max_kdf_bytes: 1024,
            login_failures_per_name_address: 10,
            login_failures_per_name: 100,
            login_failures_per_address: 100,
            registrations_per_hour: 10,
            throttle_keys: 100_000,
            max_group_members: 256,
            max_groups_per_user: 100,
            max_group_title_bytes: 1024,
            max_attachment_bytes: 25 * 1024 * 1024,
            attachment_quota_bytes: 1024 * 1024 * 1024,
            max_attachments_per_message: 10,
        }
    }
}

/// A configuration that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The token secret is shorter than [`Config::MIN_SECRET_BYTES`].
    #[error(
        "the token secret is {bytes} bytes; it must be at least {min} \
         (an HS256 key shorter than the hash's 32 bytes is weak)"
    )]
    SecretTooShort {
        /// Its length.
        bytes: usize,
        /// The least accepted.
        min: usize,
    },
}

/// Configuration of a [`crate::Chat`]: [`Config::new`], then set the fields that differ from
/// the defaults (new settings may come in any release, so it is not built as a literal).
///
/// ```
/// use nexchat_core::{Config, ConfigError};
/// let config = Config::new("a secret of at least 32 bytes, from your vault")?;
/// assert_eq!(config.limits.message_burst, 60);
/// assert_eq!(config.token_ttl.as_secs(), 10 * 3600);
/// assert!(matches!(Config::new("short"), Err(ConfigError::SecretTooShort { bytes: 5, .. })));
/// # Ok::<(), ConfigError>(())
/// ```
///
/// Outside this crate a struct literal does not compile, not even one that starts from a
/// built configuration:
///
/// ```compile_fail,E0639
/// use nexchat_core::Config;
/// let base = Config::new("a secret of at least 32 bytes, from your vault").unwrap();
/// let config = Config { bcrypt_cost: 10, ..base };
/// ```
// Debug is written by hand below: the secret must never reach a log line.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// HMAC key for HS256 tokens (and the seed of `kdf_decoy`): at least
    /// [`Config::MIN_SECRET_BYTES`], random, kept secret, the same on every node.
    pub jwt_secret: Vec<u8>,
    /// Token lifetime (10 hours).
    pub token_ttl: Duration,
    /// bcrypt cost for new passwords (12; lower only for tests and benchmarks).
    pub bcrypt_cost: u32,
    /// How long a call may ring unanswered before it ends `missed` (45 s).
    pub ring_timeout: Duration,
    /// Interval of WebSocket pings; a socket silent for two intervals is closed (20 s).
    pub ping_interval: Duration,
    /// Deadline of every write to a socket (10 s): a peer that does not take a frame within it
    /// is disconnected, and a socket the server has decided to close is gone within it even if
    /// the peer never reads.
    pub write_timeout: Duration,
    /// Deadline of one REST request, its body included (30 s): past it the answer is 408 and
    /// the connection is free again, however slowly the client sends.
    pub request_timeout: Duration,
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
    /// The bus between nodes sharing a store (`None`, the default: this node alone). Needs
    /// the `nats` feature.
    pub bus: Option<crate::BusConfig>,
    /// Deadline of one attachment upload or download (10 minutes), instead of
    /// `request_timeout`: 25 MiB take 30 s at under 7 Mbit/s.
    pub transfer_timeout: Duration,
    /// How long an upload no message names is kept before it is collected (24 hours): the time
    /// a client has between uploading an attachment and sending the message that names it.
    pub attachment_grace: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field(
                "jwt_secret",
                &format_args!("<{} bytes>", self.jwt_secret.len()),
            )
            .field("token_ttl", &self.token_ttl)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("ring_timeout", &self.ring_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("write_timeout", &self.write_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("friend_cache_ttl", &self.friend_cache_ttl)
            .field("ice_servers", &self.ice_servers)
            .field("limits", &self.limits)
            .field("kdf_decoy", &self.kdf_decoy)
            .field("allowed_origins", &self.allowed_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session_cache_ttl", &self.session_cache_ttl)
            .field("bus", &self.bus)
            .field("transfer_timeout", &self.transfer_timeout)
            .field("attachment_grace", &self.attachment_grace)
            .finish()
    }
}

impl Config {
    /// The shortest token secret accepted (bytes): the output size of HS256's hash.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Defaults with the given token secret.
    ///
    /// # Errors
    /// [`ConfigError::SecretTooShort`] for a secret under [`Config::MIN_SECRET_BYTES`].
    pub fn new(jwt_secret: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let config = Self {
            jwt_secret: jwt_secret.into(),
            token_ttl: Duration::from_secs(10 * 3600),
            bcrypt_cost: 12,
            ring_timeout: Duration::from_secs(45),
            ping_interval: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            friend_cache_ttl: Duration::from_secs(2),
            ice_servers: Vec::new(),
            limits: Limits::default(),
            kdf_decoy: KdfDecoy::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            session_cache_ttl: Duration::from_secs(2),
            bus: None,
            transfer_timeout: Duration::from_secs(600),
            attachment_grace: Duration::from_secs(24 * 3600),
        };
        config.check()?;
        Ok(config)
    }

    /// Checks the rules [`Config::new`] enforces, for a config whose fields were changed since
    /// ([`crate::ChatBuilder::build`] runs it).
    ///
    /// # Errors
    /// As [`Config::new`].
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.jwt_secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ConfigError::SecretTooShort {
                bytes: self.jwt_secret.len(),
                min: Self::MIN_SECRET_BYTES,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn debug_output_leaves_the_secret_out() {
        let secret = "a-secret-that-must-never-be-logged-0123456789";
        let config = Config::new(secret).expect("long enough");
        let printed = format!("{config:?}");
        assert!(!printed.contains(secret), "{printed}");
        assert!(
            printed.contains(&format!("<{} bytes>", secret.len())),
            "{printed}"
        );
        assert!(printed.contains("bcrypt_cost: 12"), "{printed}");
    }
}
