//! The published OpenAPI document (`docs/openapi.json`) against the router: every path and
//! method it names is answered by a route (never the fallback, never 405) with a status the
//! document lists, every other method on those paths is 405, and every route it marks as
//! needing the bearer token refuses a request without one.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn published() -> Value {
    serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json")
}

#[test]
fn the_published_document_is_the_one_the_library_makes() {
    let generated = serde_json::to_value(nexchat_axum::openapi()).expect("JSON");
    assert!(
        generated == published(),
        "docs/openapi.json is stale; regenerate it with\n  \
         NEXCHAT_WRITE_CONTRACTS=1 cargo test -p nexchat-axum --all-features --lib openapi"
    );
}

#[tokio::test]
async fn every_documented_route_is_answered_as_documented_and_no_other_method_is() {
    // A fallback no route gives: a request that reaches it is unmistakable.
    let server = TestServer::start_custom(
        |builder| builder,
        |router| router.fallback(|| async { StatusCode::IM_A_TEAPOT }),
    )
    .await;
    let user = server.register("walker").await;
    let document = published();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 19, "{paths:?}");
    for (path, item) in paths {
        let concrete = path
            .replace("{name}", &user.name)
            .replace("{id}", "not-a-session-of-the-caller");
        for method in METHODS {
            let operation = item.get(method.to_lowercase());
            // A fresh session per request: `POST /auth/logout` ends the one it is sent with.
            let token = server.login(&user.name, "correct horse").await.token;
            let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let (status, _, body) = server
                .raw(verb.clone(), &concrete, Some(&token), None)
                .await;
            assert_ne!(status, 418, "{method} {path} reached the fallback");
            let Some(operation) = operation else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is answered but not documented"
                );
                assert_eq!(
                    body["error"], "method_not_allowed",
                    "{method} {path}: {body}"
                );
                continue;
            };
            assert!(
                operation["responses"].get(status.to_string()).is_some(),
                "{method} {path} answered {status}, which the document does not list: {body}"
            );
            if status >= 400 {
                assert!(body["error"].is_string(), "{method} {path}: {body}");
            }
            let secured = operation.get("security").is_some();
            let (anonymous, _, body) = server.raw(verb, &concrete, None, None).await;
            assert_eq!(
                anonymous == 401,
                secured,
                "{method} {path} without a token answered {anonymous}: {body}"
            );
        }
    }
}
