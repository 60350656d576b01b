//! WebSocket tickets: short-lived, single-use stand-ins for a token in the `/ws` URL, so that a
//! browser never puts its token where logs and consoles can see it.
//!
//! Kept in memory: a ticket lives 30 seconds and is used by the node that issued it (a client
//! asks for one right before it connects). Memory is bounded: each login session (or each user
//! of an embedder's own identity) holds at most [`PER_OWNER`] unused tickets, the oldest
//! dropped first, and the node at most [`MAX_TICKETS`].

use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, VecDeque};

use crate::chat::transport::Caller;

/// How long a ticket may wait to be used (ms).
pub(crate) const TICKET_TTL_MS: i64 = 30_000;
/// Unused tickets one owner may hold; asking for more drops their oldest.
const PER_OWNER: usize = 16;
/// Unused tickets this node holds at most; past it new ones are refused until some expire.
const MAX_TICKETS: usize = 100_000;

#[derive(Debug)]
struct Ticket {
    caller: Caller,
    owner: String,
    expires_at: i64,
}

#[derive(Debug, Default)]
struct State {
    tickets: HashMap<String, Ticket>,
    /// Each owner's unused tickets, oldest first.
    owners: HashMap<String, VecDeque<String>>,
}

impl State {
    fn remove(&mut self, ticket: &str) -> Option<Ticket> {
        let removed = self.tickets.remove(ticket)?;
        if let Some(queue) = self.owners.get_mut(&removed.owner) {
            queue.retain(|t| t != ticket);
            if queue.is_empty() {
                self.owners.remove(&removed.owner);
            }
        }
        Some(removed)
    }
}

/// The unused tickets of this node.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    state: Mutex<State>,
}

impl Tickets {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// A new ticket for `caller`, with its expiry (ms); `None` when the node holds the most
    /// tickets it may.
    pub(crate) fn issue(&self, caller: &Caller, now: i64) -> Option<(String, i64)> {
        let owner = match &caller.session {
            Some(session) => format!("s:{session}"),
            None => format!("u:{}", caller.principal.username),
        };
        let mut state = self.lock();
        if state.tickets.len() >= MAX_TICKETS {
            self.prune_locked(&mut state, now);
            if state.tickets.len() >= MAX_TICKETS {
                return None;
            }
        }
        let oldest = state
            .owners
            .get(&owner)
            .filter(|queue| queue.len() >= PER_OWNER)
            .and_then(|queue| queue.front().cloned());
        if let Some(oldest) = oldest {
            state.remove(&oldest);
        }
        // Two v4 UUIDs: 244 random bits from the operating system's generator.
        let ticket = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let expires_at = now + TICKET_TTL_MS;
        state.tickets.insert(
            ticket.clone(),
            Ticket {
                caller: caller.clone(),
                owner: owner.clone(),
                expires_at,
            },
        );
        state
            .owners
            .entry(owner)
            .or_default()
            .push_back(ticket.clone());
        Some((ticket, expires_at))
    }

    /// Uses up `ticket`: whatever comes of it, it never works again. The caller it was issued
    /// to, when it had not expired.
    pub(crate) fn take(&self, ticket: &str, now: i64) -> Option<Caller> {
        let found = self.lock().remove(ticket)?;
        (found.expires_at > now).then_some(found.caller)
    }

    /// Drops expired tickets.
    pub(crate) fn prune(&self, now: i64) {
        let mut state = self.lock();
        self.prune_locked(&mut state, now);
    }

    fn prune_locked(&self, state: &mut State, now: i64) {
        let expired: Vec<String> = state
            .tickets
            .iter()
            .filter(|(_, t)| t.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for ticket in expired {
            state.remove(&ticket);
        }
    }
}
