//! The nexchat example server: the chat on embedded SQLite (or MongoDB), with the browser demo
//! client served at `/`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use nexchat_core::{Chat, Config, metrics};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

// Every message is a few short-lived buffers (frame text, decoded event, encoded pushes) handed
// between threads; mimalloc's per-thread free lists take that churn at a fraction of the cost
// of the system allocator (see benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// nexchat example server: end-to-end-encrypted chat with the browser demo client at /.
///
/// Limits (protocol defaults): one WebSocket message 64 KiB (over 1 MiB closes the socket),
/// ciphertext 48 KiB of base64, messages per user: bursts of 60 then 1 per second, typing
/// events 5 per second, 10 sockets per user, REST bodies 64 KiB, failed logins per 15 minutes:
/// 10 per name from one address, 100 per name, 100 per address; 10 registrations per hour per
/// address; tokens valid 10 hours.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// SQLite database file (created when missing).
    #[arg(long, default_value = "./nexchat.db")]
    sqlite: PathBuf,

    /// MongoDB connection string; when given, MongoDB is used instead of SQLite (builds with
    /// the `mongodb` feature only; any other build refuses to start with it) [default: none,
    /// SQLite].
    #[arg(long, env = "NEXCHAT_MONGODB_URI", hide_env_values = true)]
    mongodb: Option<String>,

    /// MongoDB database name [default: the database in the --mongodb URI's path, else nexchat].
    #[arg(long, requires = "mongodb")]
    mongodb_database: Option<String>,

    /// Secret for signing tokens (HS256), at least 32 bytes; required with --nats (every node
    /// of a chat needs the same). When absent, one is generated and kept in a file beside the
    /// SQLite database (`<db>.secret`), so tokens survive a restart [default: generated].
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
    /// Calls between browsers on different NATs need a TURN server [default: none].
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

    /// Failed logins for one username from one client address per 15 minutes (0: no limit).
    #[arg(long, default_value_t = 10)]
    login_failures_per_name_address: u32,

    /// Failed logins for one username from all addresses per 15 minutes (0: no limit).
    #[arg(long, default_value_t = 100)]
    login_failures_per_name: u32,

    /// Failed logins from one client address, any names, per 15 minutes (0: no limit).
    #[arg(long, default_value_t = 100)]
    login_failures_per_address: u32,

    /// Successful registrations from one client address per hour (0: no limit). Load tools and
    /// test suites that register many users from one address raise it.
    #[arg(long, default_value_t = 10)]
    registrations_per_hour: u32,

    /// Address of a reverse proxy in front of this server (repeatable): its X-Forwarded-For
    /// names the client, and its X-Forwarded-Proto: https makes the server's origin https
    /// [default: none, the socket's peer is the client].
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<IpAddr>,

    /// An origin besides the server's own whose pages may open WebSockets (repeatable), as
    /// browsers send it: scheme, host and port, e.g. https://chat.example.org [default: none,
    /// the server's own origin only].
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,

    /// NATS server(s) linking this node to the others sharing its (MongoDB) store, e.g.
    /// nats://127.0.0.1:4222: pushes, presence and session ends then reach every node (builds
    /// with the `nats` feature only; any other build refuses to start with it) [default: none,
    /// a node alone].
    // Declared in every build, so that a URL given to a build without the bus is refused
    // rather than ignored (a node that silently keeps its pushes to itself).
    #[arg(long, env = "NEXCHAT_NATS_URL")]
    nats: Option<String>,

    /// First token of the bus subjects (with --nats): nodes of one chat share it, chats sharing
    /// a NATS server need different ones.
    #[cfg(feature = "nats")]
    #[arg(long, default_value = "nexchat")]
    bus_prefix: String,

    /// Milliseconds between a node's heartbeats on the bus (with --nats).
    #[cfg(feature = "nats")]
    #[arg(long, default_value_t = 1000)]
    bus_heartbeat_ms: u64,

    /// Milliseconds without a heartbeat after which a node counts as gone and its users as
    /// offline (with --nats).
    #[cfg(feature = "nats")]
    #[arg(long, default_value_t = 5000)]
    bus_node_timeout_ms: u64,

    /// Address to serve Prometheus metrics on, at GET /metrics (sockets, messages, pushes,
    /// store latency, the bus, the password-hashing line). A listener of its own, so that it
    /// can stay private: bind it to loopback or an internal interface, never to the address
    /// clients reach [default: none, no metrics].
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,

    /// Directory of the attachments' (encrypted) bytes with SQLite [default: beside the
    /// database, `<db>.blobs`]. With MongoDB they are kept in the database.
    #[arg(long)]
    blobs: Option<PathBuf>,

    /// Largest attachment in MiB.
    #[arg(long, default_value_t = 25)]
    max_attachment_mib: u64,

    /// MiB one user's attachments may take together.
    #[arg(long, default_value_t = 1024)]
    attachment_quota_mib: u64,

    /// Seconds an upload that no message names is kept before it is deleted.
    #[arg(long, default_value_t = 86_400)]
    attachment_grace_secs: u64,

    /// Directory of the browser client served at / (by default the demo client's files in
    /// this tree, the folder nexchat-axum embeds).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../nexchat-axum/client"))]
    client_dir: PathBuf,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours for a terminal only: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    if let Err(err) = run(args).await {
        eprintln!("Error: {err}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    check_storage_flags(&args)?;
    // The recorder is installed before the chat exists, so that nothing it records is lost.
    let metrics_server = match args.metrics_addr {
        Some(addr) => Some(metrics_listener(addr).await?),
        None => None,
    };
    // Listening comes first: a busy port stops the server before it creates any file.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| {
            format!(
                "cannot listen on {}: {err} (is another server running there? choose another \
                 address with --addr)",
                args.addr
            )
        })?;
    let secret = match &args.jwt_secret {
        Some(secret) => secret.clone(),
        None => persistent_secret(&args.sqlite)?,
    };
    let mut config = Config::new(secret).map_err(|err| {
        format!("{err}: give a longer --jwt-secret or NEXCHAT_JWT_SECRET, or leave it out to have one generated")
    })?;
    config.token_ttl = Duration::from_secs(args.token_ttl_secs);
    config.bcrypt_cost = args.bcrypt_cost;
    config.ring_timeout = Duration::from_secs(args.ring_timeout_secs);
    config.ice_servers = args.ice_servers.clone();
    config.write_timeout = Duration::from_secs(args.write_timeout_secs);
    config.attachment_grace = Duration::from_secs(args.attachment_grace_secs);
    let limits = &mut config.limits;
    limits.max_attachment_bytes = args.max_attachment_mib.saturating_mul(1 << 20);
    limits.attachment_quota_bytes = args.attachment_quota_mib.saturating_mul(1 << 20);
    limits.message_burst = args.rate_burst;
    limits.messages_per_sec = args.rate_per_sec;
    limits.sockets_per_user = args.sockets_per_user;
    limits.login_failures_per_name_address = args.login_failures_per_name_address;
    limits.login_failures_per_name = args.login_failures_per_name;
    limits.login_failures_per_address = args.login_failures_per_address;
    limits.registrations_per_hour = args.registrations_per_hour;
    config.trusted_proxies = args.trusted_proxies.clone();
    config.allowed_origins = args.allowed_origins.clone();
    #[cfg(feature = "nats")]
    if let Some(url) = &args.nats {
        let mut bus = nexchat_core::BusConfig::new(url.clone());
        bus.subject_prefix = args.bus_prefix.clone();
        bus.heartbeat_interval = Duration::from_millis(args.bus_heartbeat_ms);
        bus.node_timeout = Duration::from_millis(args.bus_node_timeout_ms);
        config.bus = Some(bus);
    }

    let chat = build_chat(&args, config).await?;
    let node = chat.node_id().to_owned();
    tracing::info!(node = %node, "node started");
    if let Some((listener, handle)) = metrics_server {
        println!(
            "nexchat metrics at http://{}/metrics",
            listener.local_addr()?
        );
        tokio::spawn(serve_metrics(listener, handle));
    }
    let openapi = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Bytes::from(nexchat_axum::openapi().to_json()?),
    );
    let app = Router::new()
        .merge(nexchat_axum::router(chat.clone()))
        .merge(probes(chat.clone()))
        // The OpenAPI document of nexchat's REST routes, made once.
        .route("/openapi.json", get(move || async move { openapi }))
        .fallback_service(static_files(&args.client_dir))
        .layer(
            // Spans carry the path only: the query of /ws holds the token. The node id tells
            // the nodes' lines apart where their logs are gathered in one place.
            TraceLayer::new_for_http().make_span_with(move |req: &Request<_>| {
                tracing::info_span!(
                    "http",
                    node = %node,
                    method = %req.method(),
                    path = %req.uri().path()
                )
            }),
        );
    // The demo client's headers (its Content-Security-Policy above all) on every answer.
    let app = nexchat_axum::demo_client::security_headers(app);

    if !args.client_dir.join("index.html").exists() {
        tracing::warn!(dir = %args.client_dir.display(), "no browser client there; serving the API only");
    }
    let addr = listener.local_addr()?;
    println!("nexchat is serving http://{addr}/");
    // nexchat_axum::serve gives handlers the client's address (for the login and registration
    // limits) and closes connections that send no complete request head in time.
    let serve_config = nexchat_axum::ServeConfig::default()
        .header_read_timeout(Duration::from_secs(args.header_read_timeout_secs));
    nexchat_axum::serve(listener, app, serve_config, shutdown_signal(chat)).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Installs the Prometheus recorder and binds the metrics listener (before anything else is
/// created, so that a busy port stops the server first).
async fn metrics_listener(
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, PrometheusHandle), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr} for metrics: {err}"))?;
    // Buckets from 100 µs (a cached SQLite read) to 10 s (a store or bus in trouble).
    let seconds = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        10.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(metrics::STORE_SECONDS.into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full(metrics::BUS_LAG_SECONDS.into()), &seconds)?
        .install_recorder()?;
    metrics::describe();
    Ok((listener, handle))
}

/// Serves `GET /metrics` in Prometheus's text format, and folds the histograms' samples into
/// their buckets every few seconds, so that they take no more memory between scrapes.
async fn serve_metrics(listener: tokio::net::TcpListener, handle: PrometheusHandle) {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    );
    let served = nexchat_axum::serve(
        listener,
        app,
        nexchat_axum::ServeConfig::default(),
        std::future::pending(),
    )
    .await;
    if let Err(err) = served {
        tracing::error!(%err, "metrics listener failed");
    }
}

/// Refuses a MongoDB or NATS setting that this build would otherwise ignore.
fn check_storage_flags(args: &Args) -> Result<(), String> {
    let given = args.mongodb.is_some() || args.mongodb_database.is_some();
    if given && !cfg!(feature = "mongodb") {
        return Err(
            "a MongoDB connection string was given (--mongodb or NEXCHAT_MONGODB_URI), but this \
             build has no MongoDB support: build with `--features mongodb`, or leave it out to \
             use SQLite"
                .into(),
        );
    }
    if args.nats.is_some() && !cfg!(feature = "nats") {
        return Err(
            "a NATS server was given (--nats or NEXCHAT_NATS_URL), but this build has no bus: \
             build with `--features nats`, or leave it out to run a node alone"
                .into(),
        );
    }
    if args.nats.is_some() && args.jwt_secret.is_none() {
        // A generated secret is this machine's own: another node's tokens would be refused.
        return Err(
            "the nodes of one chat (--nats) must share one token secret: give each the same \
             --jwt-secret or NEXCHAT_JWT_SECRET (at least 32 bytes)"
                .into(),
        );
    }
    Ok(())
}

#[cfg(feature = "mongodb")]
async fn build_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    if let Some(uri) = &args.mongodb {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let database = match &args.mongodb_database {
            Some(name) => client.database(name),
            None => client
                .default_database()
                .unwrap_or_else(|| client.database("nexchat")),
        };
        tracing::info!(database = %database.name(), "storage: MongoDB");
        let blobs = nexchat_store::GridFsBlobStore::new(database.clone()).await?;
        let store = nexchat_store::MongoStore::new(database).await?;
        return Ok(Chat::builder(config, store).blobs(blobs).build().await?);
    }
    sqlite_chat(args, config).await
}

#[cfg(not(feature = "mongodb"))]
async fn build_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    sqlite_chat(args, config).await
}

async fn sqlite_chat(args: &Args, config: Config) -> Result<Chat, Box<dyn std::error::Error>> {
    let store = nexchat_store::SqliteStore::open(&args.sqlite)?;
    let blobs_dir = args
        .blobs
        .clone()
        .unwrap_or_else(|| beside(&args.sqlite, ".blobs"));
    let blobs = nexchat_store::FileBlobStore::open(&blobs_dir)
        .await
        .map_err(|err| format!("cannot use {} for attachments: {err}", blobs_dir.display()))?;
    tracing::info!(path = %args.sqlite.display(), blobs = %blobs_dir.display(), "storage: SQLite");
    Ok(Chat::builder(config, store).blobs(blobs).build().await?)
}

/// `/healthz`: 204 while the process serves. `/readyz`: 204 when the store answers and the bus
/// (with `--nats`) is connected, else 503 saying which is not: a load balancer sends no new
/// clients to a node that cannot serve them.
fn probes(chat: Chat) -> Router {
    Router::new()
        .route("/healthz", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/readyz",
            get(move || {
                let chat = chat.clone();
                async move {
                    match chat.ready().await {
                        Ok(()) => StatusCode::NO_CONTENT.into_response(),
                        Err(err) => {
                            let detail = match err {
                                nexchat_core::ChatError::Internal(detail) => detail,
                                other => other.to_string(),
                            };
                            tracing::warn!(%detail, "not ready");
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                axum::Json(serde_json::json!({
                                    "error": "internal", "message": detail
                                })),
                            )
                                .into_response()
                        }
                    }
                }
            }),
        )
}

/// The browser client's files. `no-cache`: the browser may keep them but must ask first
/// (`ServeDir` answers `If-Modified-Since` with 304), so an upgraded server never runs with
/// stale scripts. HTML says its charset, whatever the MIME table does.
fn static_files(dir: &Path) -> Router {
    Router::new()
        // Whatever is neither an API route nor a file answers the protocol's JSON error.
        .fallback_service(
            ServeDir::new(dir)
                .call_fallback_on_method_not_allowed(true)
                .fallback(axum::handler::HandlerWithoutStateExt::into_service(
                    nexchat_axum::not_found,
                )),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(axum::middleware::map_response(html_charset))
}

async fn html_charset(mut response: axum::response::Response) -> axum::response::Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    response
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
    let path = beside(db, ".secret");
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

/// The path of the database file with `suffix` added: files the server keeps beside it.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
