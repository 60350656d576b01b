//! Messages, ticks, history, typing and keys: the chat events of a session.

use std::sync::Arc;

use base64::Engine;

use super::pipeline::Checked;
use super::{Chat, fill_page, page_limit};
use crate::error::{ChatError, ChatResult};
use crate::protocol::{MessageStatus, PublicKey, ServerEvent, StoredMessage};
use crate::session::Session;
use crate::store::{AttachmentRef, StoreError};

pub(super) fn validate_base64(field: &str, value: &str, max: usize) -> ChatResult<()> {
    if value.len() > max {
        return Err(ChatError::TooLarge(format!(
            "{field} is over the {max} character limit"
        )));
    }
    if value.is_empty()
        || base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_err()
    {
        return Err(ChatError::bad_request(format!(
            "{field} must be non-empty standard base64 with padding"
        )));
    }
    Ok(())
}

pub(super) fn validate_id(id: &str) -> ChatResult<()> {
    uuid::Uuid::parse_str(id)
        .map(drop)
        .map_err(|_| ChatError::bad_request("id must be a UUID"))
}

impl Chat {
    /// Stores the user's public key when it changed and tells their online friends.
    pub(super) async fn join(&self, session: &Session, public_key: PublicKey) -> ChatResult<()> {
        let user = session.user();
        self.inner
            .join_rate
            .take(user, self.now())
            .map_err(|retry_after_secs| ChatError::RateLimited { retry_after_secs })?;
        let key = public_key.to_json();
        let stored = self
            .store()
            .find_user(user)
            .await?
            .and_then(|u| u.public_key);
        if stored.as_deref() == Some(key.as_str()) {
            return Ok(());
        }
        self.store().set_public_key(user, &key).await?;
        let event = ServerEvent::KeyChanged {
            username: user.to_owned(),
            public_key,
        };
        for friend in self.friends_of(user).await? {
            self.inner.hub.push(&friend, &event, None);
        }
        Ok(())
    }

    /// Checks a send (ids, sizes, friendship, rate, attachments) and gives it its timestamp. A
    /// resend by a sender out of rate tokens is let through, free, when its id is already
    /// stored. The attachments are named before the message is stored, so the collector can
    /// never take one between the two.
    pub(super) async fn check_send(
        &self,
        session: &Session,
        receiver: &str,
        ciphertext: String,
        iv: String,
        id: Option<String>,
        attachments: Vec<String>,
    ) -> ChatResult<Checked> {
        let limits = &self.inner.config.limits;
        let user = session.user();
        if let Some(id) = &id {
            validate_id(id)?;
        }
        self.check_attachment_count(&attachments)?;
        validate_base64("ciphertext", &ciphertext, limits.max_ciphertext_bytes)?;
        validate_base64("iv", &iv, limits.max_iv_bytes)?;
        let receiver = self.canonical(receiver).await?;
        let pass = self.inner.guard.admit(user, &receiver).await?;

        let now = self.now();
        if let Err(retry_after_secs) = self.inner.message_rate.take(user, now) {
            if let Some(existing) = self.existing(id.as_deref()).await? {
                return Ok(Checked::Resend(existing));
            }
            return Err(ChatError::RateLimited { retry_after_secs });
        }
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let reference = AttachmentRef::Direct {
            message: id.clone(),
            receiver: receiver.clone(),
        };
        if let Err(err) = self.name_attachments(user, &attachments, reference).await {
            self.inner.message_rate.refund(user, now);
            return Err(err);
        }
        Ok(Checked::Store {
            pass,
            message: StoredMessage {
                id,
                sender: user.to_owned(),
                receiver,
                ciphertext,
                iv,
                timestamp: self.next_timestamp(),
                status: MessageStatus::Sent,
            },
            charged_at: now,
        })
    }

    /// Acknowledges a newly stored message to the sending socket and pushes it to the receiver
    /// and to the sender's other sockets.
    pub(super) fn deliver_new(&self, session: &Session, stored: StoredMessage) {
        self.answer(
            session,
            &ServerEvent::MessageSent {
                id: stored.id.clone(),
                receiver: stored.receiver.clone(),
                timestamp: stored.timestamp,
            },
        );
        let receiver = stored.receiver.clone();
        let frame: Arc<str> = ServerEvent::ReceiveMessage(stored).encode().into();
        self.inner.hub.push_frame(&receiver, &frame, None);
        self.inner
            .hub
            .push_frame(session.user(), &frame, Some(session.id()));
    }

    async fn existing(&self, id: Option<&str>) -> ChatResult<Option<StoredMessage>> {
        match id {
            Some(id) => Ok(self.store().get_message(id).await?),
            None => Ok(None),
        }
    }

    pub(super) fn acknowledge_resend(
        &self,
        session: &Session,
        existing: StoredMessage,
    ) -> ChatResult<()> {
        if existing.sender != session.user() {
            return Err(ChatError::bad_request("this message id is already in use"));
        }
        self.answer(
            session,
            &ServerEvent::MessageSent {
                id: existing.id,
                receiver: existing.receiver,
                timestamp: existing.timestamp,
            },
        );
        Ok(())
    }

    /// Moves messages from `from` to the session's user forward to `status` and tells `from`,
    /// and the user's other sockets (`receipt_sync`), which ones moved. The frame size limit bounds how many ids one acknowledgement lists
    /// (about 1,600 in 64 KiB), so a client may acknowledge a whole greeting at once.
    pub(super) async fn acknowledge(
        &self,
        session: &Session,
        from: &str,
        ids: Option<Vec<String>>,
        status: MessageStatus,
    ) -> ChatResult<()> {
        let user = session.user();
        let from = self.canonical(from).await?;
        let moved = self
            .store()
            .advance_status(&from, user, ids.as_deref(), status)
            .await?;
        if moved.is_empty() {
            return Ok(());
        }
        let event = match status {
            MessageStatus::Seen => ServerEvent::MessageSeen {
                from: user.to_owned(),
                ids: moved.clone(),
            },
            _ => ServerEvent::MessageDelivered {
                from: user.to_owned(),
                ids: moved.clone(),
            },
        };
        self.inner.hub.push(&from, &event, None);
        // The user's other sockets learn the same ticks, through the same per-user fan-out
        // every push to the user takes.
        let sync = ServerEvent::ReceiptSync {
            with_user: from,
            ids: moved,
            status,
        };
        self.inner.hub.push(user, &sync, Some(session.id()));
        Ok(())
    }

    /// Answers a page of the conversation with `with_user`.
    pub(super) async fn fetch_history(
        &self,
        session: &Session,
        with_user: &str,
        before: Option<String>,
        limit: Option<i64>,
    ) -> ChatResult<()> {
        let limit = page_limit(limit)?;
        let with_user = self.canonical(with_user).await?;
        let slot = session.answer_slot().await;
        let limits = &self.inner.config.limits;
        let chunk = limits.messages_per_answer();
        let user = session.user();
        let page = fill_page(
            limit,
            limits.max_answer_bytes,
            chunk,
            before,
            |before: Option<String>, n| {
                let with_user = &with_user;
                async move {
                    self.store()
                        .history(user, with_user, before.as_deref(), n)
                        .await
                        .map_err(|err| match err {
                            StoreError::NotFound(_) => ChatError::bad_request(
                                "before is not a message of this conversation",
                            ),
                            other => other.into(),
                        })
                }
            },
            |m: &StoredMessage| m.id.clone(),
        )
        .await?;
        let event = ServerEvent::HistoryResponse {
            with_user,
            messages: page.items,
            has_more: page.has_more,
        };
        session.send_answer(vec![event.encode().into()], slot);
        Ok(())
    }

    /// Relays a typing indicator to a friend and remembers which socket reported it last (see
    /// `typing`); past the rate it is dropped silently.
    pub(super) async fn typing(
        &self,
        session: &Session,
        to: &str,
        is_typing: bool,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        // Held until the report is recorded and pushed (see `FriendGuard`).
        let _pass = self.inner.guard.admit(user, &to).await?;
        if self.inner.typing_rate.take(user, self.now()).is_err() {
            return Ok(());
        }
        self.inner
            .typists
            .report(user, &to, session.id(), is_typing);
        self.inner.hub.push(
            &to,
            &ServerEvent::Typing {
                from: user.to_owned(),
                is_typing,
            },
            None,
        );
        Ok(())
    }
}
