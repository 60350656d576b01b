//! REST errors as `{error, message}` JSON with the protocol's status codes.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use nexchat_core::ChatError;
use nexchat_core::protocol::ErrorCode;
use nexchat_core::protocol::rest::ErrorBody;

/// A refused REST request.
#[derive(Debug)]
pub struct ApiError(pub ChatError);

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        Self(err)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self(ChatError::TooLarge("request body is too large".into()))
        } else {
            Self(ChatError::BadRequest(rejection.body_text()))
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self(ChatError::BadRequest(rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self(ChatError::BadRequest(rejection.body_text()))
    }
}

/// The HTTP status of an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::NotFriends => StatusCode::FORBIDDEN,
        ErrorCode::UserNotFound | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::Busy => StatusCode::CONFLICT,
        ErrorCode::Offline => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TooLarge | ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The one log line of a server failure: its detail is never sent.
        if let ChatError::Internal(detail) = &self.0 {
            tracing::error!(%detail, "request failed");
        }
        let code = self.0.code();
        let body = ErrorBody {
            error: code,
            message: self.0.to_string(),
        };
        let mut response = (status_of(code), Json(body)).into_response();
        if let ChatError::RateLimited { retry_after_secs } = self.0 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// The protocol's JSON error for a path nothing serves, whatever the method: 404 `not_found`.
/// Use it as an app's fallback, after any static files:
///
/// ```
/// use axum::Router;
/// let app: Router = Router::new().fallback(nexchat_axum::not_found);
/// ```
pub async fn not_found(uri: Uri) -> Response {
    let body = ErrorBody {
        error: ErrorCode::NotFound,
        message: format!("nothing is served at {}", uri.path()),
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// The protocol's JSON error for a method a route does not take: 405 `method_not_allowed`.
pub(crate) async fn method_not_allowed(method: Method) -> Response {
    let body = ErrorBody {
        error: ErrorCode::MethodNotAllowed,
        message: format!("{method} is not allowed here"),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
