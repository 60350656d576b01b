//! The sender keys of group chats (`docs/protocol.md`, "Sender keys"): this device's own, one
//! per group, and every one other members handed this user, by group, sender and key id.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use nexchat_core::protocol::GroupMessage;

use crate::crypto::SenderKey;

/// Messages kept while their sender key has not arrived (a key message from another of the
/// sender's devices may come after); the oldest is given up first.
const MAX_WAITING: usize = 512;

/// What this client knows of sender keys.
#[derive(Default)]
pub(crate) struct SenderKeys {
    /// This device's key per group, made before its first message there.
    own: Mutex<HashMap<String, SenderKey>>,
    /// Keys received, by (group, lowercased sender, key id).
    received: Mutex<HashMap<(String, String, String), SenderKey>>,
    /// Chat messages whose key has not arrived yet, oldest first.
    waiting: Mutex<VecDeque<GroupMessage>>,
}

impl SenderKeys {
    /// This device's key for `group`, and whether it was just made (then it must reach every
    /// member before the first message under it).
    pub(crate) fn own(&self, group: &str) -> (SenderKey, bool) {
        let mut own = self.own.lock();
        if let Some(key) = own.get(group) {
            return (key.clone(), false);
        }
        let key = SenderKey::generate();
        own.insert(group.to_owned(), key.clone());
        (key, true)
    }

    /// This device's key for `group`, if it has one.
    pub(crate) fn current(&self, group: &str) -> Option<SenderKey> {
        self.own.lock().get(group).cloned()
    }

    /// Forgets this device's key for `group`: after a member left, the next message goes under
    /// a new key that only the members left receive.
    pub(crate) fn forget_own(&self, group: &str) {
        self.own.lock().remove(group);
    }

    /// Keeps a key `sender` handed this user for `group`; returns the waiting messages it opens.
    pub(crate) fn learn(&self, group: &str, sender: &str, key: SenderKey) -> Vec<GroupMessage> {
        let sender = sender.to_ascii_lowercase();
        let key_id = key.key_id().to_owned();
        self.received
            .lock()
            .insert((group.to_owned(), sender.clone(), key_id.clone()), key);
        let mut waiting = self.waiting.lock();
        let (opened, still): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|m| {
            m.group == group
                && m.sender.eq_ignore_ascii_case(&sender)
                && m.key_id.as_deref() == Some(key_id.as_str())
        });
        waiting.extend(still);
        opened
    }

    /// The key a chat message was sent under, if it has arrived.
    pub(crate) fn key_of(&self, message: &GroupMessage) -> Option<SenderKey> {
        let key_id = message.key_id.clone()?;
        self.received
            .lock()
            .get(&(
                message.group.clone(),
                message.sender.to_ascii_lowercase(),
                key_id,
            ))
            .cloned()
    }

    /// Whether messages of `group` wait for their key.
    pub(crate) fn has_waiting(&self, group: &str) -> bool {
        self.waiting.lock().iter().any(|m| m.group == group)
    }

    /// The groups that have messages waiting for their key.
    pub(crate) fn waiting_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self
            .waiting
            .lock()
            .iter()
            .map(|m| m.group.clone())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Stops waiting for the keys of `group`'s messages: returns them, to be reported.
    pub(crate) fn give_up(&self, group: &str) -> Vec<GroupMessage> {
        let mut waiting = self.waiting.lock();
        let (given_up, still): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|m| m.group == group);
        waiting.extend(still);
        given_up
    }

    /// Keeps `message` until its key arrives; returns one given up to make room.
    pub(crate) fn wait(&self, message: GroupMessage) -> Option<GroupMessage> {
        let mut waiting = self.waiting.lock();
        let dropped = (waiting.len() == MAX_WAITING)
            .then(|| waiting.pop_front())
            .flatten();
        waiting.push_back(message);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use nexchat_core::protocol::MessageStatus;

    use super::*;

    fn message(group: &str, sender: &str, key_id: &str, id: &str) -> GroupMessage {
        GroupMessage {
            id: id.into(),
            group: group.into(),
            sender: sender.into(),
            to: None,
            key_id: Some(key_id.into()),
            ciphertext: String::new(),
            iv: String::new(),
            timestamp: 0,
            status: MessageStatus::Sent,
        }
    }

    #[test]
    fn a_key_opens_only_its_own_waiting_messages_and_the_rest_can_be_given_up() {
        let keys = SenderKeys::default();
        let key = SenderKey::generate();
        let kid = key.key_id().to_owned();
        assert!(keys.wait(message("g1", "Bob", &kid, "m1")).is_none());
        assert!(keys.wait(message("g1", "bob", "other key", "m2")).is_none());
        assert!(keys.wait(message("g2", "bob", &kid, "m3")).is_none());
        let opened = keys.learn("g1", "BOB", key);
        assert_eq!(
            opened.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["m1"]
        );
        assert_eq!(keys.waiting_groups(), ["g1", "g2"]);
        let given_up = keys.give_up("g1");
        assert_eq!(
            given_up.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["m2"]
        );
        assert!(!keys.has_waiting("g1") && keys.has_waiting("g2"));
    }

    #[test]
    fn the_oldest_waiting_message_makes_room() {
        let keys = SenderKeys::default();
        for i in 0..MAX_WAITING {
            assert!(
                keys.wait(message("g", "bob", "k", &i.to_string()))
                    .is_none()
            );
        }
        let dropped = keys
            .wait(message("g", "bob", "k", "last"))
            .expect("one given up");
        assert_eq!(dropped.id, "0");
    }
}
