//! Storing group messages with their receipts, and moving receipts forward (see the module
//! docs of [`super`] for the documents and the order of steps).

use std::collections::HashSet;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use nexchat_core::protocol::{GroupMessage, MessageStatus};
use nexchat_core::store::{GroupInserted, GroupTicks, Settled, StoreError, StoreResult};

use super::{collect, key};
use crate::mongo::docs::Reader;
use crate::mongo::{MongoStore, backend, collections, is_duplicate_key};

/// A status as stored: its rank.
pub(super) fn rank(status: MessageStatus) -> i64 {
    match status {
        MessageStatus::Sent => 0,
        MessageStatus::Delivered => 1,
        MessageStatus::Seen => 2,
    }
}

pub(super) fn status_field(r: &Reader<'_>, field: &str) -> StoreResult<MessageStatus> {
    match r.i64(field)? {
        0 => Ok(MessageStatus::Sent),
        1 => Ok(MessageStatus::Delivered),
        2 => Ok(MessageStatus::Seen),
        n => Err(r.corrupt(format!("field {field} has unknown value {n}"))),
    }
}

fn message_doc(message: &GroupMessage, seq: i64) -> Document {
    doc! {
        "_id": &message.id,
        "group": &message.group,
        "sender": &message.sender,
        "to": message.to.as_deref(),
        "keyId": message.key_id.as_deref(),
        "ciphertext": &message.ciphertext,
        "iv": &message.iv,
        "timestamp": message.timestamp,
        "status": rank(message.status),
        "seq": seq,
    }
}

pub(super) fn message_from_doc(doc: &Document) -> StoreResult<GroupMessage> {
    let r = Reader::new(collections::GROUP_MESSAGES, doc);
    Ok(GroupMessage {
        id: r.str("_id")?,
        group: r.str("group")?,
        sender: r.str("sender")?,
        to: r.opt_str("to")?,
        key_id: r.opt_str("keyId")?,
        ciphertext: r.str("ciphertext")?,
        iv: r.str("iv")?,
        timestamp: r.i64("timestamp")?,
        status: status_field(&r, "status")?,
    })
}

impl MongoStore {
    pub(super) async fn insert_group_message_impl(
        &self,
        message: &GroupMessage,
    ) -> StoreResult<GroupInserted> {
        if let Some(existing) = self.get_group_message_impl(&message.id).await? {
            return Ok(GroupInserted::Existing(existing));
        }
        let members = self.group_member_names(&message.group).await?;
        if !members.contains(&message.sender) {
            return Ok(GroupInserted::NotMember(message.sender.clone()));
        }
        let recipients: Vec<(String, MessageStatus)> = match &message.to {
            Some(to) if !members.contains(to) => return Ok(GroupInserted::NotMember(to.clone())),
            Some(to) => vec![(to.clone(), MessageStatus::Sent)],
            None => members
                .iter()
                .map(|m| {
                    let status = if *m == message.sender {
                        MessageStatus::Seen
                    } else {
                        MessageStatus::Sent
                    };
                    (m.clone(), status)
                })
                .collect(),
        };
        let (seq, timestamp) = self
            .next_seq(collections::GROUP_MESSAGES, message.timestamp)
            .await?;
        let stored = GroupMessage {
            timestamp,
            status: MessageStatus::Sent,
            ..message.clone()
        };
        match self
            .group_messages
            .insert_one(message_doc(&stored, seq))
            .await
        {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {
                return match self.get_group_message_impl(&stored.id).await? {
                    Some(existing) => Ok(GroupInserted::Existing(existing)),
                    None => Err(StoreError::backend_failure(format!(
                        "group message {} refused as a duplicate but not found",
                        stored.id
                    ))),
                };
            }
            Err(e) => return Err(backend(e)),
        }
        let kind = if stored.to.is_some() { "key" } else { "chat" };
        let receipts = recipients
            .iter()
            .zip(0_i64..)
            .map(|((member, status), order)| {
                doc! {
                    "_id": key(&stored.id, member),
                    "messageId": &stored.id,
                    "group": &stored.group,
                    "member": member,
                    "sender": &stored.sender,
                    "kind": kind,
                    "status": rank(*status),
                    "seq": seq,
                    "order": order,
                }
            });
        self.group_receipts
            .insert_many(receipts)
            .await
            .map_err(backend)?;
        // Members removed meanwhile: their removal may have looked for receipts before these
        // were written, so they go here.
        let now = self.group_member_names(&stored.group).await?;
        if now.is_empty() {
            // The group is gone (its deletion may have run before this message was written).
            self.group_receipts
                .delete_many(doc! { "messageId": &stored.id })
                .await
                .map_err(backend)?;
            self.group_messages
                .delete_one(doc! { "_id": &stored.id })
                .await
                .map_err(backend)?;
            return Ok(GroupInserted::NotMember(stored.sender));
        }
        let (kept, gone): (Vec<String>, Vec<String>) = recipients
            .into_iter()
            .map(|(member, _)| member)
            .partition(|member| now.contains(member));
        if !gone.is_empty() {
            self.group_receipts
                .delete_many(doc! { "messageId": &stored.id, "member": { "$in": &gone } })
                .await
                .map_err(backend)?;
            self.settle_group_message(&stored.id).await?;
        }
        Ok(GroupInserted::New {
            message: stored,
            recipients: kept,
        })
    }

    /// The members of `group`, oldest membership first.
    async fn group_member_names(&self, group: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .members_impl(group)
            .await?
            .into_iter()
            .map(|m| m.username)
            .collect())
    }

    pub(super) async fn get_group_message_impl(
        &self,
        id: &str,
    ) -> StoreResult<Option<GroupMessage>> {
        self.group_messages
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?
            .map(|d| message_from_doc(&d))
            .transpose()
    }

    pub(super) async fn advance_group_status_impl(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks> {
        let mut ticks = GroupTicks::default();
        if to == MessageStatus::Sent || ids.is_some_and(<[String]>::is_empty) {
            return Ok(ticks);
        }
        let below = rank(to);
        // 1. The receipts to move, in storage order.
        let mut filter = doc! { "member": member, "group": group, "status": { "$lt": below } };
        if let Some(ids) = ids {
            filter.insert("messageId", doc! { "$in": ids });
        }
        let found = collect(
            self.group_receipts
                .find(filter)
                .projection(doc! { "messageId": 1, "sender": 1 })
                .sort(doc! { "seq": 1 })
                .await
                .map_err(backend)?,
        )
        .await?;
        let mut candidates = Vec::with_capacity(found.len());
        for d in &found {
            let r = Reader::new(collections::GROUP_RECEIPTS, d);
            candidates.push((r.str("_id")?, r.str("messageId")?, r.str("sender")?));
        }
        if candidates.is_empty() {
            return Ok(ticks);
        }
        // 2. Move those still below, marking them with this operation's id (a receipt reaches
        // each status at most once, so each mark is written at most once).
        let op_field = match to {
            MessageStatus::Delivered => "deliveredOp",
            _ => "seenOp",
        };
        let op = ObjectId::new().to_hex();
        let receipt_ids: Vec<&str> = candidates.iter().map(|(id, _, _)| id.as_str()).collect();
        let moved = self
            .group_receipts
            .update_many(
                doc! { "_id": { "$in": &receipt_ids }, "status": { "$lt": below } },
                doc! { "$set": { "status": below, op_field: &op } },
            )
            .await
            .map_err(backend)?;
        // 3. When a racing call moved some first, ours are those carrying our operation id.
        if usize::try_from(moved.modified_count).ok() != Some(candidates.len()) {
            let ours = collect(
                self.group_receipts
                    .find(doc! { "_id": { "$in": &receipt_ids }, op_field: &op })
                    .projection(doc! { "_id": 1 })
                    .await
                    .map_err(backend)?,
            )
            .await?;
            let ours: HashSet<String> = ours
                .into_iter()
                .filter_map(|mut d| match d.remove("_id") {
                    Some(Bson::String(id)) => Some(id),
                    _ => None,
                })
                .collect();
            candidates.retain(|(id, _, _)| ours.contains(id));
        }
        // 4. Each moved message rises to the lowest of its other receipts: `to` when every one
        // is there too, else `delivered` when this member went straight to `seen` past another
        // at `delivered`. Reported by the one call whose conditional update raised it.
        for (_, id, sender) in candidates {
            let reachable: &[MessageStatus] = match to {
                MessageStatus::Seen => &[MessageStatus::Seen, MessageStatus::Delivered],
                _ => &[to],
            };
            if sender != member {
                for &status in reachable {
                    if self.raise_if_all_reached(&id, &sender, status).await? {
                        ticks.settled.push(Settled {
                            id: id.clone(),
                            sender: sender.clone(),
                            status,
                        });
                        break;
                    }
                }
            }
            ticks.moved.push(id);
        }
        Ok(ticks)
    }

    /// Raises message `id` to `status` when no receipt but its sender's is below it; true when
    /// this call's conditional update raised it.
    async fn raise_if_all_reached(
        &self,
        id: &str,
        sender: &str,
        status: MessageStatus,
    ) -> StoreResult<bool> {
        let rank = rank(status);
        let lagging = self
            .group_receipts
            .find_one(doc! {
                "messageId": id,
                "member": { "$ne": sender },
                "status": { "$lt": rank },
            })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?;
        if lagging.is_some() {
            return Ok(false);
        }
        let raised = self
            .group_messages
            .update_one(
                doc! { "_id": id, "status": { "$lt": rank } },
                doc! { "$set": { "status": rank } },
            )
            .await
            .map_err(backend)?;
        Ok(raised.modified_count == 1)
    }

    /// Raises a message's status to the lowest of its receipts other than the sender's (when
    /// it has any), never lowering it.
    pub(super) async fn settle_group_message(&self, id: &str) -> StoreResult<()> {
        let Some(message) = self.get_group_message_impl(id).await? else {
            return Ok(());
        };
        let others = collect(
            self.group_receipts
                .find(doc! { "messageId": id, "member": { "$ne": &message.sender } })
                .projection(doc! { "status": 1 })
                .await
                .map_err(backend)?,
        )
        .await?;
        let mut lowest = None;
        for d in &others {
            let status = status_field(&Reader::new(collections::GROUP_RECEIPTS, d), "status")?;
            lowest = Some(lowest.map_or(status, |l: MessageStatus| l.min(status)));
        }
        if let Some(lowest) = lowest
            && lowest > message.status
        {
            self.group_messages
                .update_one(
                    doc! { "_id": id, "status": { "$lt": rank(lowest) } },
                    doc! { "$set": { "status": rank(lowest) } },
                )
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Deletes `user`'s receipts in `group`; returns the messages whose receipt was below
    /// `seen` (their status may move now).
    pub(super) async fn take_receipts_of(
        &self,
        group: &str,
        user: &str,
    ) -> StoreResult<Vec<String>> {
        let below_seen = collect(
            self.group_receipts
                .find(doc! {
                    "member": user,
                    "group": group,
                    "status": { "$lt": rank(MessageStatus::Seen) },
                })
                .projection(doc! { "messageId": 1 })
                .await
                .map_err(backend)?,
        )
        .await?;
        let ids = below_seen
            .iter()
            .map(|d| Reader::new(collections::GROUP_RECEIPTS, d).str("messageId"))
            .collect::<StoreResult<Vec<_>>>()?;
        self.group_receipts
            .delete_many(doc! { "member": user, "group": group })
            .await
            .map_err(backend)?;
        Ok(ids)
    }
}
