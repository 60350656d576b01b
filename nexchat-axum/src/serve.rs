//! [`serve`]: runs an app's router over HTTP/1.1 with the deadlines a server that strangers can
//! reach needs, which `axum::serve` does not set.
//!
//! `axum::serve` gives hyper no timer, so a connection that sends nothing, or half a request
//! head, is held for as long as the peer likes: a few thousand such connections (slowloris)
//! exhaust file descriptors. [`serve`] turns on hyper's own header read timeout, passes each
//! request the peer's address ([`ConnectInfo`]), sets `TCP_NODELAY` (chat frames are small and
//! latency matters) and shuts down gracefully.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Settings of [`serve`].
///
/// ```
/// let config = nexchat_axum::ServeConfig::default();
/// assert_eq!(config.header_read_timeout.as_secs(), 10);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long a connection may take to deliver a complete request head, counted from when
    /// it opened or when its previous answer was sent (10 s); past it hyper closes the
    /// connection. hyper times both with this one deadline, so it is also how long an idle
    /// keep-alive connection is kept. Upgraded connections (WebSockets) are not affected: the
    /// chat pings them and bounds every write instead.
    pub header_read_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl ServeConfig {
    /// These settings with another header read timeout.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the requests in progress. Each request carries the peer's address as
/// [`ConnectInfo<SocketAddr>`](ConnectInfo).
///
/// ```no_run
/// # async fn demo(chat: nexchat_core::Chat) -> std::io::Result<()> {
/// let app = axum::Router::new().merge(nexchat_axum::router(chat));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// nexchat_axum::serve(listener, app, nexchat_axum::ServeConfig::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
///
/// # Errors
/// Only if the listener's address cannot be read; failed accepts are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection task holds a clone of `open_rx`; `open_tx.closed()` waits for them all.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors, most likely: give connections time to close.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "TCP_NODELAY not set");
        }
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        let header_read_timeout = config.header_read_timeout;
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_end(served),
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(());
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(err) = served {
        tracing::debug!(%err, "connection ended");
    }
}
