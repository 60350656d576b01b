//! [`GroupStore`] for [`MemoryStore`]: each group with its members in a list, each group message
//! with its receipts beside it.

use async_trait::async_trait;

use super::{Log, MemoryStore, State};
use crate::protocol::{GroupMember, GroupMessage, GroupRole, MessageStatus, Receipt, SealedField};
use crate::store::{
    GroupEntry, GroupInserted, GroupLimits, GroupRecord, GroupStore, GroupTicks, Joined, Page,
    Removal, RoleSet, Settled, StoreError, StoreResult,
};

#[derive(Debug)]
pub(super) struct GroupState {
    record: GroupRecord,
    /// Oldest membership first.
    members: Vec<GroupMember>,
}

/// A group message and its receipts, in the order of the memberships they were made for.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    message: GroupMessage,
    receipts: Vec<(String, MessageStatus)>,
}

impl Stored {
    fn receipt_of(&self, member: &str) -> Option<MessageStatus> {
        self.receipts
            .iter()
            .find(|(user, _)| user == member)
            .map(|(_, status)| *status)
    }

    /// Raises the message's own status to the lowest of the other members' receipts; true when
    /// it moved.
    fn settle(&mut self) -> bool {
        let sender = &self.message.sender;
        let lowest = self
            .receipts
            .iter()
            .filter(|(user, _)| user != sender)
            .map(|(_, status)| *status)
            .min();
        match lowest {
            Some(lowest) if lowest > self.message.status => {
                self.message.status = lowest;
                true
            }
            _ => false,
        }
    }
}

impl State {
    fn groups_count(&self, user: &str) -> usize {
        self.groups
            .values()
            .filter(|g| g.members.iter().any(|m| m.username == user))
            .count()
    }

    fn is_member(&self, group: &str, user: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.members.iter().any(|m| m.username == user))
    }
}

fn page_after(
    log: &Log<Stored>,
    picked: impl Fn(&Stored) -> bool,
    after: Option<&str>,
    limit: usize,
) -> Page<GroupMessage> {
    let start = match after {
        None => 0,
        Some(id) => match log.seq_of.get(id) {
            Some(seq) => seq + 1,
            None => return Page::from_one_more(Vec::new(), limit),
        },
    };
    let items = log
        .by_seq
        .range(start..)
        .map(|(_, s)| s)
        .filter(|s| picked(s))
        .take(limit.saturating_add(1))
        .map(|s| s.message.clone())
        .collect();
    Page::from_one_more(items, limit)
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn create_group(
        &self,
        group: &GroupRecord,
        creator: &str,
        max_groups: usize,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        if state.groups.contains_key(&group.id) {
            return Err(StoreError::Conflict(format!("group {} exists", group.id)));
        }
        if state.groups_count(creator) >= max_groups {
            return Ok(false);
        }
        let creator = GroupMember {
            username: creator.to_owned(),
            role: GroupRole::Admin,
            joined_at: group.created_at,
        };
        let entry = GroupState {
            record: group.clone(),
            members: vec![creator],
        };
        state.groups.insert(group.id.clone(), entry);
        Ok(true)
    }

    async fn group(&self, id: &str) -> StoreResult<Option<GroupRecord>> {
        Ok(self.state.lock().groups.get(id).map(|g| g.record.clone()))
    }

    async fn members(&self, group: &str) -> StoreResult<Vec<GroupMember>> {
        let state = self.state.lock();
        Ok(state
            .groups
            .get(group)
            .map(|g| g.members.clone())
            .unwrap_or_default())
    }

    async fn groups_of(&self, user: &str) -> StoreResult<Vec<String>> {
        let state = self.state.lock();
        Ok(state
            .groups
            .iter()
            .filter(|(_, g)| g.members.iter().any(|m| m.username == user))
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn add_member(
        &self,
        group: &str,
        member: &GroupMember,
        limits: GroupLimits,
    ) -> StoreResult<Joined> {
        let mut state = self.state.lock();
        let count = state.groups_count(&member.username);
        let Some(entry) = state.groups.get_mut(group) else {
            return Ok(Joined::NoGroup);
        };
        if entry.members.iter().any(|m| m.username == member.username) {
            return Ok(Joined::AlreadyMember);
        }
        if entry.members.len() >= limits.max_members {
            return Ok(Joined::GroupFull);
        }
        if count >= limits.max_groups {
            return Ok(Joined::TooManyGroups);
        }
        entry.members.push(member.clone());
        // Stable: of equal times, the one added first stays first.
        entry.members.sort_by_key(|m| m.joined_at);
        Ok(Joined::Added)
    }

    async fn remove_member(&self, group: &str, user: &str) -> StoreResult<Option<Removal>> {
        let mut state = self.state.lock();
        let Some(entry) = state.groups.get_mut(group) else {
            return Ok(None);
        };
        let Some(at) = entry.members.iter().position(|m| m.username == user) else {
            return Ok(None);
        };
        entry.members.remove(at);
        let mut removal = Removal {
            promoted: None,
            deleted: entry.members.is_empty(),
        };
        if removal.deleted {
            state.groups.remove(group);
            state
                .group_messages
                .remove_where(|s| &s.message.id, |s| s.message.group == group);
            return Ok(Some(removal));
        }
        if !entry.members.iter().any(|m| m.role == GroupRole::Admin) {
            let first = &mut entry.members[0];
            first.role = GroupRole::Admin;
            removal.promoted = Some(first.username.clone());
        }
        for stored in state.group_messages.by_seq.values_mut() {
            if stored.message.group == group {
                stored.receipts.retain(|(member, _)| member != user);
                stored.settle();
            }
        }
        Ok(Some(removal))
    }

    async fn set_role(&self, group: &str, user: &str, role: GroupRole) -> StoreResult<RoleSet> {
        let mut state = self.state.lock();
        let Some(entry) = state.groups.get_mut(group) else {
            return Ok(RoleSet::NotMember);
        };
        let admins = entry
            .members
            .iter()
            .filter(|m| m.role == GroupRole::Admin)
            .count();
        let Some(member) = entry.members.iter_mut().find(|m| m.username == user) else {
            return Ok(RoleSet::NotMember);
        };
        if role == GroupRole::Member && member.role == GroupRole::Admin && admins == 1 {
            return Ok(RoleSet::LastAdmin);
        }
        member.role = role;
        Ok(RoleSet::Set)
    }

    async fn set_group_details(
        &self,
        group: &str,
        title: Option<&SealedField>,
        avatar: Option<&SealedField>,
    ) -> StoreResult<bool> {
        let mut state = self.state.lock();
        let Some(entry) = state.groups.get_mut(group) else {
            return Ok(false);
        };
        entry.record.title = title.cloned();
        entry.record.avatar = avatar.cloned();
        Ok(true)
    }

    async fn insert_group_message(&self, message: &GroupMessage) -> StoreResult<GroupInserted> {
        let mut state = self.state.lock();
        if let Some(existing) = state.group_messages.get(&message.id) {
            return Ok(GroupInserted::Existing(existing.message.clone()));
        }
        if !state.is_member(&message.group, &message.sender) {
            return Ok(GroupInserted::NotMember(message.sender.clone()));
        }
        let receipts = match &message.to {
            Some(to) if !state.is_member(&message.group, to) => {
                return Ok(GroupInserted::NotMember(to.clone()));
            }
            Some(to) => vec![(to.clone(), MessageStatus::Sent)],
            None => state.groups[&message.group]
                .members
                .iter()
                .map(|m| {
                    let status = if m.username == message.sender {
                        MessageStatus::Seen
                    } else {
                        MessageStatus::Sent
                    };
                    (m.username.clone(), status)
                })
                .collect(),
        };
        let mut stored = message.clone();
        stored.timestamp = stored.timestamp.max(state.last_group_timestamp);
        stored.status = MessageStatus::Sent;
        state.last_group_timestamp = stored.timestamp;
        let recipients = receipts.iter().map(|(user, _)| user.clone()).collect();
        state.group_messages.push(
            stored.id.clone(),
            Stored {
                message: stored.clone(),
                receipts,
            },
        );
        Ok(GroupInserted::New {
            message: stored,
            recipients,
        })
    }

    async fn get_group_message(&self, id: &str) -> StoreResult<Option<GroupMessage>> {
        let state = self.state.lock();
        Ok(state.group_messages.get(id).map(|s| s.message.clone()))
    }

    async fn advance_group_status(
        &self,
        group: &str,
        member: &str,
        ids: Option<&[String]>,
        to: MessageStatus,
    ) -> StoreResult<GroupTicks> {
        let mut state = self.state.lock();
        let mut ticks = GroupTicks::default();
        for stored in state.group_messages.by_seq.values_mut() {
            if stored.message.group != group
                || ids.is_some_and(|ids| !ids.contains(&stored.message.id))
            {
                continue;
            }
            let Some((_, status)) = stored.receipts.iter_mut().find(|(u, _)| u == member) else {
                continue;
            };
            if *status >= to {
                continue;
            }
            *status = to;
            ticks.moved.push(stored.message.id.clone());
            if stored.settle() {
                ticks.settled.push(Settled {
                    id: stored.message.id.clone(),
                    sender: stored.message.sender.clone(),
                    status: stored.message.status,
                });
            }
        }
        Ok(ticks)
    }

    async fn receipts(&self, message_id: &str) -> StoreResult<Vec<Receipt>> {
        let state = self.state.lock();
        Ok(state
            .group_messages
            .get(message_id)
            .map(|s| {
                s.receipts
                    .iter()
                    .filter(|(user, _)| *user != s.message.sender)
                    .map(|(user, status)| Receipt {
                        username: user.clone(),
                        status: *status,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn group_history(
        &self,
        group: &str,
        member: &str,
        before: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let state = self.state.lock();
        let page = state.group_messages.page_before(
            |s| s.message.group == group && s.receipt_of(member).is_some(),
            before,
            limit,
            |id| format!("message {id} is not in this group for {member}"),
        )?;
        Ok(Page {
            items: page.items.into_iter().map(|s| s.message).collect(),
            has_more: page.has_more,
        })
    }

    async fn undelivered_group_messages(
        &self,
        member: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Page<GroupMessage>> {
        let state = self.state.lock();
        Ok(page_after(
            &state.group_messages,
            |s| s.receipt_of(member) == Some(MessageStatus::Sent),
            after,
            limit,
        ))
    }

    async fn group_entries(&self, member: &str) -> StoreResult<Vec<GroupEntry>> {
        let state = self.state.lock();
        let mut entries = Vec::new();
        for (id, group) in &state.groups {
            let Some(membership) = group.members.iter().find(|m| m.username == member) else {
                continue;
            };
            let mine = state.group_messages.by_seq.values().filter(|s| {
                s.message.group == *id && s.message.to.is_none() && s.receipt_of(member).is_some()
            });
            let mut last_message = None;
            let mut unread = 0;
            for stored in mine {
                if stored.message.sender != member
                    && stored.receipt_of(member) != Some(MessageStatus::Seen)
                {
                    unread += 1;
                }
                last_message = Some(stored.message.clone());
            }
            entries.push(GroupEntry {
                group: id.clone(),
                last_message,
                unread,
                joined_at: membership.joined_at,
            });
        }
        Ok(entries)
    }

    async fn delete_group_messages_of(&self, user: &str) -> StoreResult<()> {
        let mut state = self.state.lock();
        state
            .group_messages
            .remove_where(|s| &s.message.id, |s| s.message.sender == user);
        Ok(())
    }
}
