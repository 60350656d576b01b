//! [`MemoryStore`]: every storage trait over plain collections in memory.
//!
//! It is the reference a new backend can be read against: each method is the trait's promise
//! written as directly as it can be, with one lock around the whole state, so every conditional
//! step (insert-or-return-existing, move a status only from an expected value) is trivially
//! atomic. It passes the storage conformance suite like the SQLite and MongoDB backends do.
//!
//! Use it in tests and demos: nothing is written to disk, everything is lost when the store is
//! dropped, and nothing is ever evicted (memory grows with what is stored).
//!
//! ```
//! # async fn demo() -> nexchat_core::ChatResult<()> {
//! use nexchat_core::store::memory::MemoryStore;
//! use nexchat_core::{Chat, Config};
//!
//! let config = Config::new("a test secret of at least 32 bytes").expect("long enough");
//! let chat = Chat::builder(config, MemoryStore::new()).build().await?;
//! # drop(chat);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};

mod attachments;
mod groups;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{
    CallLine, CallStore, Credentials, FriendLink, FriendStore, Inserted, LineTaken, LinkStatus,
    MessageStore, Page, SessionRecord, SessionStore, StoreError, StoreResult, UserRecord,
    UserStore,
};
use crate::protocol::{CallRecord, CallStatus, Conversation, MessageStatus, StoredMessage};

/// A [`super::Store`] in memory. Cheap to create; not shared between instances (wrap it in an
/// [`std::sync::Arc`] to hand several chats, or the chat and a test, the same store).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Accounts by ASCII-lowercased name: the key is what makes a name unique in any case.
    users: BTreeMap<String, Account>,
    /// Links by the pair of names in byte order, one per pair whoever asked.
    links: HashMap<(String, String), FriendLink>,
    messages: Log<StoredMessage>,
    /// The highest timestamp given to a message so far.
    last_timestamp: i64,
    calls: Log<CallRecord>,
    /// Lines of live calls.
    call_lines: Vec<CallLine>,
    sessions: HashMap<String, SessionRecord>,
    /// Groups by id (see `groups`).
    groups: HashMap<String, groups::GroupState>,
    group_messages: Log<groups::Stored>,
    /// The highest timestamp given to a group message so far.
    last_group_timestamp: i64,
    /// Attachments by id (see `attachments`).
    attachments: HashMap<String, attachments::Attachment>,
}

#[derive(Debug)]
struct Account {
    record: UserRecord,
    erasure: Erasure,
}

/// Where an account stands in an erasure (see [`UserStore::mark_erasing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Erasure {
    Live,
    Marked,
    Tombstoned,
}

impl State {
    /// The live account named `username` in any letter case.
    fn live_user(&mut self, username: &str) -> Option<&mut UserRecord> {
        self.users
            .get_mut(&username.to_ascii_lowercase())
            .filter(|a| a.erasure == Erasure::Live)
            .map(|a| &mut a.record)
    }
}

/// Records in storage order: each gets the next sequence number, which orders history and
/// paging; an index by id finds them.
#[derive(Debug)]
struct Log<T> {
    by_seq: BTreeMap<u64, T>,
    seq_of: HashMap<String, u64>,
    next_seq: u64,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Self {
            by_seq: BTreeMap::new(),
            seq_of: HashMap::new(),
            next_seq: 1,
        }
    }
}

impl<T: Clone> Log<T> {
    fn get(&self, id: &str) -> Option<&T> {
        self.seq_of.get(id).and_then(|seq| self.by_seq.get(seq))
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.seq_of.get(id).and_then(|seq| self.by_seq.get_mut(seq))
    }

    /// Appends a record whose id is not stored yet.
    fn push(&mut self, id: String, record: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.seq_of.insert(id, seq);
        self.by_seq.insert(seq, record);
    }

    /// Drops every record `doomed` picks.
    fn remove_where(&mut self, id_of: impl Fn(&T) -> &str, doomed: impl Fn(&T) -> bool) {
        let seqs: Vec<u64> = self
            .by_seq
            .iter()
            .filter(|(_, r)| doomed(r))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in seqs {
            if let Some(record) = self.by_seq.remove(&seq) {
                self.seq_of.remove(id_of(&record));
            }
        }
    }

    /// The one history pager of this backend: records `in_pair` picks, newest first, strictly
    /// older than the record `before` (which must itself be one of them), at most `limit`,
    /// reading one past the page to learn whether more follow.
    fn page_before(
        &self,
        in_pair: impl Fn(&T) -> bool,
        before: Option<&str>,
        limit: usize,
        not_found: impl FnOnce(&str) -> String,
    ) -> StoreResult<Page<T>> {
        let end = match before {
            None => u64::MAX,
            Some(id) => self
                .seq_of
                .get(id)
                .copied()
                .filter(|seq| self.by_seq.get(seq).is_some_and(&in_pair))
                .ok_or_else(|| StoreError::NotFound(not_found(id)))?,
        };
        let items = self
            .by_seq
            .range(..end)
            .rev()
            .map(|(_, r)| r)
            .filter(|r| in_pair(r))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        Ok(Page::from_one_more(items, limit))
    }
}

/// The two names of a pair in a fixed order, the same whoever is first.
fn pair_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

fn is_pair(x: &str, y: &str, a: &str, b: &str) -> bool {
    (x == a && y == b) || (x == b && y == a)
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        let mut state = self.state.lock();
        let key = user.username.to_ascii_lowercase();
        if state.users.contains_key(&key) {
            return Err(StoreError::Conflict(format!(
                "username {} is taken",
                user.username
            )));
        }
        let account = Account {
            record: user.clone(),
            erasure: Erasure::Live,
        };
        state.users.insert(key, account);
        Ok(())
    }

    async fn find_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self.state.lock().live_user(username).cloned())
    }

    async fn set_public_key(&self, username: &str, public_key: &str) -> StoreResult<()> {
        if let Some(user) = self.state.lock().live_user(username) {
            user.public_key = Some(public_key.to_owned());
        }
        Ok(())
    }

    async fn search_users(
        &self,
        prefix: &str,
        exclude: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let (prefix, exclude) = (prefix.to_ascii_lowercase(), exclude.to_ascii_lowercase());
        let state = self.state.lock();
        // The map is sorted by lowercased name, which is the order the trait asks for.
        Ok(state
            .users
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter(|(key, a)| a.erasure == Erasure::Live && **key != exclude)
            .take(limit)
            .map(|(_, a)| a.record.username.clone())
            .collect())
    }

    async fn replace_credentials(
        &self,
        username: &str,
        expected_hash: &str,
        credentials: &Credentials,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.live_user(username) {
            Some(user) if user.password_hash.as_deref() == Some(expected_hash) => {
                user.password_hash = Some(credentials.password_hash.clone());
                user.kdf.clone_from(&credentials.kdf);
                user.encrypted_private_key = Some(credentials.encrypted_private_key.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_erasing(&self, username: &str) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.users.get_mut(&username.to_ascii_lowercase()) {
            Some(account) if account.erasure == Erasure::Live => {
                account.erasure = Erasure::Marked;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn erasing_users(&self) -> StoreResult<Vec<String>> {
        let state = self.state.lock();
        Ok(state
            .users
            .values()
            .filter(|a| a.erasure == Erasure::Marked)
            .map(|a| a.record.username.clone())
            .collect())
    }

    async fn tombstone_user(&self, username: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        let account = state.users.get_mut(&username.to_ascii_lowercase());
        if let Some(account) = account.filter(|a| a.erasure == Erasure::Marked) {
            account.erasure = Erasure::Tombstoned;
            let record = &mut account.record;
            record.password_hash = None;
            record.public_key = None;
            record.encrypted_private_key = None;
            record.kdf = None;
        }
        Ok(())
    }
}

#[async_trait]
impl FriendStore for MemoryStore {
    async fn link(&self, a: &str, b: &str) -> StoreResult<Option<FriendLink>> {
        Ok(self.state.lock().links.get(&pair_key(a, b)).cloned())
    }

    async fn create_request(&self, sender: &str, receiver: &str) -> StoreResult<bool> {
        let mut state = self.state.lock();
        let request = FriendLink {
            sender: sender.to_owned(),
            receiver: receiver.to_owned(),
            status: LinkStatus::Pending,
        };
        match state.links.get_mut(&pair_key(sender, receiver)) {
            Some(link) if link.status == LinkStatus::Rejected => *link = request,
            Some(_) => return Ok(false),
            None => {
                state.links.insert(pair_key(sender, receiver), request);
            }
        }
        Ok(true)
    }

    async fn transition_link(
        &self,
        sender: &str,
        receiver: &str,
        from: LinkStatus,
        to: LinkStatus,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.links.get_mut(&pair_key(sender, receiver)) {
            Some(link) if link.sender == sender && link.status == from => {
                link.status = to;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_link(
        &self,
        sender: &str,
        receiver: &str,
        status: LinkStatus,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        let key = pair_key(sender, receiver);
        match state.links.get(&key) {
            Some(link) if link.sender == sender && link.status == status => {
                state.links.remove(&key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn links_of(&self, user: &str) -> StoreResult<Vec<FriendLink>> {
        let state = self.state.lock();
        Ok(state
            .links
            .values()
            .filter(|l| l.sender == user || l.receiver == user)
            .cloned()
            .collect())
    }

    async fn are_friends(&self, a: &str, b: &str) -> StoreResult<bool> {
        let state = self.state.lock();
        Ok(state
            .links
            .get(&pair_key(a, b))
            .is_some_and(|l| l.status == LinkStatus::Accepted))
    }

    async fn delete_links_of(&self, user: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        state
            .links
            .retain(|_, l| l.sender != user && l.receiver != user);
        Ok(())
    }
}

/// Stores one message under a held lock (shared by the single and the batch insert).
fn insert_message(state: &mut State, message: &StoredMessage) -> Inserted {
    if let Some(existing) = state.messages.get(&message.id) {
        return Inserted::Existing(existing.clone());
    }
    let mut stored = message.clone();
    stored.timestamp = stored.timestamp.max(state.last_timestamp);
    state.last_timestamp = stored.timestamp;
    state.messages.push(stored.id.clone(), stored.clone());
    Inserted::New(stored)
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        Ok(insert_message(&mut self.state.lock(), message))
    }

    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        let mut state = self.state.lock();
        messages
            .iter()
            .map(|m| Ok(insert_message(&mut state, m)))
            .collect()
    }

    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        Ok(self.state.lock().messages.get(id).cloned())
    }

    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        let mut state = self.state.lock();
        let movable =
            |m: &StoredMessage| m.sender == sender && m.receiver == receiver && m.status < to;
        let moved: Vec<String> = match ids {
            None => state
                .messages
                .by_seq
                .values_mut()
                .filter(|m| movable(m))
                .map(|m| {
                    m.status = to;
                    m.id.clone()
                })
                .collect(),
            Some(ids) => {
                let mut seqs: Vec<u64> = ids
                    .iter()
                    .filter_map(|id| state.messages.seq_of.get(id).copied())
                    .collect();
                // Storage order, and an id listed twice moves (and is reported) once.
                seqs.sort_unstable();
                seqs.dedup();
                let mut moved = Vec::new();
                for seq in seqs {
                    if let Some(m) = state.messages.by_seq.get_mut(&seq).filter(|m| movable(m)) {
                        m.status = to;
                        moved.push(m.id.clone());
                    }
                }
                moved
            }
        };
        Ok(moved)
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        self.state.lock().messages.page_before(
            |m| is_pair(&m.sender, &m.receiver, a, b),
            before,
            limit,
            |id| format!("message {id} between {a} and {b}"),
        )
    }

    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        let state = self.state.lock();
        let log = &state.messages;
        let start = match after {
            None => 0,
            Some(id) => match log
                .seq_of
                .get(id)
                .filter(|seq| log.by_seq.get(*seq).is_some_and(|m| m.receiver == receiver))
            {
                Some(seq) => seq.saturating_add(1),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        has_more: false,
                    });
                }
            },
        };
        let items = log
            .by_seq
            .range(start..)
            .map(|(_, m)| m)
            .filter(|m| m.receiver == receiver && m.status == MessageStatus::Sent)
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        Ok(Page::from_one_more(items, limit))
    }

    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        // Computed from the messages at each call (a scan of them all, newest first): plain
        // rather than fast, which a store for tests can afford and a real backend cannot.
        let state = self.state.lock();
        let mut entries: Vec<Conversation> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for message in state.messages.by_seq.values().rev() {
            let with = if message.sender == user {
                &message.receiver
            } else if message.receiver == user {
                &message.sender
            } else {
                continue;
            };
            let at = *index.entry(with.as_str()).or_insert_with(|| {
                entries.push(Conversation {
                    with_user: with.clone(),
                    last_message: message.clone(),
                    unread: 0,
                });
                entries.len() - 1
            });
            if message.receiver == user && message.status != MessageStatus::Seen {
                entries[at].unread += 1;
            }
        }
        let start = match before {
            None => 0,
            Some(with) => index.get(with).map(|at| at + 1).ok_or_else(|| {
                StoreError::NotFound(format!("{user} has no conversation with {with}"))
            })?,
        };
        let items = entries
            .into_iter()
            .skip(start)
            .take(limit.saturating_add(1))
            .collect();
        Ok(Page::from_one_more(items, limit))
    }

    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        self.state
            .lock()
            .messages
            .remove_where(|m| &m.id, |m| m.sender == user || m.receiver == user);
        Ok(())
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn insert_call(&self, call: &CallRecord) -> StoreResult<()> {
        let mut state = self.state.lock();
        if state.calls.get(&call.call_id).is_some() {
            return Err(StoreError::Conflict(format!("call {}", call.call_id)));
        }
        state.calls.push(call.call_id.clone(), call.clone());
        Ok(())
    }

    async fn update_call(&self, call: &CallRecord, expected: CallStatus) -> StoreResult<bool> {
        let mut state = self.state.lock();
        match state.calls.get_mut(&call.call_id) {
            Some(stored) if stored.status == expected => {
                *stored = call.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_call(&self, call_id: &str) -> StoreResult<Option<CallRecord>> {
        Ok(self.state.lock().calls.get(call_id).cloned())
    }

    async fn call_history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<CallRecord>> {
        self.state.lock().calls.page_before(
            |c| is_pair(&c.caller, &c.callee, a, b),
            before,
            limit,
            |id| format!("call {id} between {a} and {b}"),
        )
    }

    async fn unfinished_calls(&self) -> StoreResult<Vec<CallRecord>> {
        let state = self.state.lock();
        Ok(state
            .calls
            .by_seq
            .values()
            .filter(|c| matches!(c.status, CallStatus::Ringing | CallStatus::InProgress))
            .cloned()
            .collect())
    }

    async fn delete_calls_of(&self, user: &str) -> StoreResult<()> {
        self.state
            .lock()
            .calls
            .remove_where(|c| &c.call_id, |c| c.caller == user || c.callee == user);
        Ok(())
    }

    async fn take_call_lines(&self, call: &CallRecord, node: &str) -> StoreResult<LineTaken> {
        let mut state = self.state.lock();
        if state.call_lines.iter().any(|line| line.user == call.callee) {
            return Ok(LineTaken::Busy(call.callee.clone()));
        }
        state.call_lines.extend(CallLine::of_call(call, node));
        Ok(LineTaken::Taken)
    }

    async fn release_call_lines(&self, call_id: &str) -> StoreResult<()> {
        self.state
            .lock()
            .call_lines
            .retain(|line| line.call_id != call_id);
        Ok(())
    }

    async fn call_lines_of(&self, user: &str) -> StoreResult<Vec<CallLine>> {
        let state = self.state.lock();
        Ok(state
            .call_lines
            .iter()
            .filter(|line| line.user == user)
            .cloned()
            .collect())
    }

    async fn call_lines(&self) -> StoreResult<Vec<CallLine>> {
        Ok(self.state.lock().call_lines.clone())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let mut state = self.state.lock();
        if state.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict(format!("session {}", session.id)));
        }
        state.sessions.insert(session.id.clone(), session.clone());
        Ok(())
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(self.state.lock().sessions.get(id).cloned())
    }

    async fn sessions_of(&self, username: &str) -> StoreResult<Vec<SessionRecord>> {
        let state = self.state.lock();
        let mut sessions: Vec<SessionRecord> = state
            .sessions
            .values()
            .filter(|s| s.username == username)
            .cloned()
            .collect();
        // Newest first; the id breaks ties so the order never depends on the map's.
        sessions.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
        Ok(sessions)
    }

    async fn existing_sessions(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        let state = self.state.lock();
        Ok(ids
            .iter()
            .filter(|id| state.sessions.contains_key(id.as_str()))
            .cloned()
            .collect())
    }

    async fn touch_session(&self, id: &str, at: i64) -> StoreResult<()> {
        if let Some(session) = self.state.lock().sessions.get_mut(id) {
            session.last_seen_at = session.last_seen_at.max(at);
        }
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        Ok(self.state.lock().sessions.remove(id).is_some())
    }

    async fn delete_expired_sessions(&self, username: &str, now: i64) -> StoreResult<u64> {
        let mut state = self.state.lock();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, s| s.username != username || s.expires_at > now);
        Ok((before - state.sessions.len()) as u64)
    }
}
