//! nexchat behind an app's own login: the app keeps its users and sessions, and a custom
//! [`Identity`] tells nexchat which app user a bearer token belongs to. Nobody registers with
//! nexchat or gives it a password: nexchat's own account routes (`/chat/auth/register`,
//! `/chat/auth/login`, ...) are not mounted at all. The app provisions each user's chat account
//! when the user signs up, so friends can add them before their first visit.
//!
//! ```text
//! cargo run -p nexchat-examples --example custom_identity
//! curl -s localhost:8081/signup -H 'content-type: application/json' -d '{"username":"alice"}'
//! # {"token":"…"}: use it as `Authorization: Bearer …` on /chat/... and as
//! # ws://localhost:8081/chat/ws?token=… (or get a ticket from POST /chat/auth/ws-ticket)
//! ```
//!
//! (The browser demo client signs in with nexchat's own accounts, so it does not work with
//! this app; an app with its own login brings its own chat page.)

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use nexchat_core::{Chat, ChatError, Config, Identity, IdentityError, Principal};
use serde_json::{Value, json};

/// The app's session table: session token → user name. A real app keeps this in its own
/// database or session store.
#[derive(Clone, Default)]
pub struct Sessions(Arc<RwLock<HashMap<String, String>>>);

impl Sessions {
    /// Opens a session for `username` and returns its token.
    pub fn open(&self, username: &str) -> String {
        let bytes: [u8; 16] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), username.to_owned());
        token
    }

    /// Ends the session of `token`.
    pub fn close(&self, token: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }
}

/// nexchat asks the app who a token belongs to. The names must follow nexchat's username rule
/// (3 to 32 of `A-Z a-z 0-9 _ . -`): an app whose user ids are emails or UUIDs keeps a
/// stable handle per user and answers that (see the README, "Your own login").
impl Identity for Sessions {
    async fn identify(&self, token: &str) -> Result<Principal, IdentityError> {
        let sessions = self.0.read().unwrap_or_else(|e| e.into_inner());
        let username = sessions.get(token).ok_or(IdentityError::Unauthorized)?;
        // The app's sessions do not expire here; `.expiring_at(ms)` has nexchat close the
        // user's sockets when they do.
        Ok(Principal::new(username.clone()))
    }
}

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    chat: Chat,
}

/// The app's own sign-up: creates the user (here, only their chat account) and logs them in.
/// A real app checks a password or an SSO assertion and stores its user first.
async fn signup(
    State(app): State<AppState>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let username = body["username"]
        .as_str()
        .ok_or((StatusCode::BAD_REQUEST, "username missing".to_owned()))?;
    // The chat account exists from now on: friends can find and add the user at once.
    let username = app.chat.provision_user(username).await.map_err(|err| {
        let status = match err {
            ChatError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ChatError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, err.to_string())
    })?;
    Ok(Json(json!({"token": app.sessions.open(&username)})))
}

/// The app's own logout: the token is forgotten, and nexchat refuses it from then on.
async fn logout(State(app): State<AppState>, headers: HeaderMap) -> StatusCode {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = token {
        app.sessions.close(token);
    }
    StatusCode::NO_CONTENT
}

/// The app: its own routes, with nexchat under `/chat`.
pub fn app(chat: Chat, sessions: Sessions) -> Router {
    Router::new()
        .route("/", get(|| async { "my app, with chat under /chat" }))
        .route("/signup", post(signup))
        .route("/logout", post(logout))
        .with_state(AppState {
            sessions,
            chat: chat.clone(),
        })
        .nest("/chat", nexchat_axum::router(chat))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = Sessions::default();
    // The token secret signs nexchat's own tokens, which this app does not use.
    let secret: [u8; 32] = rand::random();
    let store = nexchat_store::SqliteStore::open("custom_identity.db")?;
    let chat = Chat::builder(Config::new(secret)?, store)
        .identity(sessions.clone())
        .build()
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("serving http://{}/", listener.local_addr()?);
    let app = app(chat.clone(), sessions);
    let config = nexchat_axum::ServeConfig::default();
    nexchat_axum::serve(listener, app, config, async move {
        let _ = tokio::signal::ctrl_c().await;
        // Sockets get 1001 "going away" instead of a dropped connection.
        chat.shutdown();
    })
    .await?;
    Ok(())
}
