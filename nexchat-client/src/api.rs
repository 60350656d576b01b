//! REST requests (`docs/protocol.md`, "REST"), with the protocol's own body types.

use std::sync::Arc;

use parking_lot::RwLock;
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use nexchat_core::protocol::rest::ErrorBody;

use crate::error::{Error, Result};

/// A server's REST routes, with the token of one login once there is one.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    /// `http(s)://host[:port][/prefix]`, without a trailing slash.
    base: String,
    token: Arc<RwLock<Option<String>>>,
}

impl Api {
    /// # Errors
    /// [`Error::InvalidUrl`] for anything but an `http://` or `https://` URL.
    pub(crate) fn new(server: &str) -> Result<Self> {
        let base = server.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(str::is_empty) {
            return Err(Error::InvalidUrl(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("nexchat-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.to_owned(),
            token: Arc::default(),
        })
    }

    pub(crate) fn server(&self) -> &str {
        &self.base
    }

    pub(crate) fn token(&self) -> Option<String> {
        self.token.read().clone()
    }

    pub(crate) fn set_token(&self, token: String) {
        *self.token.write() = Some(token);
    }

    /// The socket's URL for a ticket: the server's URL with `ws(s)://` and `/ws?ticket=`.
    pub(crate) fn socket_url(&self, ticket: &str) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", self.base.trim_start_matches("http://"))
        };
        format!("{ws}/ws?ticket={ticket}")
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match self.token() {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read(self.request(Method::GET, path).send().await?).await
    }

    pub(crate) async fn get_query<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        read(self.request(Method::GET, path).query(query).send().await?).await
    }

    pub(crate) async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        read(self.request(Method::POST, path).json(body).send().await?).await
    }

    /// A request answered 204 (or any success) with no body to read.
    pub(crate) async fn send_empty(&self, method: Method, path: &str) -> Result<()> {
        check(self.request(method, path).send().await?).await?;
        Ok(())
    }

    pub(crate) async fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        let request = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body);
        read(request.send().await?).await
    }

    pub(crate) async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let response = check(self.request(Method::GET, path).send().await?).await?;
        Ok(response.bytes().await?.to_vec())
    }
}

async fn read<T: DeserializeOwned>(response: Response) -> Result<T> {
    Ok(check(response).await?.json().await?)
}

/// The response when it is a success, else the protocol's error it carries.
async fn check(response: Response) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (Some(body.error), body.message),
        Err(_) if text.is_empty() => (None, status.to_string()),
        Err(_) => (None, text),
    };
    Err(Error::Api {
        status: status.as_u16(),
        code,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_socket_urls_and_other_urls_are_refused() {
        let api = Api::new("http://127.0.0.1:3000/").expect("http URL");
        assert_eq!(api.socket_url("T"), "ws://127.0.0.1:3000/ws?ticket=T");
        let api = Api::new("https://chat.example.org/chat").expect("https URL");
        assert_eq!(
            api.socket_url("T"),
            "wss://chat.example.org/chat/ws?ticket=T"
        );
        for bad in ["ftp://x", "localhost:3000", "http://", ""] {
            assert!(matches!(Api::new(bad), Err(Error::InvalidUrl(_))), "{bad}");
        }
    }
}
