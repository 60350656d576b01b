//! WebSocket tickets: short-lived, single-use stand-ins for a token in the `/ws` URL, so that a
//! browser never puts its token where logs and consoles can see it.
//!
//! Kept in the memory of the node that issued it, for 30 seconds (a client asks for one right
//! before it connects). A ticket names that node (`NODE.RANDOM`): another node of the chat that
//! gets it asks the issuer over the bus to use it up, so a ticket works wherever a load
//! balancer sends the upgrade, and still only once. Memory is bounded: each login session (or
//! each user of an embedder's own identity) holds at most [`PER_OWNER`] unused tickets, the
//! oldest dropped first, and the node at most [`MAX_TICKETS`].

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

use crate::chat::transport::Caller;
use crate::identity::Principal;

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
#[derive(Debug)]
pub(crate) struct Tickets {
    /// This node's id, the first part of each ticket it issues.
    node: String,
    state: Mutex<State>,
}

impl Tickets {
    /// No tickets yet, for the node named `node` (32 hex digits, see [`crate::Chat::node_id`]).
    pub(crate) fn new(node: String) -> Self {
        Self {
            node,
            state: Mutex::default(),
        }
    }

    /// The node that issued `ticket`, when the ticket is well formed.
    pub(crate) fn issuer(ticket: &str) -> Option<&str> {
        let (node, _) = ticket.split_once('.')?;
        // Only a node id is put into a bus subject: no dots, wildcards or spaces get there.
        (node.len() == 32 && node.bytes().all(|b| b.is_ascii_hexdigit())).then_some(node)
    }

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
            "{}.{}{}",
            self.node,
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

/// Whom a ticket was issued to, as it crosses the bus from the issuing node to the node that
/// got the upgrade.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TicketHolder {
    username: String,
    expires_at: Option<i64>,
    session: Option<String>,
}

impl From<Caller> for TicketHolder {
    fn from(caller: Caller) -> Self {
        Self {
            username: caller.principal.username,
            expires_at: caller.principal.expires_at,
            session: caller.session,
        }
    }
}

impl From<TicketHolder> for Caller {
    fn from(holder: TicketHolder) -> Self {
        let mut principal = Principal::new(holder.username);
        principal.expires_at = holder.expires_at;
        Self {
            principal,
            session: holder.session,
        }
    }
}
