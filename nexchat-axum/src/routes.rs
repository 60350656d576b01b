//! The one table of nexchat's routes: [`crate::router`] mounts it, and the OpenAPI document
//! (feature `openapi`) is built from it, so the two cannot name different routes.

use axum::routing::{MethodFilter, MethodRouter, on};
use nexchat_core::Chat;

use crate::{attachments, groups, rest, sessions, ws};

/// Which chats mount a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mounted {
    /// Every chat.
    Always,
    /// Only a chat with nexchat's own accounts ([`Chat::has_own_accounts`]).
    OwnAccounts,
    /// Only a chat that takes attachments ([`Chat::takes_attachments`]); these routes move
    /// whole files, under the transfer timeout and without the JSON body limit.
    Attachments,
}

impl Mounted {
    /// Whether `chat` mounts a route of this kind.
    pub(crate) fn on(self, chat: &Chat) -> bool {
        match self {
            Self::Always => true,
            Self::OwnAccounts => chat.has_own_accounts(),
            Self::Attachments => chat.takes_attachments(),
        }
    }
}

/// One route: one method on one path (axum's `{param}` syntax, which OpenAPI shares).
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) path: &'static str,
    pub(crate) mounted: Mounted,
    /// Makes the route's handler, for its one method.
    pub(crate) handler: fn() -> MethodRouter<Chat>,
    /// Adds the route's OpenAPI path item, written on its handler with `#[utoipa::path]`.
    #[cfg(feature = "openapi")]
    pub(crate) document:
        fn(utoipa::openapi::path::PathsBuilder) -> utoipa::openapi::path::PathsBuilder,
}

/// `route!(POST "/path", Mounted, module::handler, module::__path_handler)`: the last argument is
/// the type `#[utoipa::path]` generates beside the handler, read only with `openapi`.
macro_rules! route {
    ($method:ident $path:literal, $mounted:ident, $handler:path, $doc:path) => {
        Route {
            path: $path,
            mounted: Mounted::$mounted,
            handler: || on(MethodFilter::$method, $handler),
            #[cfg(feature = "openapi")]
            document: |paths| paths.path_from::<$doc>(),
        }
    };
}

/// Every route, in the order of the protocol document.
pub(crate) const ROUTES: &[Route] = &[
    route!(POST "/auth/register", OwnAccounts, rest::register, rest::__path_register),
    route!(POST "/auth/login", OwnAccounts, rest::login, rest::__path_login),
    route!(GET "/auth/params", OwnAccounts, rest::auth_params, rest::__path_auth_params),
    route!(POST "/auth/password", OwnAccounts, rest::change_password, rest::__path_change_password),
    route!(DELETE "/auth/account", OwnAccounts, rest::delete_account, rest::__path_delete_account),
    route!(POST "/auth/logout", OwnAccounts, sessions::logout, sessions::__path_logout),
    route!(GET "/auth/sessions", OwnAccounts, sessions::list, sessions::__path_list),
    route!(DELETE "/auth/sessions/{id}", OwnAccounts, sessions::revoke, sessions::__path_revoke),
    route!(POST "/auth/ws-ticket", Always, sessions::ws_ticket, sessions::__path_ws_ticket),
    route!(GET "/users", Always, rest::search_users, rest::__path_search_users),
    route!(GET "/users/{name}/public-key", Always, rest::public_key, rest::__path_public_key),
    route!(GET "/conversations", Always, rest::conversations, rest::__path_conversations),
    route!(GET "/friends/status", Always, rest::friends_status, rest::__path_friends_status),
    route!(POST "/friends/request", Always, rest::friend_request, rest::__path_friend_request),
    route!(POST "/friends/accept", Always, rest::friend_accept, rest::__path_friend_accept),
    route!(POST "/friends/reject", Always, rest::friend_reject, rest::__path_friend_reject),
    route!(POST "/friends/remove", Always, rest::friend_remove, rest::__path_friend_remove),
    route!(POST "/groups", Always, groups::create, groups::__path_create),
    route!(GET "/groups", Always, groups::list, groups::__path_list),
    route!(GET "/groups/{id}", Always, groups::one, groups::__path_one),
    route!(PUT "/groups/{id}/details", Always, groups::details, groups::__path_details),
    route!(POST "/groups/{id}/members", Always, groups::add_member, groups::__path_add_member),
    route!(DELETE "/groups/{id}/members/{name}", Always, groups::remove_member, groups::__path_remove_member),
    route!(PUT "/groups/{id}/members/{name}/role", Always, groups::set_role, groups::__path_set_role),
    route!(GET "/groups/{id}/messages/{message}/receipts", Always, groups::receipts, groups::__path_receipts),
    route!(POST "/attachments", Attachments, attachments::upload, attachments::__path_upload),
    route!(GET "/attachments", Attachments, attachments::usage, attachments::__path_usage),
    route!(GET "/attachments/{id}", Attachments, attachments::download, attachments::__path_download),
    route!(GET "/client-config", Always, rest::client_config, rest::__path_client_config),
    route!(GET "/ws", Always, ws::upgrade, ws::__path_upgrade),
];
