//! Who is typing to whom, so a friend is told typing stopped when the typist's socket closes.
//!
//! For each typist and friend the map holds the socket whose `isTyping: true` is the typist's
//! latest report to that friend. A `false` from any of the typist's sockets removes the entry,
//! and so does the close of the socket it names, which then tells the friend `false`.
//! Unfriending removes the two users' entries for each other. So the map holds at most one
//! entry per typist and friend, each naming a socket that is open.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;

use crate::session::SessionId;

/// Typist → friend → the socket of the typist's latest `true` to that friend.
#[derive(Debug, Default)]
pub(super) struct Typists(Mutex<HashMap<String, HashMap<String, SessionId>>>);

impl Typists {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, SessionId>>> {
        self.0.lock()
    }

    /// Records a report relayed from `session` of `typist` to `friend`.
    pub(super) fn report(&self, typist: &str, friend: &str, session: SessionId, is_typing: bool) {
        let mut typists = self.lock();
        if is_typing {
            typists
                .entry(typist.to_owned())
                .or_default()
                .insert(friend.to_owned(), session);
        } else if let Some(friends) = typists.get_mut(typist) {
            friends.remove(friend);
            if friends.is_empty() {
                typists.remove(typist);
            }
        }
    }

    /// Forgets what `a` and `b` reported to each other (they stopped being friends: a closing
    /// socket tells nothing to a former friend).
    pub(super) fn forget_between(&self, a: &str, b: &str) {
        let mut typists = self.lock();
        for (typist, friend) in [(a, b), (b, a)] {
            if let Some(friends) = typists.get_mut(typist) {
                friends.remove(friend);
                if friends.is_empty() {
                    typists.remove(typist);
                }
            }
        }
    }

    /// Forgets the reports whose latest `true` came from the closing `session`: the friends
    /// they went to, who must be told typing stopped.
    pub(super) fn close(&self, typist: &str, session: SessionId) -> Vec<String> {
        let mut typists = self.lock();
        let Some(friends) = typists.get_mut(typist) else {
            return Vec::new();
        };
        let mut stopped = Vec::new();
        friends.retain(|friend, from| {
            let closing = *from == session;
            if closing {
                stopped.push(friend.clone());
            }
            !closing
        });
        if friends.is_empty() {
            typists.remove(typist);
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_socket_of_the_latest_true_stops_typing_on_close() {
        let typists = Typists::default();
        let (a1, a2) = (SessionId::next(), SessionId::next());
        typists.report("alice", "bob", a1, true);
        typists.report("alice", "carol", a1, true);
        typists.report("alice", "carol", a2, true);
        assert_eq!(typists.close("alice", a2), vec!["carol".to_owned()]);
        assert_eq!(typists.close("alice", a1), vec!["bob".to_owned()]);
        assert!(typists.lock().is_empty());

        typists.report("alice", "bob", a1, true);
        typists.report("alice", "bob", a2, false);
        assert!(typists.close("alice", a1).is_empty());
        assert!(typists.lock().is_empty());

        typists.report("alice", "bob", a1, true);
        typists.report("bob", "alice", a2, true);
        typists.forget_between("bob", "alice");
        assert!(typists.close("alice", a1).is_empty());
        assert!(typists.close("bob", a2).is_empty());
        assert!(typists.lock().is_empty());
    }
}
