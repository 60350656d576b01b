//! nexchat behind an app's own login: the app keeps its users and sessions, and a custom
//! [`Identity`] tells nexchat which app user a bearer token belongs to. Nobody registers with
//! nexchat or gives it a password; it provisions a chat account the first time it sees a name.
//!
//! ```text
//! cargo run -p nexchat-examples --example custom_identity
//! curl -s localhost:8081/login -H 'content-type: application/json' -d '{"username":"alice"}'
//! # {"token":"…"}: use it as `Authorization: Bearer …` on /chat/... and as
//! # ws://localhost:8081/chat/ws?token=…
//! ```

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use nexchat_core::{Chat, ChatError, ChatResult, Config, Identity, Principal};
use serde_json::{Value, json};

/// The app's session table: session token → user name. A real app keeps this in its own
/// database or session store.
#[derive(Clone, Default)]
struct Sessions(Arc<RwLock<HashMap<String, String>>>);

impl Sessions {
    /// Opens a session for `username` and returns its token.
    fn open(&self, username: &str) -> String {
        let bytes: [u8; 16] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), username.to_owned());
        token
    }
}

/// nexchat asks the app who a token belongs to.
#[async_trait]
impl Identity for Sessions {
    async fn identify(&self, token: &str) -> ChatResult<Principal> {
        let sessions = self.0.read().unwrap_or_else(|e| e.into_inner());
        let username = sessions.get(token).ok_or(ChatError::Unauthorized)?;
        Ok(Principal {
            username: username.clone(),
            // The app's sessions do not expire here; give a time (ms) to have nexchat close
            // sockets when they do.
            expires_at: None,
        })
    }
}

/// The app's own login. A real app checks a password or an SSO assertion first.
async fn login(
    State(sessions): State<Sessions>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, &'static str)> {
    let username = body["username"]
        .as_str()
        .ok_or((StatusCode::BAD_REQUEST, "username missing"))?;
    Ok(Json(json!({"token": sessions.open(username)})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions = Sessions::default();
    // The token secret signs nexchat's own tokens, which this app does not use.
    let secret: [u8; 32] = rand::random();
    let store = nexchat_store::SqliteStore::open("custom_identity.db")?;
    let chat = Chat::builder(Config::new(secret.to_vec()), store)
        .identity(sessions.clone())
        .build()
        .await?;

    let app = Router::new()
        .route("/", get(|| async { "my app, with chat under /chat" }))
        .route("/login", post(login))
        .with_state(sessions)
        .nest("/chat", nexchat_axum::router(chat));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("serving http://{}/", listener.local_addr()?);
    // (With an identity of the app's own, nexchat has no sessions: its logout and session-list
    // routes answer 403, while `POST /chat/auth/ws-ticket` gives single-use socket tickets.)
    let config = nexchat_axum::ServeConfig::default();
    nexchat_axum::serve(listener, app, config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
