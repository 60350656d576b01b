//! The OpenAPI 3.1 document of nexchat's routes, built from the same table as the router.

use nexchat_core::protocol::rest::{
    AccountDeleteRequest, AttachmentStored, AttachmentUsage, AuthParams, ClientConfig,
    ConversationsResponse, CreateGroupRequest, ErrorBody, FriendAnswerBody, FriendRemoveBody,
    FriendRequestBody, FriendStatusBody, FriendsStatus, GroupDetailsBody, GroupMemberBody,
    GroupRoleBody, GroupSummary, GroupsResponse, LoginRequest, LoginResponse,
    PasswordChangeRequest, PublicKeyBody, ReceiptsResponse, RegisterRequest, RegisterResponse,
    SessionsResponse, TokenResponse, UserSearchResponse, WsTicketResponse,
};
use nexchat_core::protocol::{
    Group, GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField,
};
use utoipa::openapi::path::Paths;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::ROUTES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nexchat",
        description = "The REST routes of nexchat, an end-to-end-encrypted chat. Errors are \
            `{error, message}` JSON (`ErrorBody`) with the protocol's status codes; a path \
            nothing serves is 404 `not_found`, a method a path does not take 405 \
            `method_not_allowed`. Routes marked \"Only with nexchat's own accounts\" are not \
            mounted under an app's own login. The WebSocket's events are described by the JSON \
            Schemas in `docs/schema/`; the prose is `docs/protocol.md`.",
    ),
    components(schemas(
        AccountDeleteRequest,
        AttachmentStored,
        AttachmentUsage,
        AuthParams,
        ClientConfig,
        ConversationsResponse,
        CreateGroupRequest,
        ErrorBody,
        FriendAnswerBody,
        FriendRemoveBody,
        FriendRequestBody,
        FriendStatusBody,
        FriendsStatus,
        Group,
        GroupDetailsBody,
        GroupMember,
        GroupMemberBody,
        GroupMessage,
        GroupRole,
        GroupRoleBody,
        GroupSummary,
        GroupsResponse,
        LoginRequest,
        LoginResponse,
        MessageStatus,
        PasswordChangeRequest,
        PublicKeyBody,
        Receipt,
        ReceiptsResponse,
        RegisterRequest,
        RegisterResponse,
        SealedField,
        SessionsResponse,
        TokenResponse,
        UserSearchResponse,
        WsTicketResponse,
    )),
    modifiers(&Bearer),
)]
struct Document;

/// The `bearer` security scheme the authenticated routes name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The token of `POST /auth/login`, or whatever the app's own identity accepts.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The OpenAPI 3.1 document of every route [`crate::router`] can mount, with their request and
/// answer bodies, error bodies and bearer authentication. Paths are relative to where the app
/// mounts the router.
///
/// The repository publishes it as `docs/openapi.json`; the example server serves it at
/// `GET /openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = Document::openapi();
    document.paths = ROUTES
        .iter()
        .fold(Paths::builder(), |paths, route| (route.document)(paths))
        .build();
    document
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(openapi()).expect("the document is JSON")
    }

    #[test]
    fn published_document_is_the_generated_one() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let generated = openapi().to_pretty_json().expect("the document is JSON") + "\n";
        if std::env::var_os("NEXCHAT_WRITE_CONTRACTS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("write docs/openapi.json");
            return;
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "{} differs from the document the routes make; regenerate it with\n  \
             NEXCHAT_WRITE_CONTRACTS=1 cargo test -p nexchat-axum --all-features --lib openapi",
            path.display()
        );
    }

    /// The methods are checked from outside, against the router (`nexchat-axum/tests/openapi.rs`):
    /// every documented one is answered, every other is 405.
    #[test]
    fn document_names_exactly_the_paths_of_the_table() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        let mut documented = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            let operations = item.as_object().expect("a path item").len();
            documented.extend(std::iter::repeat_n(path.clone(), operations));
        }
        documented.sort();
        let mut routed: Vec<_> = ROUTES.iter().map(|route| route.path.to_owned()).collect();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_reference_names_a_component() {
        fn references(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, value) in map {
                        match (key.as_str(), value) {
                            ("$ref", Value::String(target)) => found.push(target.clone()),
                            _ => references(value, found),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| references(v, found)),
                _ => {}
            }
        }
        let document = document();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 20, "the bodies are references: {found:?}");
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("not a schema reference: {target}"));
            assert!(
                document["components"]["schemas"].get(name).is_some(),
                "{target} is not in the document"
            );
        }
    }
}
