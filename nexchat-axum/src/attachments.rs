//! The REST routes of attachments (protocol version 1.3): uploads streamed into the chat's blob
//! store, downloads streamed out with `Range`, and the caller's usage. Mounted only for a chat
//! that takes attachments, under [`nexchat_core::Config::transfer_timeout`] instead of the
//! request timeout, and without the JSON body limit (the chat applies its own).

use std::io;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use nexchat_core::blobs::RangeRequest;
use nexchat_core::protocol::rest::{AttachmentStored, AttachmentUsage};
use nexchat_core::{Chat, ChatError};

#[cfg(feature = "openapi")]
use nexchat_core::protocol::rest::ErrorBody;

use crate::auth::AuthUser;
use crate::error::ApiError;

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/attachments", tag = "attachments",
    summary = "Upload an attachment's ciphertext",
    description = "The body is the ciphertext, streamed to storage; the answer comes once every \
        byte is durable. Counts against the caller's quota from the start, at its \
        `Content-Length` (at the size limit without one).",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = AttachmentStored),
        (status = 400, description = "The body broke off or passed its `Content-Length`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "`conflict`: cancelled while it was sent (its account erased, or the grace ran out); nothing stored", body = ErrorBody),
        (status = 413, description = "`too_large` past the size limit, `quota_exceeded` past the caller's quota; nothing stored", body = ErrorBody),
    ),
))]
pub(crate) async fn upload(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AttachmentStored>), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let stream = body.into_data_stream().map_err(io::Error::other);
    let stored = chat
        .upload_attachment(&user.username, declared, Box::pin(stream))
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/attachments/{id}", tag = "attachments",
    summary = "Download an attachment's ciphertext, whole or one range",
    description = "For its uploader, the receiver of a 1:1 message naming it while still a \
        friend, and group members who received a message naming it. `Range: bytes=A-B`, \
        `bytes=A-` or `bytes=-N` gives 206; several ranges or another unit are ignored.",
    params(("id" = String, Path, description = "The attachment's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The whole attachment", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for, with `Content-Range`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such attachment, or not one the caller may read", body = ErrorBody),
        (status = 416, description = "The range starts past the end; `Content-Range: bytes */SIZE`", body = ErrorBody),
    ),
))]
pub(crate) async fn download(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_range);
    let blob = match chat.download_attachment(&user.username, &id, range).await {
        Ok(blob) => blob,
        Err(err @ ChatError::RangeNotSatisfiable { size }) => {
            let unsatisfied = format!("bytes */{size}");
            return ([(header::CONTENT_RANGE, unsatisfied)], ApiError::from(err)).into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    // The whole download within the transfer timeout too: a reader that takes longer is cut
    // off (the body ends short of its `Content-Length`), so it cannot hold a file open forever.
    let deadline = tokio::time::sleep(chat.config().transfer_timeout);
    let mut response = Response::new(Body::from_stream(blob.body.take_until(deadline)));
    let answer = response.headers_mut();
    answer.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    answer.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.range.len()));
    answer.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    answer.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    answer.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if range.is_some() {
        let content_range = format!(
            "bytes {}-{}/{}",
            blob.range.start,
            blob.range.end - 1,
            blob.size
        );
        if let Ok(value) = HeaderValue::from_str(&content_range) {
            answer.insert(header::CONTENT_RANGE, value);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    response
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/attachments", tag = "attachments",
    summary = "The caller's attachment usage and the limits",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bytes in use, the quota and the size limit", body = AttachmentUsage),
        (status = 401, description = "No valid token", body = ErrorBody),
    ),
))]
pub(crate) async fn usage(
    State(chat): State<Chat>,
    AuthUser(user): AuthUser,
) -> Result<Json<AttachmentUsage>, ApiError> {
    Ok(Json(chat.attachment_usage(&user.username).await?))
}

/// The one range of a `Range` header: `bytes=A-B`, `bytes=A-` or `bytes=-N`. Anything else
/// (several ranges, another unit, a malformed one) is `None`, and the whole attachment is sent,
/// as RFC 9110 (section 14.2) lets a server do.
fn parse_range(value: &str) -> Option<RangeRequest> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        (false, true) => number(first).map(RangeRequest::From),
        (false, false) => {
            let (start, end) = (number(first)?, number(last)?);
            (start <= end).then_some(RangeRequest::Between(start, end))
        }
        (true, false) => number(last).map(RangeRequest::Last),
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest, parse_range};

    #[test]
    fn one_byte_range_is_read_and_anything_else_is_ignored() {
        assert_eq!(
            parse_range("bytes=0-99"),
            Some(RangeRequest::Between(0, 99))
        );
        assert_eq!(parse_range("bytes=100-"), Some(RangeRequest::From(100)));
        assert_eq!(parse_range("bytes=-500"), Some(RangeRequest::Last(500)));
        assert_eq!(
            parse_range("Bytes = 5-5"),
            Some(RangeRequest::Between(5, 5))
        );
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-3",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
            "0-1",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }
}
