//! The browser demo client, embedded in the binary (cargo feature `client`), to serve beside
//! nexchat's routes under any prefix:
//!
//! ```no_run
//! # async fn demo(chat: nexchat_core::Chat) {
//! use axum::{Router, routing::get};
//!
//! let app = Router::new().route("/", get(|| async { "my app" }));
//! let app: Router = nexchat_axum::demo_client::nest(app, "/chat", nexchat_axum::router(chat));
//! # }
//! ```
//!
//! The page is then at `/chat/` (`/chat` redirects there, so that the page's relative URLs
//! resolve under the prefix), with its security headers. The demo client signs in with
//! nexchat's own accounts: it does not work with an app's own [`nexchat_core::Identity`].

use axum::Router;
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use tower_http::set_header::SetResponseHeaderLayer;

/// The client's files: the page, its scripts, styles and images. They live inside this package
/// (`client/`), so the published crate carries them; the example server and the browser tests
/// serve the same folder.
#[derive(RustEmbed)]
#[folder = "client/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.css"]
#[include = "*.svg"]
#[include = "vendor/*"]
struct Files;

/// The page may load scripts, styles and media from its own origin only, and talk to it alone
/// (`connect-src 'self'` covers a WebSocket to the page's own host in current browsers), and
/// submit forms nowhere else. `wasm-unsafe-eval` lets the vendored Argon2id run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Camera and microphone for calls, for this origin only; every other powerful feature the
/// page does not use stays off by the browser's defaults.
pub const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(self)";

/// Nests `chat_routes` (nexchat's [`crate::router`]) and the demo client under `prefix` (such
/// as `/chat`) of `app`: the page answers at `prefix/`, and `prefix` redirects there.
/// (`Router::nest` alone routes `/chat` to the nested routes, but not `/chat/`.)
///
/// # Panics
/// When `prefix` is empty or `/`: at the root, merge [`router`] instead.
pub fn nest<S: Clone + Send + Sync + 'static>(
    app: Router<S>,
    prefix: &str,
    chat_routes: Router<S>,
) -> Router<S> {
    let prefix = prefix.trim_end_matches('/');
    let page = client_headers(Router::new().route(&format!("{prefix}/"), get(index)));
    app.nest(prefix, chat_routes.merge(router())).merge(page)
}

/// The embedded demo client, to merge beside nexchat's routes at the root (under a prefix, see
/// [`nest`]): `/` is the page (under a prefix given without its trailing slash, a redirect to
/// it with one), every other path one of its files, answered `no-cache` with an `ETag` so an
/// upgraded server never runs with stale scripts. Unknown paths get the protocol's JSON 404.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    client_headers(Router::new().route("/", get(index)).fallback(file))
}

/// Revalidation and the security headers, on every answer of the client's routes.
fn client_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    security_headers(router.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    )))
}

/// Adds the headers the demo client's page needs (`Content-Security-Policy`,
/// `Permissions-Policy`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`)
/// to every answer of `router`: for an app that serves the client's files itself.
pub fn security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
}

/// The page; under a prefix given without its trailing slash, a redirect to it with one, since
/// the page's relative URLs resolve against its own path.
async fn index(OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let target = match uri.query() {
            Some(query) => format!("{path}/?{query}"),
            None => format!("{path}/"),
        };
        return Redirect::permanent(&target).into_response();
    }
    serve("index.html", &headers)
}

async fn file(OriginalUri(original): OriginalUri, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if !matches!(*request.method(), Method::GET | Method::HEAD) || Files::get(path).is_none() {
        return crate::not_found(original).await;
    }
    serve(path, request.headers())
}

/// One embedded file, or 304 when the browser's copy is current.
fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Files::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let current = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let etag = HeaderValue::from_str(&etag).ok();
    if current {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Some(etag) = etag {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return response;
    }
    let mime = file.metadata.mimetype();
    // HTML says its charset, whatever the MIME table does.
    let content_type = if mime.starts_with("text/html") {
        HeaderValue::from_static("text/html; charset=utf-8")
    } else {
        HeaderValue::from_str(mime)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
