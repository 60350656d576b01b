//! REST setup against a nexchat server: register, log in, pair as friends, make a group.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, stream};
use serde_json::json;

use super::{Endpoint, Errors};
use crate::wire::{fake_encrypted_private_key, fake_public_key};

/// A REST client for loopback (no proxy from the environment, generous timeouts).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap_or_default()
}

/// Registers and logs in every user of `names` (`concurrency` at a time); returns each one's token,
/// `None` where setup failed (the failure is counted in `errors`).
///
/// A name that is already taken (409) is logged in anyway, so a fixed `--user-prefix` can reuse
/// the users of an earlier run with the same password.
pub async fn register_and_login(
    http: &reqwest::Client,
    ep: &Endpoint,
    names: &[String],
    password: &str,
    concurrency: usize,
    errors: &Arc<Errors>,
) -> Vec<Option<String>> {
    stream::iter(names.iter().cloned())
        .map(|name| {
            let (http, base, errors) = (http.clone(), ep.base.clone(), Arc::clone(errors));
            let password = password.to_owned();
            async move {
                let body = json!({
                    "username": name,
                    "password": password,
                    "publicKey": fake_public_key(),
                    "encryptedPrivateKey": fake_encrypted_private_key(),
                });
                match http
                    .post(format!("{base}/auth/register"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 || r.status().as_u16() == 409 => {
                        if r.status().as_u16() == 409 {
                            errors.add("setup:register 409 (name taken, logging in)");
                        }
                    }
                    Ok(r) => {
                        errors.add(format!("setup:register {}", r.status().as_u16()));
                        return None;
                    }
                    Err(e) => {
                        errors.add(format!("setup:register {}", req_kind(&e)));
                        return None;
                    }
                }
                let login = json!({"username": name, "password": password});
                let resp = match http
                    .post(format!("{base}/auth/login"))
                    .json(&login)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => r,
                    Ok(r) => {
                        errors.add(format!("setup:login {}", r.status().as_u16()));
                        return None;
                    }
                    Err(e) => {
                        errors.add(format!("setup:login {}", req_kind(&e)));
                        return None;
                    }
                };
                match resp.json::<serde_json::Value>().await {
                    Ok(v) => match v.get("token").and_then(|t| t.as_str()) {
                        Some(t) => Some(t.to_owned()),
                        None => {
                            errors.add("setup:login answer without token");
                            None
                        }
                    },
                    Err(_) => {
                        errors.add("setup:login unreadable answer");
                        None
                    }
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Makes each pair `(a, b)` friends: `a` asks (`/friends/request`), `b` accepts
/// (`/friends/accept`). Returns, per pair, whether they are friends now.
pub async fn befriend(
    http: &reqwest::Client,
    ep: &Endpoint,
    pairs: Vec<((String, String), (String, String))>,
    concurrency: usize,
    errors: &Arc<Errors>,
) -> Vec<bool> {
    stream::iter(pairs)
        .map(|((a, a_token), (b, b_token))| {
            let (http, base, errors) = (http.clone(), ep.base.clone(), Arc::clone(errors));
            async move {
                let asked = post(
                    &http,
                    &format!("{base}/friends/request"),
                    &a_token,
                    json!({"receiver": b}),
                )
                .await;
                match asked {
                    Ok(v) if v.get("status").and_then(|s| s.as_str()) == Some("accepted") => {
                        return true;
                    }
                    Ok(_) => {}
                    Err(kind) => {
                        errors.add(format!("setup:friends/request {kind}"));
                        return false;
                    }
                }
                match post(
                    &http,
                    &format!("{base}/friends/accept"),
                    &b_token,
                    json!({"sender": a}),
                )
                .await
                {
                    Ok(_) => true,
                    Err(kind) => {
                        errors.add(format!("setup:friends/accept {kind}"));
                        false
                    }
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Creates a group of the caller (`token`, who becomes its admin) and `members` (each a friend
/// of the caller) with one `POST /groups`; returns the group's id.
pub async fn create_group(
    http: &reqwest::Client,
    ep: &Endpoint,
    token: &str,
    members: &[String],
    errors: &Arc<Errors>,
) -> Result<String, String> {
    let answer = post(
        http,
        &format!("{}/groups", ep.base),
        token,
        json!({ "members": members }),
    )
    .await
    .inspect_err(|kind| errors.add(format!("setup:groups {kind}")))?;
    match answer.get("id").and_then(|v| v.as_str()) {
        Some(id) => Ok(id.to_owned()),
        None => {
            errors.add("setup:groups answer without id");
            Err("POST /groups answered without an id".to_owned())
        }
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| req_kind(&e))?;
    let status = r.status();
    if !status.is_success() {
        let code = r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned));
        return Err(format!("{} {}", status.as_u16(), code.unwrap_or_default())
            .trim_end()
            .to_owned());
    }
    r.json().await.map_err(|_| "unreadable answer".to_owned())
}

/// A short kind for a request that failed before any answer (for [`Errors`]).
pub(super) fn req_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connect() {
        "connect failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}
