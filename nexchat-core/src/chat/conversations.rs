//! The conversation list (`GET /conversations`): one entry per user the caller has messages
//! with, from the store's per-pair summary, so badges, previews and order survive a reload.

use super::{Chat, fill_page, page_limit};
use crate::error::{ChatError, ChatResult};
use crate::protocol::Conversation;
use crate::protocol::rest::ConversationsResponse;
use crate::store::StoreError;

impl Chat {
    /// A page of `user`'s conversation list: at most `limit` entries (default 50, at most
    /// 200), newest last message first, after the entry of `before`; shorter, with `has_more`,
    /// when `limit` entries would pass [`Limits::max_answer_bytes`](crate::Limits).
    ///
    /// # Errors
    /// [`ChatError::BadRequest`] for a `limit` below 1 or a `before` naming nobody the caller
    /// has messages with.
    pub async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> ChatResult<ConversationsResponse> {
        let limit = page_limit(limit)?;
        let no_entry = || ChatError::bad_request("before names no conversation of yours");
        let before = match before {
            Some(name) => Some(self.canonical(name).await.map_err(|err| match err {
                ChatError::UserNotFound => no_entry(),
                other => other,
            })?),
            None => None,
        };
        let limits = &self.inner.config.limits;
        let page = fill_page(
            limit,
            limits.max_answer_bytes,
            limits.messages_per_answer(),
            before,
            |before: Option<String>, n| async move {
                self.store()
                    .conversations(user, before.as_deref(), n)
                    .await
                    .map_err(|err| match err {
                        StoreError::NotFound(_) => no_entry(),
                        other => other.into(),
                    })
            },
            |c: &Conversation| c.with_user.clone(),
        )
        .await?;
        Ok(ConversationsResponse {
            conversations: page.items,
            has_more: page.has_more,
        })
    }
}
