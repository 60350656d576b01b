//! Friend requests and friendships, pushed live to both users' sockets.

use super::Chat;
use crate::error::{ChatError, ChatResult};
use crate::protocol::ServerEvent;
use crate::protocol::rest::{FriendStatusBody, FriendStatusKind, FriendsStatus};
use crate::store::LinkStatus;

impl Chat {
    /// Friends and pending requests of `user`, sorted by name.
    ///
    /// # Errors
    /// A store failure.
    pub async fn friends_status(&self, user: &str) -> ChatResult<FriendsStatus> {
        let mut status = FriendsStatus::default();
        for link in self.store().links_of(user).await? {
            let sent = link.sender == user;
            let other = if sent { link.receiver } else { link.sender };
            match (link.status, sent) {
                (LinkStatus::Accepted, _) => status.friends.push(other),
                (LinkStatus::Pending, true) => status.pending_sent.push(other),
                (LinkStatus::Pending, false) => status.pending_received.push(other),
                (LinkStatus::Rejected, _) => {}
            }
        }
        for list in [
            &mut status.friends,
            &mut status.pending_sent,
            &mut status.pending_received,
        ] {
            list.sort_by_key(|name| name.to_lowercase());
        }
        Ok(status)
    }

    /// `user` asks `receiver` to be friends; accepts at once when `receiver` had already asked.
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`] for an unknown `receiver`; [`ChatError::BadRequest`] for
    /// oneself; [`ChatError::Conflict`] when already friends or a request is pending (or the
    /// request changed meanwhile); a store failure.
    pub async fn friend_request(&self, user: &str, receiver: &str) -> ChatResult<FriendStatusBody> {
        let receiver = self.canonical(receiver).await?;
        if receiver == user {
            return Err(ChatError::bad_request("you cannot befriend yourself"));
        }
        match self.store().link(user, &receiver).await? {
            Some(link) if link.status == LinkStatus::Accepted => {
                return Err(ChatError::Conflict("already friends".into()));
            }
            Some(link) if link.status == LinkStatus::Pending && link.sender == user => {
                return Err(ChatError::Conflict("request already pending".into()));
            }
            Some(link) if link.status == LinkStatus::Pending => {
                if self
                    .store()
                    .transition_link(&receiver, user, LinkStatus::Pending, LinkStatus::Accepted)
                    .await?
                {
                    self.announce_friendship(user, &receiver).await;
                    return Ok(status(FriendStatusKind::Accepted));
                }
                return Err(ChatError::Conflict("the request changed meanwhile".into()));
            }
            _ => {}
        }
        if !self.store().create_request(user, &receiver).await? {
            return Err(ChatError::Conflict("request already pending".into()));
        }
        self.inner.hub.push(
            &receiver,
            &ServerEvent::NewFriendRequest {
                from: user.to_owned(),
            },
            None,
        );
        Ok(status(FriendStatusKind::Pending))
    }

    /// `user` accepts the pending request from `sender`.
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`] for an unknown `sender`; [`ChatError::NotFound`] when
    /// there is no pending request from them; a store failure.
    pub async fn friend_accept(&self, user: &str, sender: &str) -> ChatResult<FriendStatusBody> {
        let sender = self.canonical(sender).await?;
        if !self
            .store()
            .transition_link(&sender, user, LinkStatus::Pending, LinkStatus::Accepted)
            .await?
        {
            return Err(ChatError::NotFound(format!(
                "no pending request from {sender}"
            )));
        }
        self.announce_friendship(user, &sender).await;
        Ok(status(FriendStatusKind::Accepted))
    }

    /// `user` rejects the pending request from `sender`, who may ask again later.
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`] for an unknown `sender`; [`ChatError::NotFound`] when
    /// there is no pending request from them; a store failure.
    pub async fn friend_reject(&self, user: &str, sender: &str) -> ChatResult<FriendStatusBody> {
        let sender = self.canonical(sender).await?;
        if !self
            .store()
            .transition_link(&sender, user, LinkStatus::Pending, LinkStatus::Rejected)
            .await?
        {
            return Err(ChatError::NotFound(format!(
                "no pending request from {sender}"
            )));
        }
        self.inner.hub.push(
            &sender,
            &ServerEvent::FriendRequestRejected {
                from: user.to_owned(),
            },
            None,
        );
        Ok(status(FriendStatusKind::Rejected))
    }

    /// `user` ends the friendship with `target`, or withdraws the request they sent.
    ///
    /// Once this returns, no message, typing or call offer between the two is accepted on this
    /// node: the removal and the friend guard's forget happen while no relay of the pair is
    /// between its check and its push, and relays after it are refused (see `FriendGuard`).
    ///
    /// # Errors
    /// [`ChatError::UserNotFound`] for an unknown `target`; [`ChatError::NotFound`] when the
    /// two are not friends and `user` has no pending request to `target`; a store failure.
    pub async fn friend_remove(&self, user: &str, target: &str) -> ChatResult<FriendStatusBody> {
        let target = self.canonical(target).await?;
        let store = self.store();
        let exclusive = self.inner.guard.exclusive(user, &target).await;
        let removed = store
            .delete_link(user, &target, LinkStatus::Accepted)
            .await?
            || store
                .delete_link(&target, user, LinkStatus::Accepted)
                .await?
            || store
                .delete_link(user, &target, LinkStatus::Pending)
                .await?;
        if !removed {
            return Err(ChatError::NotFound(format!(
                "no friendship or pending request with {target}"
            )));
        }
        self.inner.guard.forget(user, &target);
        self.inner.typists.forget_between(user, &target);
        drop(exclusive);
        // Calls are ended outside the lock: ending one pushes and writes the store, and a call
        // offer admitted before the removal is in the live calls by now.
        self.end_calls_between(user, &target).await;
        self.inner.hub.push(
            &target,
            &ServerEvent::FriendRemoved {
                from: user.to_owned(),
            },
            None,
        );
        Ok(status(FriendStatusKind::Removed))
    }

    /// Tells both users, on every socket, that they are friends now. A friend who has not
    /// published a key yet (provisioned by the app, never connected) comes with
    /// `publicKey: null`; their first key reaches the other as `key_changed`.
    async fn announce_friendship(&self, a: &str, b: &str) {
        for (to, with) in [(a, b), (b, a)] {
            match self.key_of(with).await {
                Ok((with, public_key)) => {
                    let event = ServerEvent::FriendshipActivated {
                        online: self.inner.hub.is_online(&with),
                        with,
                        public_key,
                    };
                    self.inner.hub.push(to, &event, None);
                }
                Err(err) => tracing::warn!(?err, "friendship_activated not sent"),
            }
        }
    }
}

fn status(status: FriendStatusKind) -> FriendStatusBody {
    FriendStatusBody { status }
}
