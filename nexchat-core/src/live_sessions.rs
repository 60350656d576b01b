//! What this node knows about login sessions, so that checking a token costs no store read.
//!
//! A session is loaded from the store the first time the node meets it (after a restart, or one
//! started through another node), then kept here until its token expires. Ending a session on
//! this node marks it ended here at once and closes the sockets attached to it. What this node
//! knows is trusted for [`crate::Config::session_cache_ttl`]: after that a request re-reads the
//! session, and the timer re-checks, in one store query, every session that has sockets here,
//! so a session ended through another node is refused, and its sockets closed, within that
//! time. (A bus between nodes, when there is one, can end them at once instead.)

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::session::{SessionHandle, SessionId};

/// How often a session's `last_seen_at` is written to the store at most (ms).
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug)]
struct Entry {
    user: Arc<str>,
    expires_at: i64,
    ended: bool,
    /// When the store last confirmed the session (ms).
    verified_at: i64,
    /// When `last_seen_at` was last written (ms).
    touched_at: i64,
    sockets: Vec<SessionHandle>,
}

/// What this node knows about one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    /// Open, for the user named, confirmed recently enough to trust.
    Open(Arc<str>),
    /// Ended (kept until its token would have expired, so it is refused without a store read).
    Ended,
    /// Not known here, or not confirmed recently: ask the store.
    Unsure,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<Arc<str>, Entry>,
    /// Which session each attached socket belongs to.
    sockets: HashMap<SessionId, Arc<str>>,
}

/// The login sessions this node has met.
#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    state: Mutex<State>,
}

impl LiveSessions {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// What is known of `id` at `now`, trusting a confirmation younger than `ttl_ms`.
    pub(crate) fn known(&self, id: &str, now: i64, ttl_ms: i64) -> Known {
        match self.lock().sessions.get(id) {
            Some(entry) if entry.ended => Known::Ended,
            Some(entry) if now - entry.verified_at < ttl_ms => Known::Open(Arc::clone(&entry.user)),
            _ => Known::Unsure,
        }
    }

    /// The store confirmed `id` open for `user` at `now`; `last_seen_at` is what it holds.
    /// False when the session ended here meanwhile (an end wins over a stale confirmation).
    pub(crate) fn confirm(
        &self,
        id: &str,
        user: &str,
        expires_at: i64,
        last_seen_at: i64,
        now: i64,
    ) -> bool {
        let mut state = self.lock();
        let entry = state.sessions.entry(id.into()).or_insert_with(|| Entry {
            user: user.into(),
            expires_at,
            ended: false,
            verified_at: now,
            touched_at: last_seen_at,
            sockets: Vec::new(),
        });
        entry.verified_at = entry.verified_at.max(now);
        !entry.ended
    }

    /// The store confirmed a session this node knows still open at `now`.
    pub(crate) fn refresh(&self, id: &str, now: i64) {
        if let Some(entry) = self.lock().sessions.get_mut(id) {
            entry.verified_at = entry.verified_at.max(now);
        }
    }

    /// Marks `id` ended (kept until `expires_at`) and closes its sockets here with `reason`.
    pub(crate) fn end(&self, id: &str, expires_at: i64, reason: &crate::session::CloseReason) {
        let sockets = {
            let mut state = self.lock();
            let entry = state.sessions.entry(id.into()).or_insert_with(|| Entry {
                user: "".into(),
                expires_at,
                ended: true,
                verified_at: i64::MIN,
                touched_at: i64::MIN,
                sockets: Vec::new(),
            });
            entry.ended = true;
            std::mem::take(&mut entry.sockets)
        };
        for socket in &sockets {
            socket.close(reason.clone());
        }
    }

    /// Whether `last_seen_at` of `id` should be written now (at most once a minute); when
    /// true, it counts as written.
    pub(crate) fn take_touch(&self, id: &str, now: i64) -> bool {
        let mut state = self.lock();
        match state.sessions.get_mut(id) {
            Some(entry) if !entry.ended && now - entry.touched_at >= TOUCH_EVERY_MS => {
                entry.touched_at = now;
                true
            }
            _ => false,
        }
    }

    /// Attaches an open socket to session `id`; false (nothing attached) when the session
    /// ended or is not known here.
    pub(crate) fn attach(&self, id: &str, socket: &SessionHandle) -> bool {
        let mut state = self.lock();
        let Some((key, entry)) = state.sessions.get_key_value(id) else {
            return false;
        };
        if entry.ended {
            return false;
        }
        let key = Arc::clone(key);
        if let Some(entry) = state.sessions.get_mut(id) {
            entry.sockets.push(socket.clone());
        }
        state.sockets.insert(socket.id, key);
        true
    }

    /// Detaches a closed socket.
    pub(crate) fn detach(&self, socket: SessionId) {
        let mut state = self.lock();
        if let Some(id) = state.sockets.remove(&socket) {
            if let Some(entry) = state.sessions.get_mut(&id) {
                entry.sockets.retain(|s| s.id != socket);
            }
        }
    }

    /// Open sessions with sockets here whose confirmation will be older than `ttl_ms` within
    /// `ahead_ms`: what the timer re-checks, so none goes unchecked longer than `ttl_ms`.
    pub(crate) fn due_for_check(&self, now: i64, ttl_ms: i64, ahead_ms: i64) -> Vec<String> {
        self.lock()
            .sessions
            .iter()
            .filter(|(_, e)| {
                !e.ended && !e.sockets.is_empty() && now + ahead_ms - e.verified_at >= ttl_ms
            })
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// Forgets sessions whose token expired (their sockets are closed by the expiry timer).
    pub(crate) fn prune(&self, now: i64) {
        let mut state = self.lock();
        state.sessions.retain(|_, e| e.expires_at > now);
    }
}
