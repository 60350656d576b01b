//! The whole screen's state, [`App`], and what the live loop loads into it at start.

use std::time::Duration;

use nexchat_client::Message;
use ratatui::layout::Size;

use super::action::Action;
use super::conversation::{Conversation, Delivery, Entry, History};
use super::editor::Editor;
use super::typing::TypingReport;
use super::ui::{Timeline, timeline_size};

/// Terminals narrower than this show the list or the open conversation, not both.
pub(super) const NARROW_BELOW: u16 = 60;
/// How long a friend's typing indicator lasts when no `false` comes (ms): theirs says `true`
/// again every 4 s while they type, and a `false` can be lost to the server's rate limit.
const TYPING_EXPIRES_MS: i64 = 7_000;

/// Where the keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Focus {
    /// The conversation list.
    List,
    /// The input line of the open conversation.
    Input,
}

/// The socket, as the status bar tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Connection {
    /// Not connected yet.
    Connecting,
    /// Open.
    Connected,
    /// Closed; the SDK tries again after `retry_in`.
    Disconnected {
        /// Why, for people.
        reason: String,
        /// When the next attempt starts.
        retry_in: Duration,
    },
}

/// The friend requests view.
#[derive(Debug, Default)]
pub(super) struct Requests {
    /// The highlighted request received.
    pub(super) selected: usize,
    /// Keys go to the "add a friend" field rather than the requests.
    pub(super) adding: bool,
    /// The name being written in the "add a friend" field.
    pub(super) name: Editor,
}

/// A window over the screen that takes the keys while it is open.
#[derive(Debug)]
pub(super) enum Overlay {
    /// Friend requests, received and sent, and a field to ask someone.
    Requests(Requests),
    /// The safety number with a friend.
    Safety {
        /// The friend.
        peer: String,
        /// The six groups of five digits, once the loop has computed them.
        groups: Option<Vec<String>>,
    },
}

/// The terminal client's screen: conversations, friends and requests, what is being written,
/// and what the socket is doing. It reads no clock and does no I/O: times come in as `now_ms`
/// (milliseconds since the Unix epoch), and what the SDK must do goes out as [`Action`]s.
pub struct App {
    /// This user, as registered.
    pub(super) me: String,
    /// Every friend and every conversation, in no order (the list sorts them).
    pub(super) conversations: Vec<Conversation>,
    /// Users who asked this user to be friends.
    pub(super) received: Vec<String>,
    /// Users this user asked.
    pub(super) sent: Vec<String>,
    /// The socket.
    pub(super) connection: Connection,
    /// A line for the status bar, until the next key.
    pub(super) notice: Option<String>,
    /// Where the keys go.
    pub(super) focus: Focus,
    /// The highlighted conversation of the list.
    pub(super) selected: Option<String>,
    /// The open conversation.
    pub(super) open: Option<String>,
    /// A window that takes the keys.
    pub(super) overlay: Option<Overlay>,
    /// Whether the terminal shows one pane at a time.
    pub(super) narrow: bool,
    /// The terminal's size: 80 × 24, the usual one, until the first resize.
    size: Size,
    /// This user's typing reports.
    pub(super) typing: TypingReport,
    /// Makes the ids of the messages this user sends.
    new_id: Box<dyn FnMut() -> String + Send>,
}

impl App {
    /// The screen of user `me`, with random (version 4 UUID) message ids.
    pub fn new(me: String) -> Self {
        Self::with_ids(me, || uuid::Uuid::new_v4().to_string())
    }

    /// The screen of user `me`, taking message ids from `new_id` (tests give fixed ones).
    pub fn with_ids(me: String, new_id: impl FnMut() -> String + Send + 'static) -> Self {
        Self {
            me,
            conversations: Vec::new(),
            received: Vec::new(),
            sent: Vec::new(),
            connection: Connection::Connecting,
            notice: None,
            focus: Focus::List,
            selected: None,
            open: None,
            overlay: None,
            narrow: false,
            size: Size::new(80, 24),
            typing: TypingReport::default(),
            new_id: Box::new(new_id),
        }
    }

    /// Loads the friends and friend requests, replacing what was known (a reload after the
    /// socket was away is right too): `online` are the friends online now.
    pub fn load_friends(
        &mut self,
        friends: Vec<String>,
        pending_received: Vec<String>,
        pending_sent: Vec<String>,
        online: &[String],
    ) {
        for conversation in &mut self.conversations {
            conversation.friend = false;
            conversation.online = false;
        }
        for name in friends {
            let is_online = online.iter().any(|o| o.eq_ignore_ascii_case(&name));
            let conversation = self.conversation_or_new(&name);
            conversation.friend = true;
            conversation.online = is_online;
        }
        self.drop_empty_former_friends();
        let requests = self.received.len();
        self.received = pending_received;
        self.sent = pending_sent;
        self.follow_requests(requests);
    }

    /// Loads the conversation list: each peer with its last message and unread count.
    pub fn load_conversations(&mut self, conversations: Vec<(String, Option<Message>, usize)>) {
        let me = self.me.clone();
        for (peer, last, unread) in conversations {
            let conversation = self.conversation_or_new(&peer);
            conversation.unread = unread;
            if let Some(message) = last {
                conversation.add_message(message.timestamp, Entry::from_message(&message, &me));
            }
        }
    }

    /// Loads a page of the history with `peer` (in either order), asked for by
    /// [`Action::LoadOlder`]; `has_more`: whether older messages exist.
    pub fn load_history(
        &mut self,
        peer: &str,
        messages: Vec<Message>,
        has_more: bool,
    ) -> Vec<Action> {
        let me = self.me.clone();
        let conversation = self.conversation_or_new(peer);
        for message in &messages {
            conversation.add_message(message.timestamp, Entry::from_message(message, &me));
        }
        conversation.history = if has_more {
            History::More
        } else {
            History::Complete
        };
        self.catch_up().into_iter().collect()
    }

    /// The terminal is now `width` × `height` cells; call at start and on every resize.
    pub fn resize(&mut self, width: u16, height: u16) -> Vec<Action> {
        self.narrow = width < NARROW_BELOW;
        self.size = Size::new(width, height);
        self.catch_up().into_iter().collect()
    }

    /// Lets time pass: a typing report goes quiet once the keys are idle, and a friend's typing
    /// indicator that nobody switched off expires. Call about once a second.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        for conversation in &mut self.conversations {
            if conversation
                .typing_since
                .is_some_and(|since| now_ms - since >= TYPING_EXPIRES_MS)
            {
                conversation.typing_since = None;
            }
        }
        self.typing.idle(now_ms).into_iter().collect()
    }

    /// Shows `text` in the status bar until the next key: an SDK error, say.
    pub fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some(text.into());
    }

    /// The safety number with `peer`, asked for by [`Action::ShowSafetyNumber`]: thirty digits
    /// (spaces or none between the groups).
    pub fn show_safety_number(&mut self, peer: &str, number: String) {
        let Some(Overlay::Safety {
            peer: asked,
            groups,
        }) = &mut self.overlay
        else {
            return;
        };
        // The popup may have been closed, or opened for someone else, while it was computed.
        if asked.eq_ignore_ascii_case(peer) {
            let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
            *groups = Some(digits.chunks(5).map(|g| g.iter().collect()).collect());
        }
    }

    /// The SDK could not do `action`: undoes what the screen showed of it and says why.
    pub fn action_failed(&mut self, action: &Action, reason: &str) {
        let what = match action {
            Action::Send { to, id, .. } => {
                if let Some(entry) = self.conversation_mut(to).and_then(|c| c.entry_mut(id)) {
                    entry.delivery = Delivery::Failed(reason.to_owned());
                }
                "send the message"
            }
            Action::LoadOlder { peer, before } => {
                if let Some(conversation) = self.conversation_mut(peer) {
                    conversation.history = if before.is_some() {
                        History::More
                    } else {
                        History::Unloaded
                    };
                }
                "load the history"
            }
            Action::RequestFriend { user } => {
                self.sent.retain(|s| !s.eq_ignore_ascii_case(user));
                "send the friend request"
            }
            Action::AcceptFriend { user } | Action::RejectFriend { user } => {
                let friends = self.conversation(user).is_some_and(|c| c.friend);
                let listed = self.received.iter().any(|r| r.eq_ignore_ascii_case(user));
                if !friends && !listed {
                    let requests = self.received.len();
                    self.received.push(user.clone());
                    self.follow_requests(requests);
                }
                "answer the friend request"
            }
            Action::ShowSafetyNumber { .. } => {
                if matches!(self.overlay, Some(Overlay::Safety { .. })) {
                    self.overlay = None;
                }
                "compute the safety number"
            }
            Action::MarkSeen { .. } => "mark the messages seen",
            Action::Typing { .. } => "report typing",
            Action::Quit => "quit",
        };
        self.notify(format!("Could not {what}: {reason}"));
    }

    /// The requests received changed from `before` of them: an open requests window gives the
    /// keys to what there is to do. The first request to arrive takes them from the empty
    /// "add a friend" field (a window opened with no request starts there), so that `a` and
    /// `r` answer it at once; a name being written keeps them. With no request left, the
    /// field takes them back. The highlight stays on a request.
    pub(super) fn follow_requests(&mut self, before: usize) {
        let Some(Overlay::Requests(view)) = &mut self.overlay else {
            return;
        };
        if self.received.is_empty() {
            view.adding = true;
        } else if before == 0 && view.name.is_empty() {
            view.adding = false;
        }
        view.selected = view.selected.min(self.received.len().saturating_sub(1));
    }

    /// Former friends without messages leave the list: there is nothing to show of them.
    pub(super) fn drop_empty_former_friends(&mut self) {
        self.conversations
            .retain(|c| c.friend || !c.items.is_empty());
        if self
            .open
            .as_deref()
            .is_some_and(|open| self.conversation(open).is_none())
        {
            self.open = None;
            self.focus = Focus::List;
        }
    }

    /// The conversation with `name`.
    pub(super) fn conversation(&self, name: &str) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.is_with(name))
    }

    /// The conversation with `name`, to change.
    pub(super) fn conversation_mut(&mut self, name: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.is_with(name))
    }

    /// The conversation with `name`, made empty if there is none.
    pub(super) fn conversation_or_new(&mut self, name: &str) -> &mut Conversation {
        let index = match self.conversations.iter().position(|c| c.is_with(name)) {
            Some(index) => index,
            None => {
                self.conversations.push(Conversation::new(name.to_owned()));
                self.conversations.len() - 1
            }
        };
        &mut self.conversations[index]
    }

    /// The conversations as the list shows them: newest activity first, then by name.
    pub(super) fn sorted(&self) -> Vec<&Conversation> {
        let mut list: Vec<&Conversation> = self.conversations.iter().collect();
        list.sort_by(|a, b| {
            b.activity
                .cmp(&a.activity)
                .then_with(|| a.peer.to_lowercase().cmp(&b.peer.to_lowercase()))
        });
        list
    }

    /// The open conversation.
    pub(super) fn open_conversation(&self) -> Option<&Conversation> {
        self.open
            .as_deref()
            .and_then(|peer| self.conversation(peer))
    }

    /// Whether the open conversation is on the screen: always beside the list, and in a narrow
    /// terminal only while the keys go to it.
    pub(super) fn shows_conversation(&self) -> bool {
        self.open.is_some() && (!self.narrow || self.focus == Focus::Input)
    }

    /// The width and the height of the open conversation's timeline on this terminal, in
    /// cells and lines.
    pub(super) fn timeline_size(&self) -> (usize, usize) {
        timeline_size(self.size, self.narrow)
    }

    /// The open conversation's messages are seen once they are on the screen: its badge goes,
    /// and (when the socket can take it) the peer is told which ones.
    pub(super) fn catch_up(&mut self) -> Option<Action> {
        if !self.shows_conversation() {
            return None;
        }
        let connected = self.connection == Connection::Connected;
        let (cells, height) = self.timeline_size();
        let peer = self.open.clone()?;
        let conversation = self.conversation_mut(&peer)?;
        // A view that shows the end follows it from now on (a resize or what arrived may
        // have brought it there), and what the view shows is what is seen.
        let timeline = Timeline::new(conversation, cells);
        let settled = timeline.settled(conversation.scroll, height);
        let below = timeline.below(settled, height);
        conversation.scroll = settled;
        if !connected {
            // Told once the socket is back (catching up again on `Connected`).
            conversation.read_in_view(below);
            return None;
        }
        let ids = conversation.take_unseen(below);
        (!ids.is_empty()).then(|| Action::MarkSeen {
            peer: conversation.peer.clone(),
            ids,
        })
    }

    /// A new message id.
    pub(super) fn new_id(&mut self) -> String {
        (self.new_id)()
    }
}
