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
