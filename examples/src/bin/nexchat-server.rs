//! The nexchat example server: the chat on embedded SQLite (or MongoDB), with the browser demo
//! client served at `/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Request, header};
use clap::Parser;
use nexchat_core::{Chat, Config, Limits};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

// Every message is a few short-lived buffers (frame text, decoded event, encoded pushes) handed
// between threads; mimalloc's per-thread free lists take that churn at a fraction of the cost
// of the system allocator (see benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page may load scripts, styles and media from this server only, and talk to it alone.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// nexchat example server: end-to-end-encrypted chat with the browser demo client at /.
///
/// Limits (protocol defaults): one WebSocket message 64 KiB (over 1 MiB closes the socket),
/// ciphertext 48 KiB of base64, messages per user: bursts of 60 then 1 per second, typing
/// events 5 per second, 10 sockets per user, REST bodies 64 KiB, failed logins 10 per 15
/// minutes per name, tokens valid 10 hours.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// SQLite database file (created when missing).
    #[arg(long, default_value = "./nexchat.db")]
    sqlite: PathBuf,

    /// MongoDB connection string; when given, MongoDB is used instead of SQLite.
    #[cfg(feature = "mongodb")]
    #[arg(long, env = "NEXCHAT_MONGODB_URI")]
    mongodb: Option<String>,

    /// MongoDB database name (with --mongodb).
    #[cfg(feature = "mongodb")]
    #[arg(long, default_value = "nexchat")]
    mongodb_database: String,

    /// Secret for signing tokens (HS256). When absent, one is generated and kept in a file
    /// beside the SQLite database (`<db>.secret`), so tokens survive a restart.
    #[arg(long, env = "NEXCHAT_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,

    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 36_000)]
    token_ttl_secs: u64,

    /// bcrypt cost for new passwords (4..=31). Lower it only for tests and benchmarks.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    bcrypt_cost: u32,

    /// Burst of messages a user may send before the sustained rate applies.
    #[arg(long, default_value_t = 60)]
    rate_burst: u32,

    /// Sustained messages per second per user.
    #[arg(long, default_value_t = 1.0)]
    rate_per_sec: f64,

    /// Open sockets per user.
    #[arg(long, default_value_t = 10)]
    sockets_per_user: usize,

    /// Seconds a call may ring unanswered before it ends as missed.
    #[arg(long, default_value_t = 45)]
    ring_timeout_secs: u64,

    /// A STUN or TURN server for WebRTC calls (repeatable): a URL such as
    /// stun:stun.example.org:3478, or an RTCIceServer JSON object for a TURN server with
    /// credentials, e.g. '{"urls":"turn:turn.example.org","username":"u","credential":"c"}'.
    /// Calls between browsers on different NATs need a TURN server.
    #[arg(long = "ice-server", value_parser = parse_ice_server)]
    ice_servers: Vec<serde_json::Value>,

    /// Seconds a connection may take to send a complete request head (also how long an idle
    /// keep-alive connection is kept).
    #[arg(long, default_value_t = 10)]
    header_read_timeout_secs: u64,

    /// Seconds every write to a WebSocket may take; a peer that does not read within it is
    /// disconnected.
    #[arg(long, default_value_t = 10)]
    write_timeout_secs: u64,

    /// Directory of the browser client served at /.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../client"))]
    client_dir: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    let secret = match &args.jwt_secret {
        Some(secret) => secret.clone(),
        None => persistent_secret(&args.sqlite)?,
    };
    let mut config = Config::new(secret);
    config.token_ttl = Duration::from_secs(args.token_ttl_secs);
    config.bcrypt_cost = args.bcrypt_cost;
    config.ring_timeout = Duration::from_secs(args.ring_timeout_secs);
    config.ice_servers = args.ice_servers.clone();
    config.write_timeout = Duration::from_secs(args.write_timeout_secs);
    config.limits = Limits {
        message_burst: args.rate_burst,
        messages_per_sec: args.rate_per_sec,
        sockets_per_user: args.sockets_per_user,
        ..Limits::default()
    };

    let chat = build_chat(&args, config).await?;
    let app = Router::new()
        .merge(nexchat_axum::router(chat.clone()))
        .fallback_service(
            // Whatever is neither an API route nor a file answers the protocol's JSON error.
            ServeDir::new(&args.client_dir)
                .call_fallback_on_method_not_allowed(true)
                .fallback(axum::handler::HandlerWithoutStateExt::into_service(
                    nexchat_axum::not_found,
                )),
        )
        .layer(
            // Spans carry the path only: the query of /ws holds the token.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ));

    if !args.client_dir.join("index.html").exists() {
        tracing::warn!(dir = %args.client_dir.display(), "no browser client there; serving the API only");
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!("nexchat is serving http://{addr}/");
    let serve_config = nexchat_axum::ServeConfig::default()
        .header_read_timeout(Duration::from_secs(args.header_read_timeout_secs));
    nexchat_axum::serve(listener, app, serve_config, shutdown_signal(chat)).await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(feature = "mongodb")]
async fn build_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    if let Some(uri) = &args.mongodb {
        let store = nexchat_store::MongoStore::connect(uri, &args.mongodb_database).await?;
        tracing::info!(database = %args.mongodb_database, "storage: MongoDB");
        return Ok(Chat::builder(config, store).build().await?);
    }
    sqlite_chat(args, config).await
}

#[cfg(not(feature = "mongodb"))]
async fn build_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    sqlite_chat(args, config).await
}

async fn sqlite_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    let store = nexchat_store::SqliteStore::open(&args.sqlite)?;
    tracing::info!(path = %args.sqlite.display(), "storage: SQLite");
    Ok(Chat::builder(config, store).build().await?)
}

/// An `--ice-server` value: a bare URL, or an RTCIceServer object with `urls`.
fn parse_ice_server(value: &str) -> Result<serde_json::Value, String> {
    if !value.trim_start().starts_with('{') {
        return Ok(serde_json::json!({ "urls": value }));
    }
    let server: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("not a JSON object: {e}"))?;
    if server.get("urls").is_none() {
        return Err("an RTCIceServer object needs `urls`".into());
    }
    Ok(server)
}

/// Reads the token secret kept beside the database, or creates it (readable by the owner only).
fn persistent_secret(db: &Path) -> std::io::Result<String> {
    let mut name = db.as_os_str().to_owned();
    name.push(".secret");
    let path = PathBuf::from(name);
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => return Ok(secret.trim().to_owned()),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} holds a secret shorter than 32 characters",
                path.display()
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, secret.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a token secret");
    Ok(secret)
}

async fn shutdown_signal(chat: Chat) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: closing sockets");
    chat.shutdown();
}
