//! What can go wrong, in domain words. Each case maps to exactly one protocol error code.

use crate::protocol::ErrorCode;
use crate::store::StoreError;

/// A refused request or event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// Malformed input: the text says which field and why.
    #[error("{0}")]
    BadRequest(String),
    /// Missing, invalid or expired credentials (one answer for every cause).
    #[error("invalid credentials")]
    Unauthorized,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The named user does not exist.
    #[error("no such user")]
    UserNotFound,
    /// The referred request, friendship, message or call does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Name taken, request already pending, already friends.
    #[error("{0}")]
    Conflict(String),
    /// The two users are not friends.
    #[error("you are not friends with {0}")]
    NotFriends(String),
    /// The callee has no open socket.
    #[error("{0} is offline")]
    Offline(String),
    /// The callee already has a call.
    #[error("{0} is in another call")]
    Busy(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// An upload would take the user past their attachment quota.
    #[error("over the attachment quota of {quota} bytes ({used} bytes in use)")]
    QuotaExceeded {
        /// Bytes the user's attachments take.
        used: u64,
        /// The quota ([`crate::Limits::attachment_quota_bytes`]).
        quota: u64,
    },
    /// A byte range that does not overlap the attachment.
    #[error("the range is not within the {size} bytes of the attachment")]
    RangeNotSatisfiable {
        /// The attachment's size in bytes.
        size: u64,
    },
    /// Over a rate limit; retry after this many seconds.
    #[error("rate limited, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// The server failed (storage, encoding); details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ChatError {
    /// The protocol error code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::UserNotFound => ErrorCode::UserNotFound,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::NotFriends(_) => ErrorCode::NotFriends,
            Self::Offline(_) => ErrorCode::Offline,
            Self::Busy(_) => ErrorCode::Busy,
            Self::TooLarge(_) => ErrorCode::TooLarge,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::RangeNotSatisfiable { .. } => ErrorCode::RangeNotSatisfiable,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for a [`ChatError::BadRequest`].
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

/// A storage failure the caller cannot fix: internal, with the store's whole chain of causes
/// as the detail. Not logged here: whoever refuses the request logs it, once.
impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.chain())
    }
}

/// Result with a [`ChatError`].
pub type ChatResult<T> = Result<T, ChatError>;
