//! The SDK's errors, each keeping its source.

use nexchat_core::protocol::ErrorCode;

use crate::crypto::CryptoError;

/// Why a call of the SDK failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered a REST request with an error (`docs/protocol.md`, "REST": the status
    /// and the body's `error` code; `code` is `None` when the body was not the protocol's).
    #[error("the server answered {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The protocol's error code.
        code: Option<ErrorCode>,
        /// The server's explanation.
        message: String,
    },
    /// The HTTP request did not complete (connection refused, TLS, a body that is not JSON).
    #[error("HTTP request failed: {}", with_causes(.0))]
    Http(#[from] reqwest::Error),
    /// The WebSocket failed.
    #[error("socket failed: {0}")]
    Socket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// A key, ciphertext or key backup did not check out.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The server refused an event on the socket (`error` with this message's id as `ref`):
    /// nothing was stored.
    #[error("the server refused it ({}): {message}", code_name(*.code))]
    Refused {
        /// The protocol's error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// The login session is over (logged out, revoked, password changed, token expired): a new
    /// login is needed.
    #[error("the session ended: {0}")]
    SessionEnded(String),
    /// A socket call before [`crate::Client::connect`], or after the connection was given up.
    #[error("not connected: call Client::connect first")]
    NotConnected,
    /// The identity key this client holds (from the key backup, or a kept session) is not the
    /// public key the account publishes.
    #[error("this client's identity key is not the account's published public key")]
    KeyMismatch,
    /// The server URL is not an `http://` or `https://` URL.
    #[error("not a server URL (http:// or https://): {0}")]
    InvalidUrl(String),
    /// The server did not answer in time.
    #[error("the server did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Not a username (3–32 characters from `A-Z a-z 0-9 _ . -`), so no server has such a user.
    #[error("not a username (3 to 32 of A-Z a-z 0-9 _ . -): {0:?}")]
    InvalidUsername(String),
    /// A message id that is not a UUID.
    #[error("a message id is a UUID: {0:?}")]
    InvalidId(String),
    /// A new password outside the protocol's rule (8–1024 characters). Checked here, since the
    /// server only ever sees the key derived from it.
    #[error("a password has 8 to 1024 characters")]
    InvalidPassword,
    /// The user has no public key yet (an account an app provisioned that never signed in), so
    /// nothing can be encrypted to them.
    #[error("{0} has no public key yet")]
    NoPublicKey(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::Socket(Box::new(error))
    }
}

/// An error and the errors under it, `: `-separated: reqwest's own message leaves out why a
/// connection failed ("connection refused"), which its sources say.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The protocol's name of an error code (`not_friends`).
fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

/// The SDK's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
