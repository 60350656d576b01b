//! Call signalling: the server relays offers, answers and ICE candidates between two friends
//! (media never touches it) and keeps the call log.
//!
//! Live calls are tracked in memory on the node that relays them (which socket placed and which
//! answered each call), and every state change is also a conditional update in the store.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use super::{Chat, page_limit};
use crate::call_log::{CallEvent, CallLog};
use crate::error::{ChatError, ChatResult};
use crate::protocol::{CallKind, CallRecord, CallStatus, ServerEvent};
use crate::session::{Session, SessionId};
use crate::store::StoreError;

/// One live call on this node.
#[derive(Debug, Clone)]
struct LiveCall {
    record: CallRecord,
    caller_session: SessionId,
    callee_session: Option<SessionId>,
}

/// The calls ringing or in progress, by call id.
#[derive(Debug, Default)]
pub(super) struct ActiveCalls(Mutex<HashMap<String, LiveCall>>);

impl ActiveCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveCall>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `user` is a party of a live call.
    fn is_busy(&self, user: &str) -> bool {
        self.lock()
            .values()
            .any(|c| c.record.caller == user || c.record.callee == user)
    }

    /// The live call `call_id`, or the only live call between `a` and `b` when no id is given;
    /// `None` unless `a` and `b` are its two parties.
    fn find(&self, a: &str, b: &str, call_id: Option<&str>) -> Option<LiveCall> {
        let calls = self.lock();
        let between = |c: &&LiveCall| {
            (c.record.caller == a && c.record.callee == b)
                || (c.record.caller == b && c.record.callee == a)
        };
        match call_id {
            Some(id) => calls.get(id).filter(|c| between(c)).cloned(),
            None => {
                let mut pair = calls.values().filter(between);
                match (pair.next(), pair.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        }
    }

    fn insert(&self, call: LiveCall) {
        self.lock().insert(call.record.call_id.clone(), call);
    }

    fn answered(&self, record: &CallRecord, session: SessionId) {
        if let Some(call) = self.lock().get_mut(&record.call_id) {
            call.record = record.clone();
            call.callee_session = Some(session);
        }
    }

    fn remove(&self, call_id: &str) -> Option<LiveCall> {
        self.lock().remove(call_id)
    }

    fn matching(&self, keep: impl Fn(&LiveCall) -> bool) -> Vec<LiveCall> {
        self.lock().values().filter(|c| keep(c)).cloned().collect()
    }
}

impl Chat {
    /// Places a call: relays the offer and starts a `ringing` record, or logs it `missed` when
    /// the callee is offline or busy.
    pub(super) async fn call_offer(
        &self,
        session: &Session,
        to: &str,
        offer: Value,
        with_video: bool,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        if to == user {
            return Err(ChatError::bad_request("you cannot call yourself"));
        }
        self.inner.guard.check(user, &to).await?;
        let kind = if with_video { CallKind::Video } else { CallKind::Voice };
        let call_id = uuid::Uuid::new_v4().to_string();
        let record = CallLog::start(call_id.clone(), user, &to, kind, self.now());
        let refusal = if !self.inner.hub.is_online(&to) {
            Some(ChatError::Offline(to.clone()))
        } else if self.inner.calls.is_busy(&to) {
            Some(ChatError::Busy(to.clone()))
        } else {
            None
        };
        self.store().insert_call(&record).await?;
        if let Some(refusal) = refusal {
            // Logged missed at once; the caller learns why, with the call's id.
            self.finish(&record, self.now(), None).await?;
            session.send(
                ServerEvent::Error {
                    code: refusal.code(),
                    message: refusal.to_string(),
                    reference: Some(call_id),
                }
                .encode()
                .into(),
            );
            return Ok(());
        }
        self.inner.calls.insert(LiveCall {
            record,
            caller_session: session.id(),
            callee_session: None,
        });
        self.answer(
            session,
            &ServerEvent::CallStarted {
                call_id: call_id.clone(),
                to: to.clone(),
            },
        );
        self.inner.hub.push(
            &to,
            &ServerEvent::CallOffer {
                from: user.to_owned(),
                call_id,
                offer,
                with_video,
            },
            None,
        );
        Ok(())
    }

    /// The callee answers: the record moves to `in_progress` and the answer goes to the caller.
    pub(super) async fn call_answer(
        &self,
        session: &Session,
        to: &str,
        answer: Value,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let call = self
            .inner
            .calls
            .find(user, &to, call_id.as_deref())
            .filter(|c| c.record.callee == user)
            .ok_or_else(|| ChatError::NotFound("no ringing call from that user".into()))?;
        let answered = CallLog::apply(&call.record, CallEvent::Answer(self.now()))
            .map_err(|e| ChatError::NotFound(e.to_string()))?;
        if !self
            .store()
            .update_call(&answered, call.record.status)
            .await?
        {
            return Err(ChatError::NotFound("the call already ended".into()));
        }
        self.inner.calls.answered(&answered, session.id());
        self.inner.hub.push(
            &to,
            &ServerEvent::CallAnswer {
                from: user.to_owned(),
                call_id: answered.call_id,
                answer,
            },
            None,
        );
        Ok(())
    }

    /// Relays an ICE candidate to the other party of a live call.
    pub(super) async fn call_ice(
        &self,
        session: &Session,
        to: &str,
        candidate: Value,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let Some(call) = self.inner.calls.find(user, &to, call_id.as_deref()) else {
            return self.ended_or_unknown(user, &to, call_id.as_deref()).await;
        };
        self.inner.hub.push(
            &to,
            &ServerEvent::CallIce {
                from: user.to_owned(),
                call_id: call.record.call_id,
                candidate,
            },
            None,
        );
        Ok(())
    }

    /// Hang-up, decline or cancel by one party.
    pub(super) async fn call_end(
        &self,
        session: &Session,
        to: &str,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let Some(call) = self.inner.calls.find(user, &to, call_id.as_deref()) else {
            return self.ended_or_unknown(user, &to, call_id.as_deref()).await;
        };
        self.end_live(&call.record.call_id, Some(user)).await
    }

    /// ICE or end for a call that is no longer live: ignored when it ended (and was the pair's),
    /// `not_found` otherwise.
    async fn ended_or_unknown(&self, user: &str, to: &str, call_id: Option<&str>) -> ChatResult<()> {
        let call = match call_id {
            Some(id) => self.store().get_call(id).await?,
            // Without an id the pair's latest call is the one meant.
            None => self.store().call_history(user, to, None, 1).await?.items.pop(),
        };
        let ended_between_us = call.is_some_and(|c| {
            let pair = (c.caller == user && c.callee == to) || (c.caller == to && c.callee == user);
            pair && c.status.is_final()
        });
        if ended_between_us {
            Ok(())
        } else {
            Err(ChatError::NotFound("no such call between you".into()))
        }
    }

    /// Ends a live call. `by` is the party that ended it (the other one gets `call_ended`);
    /// `None` when the server ended it (timeout, closed socket), and then both get it.
    async fn end_live(&self, call_id: &str, by: Option<&str>) -> ChatResult<()> {
        let Some(call) = self.inner.calls.remove(call_id) else {
            return Ok(());
        };
        self.finish(&call.record, self.now(), by).await
    }

    /// Moves a record to its end state, stores it, and tells both parties.
    async fn finish(&self, record: &CallRecord, at: i64, by: Option<&str>) -> ChatResult<()> {
        let ended = CallLog::apply(record, CallEvent::End(at))
            .map_err(|e| ChatError::Internal(e.to_string()))?;
        if !self.store().update_call(&ended, record.status).await? {
            return Ok(());
        }
        let (caller, callee) = (ended.caller.as_str(), ended.callee.as_str());
        // A call refused as offline or busy never rang: nobody is told it ended.
        if record.status != CallStatus::Ringing || self.inner.hub.is_online(callee) || by.is_some() {
            for (to, from) in [(callee, caller), (caller, callee)] {
                if by != Some(to) {
                    self.inner.hub.push(
                        to,
                        &ServerEvent::CallEnded {
                            from: from.to_owned(),
                            call_id: ended.call_id.clone(),
                        },
                        None,
                    );
                }
            }
        }
        let logged = ServerEvent::CallLogged { call: ended.clone() };
        self.inner.hub.push(caller, &logged, None);
        self.inner.hub.push(callee, &logged, None);
        Ok(())
    }

    /// Ends calls that rang longer than the ring timeout.
    pub(super) async fn end_unanswered_calls(&self, now: i64) {
        let timeout = i64::try_from(self.inner.config.ring_timeout.as_millis()).unwrap_or(i64::MAX);
        let expired = self.inner.calls.matching(|c| {
            c.record.status == CallStatus::Ringing && now - c.record.started_at >= timeout
        });
        for call in expired {
            if let Err(err) = self.end_live(&call.record.call_id, None).await {
                tracing::warn!(%err, "ending an unanswered call failed");
            }
        }
    }

    /// Ends the calls a closing socket placed or answered, and calls ringing for a user whose
    /// last socket closed.
    pub(super) async fn end_calls_of_session(&self, session: &Session, last: bool) {
        let user = session.user();
        let id = session.id();
        let ending = self.inner.calls.matching(|c| {
            c.caller_session == id
                || c.callee_session == Some(id)
                || (last && c.record.callee == user && c.record.status == CallStatus::Ringing)
        });
        for call in ending {
            if let Err(err) = self.end_live(&call.record.call_id, Some(user)).await {
                tracing::warn!(%err, "ending a call of a closed socket failed");
            }
        }
    }

    /// Ends any live call between two users who stopped being friends.
    pub(super) async fn end_calls_between(&self, a: &str, b: &str) {
        let between = self.inner.calls.matching(|c| {
            (c.record.caller == a && c.record.callee == b)
                || (c.record.caller == b && c.record.callee == a)
        });
        for call in between {
            if let Err(err) = self.end_live(&call.record.call_id, None).await {
                tracing::warn!(%err, "ending a call between former friends failed");
            }
        }
    }

    /// Closes out calls a previous run left ringing or in progress. Their true end is unknown,
    /// so they end at the last moment known: a ringing call as missed, an answered one as
    /// completed at its answer time.
    pub(super) async fn close_out_unfinished_calls(&self) -> ChatResult<()> {
        for call in self.store().unfinished_calls().await? {
            let at = call.answered_at.unwrap_or(call.started_at);
            let ended = CallLog::apply(&call, CallEvent::End(at))
                .map_err(|e| ChatError::Internal(e.to_string()))?;
            self.store().update_call(&ended, call.status).await?;
        }
        Ok(())
    }

    /// Answers a page of the call log with `with_user`.
    pub(super) async fn fetch_call_history(
        &self,
        session: &Session,
        with_user: &str,
        before: Option<String>,
        limit: Option<i64>,
    ) -> ChatResult<()> {
        let limit = page_limit(limit)?;
        let with_user = self.canonical(with_user).await?;
        let page = self
            .store()
            .call_history(session.user(), &with_user, before.as_deref(), limit)
            .await
            .map_err(|err| match err {
                StoreError::NotFound(_) => {
                    ChatError::bad_request("before is not a call between you")
                }
                other => other.into(),
            })?;
        self.answer(
            session,
            &ServerEvent::CallHistoryResponse {
                with_user,
                calls: page.items,
                has_more: page.has_more,
            },
        );
        Ok(())
    }
}
