//! A host app that mounts nexchat, and the browser demo client embedded in `nexchat-axum`, under
//! `/chat`, next to routes of its own: the embedding recipe of the README as a program (the
//! browser tests run the client through it).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use clap::Parser;
use nexchat_core::{Chat, Config};

/// A host app with nexchat and its demo client under /chat.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    addr: SocketAddr,

    /// SQLite database file (created when missing).
    #[arg(long, default_value = "./nexchat-mounted.db")]
    sqlite: PathBuf,

    /// Secret for signing tokens, at least 32 bytes.
    #[arg(long, env = "NEXCHAT_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,

    /// bcrypt cost for new passwords (4..=31). Lower it only for tests.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    bcrypt_cost: u32,

    /// Successful registrations from one client address per hour (0: no limit).
    #[arg(long, default_value_t = 10)]
    registrations_per_hour: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let mut config = Config::new(args.jwt_secret)?;
    config.bcrypt_cost = args.bcrypt_cost;
    config.limits.registrations_per_hour = args.registrations_per_hour;
    let store = nexchat_store::SqliteStore::open(&args.sqlite)?;
    let mut blobs_dir = args.sqlite.clone().into_os_string();
    blobs_dir.push(".blobs");
    let blobs = nexchat_store::FileBlobStore::open(blobs_dir).await?;
    let chat = Chat::builder(config, store).blobs(blobs).build().await?;

    let app = Router::new().route("/", get(|| async { "my app; the chat is at /chat/" }));
    let app = nexchat_axum::demo_client::nest(app, "/chat", nexchat_axum::router(chat.clone()))
        .fallback(nexchat_axum::not_found);

    println!("serving http://{}/chat/", listener.local_addr()?);
    let config = nexchat_axum::ServeConfig::default();
    nexchat_axum::serve(listener, app, config, async move {
        let _ = tokio::signal::ctrl_c().await;
        chat.shutdown();
    })
    .await?;
    Ok(())
}
