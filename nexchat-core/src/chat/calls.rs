//! Call signalling: the server relays offers, answers and ICE candidates between two friends
//! (media never touches it) and keeps the call log.
//!
//! A live call is relayed by one node, the one holding the socket that placed it: that node
//! keeps it in memory (which socket placed and which answered it), and every state change is
//! also a conditional update in the store. Each live call has a turn lock: its answer and its
//! end (hang-up, ring timeout, closed socket, unfriending) take turns, so a call is ended once
//! and the store sees its changes in order.
//!
//! Whether a user is free to be called is not a node's business: each party of a live call
//! holds a line in the store, taken in one conditional step when the call is placed
//! ([`crate::store::CallStore::take_call_lines`]), so two calls to one user placed on two nodes
//! cannot both ring.
//!
//! With several nodes, a frame about a call relayed elsewhere (an answer, ICE, an end, a socket
//! closing) is handed to the relaying node over the bus ([`relay`]), which runs it under the
//! call's turn and answers. A node that starts ends only the calls of nodes that are gone, and
//! when a node falls silent the others end its calls.

mod relay;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex as TurnLock;

use super::bus::NodeRequest;
use super::{Chat, fill_page, page_limit};
use crate::call_log::{CallEvent, CallLog};
use crate::error::{ChatError, ChatResult};
use crate::fanout::Reached;
use crate::protocol::{CallKind, CallRecord, CallStatus, EndReason, ServerEvent};
use crate::session::Session;
use crate::store::{LineTaken, StoreError};

pub(in crate::chat) use relay::Relayed;

/// One socket, on any node: the node's id and the socket's number there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::chat) struct Socket {
    node: String,
    id: u64,
}

/// A party of a call acting through one of their sockets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::chat) struct Party {
    user: String,
    socket: Socket,
}

/// One live call relayed by this node.
#[derive(Debug, Clone)]
struct LiveCall {
    record: CallRecord,
    caller_socket: Socket,
    callee_socket: Option<Socket>,
    /// An end has begun: the call relays no more ICE.
    ending: bool,
    /// Held by whoever is changing this call's state (and writing it to the store).
    turn: Arc<TurnLock<()>>,
}

impl LiveCall {
    /// Whether `socket` may send ICE for or end this call: once answered, only the socket that
    /// placed it and the one that answered it may.
    fn admits(&self, socket: &Socket) -> bool {
        self.callee_socket
            .as_ref()
            .is_none_or(|answered| socket == answered || *socket == self.caller_socket)
    }

    fn is_between(&self, a: &str, b: &str) -> bool {
        let (caller, callee) = (self.record.caller.as_str(), self.record.callee.as_str());
        (caller == a && callee == b) || (caller == b && callee == a)
    }

    fn involves(&self, user: &str) -> bool {
        self.record.caller == user || self.record.callee == user
    }
}

/// The calls ringing or in progress on this node, by call id.
#[derive(Debug, Default)]
pub(super) struct ActiveCalls(Mutex<HashMap<String, LiveCall>>);

impl ActiveCalls {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, LiveCall>> {
        self.0.lock()
    }

    fn insert(&self, call: LiveCall) {
        self.lock().insert(call.record.call_id.clone(), call);
    }

    /// The live call `call_id`, or when no id is given the one live call between `a` and `b`;
    /// `None` unless `a` and `b` are its two parties.
    fn find(&self, a: &str, b: &str, call_id: Option<&str>) -> Option<LiveCall> {
        let calls = self.lock();
        if let Some(id) = call_id {
            return calls.get(id).filter(|c| c.is_between(a, b)).cloned();
        }
        let pair: Vec<&LiveCall> = calls.values().filter(|c| c.is_between(a, b)).collect();
        // A call still being ended may overlap the pair's next one: the next one is meant.
        let live: Vec<&LiveCall> = pair.iter().copied().filter(|c| !c.ending).collect();
        match (live.as_slice(), pair.as_slice()) {
            ([only], _) | ([], [only]) => Some((*only).clone()),
            _ => None,
        }
    }

    fn get(&self, call_id: &str) -> Option<LiveCall> {
        self.lock().get(call_id).cloned()
    }

    fn update(&self, call_id: &str, change: impl FnOnce(&mut LiveCall)) {
        if let Some(call) = self.lock().get_mut(call_id) {
            change(call);
        }
    }

    fn remove(&self, call_id: &str) {
        self.lock().remove(call_id);
    }

    fn matching(&self, keep: impl Fn(&LiveCall) -> bool) -> Vec<LiveCall> {
        self.lock().values().filter(|c| keep(c)).cloned().collect()
    }
}

/// The refusal of ICE or an end from a socket of a party that is not in the answered call.
fn not_in_call() -> ChatError {
    ChatError::NotFound("this socket is not in that call".into())
}

/// The refusal of an answer to no ringing call.
fn not_ringing() -> ChatError {
    ChatError::NotFound("no call from that user is ringing for you".into())
}

/// Why a live call ends.
#[derive(Debug, Clone, Copy)]
enum Ending<'a> {
    /// This party hung up, declined or cancelled (or their account is being erased): the other
    /// party is told.
    By(&'a str),
    /// This party's socket in the call closed: the other party is told.
    Closed(&'a str),
    /// It rang past the ring timeout: both parties are told.
    RangOut,
    /// This party removed the other as a friend: both parties are told, and the call counts as
    /// ended by the remover.
    Unfriended(&'a str),
}

impl<'a> Ending<'a> {
    /// The record's `endReason` when a call in `call`'s state ends this way.
    fn reason(self, call: &CallRecord) -> EndReason {
        match self {
            Self::By(user) | Self::Unfriended(user) => match call.status {
                CallStatus::Ringing if user == call.caller => EndReason::Cancelled,
                CallStatus::Ringing => EndReason::Declined,
                _ => EndReason::Hangup,
            },
            Self::Closed(_) => EndReason::Disconnected,
            Self::RangOut => EndReason::NoAnswer,
        }
    }

    /// The party who ended the call, who is not told `call_ended`.
    fn ended_by(self) -> Option<&'a str> {
        match self {
            Self::By(user) | Self::Closed(user) => Some(user),
            Self::RangOut | Self::Unfriended(_) => None,
        }
    }
}

impl Chat {
    /// `session` as a party of a call.
    fn here(&self, session: &Session) -> Party {
        Party {
            user: session.user().to_owned(),
            socket: Socket {
                node: self.inner.hub.node_id().to_owned(),
                id: session.id().number(),
            },
        }
    }

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
        // Held until the call is live and its offer pushed, or it is logged as refused: an
        // unfriend then finds it among the live calls, or happens before it (see
        // `FriendGuard`).
        let _pass = self.inner.guard.admit(user, &to).await?;
        self.inner
            .call_offer_rate
            .take(user, self.now())
            .map_err(|retry_after_secs| ChatError::RateLimited { retry_after_secs })?;
        let kind = if with_video {
            CallKind::Video
        } else {
            CallKind::Voice
        };
        let call_id = uuid::Uuid::new_v4().to_string();
        let record = CallLog::start(call_id.clone(), user, &to, kind, self.now());
        // Our turn until the offer is out: an answer or end cannot overtake the stored record.
        let turn = Arc::new(TurnLock::new(()));
        let _turn = Arc::clone(&turn).lock_owned().await;
        // Live here before the lines are taken: a socket of the callee closing from now on, on
        // any node, finds the call (through the callee's line) and ends it.
        self.inner.calls.insert(LiveCall {
            record: record.clone(),
            caller_socket: self.here(session).socket,
            callee_socket: None,
            ending: false,
            turn,
        });
        let taken = self
            .store()
            .take_call_lines(&record, self.inner.hub.node_id())
            .await;
        let refusal = match taken {
            Err(err) => {
                self.inner.calls.remove(&call_id);
                return Err(err.into());
            }
            Ok(LineTaken::Busy(_)) => Some(ChatError::Busy(to.clone())),
            // Asked once the lines are held: if the callee's last socket closes from now on,
            // its close-out finds this call and ends it.
            Ok(_) if !self.inner.hub.is_online(&to) => {
                self.release_lines(&call_id).await;
                Some(ChatError::Offline(to.clone()))
            }
            Ok(_) => None,
        };
        if let Some(refusal) = refusal {
            self.inner.calls.remove(&call_id);
            return self.refuse_call(session, &record, &refusal).await;
        }
        if let Err(err) = self.store().insert_call(&record).await {
            self.inner.calls.remove(&call_id);
            self.release_lines(&call_id).await;
            return Err(err.into());
        }
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

    /// A call that could not ring (callee offline or busy): logged `missed` at once, and the
    /// caller learns why with the call's id. Nobody gets `call_ended` for a call that never rang.
    async fn refuse_call(
        &self,
        session: &Session,
        record: &CallRecord,
        refusal: &ChatError,
    ) -> ChatResult<()> {
        let reason = match refusal {
            ChatError::Busy(_) => EndReason::Busy,
            _ => EndReason::Offline,
        };
        let missed = CallLog::apply(record, CallEvent::End(record.started_at, reason))
            .map_err(|e| ChatError::Internal(e.to_string()))?;
        self.store().insert_call(&missed).await?;
        self.answer(
            session,
            &ServerEvent::Error {
                code: refusal.code(),
                message: refusal.to_string(),
                reference: Some(missed.call_id.clone()),
            },
        );
        self.log_call(&missed);
        Ok(())
    }

    /// Gives back the lines of call `call_id`; a failure is logged (the lines then stay held
    /// until the call's node is found gone).
    async fn release_lines(&self, call_id: &str) {
        if let Err(err) = self.store().release_call_lines(call_id).await {
            tracing::warn!(call_id, err = %err.chain(), "the lines of a call were not released");
        }
    }

    /// The node relaying the call of `user` with `to` (`call_id`, when given), when it is
    /// another node: `(node, call id)`.
    async fn relaying_node(
        &self,
        user: &str,
        to: &str,
        call_id: Option<&str>,
    ) -> ChatResult<Option<(String, String)>> {
        if self.inner.hub.alone() {
            return Ok(None);
        }
        let lines = self.store().call_lines_of(user).await?;
        Ok(lines
            .into_iter()
            .find(|line| line.peer == to && call_id.is_none_or(|id| id == line.call_id))
            .filter(|line| line.node != self.inner.hub.node_id())
            .map(|line| (line.node, line.call_id)))
    }

    /// The callee answers: the record moves to `in_progress`, the answer goes to the caller and
    /// the callee's other sockets get `call_answered_elsewhere`.
    pub(super) async fn call_answer(
        &self,
        session: &Session,
        to: &str,
        answer: Value,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let party = self.here(session);
        let call_id = if self
            .inner
            .calls
            .find(user, &to, call_id.as_deref())
            .is_some()
        {
            self.answer_call(&party, &to, call_id.as_deref(), answer)
                .await?
        } else {
            let Some((node, call_id)) = self.relaying_node(user, &to, call_id.as_deref()).await?
            else {
                return Err(not_ringing());
            };
            let request = Relayed::Answer {
                party,
                to,
                call_id,
                answer,
            };
            self.relay(&node, request).await?.ok_or_else(not_ringing)?
        };
        // Sent by the answering socket's node, the one that can leave that socket out.
        self.inner.hub.push(
            user,
            &ServerEvent::CallAnsweredElsewhere { call_id },
            Some(session.id()),
        );
        Ok(())
    }

    /// Answers a call relayed here for `party`, the callee; the call's id.
    async fn answer_call(
        &self,
        party: &Party,
        to: &str,
        call_id: Option<&str>,
        answer: Value,
    ) -> ChatResult<String> {
        let user = party.user.as_str();
        let found = self
            .inner
            .calls
            .find(user, to, call_id)
            .filter(|c| c.record.callee == user)
            .ok_or_else(not_ringing)?;
        let _turn = found.turn.lock().await;
        // Read again in our turn: the call may have been answered or ended meanwhile.
        let call = self
            .inner
            .calls
            .get(&found.record.call_id)
            .filter(|c| !c.ending && c.record.status == CallStatus::Ringing)
            .ok_or_else(not_ringing)?;
        let now = self.now();
        if now >= self.ring_deadline(&call.record) {
            // The timer has not swept it yet, but the call already rang out.
            self.end_in_turn(&call.record.call_id, Ending::RangOut)
                .await?;
            return Err(ChatError::NotFound("the call rang out".into()));
        }
        let answered = CallLog::apply(&call.record, CallEvent::Answer(now))
            .map_err(|e| ChatError::Internal(e.to_string()))?;
        if !self
            .store()
            .update_call(&answered, CallStatus::Ringing)
            .await?
        {
            // The stored call moved on without this node (closed out by a node that found this
            // one gone): it is not ours to answer any more.
            self.inner.calls.remove(&answered.call_id);
            return Err(not_ringing());
        }
        self.inner.calls.update(&answered.call_id, |c| {
            c.record = answered.clone();
            c.callee_socket = Some(party.socket.clone());
        });
        self.inner.hub.push(
            to,
            &ServerEvent::CallAnswer {
                from: user.to_owned(),
                call_id: answered.call_id.clone(),
                answer,
            },
            None,
        );
        Ok(answered.call_id)
    }

    /// Relays an ICE candidate to the other party of a live call; once answered, only from the
    /// socket that placed it or the one that answered it.
    pub(super) async fn call_ice(
        &self,
        session: &Session,
        to: &str,
        candidate: Value,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let party = self.here(session);
        if self
            .inner
            .calls
            .find(user, &to, call_id.as_deref())
            .is_none()
        {
            if let Some((node, call_id)) = self.relaying_node(user, &to, call_id.as_deref()).await?
            {
                let request = Relayed::Ice {
                    party,
                    to,
                    call_id,
                    candidate,
                };
                return self.relay(&node, request).await.map(drop);
            }
        }
        self.ice_call(&party, &to, call_id.as_deref(), candidate)
            .await
    }

    /// Relays `party`'s ICE candidate for a call relayed here (or ignores it, or refuses it).
    async fn ice_call(
        &self,
        party: &Party,
        to: &str,
        call_id: Option<&str>,
        candidate: Value,
    ) -> ChatResult<()> {
        let user = party.user.as_str();
        let Some(call) = self.inner.calls.find(user, to, call_id) else {
            return self.ended_or_unknown(user, to, call_id).await;
        };
        if !call.admits(&party.socket) {
            return Err(not_in_call());
        }
        if call.ending {
            return Ok(());
        }
        self.inner.hub.push(
            to,
            &ServerEvent::CallIce {
                from: user.to_owned(),
                call_id: call.record.call_id,
                candidate,
            },
            None,
        );
        Ok(())
    }

    /// Hang-up, decline or cancel by one party; once answered, only from the socket that placed
    /// the call or the one that answered it.
    pub(super) async fn call_end(
        &self,
        session: &Session,
        to: &str,
        call_id: Option<String>,
    ) -> ChatResult<()> {
        let user = session.user();
        let to = self.canonical(to).await?;
        let party = self.here(session);
        if self
            .inner
            .calls
            .find(user, &to, call_id.as_deref())
            .is_none()
        {
            if let Some((node, call_id)) = self.relaying_node(user, &to, call_id.as_deref()).await?
            {
                let request = Relayed::End { party, to, call_id };
                return self.relay(&node, request).await.map(drop);
            }
        }
        self.end_call(&party, &to, call_id.as_deref()).await
    }

    /// Ends a call relayed here at `party`'s request.
    async fn end_call(&self, party: &Party, to: &str, call_id: Option<&str>) -> ChatResult<()> {
        let user = party.user.as_str();
        let Some(call) = self.inner.calls.find(user, to, call_id) else {
            return self.ended_or_unknown(user, to, call_id).await;
        };
        if !call.admits(&party.socket) {
            return Err(not_in_call());
        }
        let _turn = call.turn.lock().await;
        // Asked again in our turn: another socket of the callee may have answered while this
        // end waited for it, and a decline from a socket left out must not end that call.
        if self
            .inner
            .calls
            .get(&call.record.call_id)
            .is_some_and(|current| !current.admits(&party.socket))
        {
            return Err(not_in_call());
        }
        self.end_in_turn(&call.record.call_id, Ending::By(user))
            .await
    }

    /// ICE or end for a call that is not live here: ignored when it was the pair's and it
    /// ended, `not_found` otherwise.
    async fn ended_or_unknown(
        &self,
        user: &str,
        to: &str,
        call_id: Option<&str>,
    ) -> ChatResult<()> {
        let call = match call_id {
            Some(id) => self.store().get_call(id).await?,
            // Without an id the pair's latest call is the one meant.
            None => self
                .store()
                .call_history(user, to, None, 1)
                .await?
                .items
                .pop(),
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

    /// Ends a live call once it is our turn; nothing when someone else ended it first.
    async fn end_live(&self, call: &LiveCall, ending: Ending<'_>) -> ChatResult<()> {
        let _turn = call.turn.lock().await;
        self.end_in_turn(&call.record.call_id, ending).await
    }

    /// Ends a live call; the caller holds its turn. The parties' lines are given back, and the
    /// parties are told `call_ended` (all but the one who ended it) and, once the final record
    /// is stored, `call_logged`.
    async fn end_in_turn(&self, call_id: &str, ending: Ending<'_>) -> ChatResult<()> {
        // Gone: ended by whoever had the turn before us. (One marked `ending` but still here
        // was interrupted mid-way, and is finished now.)
        let Some(call) = self.inner.calls.get(call_id) else {
            return Ok(());
        };
        let at = match ending {
            Ending::RangOut if call.record.status != CallStatus::Ringing => return Ok(()),
            // It ended when it had rung for the timeout, however late the timer noticed.
            Ending::RangOut => self.ring_deadline(&call.record),
            Ending::By(_) | Ending::Closed(_) | Ending::Unfriended(_) => self.now(),
        };
        self.inner.calls.update(call_id, |c| c.ending = true);
        let stored = self.store_end(&call.record, at, ending).await;
        // Free before anyone hears of the end: a party told `call_ended` may call again at once.
        self.release_lines(call_id).await;
        self.inner.calls.remove(call_id);
        let (caller, callee) = (call.record.caller.as_str(), call.record.callee.as_str());
        for (to, from) in [(callee, caller), (caller, callee)] {
            if ending.ended_by() != Some(to) {
                self.inner.hub.push(
                    to,
                    &ServerEvent::CallEnded {
                        from: from.to_owned(),
                        call_id: call_id.to_owned(),
                    },
                    None,
                );
            }
        }
        match stored? {
            Some(ended) => self.log_call(&ended),
            None => tracing::warn!(call_id, "a live call was already final in the store"),
        }
        Ok(())
    }

    /// Stores the end of `live` at `at`, the way `ending` says; the final record, or `None`
    /// when the store already held a final one.
    async fn store_end(
        &self,
        live: &CallRecord,
        at: i64,
        ending: Ending<'_>,
    ) -> ChatResult<Option<CallRecord>> {
        let end = |call: &CallRecord| {
            CallLog::apply(call, CallEvent::End(at, ending.reason(call)))
                .map_err(|e| ChatError::Internal(e.to_string()))
        };
        let ended = end(live)?;
        if self.store().update_call(&ended, live.status).await? {
            return Ok(Some(ended));
        }
        // Our copy and the store disagree (a write interrupted with its socket): end the call
        // as the store has it, so the log never keeps a call open.
        match self.store().get_call(&live.call_id).await? {
            Some(stored) if !stored.status.is_final() => {
                let ended = end(&stored)?;
                let moved = self.store().update_call(&ended, stored.status).await?;
                Ok(moved.then_some(ended))
            }
            _ => Ok(None),
        }
    }

    /// Tells both parties, on every socket, a call's final record.
    fn log_call(&self, call: &CallRecord) {
        let logged = ServerEvent::CallLogged { call: call.clone() };
        self.inner.hub.push(&call.caller, &logged, None);
        self.inner.hub.push(&call.callee, &logged, None);
    }

    /// When a call ringing since its `started_at` rings out.
    fn ring_deadline(&self, call: &CallRecord) -> i64 {
        let timeout = i64::try_from(self.inner.config.ring_timeout.as_millis()).unwrap_or(i64::MAX);
        call.started_at.saturating_add(timeout)
    }

    /// Ends calls that rang longer than the ring timeout.
    pub(super) async fn end_unanswered_calls(&self, now: i64) {
        let expired = self.inner.calls.matching(|c| {
            !c.ending
                && c.record.status == CallStatus::Ringing
                && now >= self.ring_deadline(&c.record)
        });
        for call in expired {
            if let Err(err) = self.end_live(&call, Ending::RangOut).await {
                tracing::warn!(?err, "ending an unanswered call failed");
            }
        }
    }

    /// Ends the calls a closing socket placed or answered, and calls ringing for a user whose
    /// last socket (on any node) closed; a call relayed by another node is handed to it.
    pub(super) async fn end_calls_of_session(&self, session: &Session, last: bool) {
        let party = self.here(session);
        let offline = last && !self.inner.hub.is_online(&party.user);
        self.end_calls_of_socket(&party, offline).await;
        for node in self.relaying_nodes_of(&party.user, None).await {
            let request = Relayed::Closed {
                party: party.clone(),
                offline,
            };
            self.relay_quietly(&node, request).await;
        }
    }

    /// Ends the calls relayed here that `party`'s closed socket placed or answered, and, when
    /// the user is `offline`, those ringing for them.
    async fn end_calls_of_socket(&self, party: &Party, offline: bool) {
        let user = party.user.as_str();
        let ending = self.inner.calls.matching(|c| {
            c.caller_socket == party.socket
                || c.callee_socket.as_ref() == Some(&party.socket)
                || (offline && c.record.callee == user && c.record.status == CallStatus::Ringing)
        });
        for call in ending {
            if let Err(err) = self.end_live(&call, Ending::Closed(user)).await {
                tracing::warn!(?err, "ending a call of a closed socket failed");
            }
        }
    }

    /// The other nodes relaying `user`'s calls (with `peer`, when given); none when the store
    /// cannot tell (logged).
    async fn relaying_nodes_of(&self, user: &str, peer: Option<&str>) -> Vec<String> {
        if self.inner.hub.alone() {
            return Vec::new();
        }
        match self.store().call_lines_of(user).await {
            Ok(lines) => {
                let mut nodes: Vec<String> = lines
                    .into_iter()
                    .filter(|line| line.node != self.inner.hub.node_id())
                    .filter(|line| peer.is_none_or(|peer| peer == line.peer))
                    .map(|line| line.node)
                    .collect();
                nodes.sort();
                nodes.dedup();
                nodes
            }
            Err(err) => {
                tracing::warn!(user, err = %err.chain(), "the lines of a user's calls unreadable");
                Vec::new()
            }
        }
    }

    /// Ends any live call between `remover` and the friend they just removed.
    pub(super) async fn end_calls_between(&self, remover: &str, removed: &str) {
        self.end_calls_between_here(remover, removed).await;
        for node in self.relaying_nodes_of(remover, Some(removed)).await {
            let request = Relayed::Unfriended {
                remover: remover.to_owned(),
                removed: removed.to_owned(),
            };
            self.relay_quietly(&node, request).await;
        }
    }

    async fn end_calls_between_here(&self, remover: &str, removed: &str) {
        for call in self
            .inner
            .calls
            .matching(|c| c.is_between(remover, removed))
        {
            if let Err(err) = self.end_live(&call, Ending::Unfriended(remover)).await {
                tracing::warn!(?err, "ending a call between former friends failed");
            }
        }
    }

    /// Ends every live call `user` is a party of (their account is being erased).
    pub(super) async fn end_calls_of_user(&self, user: &str) {
        self.end_calls_of_user_here(user).await;
        for node in self.relaying_nodes_of(user, None).await {
            let request = Relayed::Erased {
                user: user.to_owned(),
            };
            self.relay_quietly(&node, request).await;
        }
    }

    async fn end_calls_of_user_here(&self, user: &str) {
        for call in self.inner.calls.matching(|c| c.involves(user)) {
            if let Err(err) = self.end_live(&call, Ending::By(user)).await {
                tracing::warn!(?err, "ending a call of an erased account failed");
            }
        }
    }

    /// Closes out the calls a node that is gone left ringing or in progress: this node's own
    /// previous run, or another node that is no longer on the bus. Calls relayed by a node that
    /// answers are left alone. Their true end is unknown, so they end at the last moment known:
    /// a ringing call as missed when it would have rung out (`no_answer`; or now, if sooner,
    /// `disconnected`), an answered one as completed at its answer time (`disconnected`: its
    /// sockets closed with the node).
    pub(super) async fn close_out_unfinished_calls(&self) -> ChatResult<()> {
        let now = self.now();
        let relays: HashMap<String, String> = self
            .store()
            .call_lines()
            .await?
            .into_iter()
            .map(|line| (line.call_id, line.node))
            .collect();
        let mut gone: HashMap<String, bool> = HashMap::new();
        let mut closed = HashSet::new();
        for call in self.store().unfinished_calls().await? {
            if let Some(node) = relays.get(&call.call_id) {
                if !self.is_gone(node, &mut gone).await {
                    continue;
                }
            }
            let deadline = self.ring_deadline(&call);
            let (at, reason) = match call.answered_at {
                Some(answered) => (answered, EndReason::Disconnected),
                None if deadline <= now => (deadline, EndReason::NoAnswer),
                None => (now, EndReason::Disconnected),
            };
            self.close_out(&call, at, reason).await?;
            closed.insert(call.call_id);
        }
        // Lines whose call ended but whose release was lost with their node.
        for (call_id, node) in &relays {
            if !closed.contains(call_id) && self.is_gone(node, &mut gone).await {
                self.store().release_call_lines(call_id).await?;
            }
        }
        Ok(())
    }

    /// Ends the calls relayed here that a socket on one of `nodes` (gone) placed or answered,
    /// and those ringing for a callee who has no socket left on any node: nobody was there to
    /// tell this node that those sockets closed.
    async fn end_calls_of_sockets_on(&self, nodes: &[String]) {
        let on_gone = |socket: &Socket| nodes.contains(&socket.node);
        let ending = self.inner.calls.matching(|c| {
            on_gone(&c.caller_socket)
                || c.callee_socket.as_ref().is_some_and(on_gone)
                || (c.record.status == CallStatus::Ringing
                    && !self.inner.hub.is_online(&c.record.callee))
        });
        for call in ending {
            let party = if on_gone(&call.caller_socket) {
                &call.record.caller
            } else {
                &call.record.callee
            };
            if let Err(err) = self.end_live(&call, Ending::Closed(party)).await {
                tracing::warn!(?err, "ending a call of a node gone failed");
            }
        }
    }

    /// Whether `node` is gone: asked over the bus once (answers kept in `known`). A node that
    /// does not answer in time is not taken for gone: if it is, the nodes that knew it find out
    /// within the node timeout.
    async fn is_gone(&self, node: &str, known: &mut HashMap<String, bool>) -> bool {
        if node == self.inner.hub.node_id() {
            return false;
        }
        if let Some(gone) = known.get(node) {
            return *gone;
        }
        let probe = NodeRequest::Call(Relayed::Probe);
        let gone = matches!(self.ask(node, &probe).await, Reached::Gone);
        known.insert(node.to_owned(), gone);
        gone
    }

    /// Ends the calls relayed by `nodes`, which fell silent: the parties still connected on
    /// other nodes are told `call_ended` and `call_logged`. Every node that noticed tries; the
    /// store lets one of them end each call. The calls this node relays lose what sockets they
    /// had on those nodes, as if those had closed.
    pub(super) async fn close_out_calls_of(&self, nodes: &[String]) {
        self.end_calls_of_sockets_on(nodes).await;
        let result = async {
            let calls: HashSet<String> = self
                .store()
                .call_lines()
                .await?
                .into_iter()
                .filter(|line| nodes.contains(&line.node))
                .map(|line| line.call_id)
                .collect();
            let now = self.now();
            for call_id in calls {
                match self.store().get_call(&call_id).await? {
                    Some(call) if !call.status.is_final() => {
                        self.close_out(&call, now, EndReason::Disconnected).await?;
                    }
                    _ => self.store().release_call_lines(&call_id).await?,
                }
            }
            Ok::<(), ChatError>(())
        };
        if let Err(err) = result.await {
            tracing::warn!(
                ?err,
                ?nodes,
                "the calls of nodes gone were not all closed out"
            );
        }
    }

    /// Ends `call`, relayed by a node that is gone, at `at` for `reason`: when this node's
    /// update wins, the parties are told.
    async fn close_out(&self, call: &CallRecord, at: i64, reason: EndReason) -> ChatResult<()> {
        let ended = CallLog::apply(call, CallEvent::End(at, reason))
            .map_err(|e| ChatError::Internal(e.to_string()))?;
        let won = self.store().update_call(&ended, call.status).await?;
        self.store().release_call_lines(&call.call_id).await?;
        if won {
            for (to, from) in [(&call.callee, &call.caller), (&call.caller, &call.callee)] {
                self.inner.hub.push(
                    to,
                    &ServerEvent::CallEnded {
                        from: from.clone(),
                        call_id: call.call_id.clone(),
                    },
                    None,
                );
            }
            self.log_call(&ended);
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
        let slot = session.answer_slot().await;
        let user = session.user();
        let page = fill_page(
            limit,
            self.inner.config.limits.max_answer_bytes,
            limit,
            before,
            |before: Option<String>, n| {
                let with_user = &with_user;
                async move {
                    self.store()
                        .call_history(user, with_user, before.as_deref(), n)
                        .await
                        .map_err(|err| match err {
                            StoreError::NotFound(_) => {
                                ChatError::bad_request("before is not a call between you")
                            }
                            other => other.into(),
                        })
                }
            },
            |c: &CallRecord| c.call_id.clone(),
        )
        .await?;
        let event = ServerEvent::CallHistoryResponse {
            with_user,
            calls: page.items,
            has_more: page.has_more,
        };
        session.send_answer(vec![event.encode().into()], slot);
        Ok(())
    }
}
