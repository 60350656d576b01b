//! `messages`: the message id is the `_id`, storage order is `seq` (see the module docs of
//! [`super`]).

use std::collections::HashSet;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use nexchat_core::protocol::{Conversation, MessageStatus, StoredMessage};
use nexchat_core::store::{Inserted, MessageStore, Page, StoreError, StoreResult, insert_in_turn};

use super::docs::{self, Reader, conversation_key, pair_key};
use super::{MongoStore, backend, collections, is_duplicate_key, limit_plus_one};

impl MongoStore {
    /// Inserts a message whose seq and timestamp are already taken; an id already stored
    /// answers the stored message.
    async fn insert_at(&self, stored: StoredMessage, seq: i64) -> StoreResult<Inserted> {
        match self
            .messages
            .insert_one(docs::message_to_doc(&stored, seq))
            .await
        {
            Ok(_) => {
                self.note_in_conversations(&stored, seq).await?;
                Ok(Inserted::New(stored))
            }
            // The id is taken: this is a resend (or another sender's id, which the caller
            // tells apart by the returned message's sender). The seq taken stays unused.
            Err(e) if is_duplicate_key(&e) => match self.get_message(&stored.id).await? {
                Some(existing) => Ok(Inserted::Existing(existing)),
                None => Err(StoreError::Backend(format!(
                    "message {} refused as a duplicate but not found",
                    stored.id
                ))),
            },
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl MessageStore for MongoStore {
    async fn insert_message(&self, message: &StoredMessage) -> StoreResult<Inserted> {
        let (seq, timestamp) = self
            .next_seq(collections::MESSAGES, message.timestamp)
            .await?;
        let stored = StoredMessage {
            timestamp,
            ..message.clone()
        };
        self.insert_at(stored, seq).await
    }

    async fn insert_messages(&self, messages: Vec<StoredMessage>) -> Vec<StoreResult<Inserted>> {
        let mut ids = HashSet::new();
        let distinct = messages.iter().all(|m| ids.insert(m.id.as_str()));
        if messages.len() < 2 || !distinct {
            // An id twice in one batch: the first copy must be stored before the second
            // meets it, so these go one by one.
            return insert_in_turn(self, &messages).await;
        }
        // One counter update reserves a seq for each message, in order; the inserts then
        // overlap, and storage order is the seqs' whatever order they land in.
        let latest = messages
            .iter()
            .map(|m| m.timestamp)
            .max()
            .unwrap_or(i64::MIN);
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let (first_seq, mut floor) = match self
            .reserve_seqs(collections::MESSAGES, count, latest)
            .await
        {
            Ok(reserved) => reserved,
            Err(err) => return messages.iter().map(|_| Err(err.clone())).collect(),
        };
        let inserts = messages.into_iter().zip(first_seq..).map(|(message, seq)| {
            floor = floor.max(message.timestamp);
            let stored = StoredMessage {
                timestamp: floor,
                ..message
            };
            self.insert_at(stored, seq)
        });
        futures::future::join_all(inserts.collect::<Vec<_>>()).await
    }

    async fn get_message(&self, id: &str) -> StoreResult<Option<StoredMessage>> {
        self.messages
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| docs::message_from_doc(&d))
            .transpose()
    }

    async fn advance_status(
        &self,
        sender: &str,
        receiver: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<Vec<String>> {
        let lower: Vec<&str> = [MessageStatus::Sent, MessageStatus::Delivered]
            .into_iter()
            .filter(|s| *s < to)
            .map(MessageStatus::as_str)
            .collect();
        if lower.is_empty() || ids.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        // 1. The messages to move, in storage order.
        let mut filter =
            doc! { "receiver": receiver, "status": { "$in": &lower }, "sender": sender };
        if let Some(ids) = ids {
            filter.insert("_id", doc! { "$in": ids });
        }
        let candidates: Vec<Document> = self
            .messages
            .find(filter)
            .projection(doc! { "_id": 1 })
            .sort(doc! { "seq": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let candidates = candidates
            .iter()
            .map(|d| docs::string_id(collections::MESSAGES, d))
            .collect::<StoreResult<Vec<String>>>()?;
        if candidates.is_empty() {
            return Ok(candidates);
        }
        // 2. Move those still lower, marking them with this operation's id.
        let op_field = match to {
            MessageStatus::Delivered => "deliveredOp",
            _ => "seenOp",
        };
        // A string, not an ObjectId: nx-27017 never matches an ObjectId outside `_id`.
        let op = ObjectId::new().to_hex();
        let moved = self
            .messages
            .update_many(
                doc! { "_id": { "$in": &candidates }, "status": { "$in": &lower } },
                doc! { "$set": { "status": to.as_str(), op_field: &op } },
            )
            .await
            .map_err(backend)?;
        if usize::try_from(moved.modified_count).ok() == Some(candidates.len()) {
            self.take_off_unread(sender, receiver, to, candidates.len())
                .await?;
            return Ok(candidates);
        }
        // 3. A racing call moved some of them first: ours are those carrying our operation id.
        let ours: Vec<Document> = self
            .messages
            .find(doc! { "_id": { "$in": &candidates }, op_field: &op })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let ours: Vec<Bson> = ours
            .into_iter()
            .filter_map(|mut d| d.remove("_id"))
            .collect();
        let ours: Vec<String> = candidates
            .into_iter()
            .filter(|id| ours.iter().any(|o| o.as_str() == Some(id)))
            .collect();
        self.take_off_unread(sender, receiver, to, ours.len())
            .await?;
        Ok(ours)
    }

    async fn conversations(
        &self,
        user: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<Conversation>> {
        let mut filter = doc! { "owner": user };
        if let Some(with) = before {
            let found = self
                .conversations
                .find_one(doc! { "_id": conversation_key(user, with), "owner": user })
                .projection(doc! { "lastSeq": 1 })
                .await
                .map_err(backend)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("{user} has no conversation with {with}"))
                })?;
            let seq = Reader::new(collections::CONVERSATIONS, &found).i64("lastSeq")?;
            filter.insert("lastSeq", doc! { "$lt": seq });
        }
        // One document past the page says whether more follow.
        let entries: Vec<Document> = self
            .conversations
            .find(filter)
            .sort(doc! { "lastSeq": -1 })
            .limit(limit_plus_one(limit))
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let page = Page::from_one_more(entries, limit);
        let mut entries = Vec::with_capacity(page.items.len());
        for entry in &page.items {
            let r = Reader::new(collections::CONVERSATIONS, entry);
            let unread = r.opt_i64("unread")?.unwrap_or(0);
            entries.push((r.str("withUser")?, r.str("lastId")?, unread));
        }
        // The entries' latest messages, in one query by `_id`.
        let ids: Vec<&str> = entries.iter().map(|(_, id, _)| id.as_str()).collect();
        let messages: Vec<Document> = self
            .messages
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let messages = messages
            .iter()
            .map(docs::message_from_doc)
            .collect::<StoreResult<Vec<_>>>()?;
        let items = entries
            .into_iter()
            // An entry whose message is gone belongs to an account being erased: left out.
            .filter_map(|(with_user, id, unread)| {
                let last_message = messages.iter().find(|m| m.id == id)?.clone();
                Some(Conversation {
                    with_user,
                    last_message,
                    // Below zero only for a moment, while a racing insert's `$inc` is on its way.
                    unread: u64::try_from(unread).unwrap_or(0),
                })
            })
            .collect();
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }

    async fn history(
        &self,
        a: &str,
        b: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        let mut filter = doc! { "pair": pair_key(a, b) };
        if let Some(before) = before {
            let seq = self.seq_in_pair(before, a, b).await?;
            filter.insert("seq", doc! { "$lt": seq });
        }
        let found: Vec<Document> = self
            .messages
            .find(filter)
            .sort(doc! { "seq": -1 })
            .limit(limit_plus_one(limit))
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let items = found
            .iter()
            .map(docs::message_from_doc)
            .collect::<StoreResult<_>>()?;
        Ok(Page::from_one_more(items, limit))
    }

    async fn undelivered(
        &self,
        receiver: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<StoredMessage>> {
        let mut filter = doc! { "receiver": receiver, "status": MessageStatus::Sent.as_str() };
        if let Some(id) = after {
            let found = self
                .messages
                .find_one(doc! { "_id": id, "receiver": receiver })
                .projection(doc! { "seq": 1 })
                .await
                .map_err(backend)?;
            let Some(found) = found else {
                return Ok(Page {
                    items: Vec::new(),
                    has_more: false,
                });
            };
            let seq = Reader::new(collections::MESSAGES, &found).i64("seq")?;
            filter.insert("seq", doc! { "$gt": seq });
        }
        // One document past the page says whether more follow.
        let found: Vec<Document> = self
            .messages
            .find(filter)
            .sort(doc! { "seq": 1 })
            .limit(limit_plus_one(limit))
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let items = found
            .iter()
            .map(docs::message_from_doc)
            .collect::<StoreResult<_>>()?;
        Ok(Page::from_one_more(items, limit))
    }

    async fn delete_messages_of(&self, user: &str) -> StoreResult<()> {
        // The list entries first: none is left naming a message already deleted.
        for side in ["owner", "withUser"] {
            self.conversations
                .delete_many(doc! { side: user })
                .await
                .map_err(backend)?;
        }
        // One indexed query per side: `{sender, receiver, seq}` and `{receiver, status, seq}`.
        for side in ["sender", "receiver"] {
            self.messages
                .delete_many(doc! { side: user })
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

impl MongoStore {
    /// Makes a newly stored message the latest of both users' conversation entries (unless a
    /// later one already is) and counts it unread for its receiver.
    async fn note_in_conversations(&self, message: &StoredMessage, seq: i64) -> StoreResult<()> {
        for (owner, with) in [
            (&message.sender, &message.receiver),
            (&message.receiver, &message.sender),
        ] {
            let filter = doc! { "_id": conversation_key(owner, with), "lastSeq": { "$lt": seq } };
            let update = doc! { "$set": {
                "owner": owner, "withUser": with, "lastSeq": seq, "lastId": &message.id,
            } };
            let upserted = self
                .conversations
                .update_one(filter.clone(), update.clone())
                .upsert(true)
                .await;
            match upserted {
                // The entry exists (a racing insert of the pair's first messages may have just
                // created it) and holds a later message or not: moved only if it does not.
                Err(e) if is_duplicate_key(&e) => {
                    self.conversations
                        .update_one(filter, update)
                        .await
                        .map_err(backend)?;
                }
                other => drop(other.map_err(backend)?),
            }
        }
        if message.status != MessageStatus::Seen {
            self.add_unread(&message.receiver, &message.sender, 1)
                .await?;
        }
        Ok(())
    }

    /// After a tick moved `moved` messages `sender → receiver` to `to`: those that became seen
    /// leave the receiver's unread count.
    async fn take_off_unread(
        &self,
        sender: &str,
        receiver: &str,
        to: MessageStatus,
        moved: usize,
    ) -> StoreResult<()> {
        if to != MessageStatus::Seen || moved == 0 {
            return Ok(());
        }
        let moved = i64::try_from(moved).unwrap_or(i64::MAX);
        self.add_unread(receiver, sender, -moved).await
    }

    async fn add_unread(&self, owner: &str, with: &str, by: i64) -> StoreResult<()> {
        self.conversations
            .update_one(
                doc! { "_id": conversation_key(owner, with) },
                doc! { "$inc": { "unread": by } },
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The `seq` of message `id` if it is a message between `a` and `b`; `NotFound` otherwise.
    async fn seq_in_pair(&self, id: &str, a: &str, b: &str) -> StoreResult<i64> {
        let found = self
            .messages
            .find_one(doc! { "_id": id, "pair": pair_key(a, b) })
            .projection(doc! { "seq": 1 })
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("message {id} between {a} and {b}")))?;
        Reader::new(collections::MESSAGES, &found).i64("seq")
    }
}
