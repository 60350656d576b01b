//! Mount nexchat in any axum application.
//!
//! [`router`] returns an [`axum::Router`] with nexchat's REST routes and its WebSocket route
//! `/ws`. Nest it under a prefix or merge it at the root, next to the app's own routes:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use nexchat_core::{Chat, Config};
//! use nexchat_store::SqliteStore;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let store = SqliteStore::open("chat.db")?;
//!     let chat = Chat::builder(Config::new(std::env::var("CHAT_SECRET")?), store)
//!         .build()
//!         .await?;
//!     let app = Router::new()
//!         .route("/", get(|| async { "my app" }))
//!         .nest("/chat", nexchat_axum::router(chat));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! The routes are those of the nexchat wire protocol: `POST /auth/register`,
//! `POST /auth/login`, `GET /users?q=`, `GET /users/{name}/public-key`, `GET /friends/status`,
//! `POST /friends/{request,accept,reject,remove}`, `GET /client-config` and `GET /ws?token=`.
//! Errors are `{error, message}` JSON with the protocol's status codes, and request bodies are
//! limited to [`nexchat_core::Limits::max_body_bytes`].

mod auth;
mod client;
mod error;
mod origin;
mod rest;
mod sessions;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use nexchat_core::Chat;

pub use auth::{AuthCaller, AuthUser};
pub use client::Client;
pub use error::{ApiError, status_of};

/// nexchat's REST and WebSocket routes, ready to nest or merge into an app's router.
pub fn router<S>(chat: Chat) -> Router<S> {
    let body_limit = chat.config().limits.max_body_bytes;
    Router::new()
        .route("/auth/register", post(rest::register))
        .route("/auth/login", post(rest::login))
        .route("/auth/logout", post(sessions::logout))
        .route("/auth/sessions", get(sessions::list))
        .route("/auth/sessions/{id}", delete(sessions::revoke))
        .route("/auth/ws-ticket", post(sessions::ws_ticket))
        .route("/users", get(rest::search_users))
        .route("/users/{name}/public-key", get(rest::public_key))
        .route("/friends/status", get(rest::friends_status))
        .route("/friends/request", post(rest::friend_request))
        .route("/friends/accept", post(rest::friend_accept))
        .route("/friends/reject", post(rest::friend_reject))
        .route("/friends/remove", post(rest::friend_remove))
        .route("/client-config", get(rest::client_config))
        .route("/ws", get(ws::upgrade))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(chat)
}
