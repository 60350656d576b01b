//! What the SDK reports, applied to the screen.

use nexchat_client::{Event, Message};
use nexchat_core::protocol::MessageStatus;

use super::action::Action;
use super::app::{App, Connection};
use super::conversation::{Body, Delivery, Entry};

impl App {
    /// Applies one SDK event, which arrived at `now_ms`; returns what the loop must do in
    /// answer (marking seen what arrived in the conversation on screen).
    pub fn apply(&mut self, event: &Event, now_ms: i64) -> Vec<Action> {
        let requests = self.received.len();
        match event {
            Event::Connected { online } => {
                self.connection = Connection::Connected;
                for conversation in &mut self.conversations {
                    conversation.online = online.iter().any(|o| conversation.is_with(o));
                }
            }
            Event::Disconnected { reason, retry_in } => {
                self.connection = Connection::Disconnected {
                    reason: reason.clone(),
                    retry_in: *retry_in,
                };
                // Nothing of presence or typing is known while the socket is closed.
                self.typing.forget();
                for conversation in &mut self.conversations {
                    conversation.online = false;
                    conversation.typing_since = None;
                }
            }
            Event::Message(message) => self.receive(message),
            Event::Undecryptable {
                id,
                sender,
                receiver,
                timestamp,
                reason,
            } => {
                let outgoing = sender.eq_ignore_ascii_case(&self.me);
                let entry = Entry {
                    id: id.clone(),
                    outgoing,
                    body: Body::Undecryptable(reason.clone()),
                    delivery: Delivery::Stored(MessageStatus::Sent),
                };
                self.add(if outgoing { receiver } else { sender }, *timestamp, entry);
            }
            Event::Sent { id, to, timestamp } => {
                if let Some(conversation) = self.conversation_mut(to) {
                    conversation.stored(id, *timestamp);
                }
            }
            Event::Receipt { peer, ids, status } => {
                if let Some(conversation) = self.conversation_mut(peer) {
                    for id in ids {
                        if let Some(entry) = conversation.entry_mut(id).filter(|e| e.outgoing) {
                            entry.delivery = match &entry.delivery {
                                Delivery::Stored(old) => Delivery::Stored((*old).max(*status)),
                                Delivery::Pending => Delivery::Stored(*status),
                                failed @ Delivery::Failed(_) => failed.clone(),
                            };
                        }
                    }
                }
            }
            Event::ReceiptElsewhere { peer, ids, status } => {
                if let Some(conversation) = self.conversation_mut(peer) {
                    for id in ids {
                        if let Some(entry) = conversation.entry_mut(id).filter(|e| !e.outgoing)
                            && let Delivery::Stored(old) = entry.delivery
                        {
                            entry.delivery = Delivery::Stored(old.max(*status));
                        }
                    }
                    if *status == MessageStatus::Seen {
                        conversation.unread = conversation.unread.saturating_sub(ids.len());
                    }
                }
            }
            Event::Typing { from, typing } => {
                if let Some(conversation) = self.conversation_mut(from) {
                    conversation.typing_since = typing.then_some(now_ms);
                }
            }
            Event::Presence { user, online } => {
                if let Some(conversation) = self.conversation_mut(user) {
                    conversation.online = *online;
                }
            }
            Event::FriendRequest { from } => {
                if !self.received.iter().any(|r| r.eq_ignore_ascii_case(from)) {
                    self.received.push(from.clone());
                }
                self.notify(format!("{from} asks to be your friend: Ctrl-R to answer"));
            }
            Event::FriendAdded { user, online } => {
                self.received.retain(|r| !r.eq_ignore_ascii_case(user));
                self.sent.retain(|s| !s.eq_ignore_ascii_case(user));
                let conversation = self.conversation_or_new(user);
                conversation.friend = true;
                conversation.online = *online;
                // A new friend comes to the top of the list, where the user looks first.
                conversation.activity = conversation.activity.max(now_ms);
                self.notify(format!("{user} and you are friends now"));
            }
            Event::FriendRejected { from } => {
                self.sent.retain(|s| !s.eq_ignore_ascii_case(from));
                self.notify(format!("{from} declined your friend request"));
            }
            Event::FriendRemoved { user } => self.unfriend(user),
            Event::KeyChanged { user } => {
                if let Some(conversation) = self.conversation_mut(user) {
                    conversation.key_changed = true;
                    conversation.add_notice(
                        now_ms,
                        format!("{user}'s safety number changed: compare the new one (Ctrl-S)"),
                    );
                }
                self.notify(format!(
                    "{user}'s safety number changed: Ctrl-S to compare it"
                ));
            }
            Event::Refused { message, id, .. } => {
                let failed = id.as_deref().and_then(|id| {
                    self.conversations
                        .iter_mut()
                        .find_map(|c| c.entry_mut(id))
                        .filter(|e| e.outgoing)
                });
                match failed {
                    Some(entry) => entry.delivery = Delivery::Failed(message.clone()),
                    None => self.notify(format!("The server refused: {message}")),
                }
            }
            // Kinds of event added to the SDK later mean nothing to this screen yet.
            _ => {}
        }
        self.follow_requests(requests);
        self.catch_up().into_iter().collect()
    }

    fn receive(&mut self, message: &Message) {
        let entry = Entry::from_message(message, &self.me);
        let peer = message.peer(&self.me).to_owned();
        if !entry.outgoing
            && let Some(conversation) = self.conversation_mut(&peer)
        {
            // Their message ends what they were typing.
            conversation.typing_since = None;
        }
        self.add(&peer, message.timestamp, entry);
    }

    /// Adds a message to the conversation with `peer`; one of theirs not seen yet counts
    /// unread until the conversation is on the screen.
    fn add(&mut self, peer: &str, time: i64, entry: Entry) {
        let unseen = entry.unseen();
        let conversation = self.conversation_or_new(peer);
        if conversation.add_message(time, entry) && unseen {
            conversation.unread += 1;
        }
    }

    fn unfriend(&mut self, user: &str) {
        self.received.retain(|r| !r.eq_ignore_ascii_case(user));
        self.sent.retain(|s| !s.eq_ignore_ascii_case(user));
        if let Some(conversation) = self.conversation_mut(user) {
            conversation.friend = false;
            conversation.online = false;
            conversation.typing_since = None;
        }
        if self.typing.is_to(user) {
            // Said to a former friend, even `false` would only be refused.
            self.typing.forget();
        }
        self.drop_empty_former_friends();
        self.notify(format!("{user} is no longer your friend"));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use nexchat_core::protocol::ErrorCode;

    use super::*;
    use crate::tui::app::Focus;
    use crate::tui::testing::{MINUTE, T0, app, message, open};

    fn from_bob(id: &str, at: i64) -> Event {
        Event::Message(message(
            id,
            "bob",
            "alice",
            id,
            at,
            MessageStatus::Delivered,
        ))
    }

    fn unread(app: &App, peer: &str) -> usize {
        app.conversation(peer).map_or(0, |c| c.unread)
    }

    #[test]
    fn a_message_to_the_open_conversation_is_seen_at_once_and_another_counts_unread() {
        let mut app = app("alice", &["bob", "carol"]);
        open(&mut app, "bob");
        app.load_history("bob", Vec::new(), false);

        let actions = app.apply(&from_bob("b1", T0), T0);
        assert_eq!(
            actions,
            [Action::MarkSeen {
                peer: "bob".into(),
                ids: vec!["b1".into()],
            }]
        );
        assert_eq!(unread(&app, "bob"), 0);

        let to_carol = message("c1", "carol", "alice", "hi", T0, MessageStatus::Delivered);
        assert_eq!(app.apply(&Event::Message(to_carol.clone()), T0), []);
        assert_eq!(unread(&app, "carol"), 1);
        // Delivery is at least once: the same message again is not a second unread one.
        app.apply(&Event::Message(to_carol), T0);
        assert_eq!(unread(&app, "carol"), 1);
    }

    #[test]
    fn a_message_from_another_device_of_this_user_is_never_unread() {
        let mut app = app("alice", &["bob"]);
        let mine = message(
            "a1",
            "alice",
            "bob",
            "sent elsewhere",
            T0,
            MessageStatus::Sent,
        );
        app.apply(&Event::Message(mine), T0);
        assert_eq!(unread(&app, "bob"), 0);
        let entry = app
            .conversation_mut("bob")
            .and_then(|c| c.entry_mut("a1"))
            .cloned();
        assert!(entry.is_some_and(|e| e.outgoing));
    }

    #[test]
    fn seen_elsewhere_clears_the_badge() {
        let mut app = app("alice", &["bob"]);
        app.apply(&from_bob("b1", T0), T0);
        app.apply(&from_bob("b2", T0 + 1), T0);
        assert_eq!(unread(&app, "bob"), 2);
        let elsewhere = |ids: &[&str], status| Event::ReceiptElsewhere {
            peer: "bob".into(),
            ids: ids.iter().map(|i| i.to_string()).collect(),
            status,
        };
        app.apply(&elsewhere(&["b1", "b2"], MessageStatus::Delivered), T0);
        assert_eq!(
            unread(&app, "bob"),
            2,
            "delivered to another device is not seen"
        );
        app.apply(&elsewhere(&["b1", "b2"], MessageStatus::Seen), T0);
        assert_eq!(unread(&app, "bob"), 0);
        // Opening the conversation now has nothing left to mark.
        let actions = open(&mut app, "bob");
        assert!(!actions.iter().any(|a| matches!(a, Action::MarkSeen { .. })));
    }

    #[test]
    fn marking_seen_waits_for_the_socket() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        app.load_history("bob", Vec::new(), false);
        let closed = Event::Disconnected {
            reason: "connection reset".into(),
            retry_in: Duration::from_secs(3),
        };
        app.apply(&closed, T0);
        let history = vec![message(
            "b1",
            "bob",
            "alice",
            "hi",
            T0,
            MessageStatus::Delivered,
        )];
        assert_eq!(app.load_history("bob", history, false), []);
        assert_eq!(unread(&app, "bob"), 0, "on the screen, so read");
        let back = app.apply(&Event::Connected { online: Vec::new() }, T0);
        assert_eq!(
            back,
            [Action::MarkSeen {
                peer: "bob".into(),
                ids: vec!["b1".into()],
            }]
        );
    }

    #[test]
    fn presence_and_typing_follow_the_events_and_end_with_the_socket() {
        let mut app = app("alice", &["bob"]);
        let bob = |app: &App| {
            let c = app.conversation("bob").expect("bob");
            (c.online, c.typing_since.is_some())
        };
        app.apply(
            &Event::Connected {
                online: vec!["Bob".into()],
            },
            T0,
        );
        app.apply(
            &Event::Typing {
                from: "bob".into(),
                typing: true,
            },
            T0,
        );
        assert_eq!(bob(&app), (true, true));
        app.apply(&from_bob("b1", T0), T0);
        assert_eq!(bob(&app), (true, false), "a message ends the typing");
        app.apply(
            &Event::Typing {
                from: "bob".into(),
                typing: true,
            },
            T0,
        );
        app.apply(
            &Event::Disconnected {
                reason: "gone".into(),
                retry_in: Duration::ZERO,
            },
            T0,
        );
        assert_eq!(bob(&app), (false, false));
        app.apply(
            &Event::Presence {
                user: "bob".into(),
                online: true,
            },
            T0,
        );
        assert!(bob(&app).0);
    }

    #[test]
    fn a_typing_indicator_nobody_switches_off_expires() {
        let mut app = app("alice", &["bob"]);
        app.apply(
            &Event::Typing {
                from: "bob".into(),
                typing: true,
            },
            T0,
        );
        app.tick(T0 + 6_000);
        assert!(
            app.conversation("bob")
                .is_some_and(|c| c.typing_since.is_some())
        );
        app.tick(T0 + 7_000);
        assert!(
            app.conversation("bob")
                .is_some_and(|c| c.typing_since.is_none())
        );
    }

    #[test]
    fn friendships_begin_and_end_with_the_events() {
        let mut app = app("alice", &[]);
        let sent = vec!["carol".into(), "erin".into()];
        app.load_friends(vec!["bob".into()], Vec::new(), sent, &[]);
        app.apply(
            &Event::FriendRequest {
                from: "dave".into(),
            },
            T0,
        );
        assert_eq!(app.received, ["dave"]);
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("dave")));

        app.apply(
            &Event::FriendAdded {
                user: "carol".into(),
                online: true,
            },
            T0,
        );
        assert_eq!(app.sent, ["erin"]);
        let carol = app.conversation("carol").expect("carol is in the list");
        assert!(carol.friend && carol.online);
        assert_eq!(app.sorted()[0].peer, "carol", "a new friend comes first");

        app.apply(
            &Event::FriendRejected {
                from: "erin".into(),
            },
            T0,
        );
        assert!(app.sent.is_empty());
        assert_eq!(
            app.notice.as_deref(),
            Some("erin declined your friend request")
        );

        // A former friend without messages leaves the list; one with messages stays.
        app.apply(
            &Event::FriendRemoved {
                user: "carol".into(),
            },
            T0,
        );
        assert!(app.conversation("carol").is_none());
        app.apply(&from_bob("b1", T0), T0);
        app.apply(&Event::FriendRemoved { user: "bob".into() }, T0);
        assert!(app.conversation("bob").is_some_and(|c| !c.friend));
    }

    #[test]
    fn loading_the_friends_again_replaces_them() {
        let mut app = app("alice", &["bob", "carol"]);
        open(&mut app, "carol");
        app.apply(&from_bob("b1", T0), T0);
        app.load_friends(
            vec!["dave".into()],
            Vec::new(),
            Vec::new(),
            &["dave".into()],
        );
        let listed: Vec<(&str, bool, bool)> = app
            .sorted()
            .iter()
            .map(|c| (c.peer.as_str(), c.friend, c.online))
            .collect();
        assert_eq!(listed, [("bob", false, false), ("dave", true, true)]);
        assert_eq!(app.open, None, "carol's empty conversation is gone");
        assert_eq!(app.focus, Focus::List);
    }

    #[test]
    fn a_refused_message_fails_and_another_refusal_is_a_notice() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        crate::tui::testing::type_text(&mut app, "too big", T0);
        app.on_key(
            crate::tui::testing::key(crossterm::event::KeyCode::Enter),
            T0,
        );
        let refused = |id: Option<&str>| Event::Refused {
            code: ErrorCode::TooLarge,
            message: "message too large".into(),
            id: id.map(String::from),
        };
        app.apply(&refused(Some("id-1")), T0);
        let entry = app
            .conversation_mut("bob")
            .and_then(|c| c.entry_mut("id-1"))
            .cloned();
        assert_eq!(
            entry.map(|e| e.delivery),
            Some(Delivery::Failed("message too large".into()))
        );
        // A late receipt does not bring it back.
        app.apply(
            &Event::Receipt {
                peer: "bob".into(),
                ids: vec!["id-1".into()],
                status: MessageStatus::Delivered,
            },
            T0,
        );
        let entry = app
            .conversation_mut("bob")
            .and_then(|c| c.entry_mut("id-1"))
            .cloned();
        assert!(entry.is_some_and(|e| matches!(e.delivery, Delivery::Failed(_))));
        app.apply(&refused(None), T0);
        assert_eq!(
            app.notice.as_deref(),
            Some("The server refused: message too large")
        );
    }

    #[test]
    fn a_changed_key_is_noted_in_the_conversation() {
        let mut app = app("alice", &["bob"]);
        app.apply(&Event::KeyChanged { user: "bob".into() }, T0 + MINUTE);
        let bob = app.conversation("bob").expect("bob");
        assert!(bob.key_changed);
        assert!(
            matches!(&bob.items[..], [item] if item.time == T0 + MINUTE && item.entry().is_none())
        );
        assert!(
            app.notice
                .as_deref()
                .is_some_and(|n| n.contains("safety number changed"))
        );
    }
}
