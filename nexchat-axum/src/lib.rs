//! Mount nexchat in any axum application.
//!
//! [`router`] returns an [`axum::Router`] with nexchat's REST routes and its WebSocket route
//! `/ws`. Nest it under a prefix or merge it at the root, next to the app's own routes.
//!
//! # The whole recipe
//! Dependencies (`client` embeds the browser demo client; leave it out to serve your own):
//!
//! ```toml
//! [dependencies]
//! nexchat-core = "0.1"
//! nexchat-store = "0.1"   # SQLite; features = ["mongodb"] for MongoDB
//! nexchat-axum = { version = "0.1", features = ["client"] }
//! axum = "0.8"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "signal"] }
//!
//! # bcrypt is slow on purpose; unoptimised, a debug build spends ~0.8 s on each login.
//! [profile.dev.package."*"]
//! opt-level = 1
//! ```
//!
//! The app, with the chat and its demo client under `/chat` and a graceful shutdown:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use nexchat_core::{Chat, Config};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // At least 32 random bytes, the same on every node: Config::new refuses a shorter one.
//!     let secret = std::env::var("CHAT_SECRET").map_err(|_| "set CHAT_SECRET (32+ bytes)")?;
//!     // Checked before the store is opened, so a bad secret leaves no database file behind.
//!     let config = Config::new(secret)?;
//!     let store = nexchat_store::SqliteStore::open("chat.db")?;
//!     // Attachments' (encrypted) bytes, in files beside the database; leave it out and the
//!     // chat takes none.
//!     let blobs = nexchat_store::FileBlobStore::open("chat.db.blobs").await?;
//!     let chat = Chat::builder(config, store).blobs(blobs).build().await?;
//!     let app = Router::new().route("/", get(|| async { "my app" }));
//! # #[cfg(feature = "client")]
//!     let app = nexchat_axum::demo_client::nest(app, "/chat", nexchat_axum::router(chat.clone()));
//! # #[cfg(not(feature = "client"))]
//! # let app = app.nest("/chat", nexchat_axum::router(chat.clone()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     let shutdown = async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         chat.shutdown(); // open sockets are closed with 1001 "going away", not dropped
//!     };
//!     nexchat_axum::serve(listener, app, Default::default(), shutdown).await?;
//!     Ok(())
//! }
//! ```
//!
//! The demo client is then the page at `/chat/` (`/chat` redirects there), with its security
//! headers; see the `demo_client` module (feature `client`). It signs in with nexchat's own accounts,
//! so it does not work with an app's own [`nexchat_core::Identity`].
//!
//! With an app's own login (`Chat::builder(..).identity(..)`), the routes of nexchat's own
//! accounts are not mounted (see [`router`]).
//!
//! The routes are those of the nexchat wire protocol (`docs/protocol.md`):
//!
//! | route | what |
//! |---|---|
//! | `POST /auth/register` | creates an account (registrations are limited per client address) |
//! | `POST /auth/login` | checks a password, starts a session, answers its token (`Cache-Control: no-store`) |
//! | `POST /auth/logout` | ends the caller's session; its sockets close with 4003 first |
//! | `GET /auth/sessions` | the caller's open sessions, newest first, the current one marked |
//! | `DELETE /auth/sessions/{id}` | ends one of the caller's sessions (404 for any other id) |
//! | `POST /auth/ws-ticket` | a single-use ticket opening one socket within 30 s |
//! | `GET /auth/params?username=` | the account's key-derivation parameters (a stable decoy for unknown names) |
//! | `POST /auth/password` | replaces the password hash, `kdf` and key backup; ends every session of the user |
//! | `DELETE /auth/account` | erases the account; the name stays reserved |
//! | `GET /users?q=`, `GET /users/{name}/public-key` | user lookup |
//! | `GET /conversations?limit=&before=` | the caller's conversation list: last message and unread count per user, newest first |
//! | `GET /friends/status`, `POST /friends/{request,accept,reject,remove}` | friends |
//! | `GET /client-config` | STUN/TURN servers for calls |
//! | `GET /ws?ticket=` or `GET /ws?token=` | the WebSocket; the `Origin` is checked first (403) |
//!
//! With the feature `openapi`, `openapi()` is the OpenAPI 3.1 document of these routes, built
//! from the same table as the router (the repository publishes it as `docs/openapi.json`).
//!
//! Errors are `{error, message}` JSON with the protocol's status codes, and request bodies are
//! limited to [`nexchat_core::Limits::max_body_bytes`]. [`serve`] runs the app with deadlines
//! on request heads, which `axum::serve` lacks; [`not_found`] is a fallback that answers unknown
//! paths with the protocol's JSON error.
//!
//! # In an app with its own state
//! [`router`] returns a `Router<S>` for any state `S`, so it merges (or nests) into an app's
//! `Router<AppState>`. The extractors [`AuthUser`], [`AuthCaller`] and [`Client`] work in the
//! app's own handlers whenever the app's state holds the chat, `Chat: FromRef<AppState>`:
//!
//! ```
//! use axum::extract::{FromRef, State};
//! use axum::{Json, Router, routing::get};
//! use nexchat_axum::{AuthUser, Client};
//! use nexchat_core::Chat;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     chat: Chat,
//!     greeting: &'static str,
//! }
//!
//! impl FromRef<AppState> for Chat {
//!     fn from_ref(state: &AppState) -> Chat {
//!         state.chat.clone()
//!     }
//! }
//!
//! // The caller's nexchat login, in the app's own handler.
//! async fn hello(
//!     State(app): State<AppState>,
//!     AuthUser(user): AuthUser,
//!     Client(client): Client,
//! ) -> Json<String> {
//!     let from = client.address.map(|ip| ip.to_string()).unwrap_or_default();
//!     Json(format!("{} {} (from {from})", app.greeting, user.username))
//! }
//!
//! fn app(chat: Chat) -> Router {
//!     Router::new()
//!         .route("/hello", get(hello))
//!         .merge(nexchat_axum::router(chat.clone()))
//!         .with_state(AppState { chat, greeting: "hello" })
//! }
//! ```
//!
//! `examples/examples/host_state.rs` in the repository is a whole app built this way.
//!
//! # Client addresses
//! The login and registration limits count per client address: the socket's peer, which axum
//! knows only when the app is served by [`serve`] (as above) or with
//! `into_make_service_with_connect_info::<SocketAddr>()`, or the client a trusted proxy names in `X-Forwarded-For`
//! ([`nexchat_core::Config::trusted_proxies`]). Served without connect info, nexchat knows no
//! addresses: only the per-name login limit applies, and a warning is logged once.
//!
//! # Origins and CORS
//! A WebSocket may be opened from the server's own origin, from the origins in
//! [`nexchat_core::Config::allowed_origins`], or by a client that sends no `Origin` (not a
//! browser); any other origin is refused with 403. The REST routes send no CORS headers, so a
//! page on another origin cannot read their answers. An app whose web client lives on another
//! origin adds tower-http's `CorsLayer` (cargo feature `cors` of `tower-http`) around the
//! router, allowing exactly that origin, and lists it in `allowed_origins` too:
//!
//! ```ignore
//! use axum::http::{HeaderValue, Method, header};
//! use tower_http::cors::CorsLayer;
//!
//! let cors = CorsLayer::new()
//!     .allow_origin(HeaderValue::from_static("https://app.example.org"))
//!     .allow_methods([Method::GET, Method::POST, Method::DELETE])
//!     .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
//! let app = Router::new().nest("/chat", nexchat_axum::router(chat).layer(cors));
//! ```
//!
//! Tokens travel in the `Authorization` header, not in cookies, so no credentials mode is
//! needed (and none should be allowed).
//!
//! # Other servers
//! This crate is the adapter for axum. One for another server drives the chat's sockets
//! through [`nexchat_core::transport`], as this crate's `/ws` route does.

#![warn(
    missing_debug_implementations,
    unreachable_pub,
    clippy::missing_errors_doc
)]

mod attachments;
mod auth;
mod client;
#[cfg(feature = "client")]
pub mod demo_client;
mod error;
mod groups;
#[cfg(feature = "openapi")]
mod openapi;
mod origin;
mod rest;
mod routes;
mod serve;
mod sessions;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use nexchat_core::Chat;
use tower_http::timeout::TimeoutLayer;

use routes::Mounted;

pub use auth::{AuthCaller, AuthUser};
pub use client::Client;
pub use error::{ApiError, not_found, status_of};
#[cfg(feature = "openapi")]
pub use openapi::openapi;
pub use serve::{ServeConfig, serve};

/// nexchat's REST and WebSocket routes, ready to nest or merge into an app's router, whatever
/// its state type `S` (the routes carry the chat themselves).
///
/// The routes of nexchat's own accounts (`/auth/register`, `/auth/login`, `/auth/params`,
/// `/auth/password`, `/auth/account`, `/auth/logout`, `/auth/sessions`) are mounted only when
/// the chat has them ([`Chat::has_own_accounts`]): not with an app's own
/// [`nexchat_core::Identity`], unless the app kept them with
/// [`nexchat_core::ChatBuilder::own_accounts`].
pub fn router<S>(chat: Chat) -> Router<S> {
    let config = chat.config();
    let routes = |transfers: bool| {
        routes::ROUTES
            .iter()
            .filter(|route| route.mounted.on(&chat))
            .filter(|route| (route.mounted == Mounted::Attachments) == transfers)
            .fold(Router::new(), |router, route| {
                router.route(route.path, (route.handler)())
            })
            .method_not_allowed_fallback(error::method_not_allowed)
    };
    // A whole request, body included, within a deadline: a client dribbling its body a byte
    // at a time cannot hold a connection (or a graceful shutdown) for long. Upgraded sockets
    // are not affected: the upgrade itself answers at once.
    let requests = routes(false)
        .layer(DefaultBodyLimit::max(config.limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ));
    // Attachments stream up to their own size limit, which the chat enforces as they come.
    let transfers =
        routes(true)
            .layer(DefaultBodyLimit::disable())
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.transfer_timeout,
            ));
    requests.merge(transfers).with_state(chat)
}
