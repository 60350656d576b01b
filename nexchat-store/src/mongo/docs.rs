//! BSON documents ↔ records. Reading never panics: a document of the wrong shape is a
//! [`StoreError::Corrupt`] naming its collection and `_id`.

use mongodb::bson::{Bson, Document, doc};
use nexchat_core::protocol::{
    CallKind, CallRecord, CallStatus, EndReason, MessageStatus, StoredMessage,
};
use nexchat_core::store::{FriendLink, LinkStatus, StoreError, StoreResult, UserRecord};

use super::collections;

/// Reads typed fields of one stored document, turning every mismatch into a
/// [`StoreError::Corrupt`] that names the collection and the document's `_id`.
pub(super) struct Reader<'a> {
    collection: &'static str,
    doc: &'a Document,
}

impl<'a> Reader<'a> {
    pub(super) fn new(collection: &'static str, doc: &'a Document) -> Self {
        Self { collection, doc }
    }

    /// The document's `_id` as text, for error messages.
    pub(super) fn id_text(&self) -> String {
        match self.doc.get("_id") {
            Some(Bson::String(s)) => s.clone(),
            Some(Bson::ObjectId(oid)) => oid.to_hex(),
            Some(other) => other.to_string(),
            None => "<no _id>".to_owned(),
        }
    }

    pub(super) fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            collection: self.collection.to_owned(),
            id: self.id_text(),
            detail: detail.into(),
        }
    }

    /// A required string field.
    pub(super) fn str(&self, key: &str) -> StoreResult<String> {
        match self.doc.get(key) {
            Some(Bson::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.corrupt(format!(
                "field {key} is {:?}, not a string",
                other.element_type()
            ))),
            None => Err(self.corrupt(format!("field {key} is missing"))),
        }
    }

    /// A string field that may be missing or null (read as empty).
    pub(super) fn str_or_empty(&self, key: &str) -> StoreResult<String> {
        match self.doc.get(key) {
            None | Some(Bson::Null) => Ok(String::new()),
            Some(_) => self.str(key),
        }
    }

    /// A string field where missing, null and `""` all mean none (`""` is how documents
    /// written before the field could be null say it).
    pub(super) fn opt_text(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.opt_str(key)?.filter(|text| !text.is_empty()))
    }

    /// A string field that may be missing or null.
    pub(super) fn opt_str(&self, key: &str) -> StoreResult<Option<String>> {
        match self.doc.get(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.str(key).map(Some),
        }
    }

    /// A required integer field. Accepts 32- and 64-bit integers and integral doubles (what a
    /// mongo shell writes for a number literal).
    pub(super) fn i64(&self, key: &str) -> StoreResult<i64> {
        match self.opt_i64(key)? {
            Some(n) => Ok(n),
            None => Err(self.corrupt(format!("field {key} is missing"))),
        }
    }

    /// An integer field that may be missing or null.
    pub(super) fn opt_i64(&self, key: &str) -> StoreResult<Option<i64>> {
        match self.doc.get(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Int32(n)) => Ok(Some(i64::from(*n))),
            Some(Bson::Int64(n)) => Ok(Some(*n)),
            Some(Bson::Double(f))
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 =>
            {
                // Exact: an integral double below 2^53 converts without loss.
                Ok(Some(*f as i64))
            }
            Some(other) => Err(self.corrupt(format!(
                "field {key} is {:?}, not an integer",
                other.element_type()
            ))),
        }
    }

    /// A required string field parsed by `parse`.
    fn parsed<T>(&self, key: &str, parse: impl FnOnce(&str) -> Option<T>) -> StoreResult<T> {
        let text = self.str(key)?;
        parse(&text).ok_or_else(|| self.corrupt(format!("field {key} has unknown value {text:?}")))
    }
}

/// The `_id` of a document as a string (message and call ids are strings).
pub(super) fn string_id(collection: &'static str, doc: &Document) -> StoreResult<String> {
    Reader::new(collection, doc).str("_id")
}

pub(super) fn user_to_doc(user: &UserRecord) -> Document {
    doc! {
        "username": &user.username,
        "usernameLower": lower(&user.username),
        "password": user.password_hash.as_deref(),
        "publicKey": user.public_key.as_deref(),
        "encryptedPrivateKey": user.encrypted_private_key.as_deref(),
        "createdAt": user.created_at,
        "kdf": user.kdf.as_deref(),
    }
}

pub(super) fn user_from_doc(doc: &Document) -> StoreResult<UserRecord> {
    let r = Reader::new(collections::USERS, doc);
    Ok(UserRecord {
        username: r.str("username")?,
        password_hash: r.opt_text("password")?,
        public_key: r.opt_text("publicKey")?,
        encrypted_private_key: r.opt_text("encryptedPrivateKey")?,
        created_at: r.opt_i64("createdAt")?.unwrap_or(0),
        kdf: r.opt_str("kdf")?,
    })
}

pub(super) fn message_to_doc(message: &StoredMessage, seq: i64) -> Document {
    doc! {
        "_id": &message.id,
        "sender": &message.sender,
        "receiver": &message.receiver,
        "ciphertext": &message.ciphertext,
        "iv": &message.iv,
        "timestamp": message.timestamp,
        "status": message.status.as_str(),
        "seq": seq,
        "pair": pair_key(&message.sender, &message.receiver),
    }
}

pub(super) fn message_from_doc(doc: &Document) -> StoreResult<StoredMessage> {
    let r = Reader::new(collections::MESSAGES, doc);
    Ok(StoredMessage {
        id: r.str("_id")?,
        sender: r.str("sender")?,
        receiver: r.str("receiver")?,
        ciphertext: r.str("ciphertext")?,
        iv: r.str("iv")?,
        timestamp: r.i64("timestamp")?,
        status: r.parsed("status", MessageStatus::parse)?,
    })
}

pub(super) fn link_from_doc(doc: &Document) -> StoreResult<FriendLink> {
    let r = Reader::new(collections::FRIEND_REQUESTS, doc);
    Ok(FriendLink {
        sender: r.str("sender")?,
        receiver: r.str("receiver")?,
        status: r.parsed("status", LinkStatus::parse)?,
    })
}

/// The fields of a call that `update_call` replaces: everything but `_id` and `seq`. Absent
/// optional times are returned in the second document, for `$unset`.
pub(super) fn call_fields(call: &CallRecord) -> (Document, Document) {
    let mut set = doc! {
        "caller": &call.caller,
        "callee": &call.callee,
        "type": call.kind.as_str(),
        "status": call.status.as_str(),
        "startedAt": call.started_at,
        "duration": duration_to_i64(call.duration),
        "pair": pair_key(&call.caller, &call.callee),
    };
    let mut unset = Document::new();
    match call.end_reason {
        Some(reason) => {
            set.insert("endReason", reason.as_str());
        }
        None => {
            unset.insert("endReason", "");
        }
    }
    for (key, value) in [("answeredAt", call.answered_at), ("endedAt", call.ended_at)] {
        match value {
            Some(ms) => {
                set.insert(key, ms);
            }
            None => {
                unset.insert(key, "");
            }
        }
    }
    (set, unset)
}

pub(super) fn call_to_doc(call: &CallRecord, seq: i64) -> Document {
    let (mut doc, _) = call_fields(call);
    doc.insert("_id", &call.call_id);
    doc.insert("seq", seq);
    doc
}

pub(super) fn call_from_doc(doc: &Document) -> StoreResult<CallRecord> {
    let r = Reader::new(collections::CALLS, doc);
    let duration = r.opt_i64("duration")?.unwrap_or(0);
    Ok(CallRecord {
        call_id: r.str("_id")?,
        caller: r.str("caller")?,
        callee: r.str("callee")?,
        kind: r.parsed("type", CallKind::parse)?,
        status: r.parsed("status", CallStatus::parse)?,
        started_at: r.i64("startedAt")?,
        answered_at: r.opt_i64("answeredAt")?,
        ended_at: r.opt_i64("endedAt")?,
        duration: u64::try_from(duration)
            .map_err(|_| r.corrupt(format!("field duration is negative ({duration})")))?,
        // Missing in calls stored before reasons were.
        end_reason: match r.opt_str("endReason")? {
            None => None,
            Some(text) => {
                Some(EndReason::parse(&text).ok_or_else(|| {
                    r.corrupt(format!("field endReason has unknown value {text:?}"))
                })?)
            }
        },
    })
}

/// BSON has no unsigned integers; a duration in seconds never comes near `i64::MAX`.
fn duration_to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// The case-insensitive form of a username, as stored in `usernameLower` and pair keys. ASCII
/// only, like SQLite's `NOCASE` in the other backend (valid usernames are ASCII anyway).
pub(super) fn lower(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// The key of a pair of users, the same in either order: both names lowercased, sorted, each
/// with `\` and `|` escaped by a `\`, joined by `|` (`"alice|bob"`). The escaping keeps it
/// unambiguous for any names. It is the `_id` of the pair's one `friend_requests` document and
/// the indexed `pair` field of messages and calls. (Not NUL-joined: nx-27017 cannot match a
/// string containing NUL outside `_id`.)
pub(super) fn pair_key(a: &str, b: &str) -> String {
    let (a, b) = (lower(a), lower(b));
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let escape = |name: &str| name.replace('\\', "\\\\").replace('|', "\\|");
    format!("{}|{}", escape(&first), escape(&second))
}

/// The `_id` of `owner`'s conversation entry with `with`: the two names lowercased and escaped
/// as in [`pair_key`], in this order.
pub(super) fn conversation_key(owner: &str, with: &str) -> String {
    let escape = |name: &str| lower(name).replace('\\', "\\\\").replace('|', "\\|");
    format!("{}|{}", escape(owner), escape(with))
}

#[cfg(test)]
mod tests {
    use super::{conversation_key, pair_key};

    #[test]
    fn conversation_keys_keep_the_order_and_are_unambiguous() {
        assert_eq!(conversation_key("Bob", "alice"), "bob|alice");
        assert_ne!(conversation_key("a", "b"), conversation_key("b", "a"));
        assert_ne!(conversation_key("a|b", "c"), conversation_key("a", "b|c"));
    }

    #[test]
    fn pair_keys_are_symmetric_and_unambiguous() {
        assert_eq!(pair_key("Bob", "alice"), "alice|bob");
        assert_eq!(pair_key("alice", "BOB"), pair_key("bob", "Alice"));
        assert_ne!(pair_key("a|b", "c"), pair_key("a", "b|c"));
        assert_ne!(pair_key("a\\", "b"), pair_key("a", "\\b"));
    }
}
