//! Reading group messages through a member's receipts: history, backlog, list entries and a
//! message's receipts; and deleting an erased account's messages.

use std::collections::HashMap;

use mongodb::bson::{Document, doc};
use nexchat_core::protocol::{GroupMessage, MessageStatus, Receipt};
use nexchat_core::store::{Page, StoreError, StoreResult};

use super::messages::{message_from_doc, rank, status_field};
use super::{collect, key};
use crate::mongo::docs::Reader;
use crate::mongo::paging::limit_plus_one;
use crate::mongo::{MongoStore, backend, collections};

impl MongoStore {
    /// The messages of `ids`, in that order (those deleted meanwhile left out).
    async fn group_messages_by_ids(&self, ids: &[String]) -> StoreResult<Vec<GroupMessage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = collect(
            self.group_messages
                .find(doc! { "_id": { "$in": ids } })
                .await
                .map_err(backend)?,
        )
        .await?;
        let mut by_id: HashMap<String, GroupMessage> = found
            .iter()
            .map(|d| message_from_doc(d).map(|m| (m.id.clone(), m)))
            .collect::<StoreResult<_>>()?;
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// A page of receipts (one past the limit) as the page of their messages.
    async fn page_of_receipts(
        &self,
        receipts: Vec<Document>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let page = Page::from_one_more(receipts, limit);
        let ids = page
            .items
            .iter()
            .map(|d| Reader::new(collections::GROUP_RECEIPTS, d).str("messageId"))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page {
            items: self.group_messages_by_ids(&ids).await?,
            has_more: page.has_more,
        })
    }

    pub(super) async fn receipts_impl(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
        let found = collect(
            self.group_receipts
                .find(doc! { "messageId": message_id })
                .sort(doc! { "order": 1 })
                .await
                .map_err(backend)?,
        )
        .await?;
        let mut receipts = Vec::with_capacity(found.len());
        for d in &found {
            let r = Reader::new(collections::GROUP_RECEIPTS, d);
            let username = r.str("member")?;
            if username != r.str("sender")? {
                receipts.push(Receipt {
                    username,
                    status: status_field(&r, "status")?,
                });
            }
        }
        Ok(receipts)
    }

    pub(super) async fn group_history_impl(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let mut filter = doc! { "member": member, "group": group };
        if let Some(before) = before {
            let found = self
                .group_receipts
                .find_one(doc! { "_id": key(before, member), "group": group })
                .projection(doc! { "seq": 1 })
                .await
                .map_err(backend)?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("message {before} is not in {group} for {member}"))
                })?;
            let seq = Reader::new(collections::GROUP_RECEIPTS, &found).i64("seq")?;
            filter.insert("seq", doc! { "$lt": seq });
        }
        let found = collect(
            self.group_receipts
                .find(filter)
                .projection(doc! { "messageId": 1 })
                .sort(doc! { "seq": -1 })
                .limit(limit_plus_one(limit))
                .await
                .map_err(backend)?,
        )
        .await?;
        self.page_of_receipts(found, limit).await
    }

    pub(super) async fn undelivered_group_messages_impl(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let mut filter = doc! { "member": member, "status": rank(MessageStatus::Sent) };
        if let Some(after) = after {
            let found = self
                .group_messages
                .find_one(doc! { "_id": after })
                .projection(doc! { "seq": 1 })
                .await
                .map_err(backend)?;
            // An unknown id gives an empty page, as for 1:1 messages.
            let Some(found) = found else {
                return Ok(Page::from_one_more(Vec::new(), limit));
            };
            let seq = Reader::new(collections::GROUP_MESSAGES, &found).i64("seq")?;
            filter.insert("seq", doc! { "$gt": seq });
        }
        let found = collect(
            self.group_receipts
                .find(filter)
                .projection(doc! { "messageId": 1 })
                .sort(doc! { "seq": 1 })
                .limit(limit_plus_one(limit))
                .await
                .map_err(backend)?,
        )
        .await?;
        self.page_of_receipts(found, limit).await
    }

    /// `member`'s latest chat message in `group` and their unread count there.
    pub(super) async fn entry_of(
        &self,
        group: &str,
        member: &str,
    ) -> StoreResult<(Option<GroupMessage>, u64)> {
        let chat = doc! { "member": member, "group": group, "kind": "chat" };
        let latest = self
            .group_receipts
            .find_one(chat.clone())
            .projection(doc! { "messageId": 1 })
            .sort(doc! { "seq": -1 })
            .await
            .map_err(backend)?;
        let last_message = match latest {
            Some(d) => {
                let id = Reader::new(collections::GROUP_RECEIPTS, &d).str("messageId")?;
                self.get_group_message_impl(&id).await?
            }
            None => None,
        };
        let mut unread = chat;
        unread.insert("sender", doc! { "$ne": member });
        unread.insert("status", doc! { "$lt": rank(MessageStatus::Seen) });
        let unread = self
            .group_receipts
            .count_documents(unread)
            .await
            .map_err(backend)?;
        Ok((last_message, unread))
    }

    pub(super) async fn delete_group_messages_of_impl(&self, user: &str) -> StoreResult<()> {
        // Receipts first: a message without receipts is seen by nobody.
        self.group_receipts
            .delete_many(doc! { "sender": user })
            .await
            .map_err(backend)?;
        self.group_messages
            .delete_many(doc! { "sender": user })
            .await
            .map_err(backend)?;
        Ok(())
    }
}
