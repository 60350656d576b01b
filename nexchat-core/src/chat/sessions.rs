//! Login sessions: each successful login starts one, its token names it, and it ends by
//! logout, by being revoked from another session, or by expiry. Also the WebSocket tickets a
//! session hands out.
//!
//! An embedder's own [`crate::Identity`] has no nexchat sessions: its tokens are whatever the
//! app says they are, so logout and the session list are the app's business (those calls are
//! refused with [`ChatError::Forbidden`], and their routes are not mounted unless nexchat's own
//! accounts are kept beside it); tickets work for them too, bound to the user and the token's
//! expiry.

use super::Chat;
use super::bus::NodeRequest;
use super::transport::Caller;
use crate::error::{ChatError, ChatResult};
use crate::fanout::Reached;
use crate::identity::Principal;
use crate::live_sessions::Known;
use crate::protocol::rest::{SessionInfo, SessionsResponse, WsTicketResponse};
use crate::session::CloseReason;
use crate::store::SessionRecord;
use crate::tickets::{TicketHolder, Tickets};

/// Characters of a login's `User-Agent` kept with its session.
const USER_AGENT_CHARS: usize = 200;

impl Chat {
    fn session_ttl_ms(&self) -> i64 {
        i64::try_from(self.inner.config.session_cache_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Who the token belongs to and which login session it names. A token of nexchat's own
    /// whose session ended is refused, as is one that names no session.
    ///
    /// With an app's own identity, a token nexchat signed is checked as one of nexchat's when
    /// its own accounts are kept ([`crate::ChatBuilder::own_accounts`]); any other token is the
    /// identity's to judge.
    ///
    /// # Errors
    /// [`ChatError::Unauthorized`] for any token that is not good now;
    /// [`ChatError::Forbidden`] when the identity names a user outside the username rule, or
    /// one that is a nexchat account with a password; [`ChatError::Internal`] when the
    /// identity failed.
    pub async fn caller(&self, token: &str) -> ChatResult<Caller> {
        let signed = self.inner.jwt.verify(token);
        if let Some(identity) = &self.inner.custom_identity {
            if !(self.inner.own_accounts && signed.is_ok()) {
                let principal = identity.identify_boxed(token).await?;
                let username = self.host_account(&principal.username).await?;
                return Ok(Caller::from(Principal {
                    username,
                    expires_at: principal.expires_at,
                }));
            }
        }
        let (principal, session) = signed?;
        let session = session.ok_or(ChatError::Unauthorized)?;
        self.check_session(&session, &principal.username).await?;
        self.touch(&session).await;
        Ok(Caller {
            principal,
            session: Some(session),
        })
    }

    /// Refuses a session that ended, asking the store only when this node does not know it
    /// or last asked more than `session_cache_ttl` ago.
    async fn check_session(&self, id: &str, user: &str) -> ChatResult<()> {
        let now = self.now();
        let live = &self.inner.live_sessions;
        match live.known(id, now, self.session_ttl_ms()) {
            Known::Open(owner) if *owner == *user => return Ok(()),
            Known::Open(_) | Known::Ended => return Err(ChatError::Unauthorized),
            Known::Unsure => {}
        }
        match self.store().find_session(id).await? {
            Some(record) if record.username == user && record.expires_at > now => {
                if live.confirm(id, user, record.expires_at, record.last_seen_at, now) {
                    Ok(())
                } else {
                    Err(ChatError::Unauthorized)
                }
            }
            Some(record) => {
                live.end(id, record.expires_at, &CloseReason::SESSION_ENDED);
                Err(ChatError::Unauthorized)
            }
            None => {
                // Remembered until the token could have expired at the latest.
                let until = now.saturating_add(self.token_ttl_ms());
                live.end(id, until, &CloseReason::SESSION_ENDED);
                Err(ChatError::Unauthorized)
            }
        }
    }

    fn token_ttl_ms(&self) -> i64 {
        i64::try_from(self.inner.config.token_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Writes the session's `last_seen_at`, at most once a minute. A failure is logged, not
    /// passed on: the request itself is fine.
    async fn touch(&self, id: &str) {
        let now = self.now();
        if self.inner.live_sessions.take_touch(id, now) {
            if let Err(err) = self.store().touch_session(id, now).await {
                tracing::warn!(error = %err.chain(), "last seen time of a session not saved");
            }
        }
    }

    /// Starts a login session for `username` (as registered) and signs its token; returns the
    /// token and its expiry (ms). Sessions of the user that expired are cleared out on the way.
    pub(super) async fn open_session(
        &self,
        username: &str,
        client: &super::ClientInfo,
    ) -> ChatResult<(String, i64)> {
        let now = self.now();
        if let Err(err) = self.store().delete_expired_sessions(username, now).await {
            tracing::warn!(error = %err.chain(), "expired sessions not cleared");
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (token, expires_at) = self.inner.jwt.issue(username, &id)?;
        let record = SessionRecord {
            id: id.clone(),
            username: username.to_owned(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            user_agent: client.user_agent.chars().take(USER_AGENT_CHARS).collect(),
        };
        self.store().create_session(&record).await?;
        self.inner
            .live_sessions
            .confirm(&id, username, expires_at, now, now);
        Ok((token, expires_at))
    }

    /// Ends a login session everywhere: deleted from the store, refused from now on, and each of
    /// its sockets closed with 4003, on this node before this returns, on the others as soon as
    /// the bus carries it there (without a bus, within `session_cache_ttl`).
    pub(crate) async fn end_session(&self, id: &str, expires_at: i64) -> ChatResult<bool> {
        let deleted = self.store().delete_session(id).await?;
        self.inner.hub.end_session(id, expires_at);
        Ok(deleted)
    }

    fn own_session(caller: &Caller) -> ChatResult<&str> {
        caller.session.as_deref().ok_or_else(|| {
            ChatError::Forbidden(
                "sessions are managed by the application that signs this server's tokens".into(),
            )
        })
    }

    /// `POST /auth/logout`: ends the caller's session.
    ///
    /// # Errors
    /// [`ChatError::Forbidden`] for an embedder's own identity (no nexchat sessions).
    pub async fn logout(&self, caller: &Caller) -> ChatResult<()> {
        let id = Self::own_session(caller)?;
        let expires_at = caller.principal.expires_at.unwrap_or(i64::MAX);
        self.end_session(id, expires_at).await.map(drop)
    }

    /// `GET /auth/sessions`: the caller's open sessions, newest first, theirs marked current.
    ///
    /// # Errors
    /// [`ChatError::Forbidden`] for an embedder's own identity.
    pub async fn sessions(&self, caller: &Caller) -> ChatResult<SessionsResponse> {
        let current = Self::own_session(caller)?;
        let now = self.now();
        let mut records = self.store().sessions_of(&caller.principal.username).await?;
        records.retain(|r| r.expires_at > now);
        records.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        let sessions = records
            .into_iter()
            .map(|r| SessionInfo {
                current: r.id == current,
                id: r.id,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                user_agent: r.user_agent,
            })
            .collect();
        Ok(SessionsResponse { sessions })
    }

    /// `DELETE /auth/sessions/ID`: ends one of the caller's sessions (their own too).
    ///
    /// # Errors
    /// [`ChatError::NotFound`] when `id` is not one of the caller's open sessions;
    /// [`ChatError::Forbidden`] for an embedder's own identity.
    pub async fn revoke_session(&self, caller: &Caller, id: &str) -> ChatResult<()> {
        Self::own_session(caller)?;
        let not_found = || ChatError::NotFound("no such open session of yours".into());
        let record = self.store().find_session(id).await?.ok_or_else(not_found)?;
        if record.username != caller.principal.username || record.expires_at <= self.now() {
            return Err(not_found());
        }
        if self.end_session(&record.id, record.expires_at).await? {
            Ok(())
        } else {
            // Ended by a racing request: it is not open any more.
            Err(not_found())
        }
    }

    /// `POST /auth/ws-ticket`: a ticket that opens one socket for the caller within 30 s.
    ///
    /// # Errors
    /// [`ChatError::RateLimited`] when this node holds the most unused tickets it may.
    pub fn ws_ticket(&self, caller: &Caller) -> ChatResult<WsTicketResponse> {
        let (ticket, expires_at) =
            self.inner
                .tickets
                .issue(caller, self.now())
                .ok_or(ChatError::RateLimited {
                    retry_after_secs: 1,
                })?;
        Ok(WsTicketResponse { ticket, expires_at })
    }

    /// Uses up a ticket (see [`super::Transport::redeem_ticket`]), here or, for a ticket
    /// another node issued, there.
    pub(super) async fn redeem_ticket(&self, ticket: &str) -> ChatResult<Caller> {
        let now = self.now();
        let caller = match Tickets::issuer(ticket) {
            Some(node) if node != self.node_id() => self.take_ticket_at(node, ticket).await,
            _ => self.inner.tickets.take(ticket, now),
        }
        .ok_or(ChatError::Unauthorized)?;
        if caller.principal.expires_at.is_some_and(|at| at <= now) {
            return Err(ChatError::Unauthorized);
        }
        if let Some(session) = &caller.session {
            self.check_session(session, &caller.principal.username)
                .await?;
            self.touch(session).await;
        }
        Ok(caller)
    }

    /// Asks `node` to use up `ticket`, which it issued: whom it was issued to, if anyone (a node
    /// gone or not answering in time has no ticket to give).
    async fn take_ticket_at(&self, node: &str, ticket: &str) -> Option<Caller> {
        let request = NodeRequest::TakeTicket {
            ticket: ticket.to_owned(),
        };
        match self.ask(node, &request).await {
            Reached::Answer(body) => serde_json::from_slice::<Option<TicketHolder>>(&body)
                .inspect_err(|err| tracing::warn!(%err, node, "an unreadable ticket holder"))
                .ok()
                .flatten()
                .map(Caller::from),
            Reached::Gone | Reached::NoAnswer => None,
        }
    }

    /// Uses up `ticket` for another node that got it in an upgrade: the encoded
    /// `Option<TicketHolder>`.
    pub(super) fn give_up_ticket(&self, ticket: &str) -> Vec<u8> {
        let holder = self
            .inner
            .tickets
            .take(ticket, self.now())
            .map(TicketHolder::from);
        // Plain strings and numbers: encoding cannot fail.
        serde_json::to_vec(&holder).unwrap_or_default()
    }

    /// Re-checks, in one store query, the sessions holding sockets on this node that were not
    /// confirmed within `session_cache_ttl` (or will not be by the next run of the timer), and
    /// closes with 4003 the sockets of those that ended elsewhere.
    pub(super) async fn check_live_sessions(&self, now: i64) {
        let ttl = self.session_ttl_ms();
        let due = self
            .inner
            .live_sessions
            .due_for_check(now, ttl, super::SWEEP_EVERY_MS);
        if due.is_empty() {
            return;
        }
        let found = match self.store().existing_sessions(&due).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err.chain(), "sessions not re-checked");
                return;
            }
        };
        let found: std::collections::HashSet<&str> = found.iter().map(String::as_str).collect();
        for id in &due {
            if found.contains(id.as_str()) {
                self.inner.live_sessions.refresh(id, now);
            } else {
                tracing::info!("closing the sockets of a session ended elsewhere");
                let until = now.saturating_add(self.token_ttl_ms());
                self.inner
                    .live_sessions
                    .end(id, until, &CloseReason::SESSION_ENDED);
            }
        }
    }
}
