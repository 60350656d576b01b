//! Groups (protocol version 1.2): membership the server enforces, one stored ciphertext per
//! message fanned out to every member, and ticks per member. Titles, avatars and messages are
//! sealed by the clients (sender keys); the server only checks shapes and sizes.
//!
//! Every refusal about a group the caller is not a member of is `not_found`, whether the group
//! exists or not, so no answer tells a stranger that a group exists.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::messages::{validate_base64, validate_id};
use super::{Chat, fill_page, page_limit};
use crate::error::{ChatError, ChatResult};
use crate::protocol::rest::{
    CreateGroupRequest, GroupDetailsBody, GroupSummary, GroupsResponse, ReceiptsResponse,
};
use crate::protocol::{
    Group, GroupChange, GroupChangeKind, GroupMember, GroupMessage, GroupRole, MessageStatus,
    SealedField, ServerEvent,
};
use crate::session::Session;
use crate::store::{
    AttachmentRef, GroupInserted, GroupLimits, GroupRecord, Joined, RoleSet, StoreError,
};

/// The longest `keyId` a client may give (a UUID is 36).
const MAX_KEY_ID_CHARS: usize = 64;

fn no_such_group() -> ChatError {
    ChatError::NotFound("no such group".into())
}

fn not_a_member(user: &str) -> ChatError {
    ChatError::NotFound(format!("{user} is not a member of this group"))
}

fn validate_key_id(key_id: &str) -> ChatResult<()> {
    if key_id.is_empty() || key_id.len() > MAX_KEY_ID_CHARS {
        return Err(ChatError::bad_request(format!(
            "keyId must be 1 to {MAX_KEY_ID_CHARS} characters"
        )));
    }
    Ok(())
}

/// The refusal of a group that is full or a user in too many groups.
fn over_limit(joined: Joined, user: &str, limits: GroupLimits) -> ChatError {
    match joined {
        Joined::GroupFull => ChatError::Conflict(format!(
            "the group has {} members, the most allowed",
            limits.max_members
        )),
        Joined::TooManyGroups => ChatError::Conflict(format!(
            "{user} is in {} groups, the most allowed",
            limits.max_groups
        )),
        Joined::AlreadyMember => {
            ChatError::Conflict(format!("{user} is already a member of this group"))
        }
        _ => no_such_group(),
    }
}

/// The fields of a `send_group_message` frame.
pub(super) struct GroupSend {
    pub(super) group: String,
    pub(super) ciphertext: String,
    pub(super) iv: String,
    pub(super) key_id: Option<String>,
    pub(super) to: Option<String>,
    pub(super) id: Option<String>,
    pub(super) attachments: Vec<String>,
}

impl Chat {
    fn group_limits(&self) -> GroupLimits {
        let limits = &self.inner.config.limits;
        GroupLimits {
            max_members: limits.max_group_members,
            max_groups: limits.max_groups_per_user,
        }
    }

    /// The group with its members, or `None` when there is no such group.
    async fn load_group(&self, id: &str) -> ChatResult<Option<Group>> {
        let Some(record) = self.store().group(id).await? else {
            return Ok(None);
        };
        let members = self.store().members(id).await?;
        Ok(Some(Group {
            id: record.id,
            created_at: record.created_at,
            title: record.title,
            avatar: record.avatar,
            members,
        }))
    }

    /// The group, when `user` is a member of it; `not_found` otherwise.
    async fn group_of_member(&self, user: &str, id: &str) -> ChatResult<Group> {
        match self.load_group(id).await? {
            Some(group) if group.member(user).is_some() => Ok(group),
            _ => Err(no_such_group()),
        }
    }

    /// The group, when `user` is one of its admins; `forbidden` for a member, `not_found`
    /// for anyone else.
    async fn group_of_admin(&self, user: &str, id: &str, doing: &str) -> ChatResult<Group> {
        let group = self.group_of_member(user, id).await?;
        match group.member(user) {
            Some(m) if m.role == GroupRole::Admin => Ok(group),
            _ => Err(ChatError::Forbidden(format!("only an admin may {doing}"))),
        }
    }

    /// Checks a sealed field's shape and sizes and stamps it with who set it.
    fn seal(
        &self,
        field: Option<SealedField>,
        name: &str,
        max: usize,
        by: &str,
    ) -> ChatResult<Option<SealedField>> {
        let Some(mut field) = field else {
            return Ok(None);
        };
        validate_base64(&format!("{name}.ciphertext"), &field.ciphertext, max)?;
        validate_base64(
            &format!("{name}.iv"),
            &field.iv,
            self.inner.config.limits.max_iv_bytes,
        )?;
        validate_key_id(&field.key_id)?;
        field.by = Some(by.to_owned());
        Ok(Some(field))
    }

    fn seal_details(
        &self,
        title: Option<SealedField>,
        avatar: Option<SealedField>,
        by: &str,
    ) -> ChatResult<(Option<SealedField>, Option<SealedField>)> {
        let limits = &self.inner.config.limits;
        Ok((
            self.seal(title, "title", limits.max_group_title_bytes, by)?,
            self.seal(avatar, "avatar", limits.max_ciphertext_bytes, by)?,
        ))
    }

    /// Pushes `event` to every socket of every member of `group` (but the socket `except`).
    fn push_to_members(
        &self,
        group: &Group,
        event: &ServerEvent,
        except: Option<crate::session::SessionId>,
    ) {
        let frame: Arc<str> = event.encode().into();
        for member in &group.members {
            self.inner.hub.push_frame(&member.username, &frame, except);
        }
    }

    /// Tells every member what changed, with the group as it is now.
    async fn announce(&self, id: &str, change: GroupChange) -> ChatResult<Option<Group>> {
        let Some(group) = self.load_group(id).await? else {
            return Ok(None);
        };
        let event = ServerEvent::GroupChanged {
            group: group.clone(),
            change,
        };
        self.push_to_members(&group, &event, None);
        Ok(Some(group))
    }

    /// `POST /groups`: a group of the caller (admin) and their friends `members`.
    ///
    /// # Errors
    /// `bad_request` for a malformed field; `too_large` for a sealed field past its limit;
    /// `user_not_found`, `not_friends` for a member who is not the caller's friend; `conflict`
    /// past the members or groups limit (nothing is created); a store failure.
    pub async fn create_group(&self, user: &str, request: CreateGroupRequest) -> ChatResult<Group> {
        let limits = self.group_limits();
        let (title, avatar) = self.seal_details(request.title, request.avatar, user)?;
        let mut others: Vec<String> = Vec::new();
        for name in &request.members {
            let name = self.canonical(name).await?;
            if name != user && !others.contains(&name) {
                others.push(name);
            }
        }
        if others.len() >= limits.max_members {
            return Err(over_limit(Joined::GroupFull, user, limits));
        }
        for other in &others {
            if !self.store().are_friends(user, other).await? {
                return Err(ChatError::NotFriends(other.clone()));
            }
        }
        let now = self.now();
        let record = GroupRecord {
            id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            title,
            avatar,
        };
        if !self
            .store()
            .create_group(&record, user, limits.max_groups)
            .await?
        {
            return Err(over_limit(Joined::TooManyGroups, user, limits));
        }
        for other in &others {
            let member = GroupMember {
                username: other.clone(),
                role: GroupRole::Member,
                joined_at: now,
            };
            let joined = self.store().add_member(&record.id, &member, limits).await;
            match joined {
                Ok(Joined::Added) => {}
                refused => {
                    // All or nothing: a group one of whose members could not join is undone.
                    self.dissolve(&record.id).await?;
                    return Err(match refused {
                        Ok(joined) => over_limit(joined, other, limits),
                        Err(err) => err.into(),
                    });
                }
            }
        }
        let change = GroupChange {
            kind: GroupChangeKind::Created,
            by: user.to_owned(),
            user: None,
            promoted: None,
        };
        self.announce(&record.id, change)
            .await?
            .ok_or_else(no_such_group)
    }

    /// Removes every member of a group being created, which deletes it.
    async fn dissolve(&self, id: &str) -> ChatResult<()> {
        for member in self.store().members(id).await? {
            self.store().remove_member(id, &member.username).await?;
        }
        Ok(())
    }

    /// `GET /groups`: the caller's groups, latest activity first.
    ///
    /// # Errors
    /// A store failure.
    pub async fn groups(&self, user: &str) -> ChatResult<GroupsResponse> {
        let mut groups = Vec::new();
        for entry in self.store().group_entries(user).await? {
            // A group left between the two reads is simply not listed.
            let Some(group) = self.load_group(&entry.group).await? else {
                continue;
            };
            let activity = entry
                .last_message
                .as_ref()
                .map_or(entry.joined_at, |m| m.timestamp);
            let summary = GroupSummary {
                group,
                last_message: entry.last_message,
                unread: entry.unread,
            };
            groups.push((activity, summary));
        }
        // Of equal times, by id: an order that does not change from one answer to the next.
        groups.sort_by(|(a_time, a), (b_time, b)| {
            b_time.cmp(a_time).then_with(|| a.group.id.cmp(&b.group.id))
        });
        Ok(GroupsResponse {
            groups: groups.into_iter().map(|(_, summary)| summary).collect(),
        })
    }

    /// `GET /groups/{id}`.
    ///
    /// # Errors
    /// `not_found` unless the caller is a member; a store failure.
    pub async fn group(&self, user: &str, id: &str) -> ChatResult<Group> {
        self.group_of_member(user, id).await
    }

    /// `PUT /groups/{id}/details`: replaces the sealed title and avatar.
    ///
    /// # Errors
    /// `not_found` unless the caller is a member; `forbidden` unless an admin; `bad_request`,
    /// `too_large` for a malformed or oversized field; a store failure.
    pub async fn set_group_details(
        &self,
        user: &str,
        id: &str,
        details: GroupDetailsBody,
    ) -> ChatResult<Group> {
        self.group_of_admin(user, id, "set the title and avatar")
            .await?;
        let (title, avatar) = self.seal_details(details.title, details.avatar, user)?;
        if !self
            .store()
            .set_group_details(id, title.as_ref(), avatar.as_ref())
            .await?
        {
            return Err(no_such_group());
        }
        let change = GroupChange {
            kind: GroupChangeKind::DetailsChanged,
            by: user.to_owned(),
            user: None,
            promoted: None,
        };
        self.announce(id, change).await?.ok_or_else(no_such_group)
    }

    /// `POST /groups/{id}/members`: an admin adds a friend.
    ///
    /// # Errors
    /// `not_found` unless the caller is a member; `forbidden` unless an admin;
    /// `user_not_found`; `not_friends`; `conflict` for a member already there or past a limit;
    /// a store failure.
    pub async fn add_group_member(&self, user: &str, id: &str, name: &str) -> ChatResult<Group> {
        self.group_of_admin(user, id, "add members").await?;
        let name = self.canonical(name).await?;
        if !self.store().are_friends(user, &name).await? {
            return Err(ChatError::NotFriends(name));
        }
        let limits = self.group_limits();
        let member = GroupMember {
            username: name.clone(),
            role: GroupRole::Member,
            joined_at: self.now(),
        };
        match self.store().add_member(id, &member, limits).await? {
            Joined::Added => {}
            refused => return Err(over_limit(refused, &name, limits)),
        }
        let change = GroupChange {
            kind: GroupChangeKind::MemberAdded,
            by: user.to_owned(),
            user: Some(name),
            promoted: None,
        };
        self.announce(id, change).await?.ok_or_else(no_such_group)
    }

    /// `DELETE /groups/{id}/members/{name}`: an admin removes a member, or a member leaves.
    ///
    /// # Errors
    /// `not_found` unless the caller is a member, or when `name` is not one; `forbidden` for
    /// a member removing someone else; a store failure.
    pub async fn remove_group_member(&self, user: &str, id: &str, name: &str) -> ChatResult<()> {
        let group = self.group_of_member(user, id).await?;
        let target = group
            .members
            .iter()
            .find(|m| m.username.eq_ignore_ascii_case(name))
            .map(|m| m.username.clone())
            .ok_or_else(|| not_a_member(name))?;
        if target != user && group.member(user).map(|m| m.role) != Some(GroupRole::Admin) {
            return Err(ChatError::Forbidden(
                "only an admin may remove another member".into(),
            ));
        }
        self.leave_group(id, &target, user).await
    }

    /// Takes `target` out of the group (`by` removed them, or they left when it is themselves)
    /// and tells them and the members left.
    async fn leave_group(&self, id: &str, target: &str, by: &str) -> ChatResult<()> {
        let removal = self
            .store()
            .remove_member(id, target)
            .await?
            .ok_or_else(|| not_a_member(target))?;
        self.inner.hub.push(
            target,
            &ServerEvent::GroupRemoved {
                group: id.to_owned(),
                by: by.to_owned(),
            },
            None,
        );
        if !removal.deleted {
            let kind = if target == by {
                GroupChangeKind::MemberLeft
            } else {
                GroupChangeKind::MemberRemoved
            };
            let change = GroupChange {
                kind,
                by: by.to_owned(),
                user: Some(target.to_owned()),
                promoted: removal.promoted,
            };
            self.announce(id, change).await?;
        }
        Ok(())
    }

    /// Takes an account being erased out of every group it is in.
    pub(super) async fn leave_every_group(&self, user: &str) -> ChatResult<()> {
        for id in self.store().groups_of(user).await? {
            match self.leave_group(&id, user, user).await {
                Ok(()) | Err(ChatError::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// `PUT /groups/{id}/members/{name}/role`: an admin promotes or demotes a member.
    ///
    /// # Errors
    /// `not_found` unless the caller is a member, or when `name` is not one; `forbidden` unless
    /// an admin; `conflict` for demoting the last admin; a store failure.
    pub async fn set_group_role(
        &self,
        user: &str,
        id: &str,
        name: &str,
        role: GroupRole,
    ) -> ChatResult<Group> {
        let group = self.group_of_admin(user, id, "change roles").await?;
        let target = group
            .members
            .iter()
            .find(|m| m.username.eq_ignore_ascii_case(name))
            .map(|m| m.username.clone())
            .ok_or_else(|| not_a_member(name))?;
        match self.store().set_role(id, &target, role).await? {
            RoleSet::Set => {}
            RoleSet::LastAdmin => {
                return Err(ChatError::Conflict(format!(
                    "{target} is the group's only admin; promote another member first"
                )));
            }
            _ => return Err(not_a_member(&target)),
        }
        let change = GroupChange {
            kind: GroupChangeKind::RoleChanged,
            by: user.to_owned(),
            user: Some(target),
            promoted: None,
        };
        self.announce(id, change).await?.ok_or_else(no_such_group)
    }

    /// `GET /groups/{id}/messages/{messageId}/receipts`: the sender's "message info".
    ///
    /// # Errors
    /// `not_found` unless the caller is a member and sent that message of the group; a store
    /// failure.
    pub async fn group_receipts(
        &self,
        user: &str,
        id: &str,
        message_id: &str,
    ) -> ChatResult<ReceiptsResponse> {
        self.group_of_member(user, id).await?;
        match self.store().get_group_message(message_id).await? {
            Some(message) if message.group == id && message.sender == user => {
                Ok(ReceiptsResponse {
                    receipts: self.store().receipts(message_id).await?,
                })
            }
            _ => Err(ChatError::NotFound("no such message of yours".into())),
        }
    }

    /// `send_group_message`: checks, stores (membership checked in the same step), answers and
    /// fans out.
    pub(super) async fn send_group_message(
        &self,
        session: &Session,
        send: GroupSend,
    ) -> ChatResult<()> {
        let GroupSend {
            group,
            ciphertext,
            iv,
            key_id,
            to,
            id,
            attachments,
        } = send;
        let limits = &self.inner.config.limits;
        let user = session.user();
        if let Some(id) = &id {
            validate_id(id)?;
        }
        self.check_attachment_count(&attachments)?;
        if to.is_some() && !attachments.is_empty() {
            return Err(ChatError::bad_request(
                "a key message (with `to`) names no attachments",
            ));
        }
        validate_base64("ciphertext", &ciphertext, limits.max_ciphertext_bytes)?;
        validate_base64("iv", &iv, limits.max_iv_bytes)?;
        match (&key_id, &to) {
            (Some(key_id), None) => validate_key_id(key_id)?,
            (None, Some(_)) => {}
            (None, None) => {
                return Err(ChatError::bad_request(
                    "keyId is required for a message to the whole group",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ChatError::bad_request(
                    "a key message (with `to`) has no keyId",
                ));
            }
        }
        let to = match to {
            Some(name) => Some(self.canonical(&name).await.map_err(|err| match err {
                ChatError::UserNotFound => not_a_member(&name),
                other => other,
            })?),
            None => None,
        };
        let now = self.now();
        let charged = self.inner.message_rate.take(user, now);
        let message = GroupMessage {
            id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            group,
            sender: user.to_owned(),
            to,
            key_id,
            ciphertext,
            iv,
            timestamp: self.next_timestamp(),
            status: MessageStatus::Sent,
        };
        if let Err(retry_after_secs) = charged {
            // A resend of a stored message is acknowledged again, free; nothing new is stored
            // past the rate.
            return match self.store().get_group_message(&message.id).await? {
                Some(existing) => {
                    self.acknowledge_group_resend(session, existing, &message)
                        .await
                }
                None => Err(ChatError::RateLimited { retry_after_secs }),
            };
        }
        // Named before the message is stored, so the collector cannot take one in between.
        // Membership is read first, so that a stranger's send names nothing (a named upload
        // is kept); one removed between the two leaves a reference no member holds a receipt
        // for, which lets nobody read anything.
        if !attachments.is_empty()
            && let Err(err) = self.group_of_member(user, &message.group).await
        {
            self.inner.message_rate.refund(user, now);
            return Err(err);
        }
        let reference = AttachmentRef::Group {
            message: message.id.clone(),
            group: message.group.clone(),
        };
        if let Err(err) = self.name_attachments(user, &attachments, reference).await {
            self.inner.message_rate.refund(user, now);
            return Err(err);
        }
        match self.store().insert_group_message(&message).await {
            Ok(GroupInserted::New {
                message,
                recipients,
            }) => {
                self.deliver_group_message(session, message, &recipients);
                Ok(())
            }
            inserted => {
                self.inner.message_rate.refund(user, now);
                match inserted? {
                    GroupInserted::Existing(existing) => {
                        self.acknowledge_group_resend(session, existing, &message)
                            .await
                    }
                    GroupInserted::NotMember(who) if who == user => Err(no_such_group()),
                    GroupInserted::NotMember(who) => Err(not_a_member(&who)),
                    GroupInserted::New { .. } => unreachable!("handled above"),
                }
            }
        }
    }

    /// Answers a send whose id is stored already: the same message again (same sender, group
    /// and `to`) is acknowledged again; anything else is refused, `not_found` for a sender who
    /// is not a member of the group named, so an id tells nothing to whoever holds it.
    async fn acknowledge_group_resend(
        &self,
        session: &Session,
        existing: GroupMessage,
        sent: &GroupMessage,
    ) -> ChatResult<()> {
        let same = existing.sender == sent.sender
            && existing.group == sent.group
            && existing.to == sent.to;
        if !same {
            self.group_of_member(session.user(), &sent.group).await?;
            return Err(ChatError::bad_request("this message id is already in use"));
        }
        self.answer(
            session,
            &ServerEvent::GroupMessageSent {
                id: existing.id,
                group: existing.group,
                timestamp: existing.timestamp,
            },
        );
        Ok(())
    }

    /// Acknowledges a stored group message and pushes it to the members it was sent to and to
    /// the sender's other sockets.
    fn deliver_group_message(
        &self,
        session: &Session,
        message: GroupMessage,
        recipients: &[String],
    ) {
        let user = session.user();
        self.answer(
            session,
            &ServerEvent::GroupMessageSent {
                id: message.id.clone(),
                group: message.group.clone(),
                timestamp: message.timestamp,
            },
        );
        let frame: Arc<str> = ServerEvent::ReceiveGroupMessage(message).encode().into();
        for member in recipients {
            // The sender's other sockets get every message of theirs but a key message to
            // someone else; this socket has its acknowledgement.
            self.inner
                .hub
                .push_frame(member, &frame, (member == user).then(|| session.id()));
        }
    }

    /// `group_delivered` / `group_seen`: moves the user's receipts forward, tells their other
    /// sockets, and each sender whose messages every member now has.
    ///
    /// No membership read first: the store moves only the user's own receipts, which a
    /// non-member does not have, so their tick moves nothing and is answered with nothing, as
    /// a tick of unknown ids is (and as alike for a group that exists as for one that does not).
    /// Every member acknowledges every message, so this saves two reads per message and member.
    pub(super) async fn group_tick(
        &self,
        session: &Session,
        id: &str,
        ids: Option<Vec<String>>,
        status: MessageStatus,
    ) -> ChatResult<()> {
        let user = session.user();
        let ticks = self
            .store()
            .advance_group_status(id, user, ids.as_deref(), status)
            .await?;
        if !ticks.moved.is_empty() {
            let sync = ServerEvent::GroupReceiptSync {
                group: id.to_owned(),
                ids: ticks.moved,
                status,
            };
            self.inner.hub.push(user, &sync, Some(session.id()));
        }
        let mut by_sender: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for settled in ticks.settled {
            by_sender
                .entry(settled.sender)
                .or_default()
                .push(settled.id);
        }
        for (sender, ids) in by_sender {
            let group = id.to_owned();
            let event = match status {
                MessageStatus::Seen => ServerEvent::GroupSeen { group, ids },
                _ => ServerEvent::GroupDelivered { group, ids },
            };
            self.inner.hub.push(&sender, &event, None);
        }
        Ok(())
    }

    /// `fetch_group_history`: a page of the messages the user may see, newest first.
    pub(super) async fn fetch_group_history(
        &self,
        session: &Session,
        id: &str,
        before: Option<String>,
        limit: Option<i64>,
    ) -> ChatResult<()> {
        let limit = page_limit(limit)?;
        let user = session.user();
        self.group_of_member(user, id).await?;
        let slot = session.answer_slot().await;
        let limits = &self.inner.config.limits;
        let page = fill_page(
            limit,
            limits.max_answer_bytes,
            limits.messages_per_answer(),
            before,
            |before: Option<String>, n| async move {
                self.store()
                    .group_history(id, user, before.as_deref(), n)
                    .await
                    .map_err(|err| match err {
                        StoreError::NotFound(_) => {
                            ChatError::bad_request("before is not a message of this group")
                        }
                        other => other.into(),
                    })
            },
            |m: &GroupMessage| m.id.clone(),
        )
        .await?;
        let event = ServerEvent::GroupHistoryResponse {
            group: id.to_owned(),
            messages: page.items,
            has_more: page.has_more,
        };
        session.send_answer(vec![event.encode().into()], slot);
        Ok(())
    }

    /// `group_typing`: relayed to the other members' sockets; past the typing rate, dropped.
    pub(super) async fn group_typing(
        &self,
        session: &Session,
        id: &str,
        is_typing: bool,
    ) -> ChatResult<()> {
        let user = session.user();
        let group = self.group_of_member(user, id).await?;
        if self.inner.typing_rate.take(user, self.now()).is_err() {
            return Ok(());
        }
        let event = ServerEvent::GroupTyping {
            group: id.to_owned(),
            from: user.to_owned(),
            is_typing,
        };
        let frame: Arc<str> = event.encode().into();
        for member in group.members.iter().filter(|m| m.username != user) {
            self.inner.hub.push_frame(&member.username, &frame, None);
        }
        Ok(())
    }
}
