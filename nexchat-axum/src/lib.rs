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
//!     nexchat_axum::serve(listener, app, nexchat_axum::ServeConfig::default(), async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! The routes are those of the nexchat wire protocol: `POST /auth/register`,
//! `POST /auth/login`, `GET /auth/params?username=`, `POST /auth/password`,
//! `DELETE /auth/account`, `GET /users?q=`, `GET /users/{name}/public-key`, `GET /friends/status`,
//! `POST /friends/{request,accept,reject,remove}`, `GET /client-config` and `GET /ws?token=`.
//! Errors are `{error, message}` JSON with the protocol's status codes, and request bodies are
//! limited to [`nexchat_core::Limits::max_body_bytes`]. [`serve`] runs the app with deadlines
//! on request heads, which `axum::serve` lacks; [`not_found`] is a fallback that answers unknown
//! paths with the protocol's JSON error.

mod auth;
mod error;
mod rest;
mod serve;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use nexchat_core::Chat;

pub use auth::AuthUser;
pub use error::{ApiError, not_found, status_of};
pub use serve::{ServeConfig, serve};

/// nexchat's REST and WebSocket routes, ready to nest or merge into an app's router.
pub fn router<S>(chat: Chat) -> Router<S> {
    let body_limit = chat.config().limits.max_body_bytes;
    Router::new()
        .route("/auth/register", post(rest::register))
        .route("/auth/login", post(rest::login))
        .route("/auth/params", get(rest::auth_params))
        .route("/auth/password", post(rest::change_password))
        .route("/auth/account", delete(rest::delete_account))
        .route("/users", get(rest::search_users))
        .route("/users/{name}/public-key", get(rest::public_key))
        .route("/friends/status", get(rest::friends_status))
        .route("/friends/request", post(rest::friend_request))
        .route("/friends/accept", post(rest::friend_accept))
        .route("/friends/reject", post(rest::friend_reject))
        .route("/friends/remove", post(rest::friend_remove))
        .route("/client-config", get(rest::client_config))
        .route("/ws", get(ws::upgrade))
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(chat)
}
