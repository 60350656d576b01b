//! The sessions (open sockets) of this node, per user.
//!
//! The one place that knows about this node's sockets. What other nodes hold is the business of
//! the fan-out seam ([`crate::fanout`]); [`crate::Hub`] puts the two together.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::session::{CloseReason, SessionHandle, SessionId};

/// The registry of this node's open sessions per user.
#[derive(Debug, Default)]
pub(crate) struct NodeSessions {
    users: RwLock<HashMap<Arc<str>, Vec<SessionHandle>>>,
}

/// Why a session could not join the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManySessions;

impl NodeSessions {
    /// Adds a session; `Ok(true)` when it is the user's first (they just came online).
    pub(crate) fn register(
        &self,
        user: &str,
        session: SessionHandle,
        max: usize,
    ) -> Result<bool, TooManySessions> {
        let mut users = self.write();
        let sessions = users.entry(Arc::from(user)).or_default();
        if sessions.len() >= max {
            return Err(TooManySessions);
        }
        sessions.push(session);
        crate::metrics::sockets_open(1.0);
        Ok(sessions.len() == 1)
    }

    /// Removes a session; true when it was the user's last (they just went offline).
    pub(crate) fn unregister(&self, user: &str, id: SessionId) -> bool {
        let mut users = self.write();
        let Some(sessions) = users.get_mut(user) else {
            return false;
        };
        let before = sessions.len();
        sessions.retain(|s| s.id != id);
        let removed = sessions.len() < before;
        if removed {
            crate::metrics::sockets_open(-1.0);
        }
        if sessions.is_empty() {
            users.remove(user);
        }
        removed && !users.contains_key(user)
    }

    /// Whether the user has at least one open session on this node.
    pub(crate) fn is_online(&self, user: &str) -> bool {
        self.read().contains_key(user)
    }

    /// How many sessions `user` has open on this node.
    pub(crate) fn session_count(&self, user: &str) -> usize {
        self.read().get(user).map_or(0, Vec::len)
    }

    /// Bytes queued to `user`'s sockets and not yet taken by their writers: what the server
    /// holds for them, each socket within [`crate::Limits::outbox_bytes`].
    pub(crate) fn queued_bytes(&self, user: &str) -> usize {
        self.read().get(user).map_or(0, |sessions| {
            sessions.iter().map(SessionHandle::queued_bytes).sum()
        })
    }

    /// How many sessions are open on this node, and the bytes queued to them.
    pub(crate) fn totals(&self) -> (usize, usize) {
        self.read()
            .values()
            .flatten()
            .fold((0, 0), |(count, bytes), session| {
                (count + 1, bytes + session.queued_bytes())
            })
    }

    /// How many users have a session on this node.
    pub(crate) fn online_count(&self) -> usize {
        self.read().len()
    }

    /// The users with a session on this node.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn users(&self) -> Vec<String> {
        self.read().keys().map(|u| u.to_string()).collect()
    }

    /// Pushes an already encoded frame to every session of `user` here, except `except`.
    pub(crate) fn push_frame(&self, user: &str, frame: &Arc<str>, except: Option<SessionId>) {
        if let Some(sessions) = self.read().get(user) {
            let mut pushed = 0;
            for session in sessions.iter().filter(|s| Some(s.id) != except) {
                session.push(frame);
                pushed += 1;
            }
            crate::metrics::pushes_delivered(pushed);
        }
    }

    /// Pushes a `presence` frame to every session of `user` on this node (see
    /// [`SessionHandle::push_presence`]).
    pub(crate) fn push_presence(&self, user: &str, frame: &Arc<str>) {
        if let Some(sessions) = self.read().get(user) {
            for session in sessions.iter() {
                session.push_presence(frame);
            }
            crate::metrics::pushes_delivered(sessions.len() as u64);
        }
    }

    /// Closes every session whose token expired at or before `now_ms`.
    pub(crate) fn close_expired(&self, now_ms: i64) {
        for session in self.read().values().flatten() {
            if session.expires_at.is_some_and(|at| at <= now_ms) {
                session.close(CloseReason::TOKEN_EXPIRED);
            }
        }
    }

    /// Asks every session of `user` on this node to close.
    pub(crate) fn close_user(&self, user: &str, reason: &CloseReason) {
        if let Some(sessions) = self.read().get(user) {
            for session in sessions {
                session.close(reason.clone());
            }
        }
    }

    /// Asks every session on this node to close (server shutdown).
    pub(crate) fn close_all(&self, reason: &CloseReason) {
        for session in self.read().values().flatten() {
            session.close(reason.clone());
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<Arc<str>, Vec<SessionHandle>>> {
        self.users.read()
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Arc<str>, Vec<SessionHandle>>> {
        self.users.write()
    }
}
