//! The Origin check of the WebSocket upgrade: a browser page may open a socket only from the
//! server's own origin or one the app allows, so another site cannot use a visitor's session.
//! Non-browser clients send no `Origin` and are let through; `Origin: null` (sandboxed frames,
//! `file:` pages) is refused.

use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;
use nexchat_core::Chat;

use crate::client::own_scheme;

/// Whether the request's `Origin` may open a socket.
pub(crate) fn allowed(parts: &Parts, chat: &Chat) -> bool {
    let Some(origin) = parts.headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = normalize(origin);
    if origin == "null" {
        return false;
    }
    let own = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| normalize(&format!("{}://{host}", own_scheme(parts, chat))));
    own.as_deref() == Some(origin.as_str())
        || chat
            .config()
            .allowed_origins
            .iter()
            .any(|allowed| normalize(allowed) == origin)
}

/// Lowercased, without a trailing `/` or the scheme's default port.
fn normalize(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme) {
            if let Some(bare) = origin.strip_suffix(port) {
                return bare.to_owned();
            }
        }
    }
    origin
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn origins_compare_without_case_slash_or_default_port() {
        assert_eq!(normalize("HTTP://Example.org:80/"), "http://example.org");
        assert_eq!(normalize("https://example.org:443"), "https://example.org");
        assert_eq!(
            normalize("https://example.org:80"),
            "https://example.org:80"
        );
        assert_eq!(normalize("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
