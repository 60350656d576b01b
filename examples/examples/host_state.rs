//! nexchat inside an app that has its own state: the app's state struct holds the [`Chat`] next
//! to the app's own data, nexchat's router is merged into the app's `Router<AppState>`, and the
//! app's own handlers use [`AuthUser`] (who is calling, from nexchat's login) and [`Client`]
//! (from which address) exactly as nexchat's routes do. All the adapter needs is
//! `Chat: FromRef<AppState>`.
//!
//! Here the app keeps short notes per user, readable only by their author:
//!
//! ```text
//! cargo run -p nexchat-examples --example host_state
//! curl -s localhost:8082/auth/register -H 'content-type: application/json' \
//!   -d '{"username":"alice","password":"correct horse","publicKey":{},"encryptedPrivateKey":{}}'
//! curl -s localhost:8082/auth/login -H 'content-type: application/json' \
//!   -d '{"username":"alice","password":"correct horse"}'
//! # {"token":"…",…}
//! curl -s localhost:8082/notes -H 'authorization: Bearer …' -H 'content-type: application/json' \
//!   -d '{"text":"buy milk"}'
//! curl -s localhost:8082/notes -H 'authorization: Bearer …'
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nexchat_axum::{ApiError, AuthUser, Client};
use nexchat_core::{Chat, ChatError, Config};
use serde_json::{Value, json};

/// How many notes one user may keep; the app's memory stays bounded.
pub const MAX_NOTES: usize = 100;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// The app's own data: each user's notes, oldest first. A real app keeps them in its database.
#[derive(Clone, Default)]
pub struct Notes(Arc<Mutex<HashMap<String, Vec<String>>>>);

/// The app's state: its own data and the chat, side by side.
#[derive(Clone)]
struct AppState {
    chat: Chat,
    notes: Notes,
}

/// What nexchat's extractors and routes need from the app's state.
impl FromRef<AppState> for Chat {
    fn from_ref(state: &AppState) -> Chat {
        state.chat.clone()
    }
}

/// Who is calling and from where, both answered by nexchat's extractors.
async fn me(AuthUser(user): AuthUser, Client(client): Client) -> Json<Value> {
    Json(json!({
        "username": user.username,
        "address": client.address.map(|ip| ip.to_string()),
    }))
}

/// The caller's notes.
async fn list_notes(State(notes): State<Notes>, AuthUser(user): AuthUser) -> Json<Value> {
    let all = notes.0.lock().unwrap_or_else(|e| e.into_inner());
    let mine = all.get(&user.username).cloned().unwrap_or_default();
    Json(json!({ "notes": mine }))
}

/// Adds a note for the caller; refused (400, in nexchat's error shape) when it is empty, too
/// long, or one too many.
async fn add_note(
    State(notes): State<Notes>,
    AuthUser(user): AuthUser,
    Json(body): Json<Value>,
) -> Result<StatusCode, ApiError> {
    let text = body["text"]
        .as_str()
        .ok_or_else(|| ChatError::bad_request("text: a string is required"))?;
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(
            ChatError::bad_request(format!("text: 1 to {MAX_NOTE_CHARS} characters")).into(),
        );
    }
    let mut all = notes.0.lock().unwrap_or_else(|e| e.into_inner());
    let mine = all.entry(user.username).or_default();
    if mine.len() >= MAX_NOTES {
        return Err(ChatError::bad_request(format!("at most {MAX_NOTES} notes")).into());
    }
    mine.push(text.to_owned());
    Ok(StatusCode::CREATED)
}

/// The app: its own routes and nexchat's, merged at the root, over one state.
pub fn app(chat: Chat, notes: Notes) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/notes", get(list_notes).post(add_note))
        .merge(nexchat_axum::router(chat.clone()))
        .with_state(AppState { chat, notes })
}

/// The `Notes` half of the state, for the handlers that need only the app's data.
impl FromRef<AppState> for Notes {
    fn from_ref(state: &AppState) -> Notes {
        state.notes.clone()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("CHAT_SECRET").unwrap_or_else(|_| {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    let store = nexchat_store::SqliteStore::open("host_state.db")?;
    let chat = Chat::builder(Config::new(secret)?, store).build().await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
    println!("serving http://{}/", listener.local_addr()?);
    let app = app(chat.clone(), Notes::default());
    nexchat_axum::serve(listener, app, Default::default(), async move {
        let _ = tokio::signal::ctrl_c().await;
        chat.shutdown();
    })
    .await?;
    Ok(())
}
