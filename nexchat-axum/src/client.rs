//! Where a request comes from: the client's address (for throttling) and the scheme of the
//! server's own origin (for the WebSocket Origin check).
//!
//! The client's address is the socket's peer address, which axum knows only when the app is
//! served by [`crate::serve`] or with [`axum::Router::into_make_service_with_connect_info`]. When the peer is one of
//! [`nexchat_core::Config::trusted_proxies`], the client is the right-most address in
//! `X-Forwarded-For` that is not itself a trusted proxy (the addresses to its left were written
//! by the client and prove nothing). An app served without connect info has no client
//! addresses: the per-address limits then do not apply (a warning says so once), the per-name
//! ones still do.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use nexchat_core::Chat;
use nexchat_core::transport::ClientInfo;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The [`ClientInfo`] of a request: the client's address (see the crate docs, "Client
/// addresses") and its `User-Agent`. Usable with any state that holds the chat
/// (`Chat: FromRef<S>`); it never rejects.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    Chat: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let chat = Chat::from_ref(state);
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        Ok(Self(ClientInfo::new(
            client_address(parts, &chat),
            user_agent,
        )))
    }
}

/// The socket's peer address, if the app serves with connect info.
fn peer(parts: &Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical());
    if peer.is_none() {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "client addresses are unknown (serve with nexchat_axum::serve or \
                 into_make_service_with_connect_info::<SocketAddr>()): \
                 per-address login and registration limits do not apply"
            );
        }
    }
    peer
}

/// Whether the request came straight from a trusted proxy.
fn from_trusted_proxy(parts: &Parts, chat: &Chat) -> Option<IpAddr> {
    let peer = peer(parts)?;
    chat.config()
        .trusted_proxies
        .iter()
        .any(|p| p.to_canonical() == peer)
        .then_some(peer)
}

/// The client's address: the peer's, or what trusted proxies report.
pub(crate) fn client_address(parts: &Parts, chat: &Chat) -> Option<IpAddr> {
    let peer = peer(parts)?;
    let trusted = &chat.config().trusted_proxies;
    let is_trusted = |ip: IpAddr| trusted.iter().any(|p| p.to_canonical() == ip);
    if !is_trusted(peer) {
        return Some(peer);
    }
    Some(forwarded_client(&parts.headers, is_trusted).unwrap_or(peer))
}

/// The right-most `X-Forwarded-For` entry that is not a trusted proxy; `None` when there is
/// none or one is not an address.
fn forwarded_client(headers: &HeaderMap, is_trusted: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        entries.extend(value.to_str().ok()?.split(','));
    }
    for entry in entries.iter().rev() {
        let ip = parse_forwarded(entry.trim())?;
        if !is_trusted(ip) {
            return Some(ip);
        }
    }
    None
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The scheme of the server's own origin: `https` when a trusted proxy says the client came
/// over TLS (`X-Forwarded-Proto: https`), else `http`.
pub(crate) fn own_scheme(parts: &Parts, chat: &Chat) -> &'static str {
    let forwarded_https = from_trusted_proxy(parts, chat).is_some()
        && parts
            .headers
            .get(&X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    if forwarded_https { "https" } else { "http" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_read_from_the_right() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            &X_FORWARDED_FOR,
            "6.6.6.6, 203.0.113.7:4711, 10.0.0.1".parse().unwrap(),
        );
        let got = forwarded_client(&headers, |ip| ip == proxy);
        assert_eq!(got, Some("203.0.113.7".parse().unwrap()));
        headers.insert(&X_FORWARDED_FOR, "[2001:db8::1]:80".parse().unwrap());
        assert_eq!(
            forwarded_client(&headers, |ip| ip == proxy),
            Some("2001:db8::1".parse().unwrap())
        );
        headers.insert(&X_FORWARDED_FOR, "not an address".parse().unwrap());
        assert_eq!(forwarded_client(&headers, |ip| ip == proxy), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), |_| false), None);
    }
}
