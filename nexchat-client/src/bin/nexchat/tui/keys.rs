//! What each key does.
//!
//! Everywhere: Ctrl-C or Ctrl-Q quits, Ctrl-R opens the friend requests, Ctrl-S the safety
//! number of the open conversation, PageUp and PageDown scroll it a screen of lines at a time
//! (older pages load at the top). In the list: Up/Down move, Enter opens, Tab goes to the
//! input line. Once a conversation is open, a character typed in the list is written to its
//! input line, which takes the keys from then on, so that nothing typed is lost; k and j
//! move the highlight only while no conversation is open, when there is nowhere to write.
//! In the input line: text is written, Enter sends, Up/Down scroll a line, Esc or Tab go
//! back to the list.
//! In the friend requests: Up/Down or k/j move, `a` accepts, `r` rejects, Tab goes to the
//! "add a friend" field and back, Enter asks the name written there, Esc closes; the keys go
//! to the field while there is no request, and to the requests when the first one arrives
//! with nothing written in the field. Over the safety number: Esc closes.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use nexchat_client::protocol::is_valid_username;

use super::action::Action;
use super::app::{App, Focus, Overlay, Requests};
use super::conversation::{Body, Delivery, Entry, History, Scroll};
use super::editor::Editor;
use super::ui::Timeline;

/// How many lines of the screen that a page up or down leaves stay in view, to read on from.
const PAGE_OVERLAP: usize = 2;

/// The character `key` writes, if it writes one: a character key alone, with Shift, or with
/// AltGr, but not with Ctrl or Alt, which make commands.
fn written(key: KeyEvent) -> Option<char> {
    let held = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    // AltGr arrives as Ctrl+Alt on some systems, and writes characters like any other key.
    let plain = held.is_empty() || held == KeyModifiers::CONTROL | KeyModifiers::ALT;
    match key.code {
        KeyCode::Char(c) if plain => Some(c),
        _ => None,
    }
}

/// Applies an editing key to `editor`; whether the text changed.
fn edit(editor: &mut Editor, key: KeyEvent) -> bool {
    if let Some(c) = written(key) {
        editor.insert(c);
        return true;
    }
    match key.code {
        KeyCode::Backspace => editor.backspace(),
        KeyCode::Delete => editor.delete(),
        KeyCode::Left => {
            editor.left();
            false
        }
        KeyCode::Right => {
            editor.right();
            false
        }
        KeyCode::Home => {
            editor.home();
            false
        }
        KeyCode::End => {
            editor.end();
            false
        }
        _ => false,
    }
}

impl App {
    /// Handles one key pressed at `now_ms`; returns what the loop must do.
    pub fn on_key(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Action> {
        // Terminals that report releases report presses too: one is enough.
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.notice = None;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'q')) {
            return vec![Action::Quit];
        }
        let mut actions = match self.overlay {
            Some(Overlay::Safety { .. }) => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter)
                    || ctrl && key.code == KeyCode::Char('s')
                {
                    self.overlay = None;
                }
                Vec::new()
            }
            Some(Overlay::Requests(_)) => self.requests_key(key),
            None => self.screen_key(key, now_ms),
        };
        actions.extend(self.catch_up());
        actions
    }

    fn screen_key(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Action> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('r') if ctrl => {
                self.overlay = Some(Overlay::Requests(Requests {
                    adding: self.received.is_empty(),
                    ..Requests::default()
                }));
                self.typing.stop().into_iter().collect()
            }
            KeyCode::Char('s') if ctrl => self.safety_number(),
            KeyCode::PageUp => self.scroll_older(self.page()),
            KeyCode::PageDown => self.scroll_newer(self.page()),
            _ => match self.focus {
                Focus::List => self.list_key(key, now_ms),
                Focus::Input => self.input_key(key, now_ms),
            },
        }
    }

    fn list_key(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Action> {
        // Someone typing while the list has the keys means to write: the open conversation's
        // input line takes them, and no character is lost, j and k included.
        if self.open.is_some() && written(key).is_some() {
            self.focus = Focus::Input;
            return self.input_key(key, now_ms);
        }
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Enter => return self.open_selected(),
            KeyCode::Tab if self.open.is_some() => self.focus = Focus::Input,
            _ => {}
        }
        Vec::new()
    }

    fn move_selection(&mut self, by: isize) {
        let list = self.sorted();
        // With nothing highlighted yet, the list highlights its first conversation.
        let at = self
            .selected
            .as_deref()
            .and_then(|s| list.iter().position(|c| c.is_with(s)))
            .unwrap_or(0);
        let to = at
            .saturating_add_signed(by)
            .min(list.len().saturating_sub(1));
        self.selected = list.get(to).map(|c| c.peer.clone());
    }

    fn open_selected(&mut self) -> Vec<Action> {
        let selected = self
            .selected
            .as_deref()
            .and_then(|s| self.conversation(s))
            .or_else(|| self.sorted().first().copied())
            .map(|c| c.peer.clone());
        let Some(peer) = selected else {
            return Vec::new();
        };
        let mut actions = Vec::new();
        if !self.typing.is_to(&peer) {
            actions.extend(self.typing.stop());
        }
        self.selected = Some(peer.clone());
        self.open = Some(peer.clone());
        self.focus = Focus::Input;
        let conversation = self.conversation_or_new(&peer);
        conversation.scroll = Scroll::End;
        if conversation.history == History::Unloaded {
            conversation.history = History::Loading;
            actions.push(Action::LoadOlder { peer, before: None });
        }
        actions
    }

    fn input_key(&mut self, key: KeyEvent, now_ms: i64) -> Vec<Action> {
        match key.code {
            KeyCode::Enter => return self.send(now_ms),
            KeyCode::Esc | KeyCode::Tab => {
                self.focus = Focus::List;
                return self.typing.stop().into_iter().collect();
            }
            KeyCode::Up => return self.scroll_older(1),
            KeyCode::Down => return self.scroll_newer(1),
            _ => {}
        }
        self.edit_draft(now_ms, |draft| edit(draft, key))
    }

    /// Changes the draft of the open conversation with `change`, which says whether the text
    /// changed; a change to a friend's draft is reported as typing.
    fn edit_draft(&mut self, now_ms: i64, change: impl FnOnce(&mut Editor) -> bool) -> Vec<Action> {
        let Some(peer) = self.open.clone() else {
            return Vec::new();
        };
        let Some(conversation) = self.conversations.iter_mut().find(|c| c.is_with(&peer)) else {
            return Vec::new();
        };
        if change(&mut conversation.draft) && conversation.friend {
            let has_text = !conversation.draft.text().trim().is_empty();
            self.typing.input(&peer, has_text, now_ms)
        } else {
            Vec::new()
        }
    }

    /// Handles text pasted at `now_ms` (the terminal's bracketed paste): it is written where
    /// the cursor is, its line breaks and tabs as spaces, so that a paste never sends anything
    /// by itself.
    pub fn on_paste(&mut self, text: &str, now_ms: i64) -> Vec<Action> {
        self.notice = None;
        let flat = text
            .lines()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\t', " ");
        let write = |editor: &mut Editor| {
            flat.chars().for_each(|c| editor.insert(c));
            !flat.is_empty()
        };
        match &mut self.overlay {
            Some(Overlay::Requests(view)) if view.adding => {
                write(&mut view.name);
                Vec::new()
            }
            // From the list too, as typing does.
            None if self.open.is_some() => {
                self.focus = Focus::Input;
                self.edit_draft(now_ms, write)
            }
            _ => Vec::new(),
        }
    }

    fn send(&mut self, now_ms: i64) -> Vec<Action> {
        let Some(conversation) = self.open.clone().and_then(|p| self.conversation_mut(&p)) else {
            return Vec::new();
        };
        let text = conversation.draft.text().trim().to_owned();
        if text.is_empty() {
            return Vec::new();
        }
        if !conversation.friend {
            let peer = conversation.peer.clone();
            self.notify(format!("{peer} is not your friend: nothing can be sent"));
            return Vec::new();
        }
        conversation.draft.take();
        conversation.scroll = Scroll::End;
        let to = conversation.peer.clone();
        let id = self.new_id();
        let entry = Entry {
            id: id.clone(),
            outgoing: true,
            body: Body::Text {
                text: text.clone(),
                files: Vec::new(),
            },
            delivery: Delivery::Pending,
        };
        self.conversation_or_new(&to).add_message(now_ms, entry);
        let mut actions = vec![Action::Send { to, id, text }];
        actions.extend(self.typing.stop());
        actions
    }

    /// How many lines PageUp and PageDown move: a screen of the timeline less
    /// [`PAGE_OVERLAP`].
    fn page(&self) -> usize {
        let (_, height) = self.timeline_size();
        height.saturating_sub(PAGE_OVERLAP).max(1)
    }

    /// Moves the open conversation's view `lines` lines towards its start; at the start, asks
    /// for the older page.
    fn scroll_older(&mut self, lines: usize) -> Vec<Action> {
        let (cells, height) = self.timeline_size();
        let Some(conversation) = self.open.clone().and_then(|p| self.conversation_mut(&p)) else {
            return Vec::new();
        };
        let timeline = Timeline::new(conversation, cells);
        let at = timeline.older(conversation.scroll, lines, height);
        let at_start = timeline.at_start(at, height);
        conversation.scroll = at;
        if !at_start || conversation.history != History::More {
            return Vec::new();
        }
        conversation.history = History::Loading;
        vec![Action::LoadOlder {
            peer: conversation.peer.clone(),
            before: conversation.oldest_id(),
        }]
    }

    /// Moves the open conversation's view `lines` lines towards its end.
    fn scroll_newer(&mut self, lines: usize) -> Vec<Action> {
        let (cells, height) = self.timeline_size();
        if let Some(conversation) = self.open.clone().and_then(|p| self.conversation_mut(&p)) {
            let timeline = Timeline::new(conversation, cells);
            conversation.scroll = timeline.newer(conversation.scroll, lines, height);
        }
        // What comes into view is seen: `on_key` catches up after every key.
        Vec::new()
    }

    fn safety_number(&mut self) -> Vec<Action> {
        let Some(conversation) = self.open.clone().and_then(|p| self.conversation_mut(&p)) else {
            self.notify("Open a conversation to see its safety number");
            return Vec::new();
        };
        conversation.key_changed = false;
        let peer = conversation.peer.clone();
        self.overlay = Some(Overlay::Safety {
            peer: peer.clone(),
            groups: None,
        });
        vec![Action::ShowSafetyNumber { peer }]
    }

    fn requests_key(&mut self, key: KeyEvent) -> Vec<Action> {
        let Some(Overlay::Requests(view)) = &mut self.overlay else {
            return Vec::new();
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.overlay = None,
            KeyCode::Char('r') if ctrl => self.overlay = None,
            KeyCode::Tab => view.adding = !view.adding,
            KeyCode::Enter if view.adding => {
                let name = view.name.take().trim().to_owned();
                return self.add_friend(name);
            }
            _ if view.adding => {
                edit(&mut view.name, key);
            }
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                view.selected = (view.selected + 1).min(self.received.len().saturating_sub(1));
            }
            KeyCode::Char('a') => return self.answer(true),
            KeyCode::Char('r') => return self.answer(false),
            _ => {}
        }
        Vec::new()
    }

    /// Accepts or rejects the highlighted request.
    fn answer(&mut self, accept: bool) -> Vec<Action> {
        let Some(Overlay::Requests(view)) = &mut self.overlay else {
            return Vec::new();
        };
        if view.selected >= self.received.len() {
            return Vec::new();
        }
        let user = self.received.remove(view.selected);
        self.follow_requests(self.received.len() + 1);
        if accept {
            vec![Action::AcceptFriend { user }]
        } else {
            self.notify(format!("Rejected {user}'s request"));
            vec![Action::RejectFriend { user }]
        }
    }

    fn add_friend(&mut self, name: String) -> Vec<Action> {
        if !is_valid_username(&name) {
            self.notify("A username has 3 to 32 of A-Z a-z 0-9 _ . -");
            return Vec::new();
        }
        if name.eq_ignore_ascii_case(&self.me) {
            self.notify("That is you");
            return Vec::new();
        }
        if self.conversation(&name).is_some_and(|c| c.friend) {
            self.notify(format!("{name} is your friend already"));
            return Vec::new();
        }
        if self.sent.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            self.notify(format!("You asked {name} already"));
            return Vec::new();
        }
        // They asked first: asking back is accepting.
        if let Some(at) = self
            .received
            .iter()
            .position(|r| r.eq_ignore_ascii_case(&name))
        {
            let user = self.received.remove(at);
            return vec![Action::AcceptFriend { user }];
        }
        self.sent.push(name.clone());
        self.notify(format!("Asked {name} to be your friend"));
        vec![Action::RequestFriend { user: name }]
    }
}

#[cfg(test)]
mod tests {
    use nexchat_client::Event;
    use nexchat_core::protocol::MessageStatus;

    use super::*;
    use crate::tui::testing::{MINUTE, T0, app, ctrl, key, message, open, type_text, typing};
    use crate::tui::typing::IDLE_MS;

    #[test]
    fn the_first_conversation_opened_loads_its_history() {
        let mut app = app("alice", &["bob"]);
        let opened = open(&mut app, "bob");
        assert_eq!(
            opened,
            [Action::LoadOlder {
                peer: "bob".into(),
                before: None,
            }]
        );
        assert_eq!(app.focus, Focus::Input);
        // Opened again: the history is on its way already.
        app.on_key(key(KeyCode::Esc), T0);
        assert_eq!(app.on_key(key(KeyCode::Enter), T0), []);
    }

    #[test]
    fn sending_shows_the_message_at_once_under_a_fresh_id_and_stops_typing() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        assert_eq!(type_text(&mut app, "hi ", T0), [typing("bob", true)]);
        let sent = app.on_key(key(KeyCode::Enter), T0 + 500);
        assert_eq!(
            sent,
            [
                Action::Send {
                    to: "bob".into(),
                    id: "id-1".into(),
                    text: "hi".into(),
                },
                typing("bob", false),
            ]
        );
        let bob = app.conversation_mut("bob").expect("bob");
        assert!(bob.draft.is_empty());
        let pending = bob.entry_mut("id-1").map(|e| e.delivery.clone());
        assert_eq!(pending, Some(Delivery::Pending));
        assert_eq!(
            app.on_key(key(KeyCode::Enter), T0),
            [],
            "nothing left to send"
        );
    }

    #[test]
    fn typing_stops_when_the_text_is_emptied_when_idle_and_when_leaving() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        type_text(&mut app, "a", T0);
        assert_eq!(
            app.on_key(key(KeyCode::Backspace), T0),
            [typing("bob", false)]
        );
        assert_eq!(type_text(&mut app, "b", T0), [typing("bob", true)]);
        assert_eq!(app.tick(T0 + IDLE_MS - 1), []);
        assert_eq!(app.tick(T0 + IDLE_MS), [typing("bob", false)]);
        assert_eq!(type_text(&mut app, "c", T0 + 10_000), [typing("bob", true)]);
        assert_eq!(app.on_key(key(KeyCode::Esc), T0), [typing("bob", false)]);
    }

    #[test]
    fn a_former_friend_gets_neither_messages_nor_typing() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        app.apply(
            &Event::Message(message(
                "b1",
                "bob",
                "alice",
                "bye",
                T0,
                MessageStatus::Seen,
            )),
            T0,
        );
        app.apply(&Event::FriendRemoved { user: "bob".into() }, T0);
        assert_eq!(type_text(&mut app, "wait", T0), []);
        assert_eq!(app.on_key(key(KeyCode::Enter), T0), []);
        assert_eq!(
            app.notice.as_deref(),
            Some("bob is not your friend: nothing can be sent")
        );
    }

    #[test]
    fn paging_up_past_the_oldest_message_loads_the_older_page() {
        let mut app = app("alice", &["bob"]);
        // Six lines of timeline, which pages move four at a time.
        app.resize(80, 12);
        open(&mut app, "bob");
        assert_eq!(app.on_key(key(KeyCode::PageUp), T0), [], "nothing here yet");
        // Twelve lines: "PgUp: older messages", the date, and ten messages.
        let page: Vec<_> = (0..10)
            .map(|i| {
                let id = format!("b{i}");
                message(
                    &id,
                    "bob",
                    "alice",
                    &id,
                    T0 + i * MINUTE,
                    MessageStatus::Seen,
                )
            })
            .collect();
        app.load_history("bob", page, true);
        assert_eq!(app.on_key(key(KeyCode::PageUp), T0), [], "four of six up");
        let older = app.on_key(key(KeyCode::PageUp), T0);
        assert_eq!(
            older,
            [Action::LoadOlder {
                peer: "bob".into(),
                before: Some("b0".into()),
            }]
        );
        assert_eq!(app.on_key(key(KeyCode::PageUp), T0), [], "asked once");
        let before = message("a", "bob", "alice", "a", T0 - MINUTE, MessageStatus::Seen);
        app.load_history("bob", vec![before], false);
        assert_eq!(app.on_key(key(KeyCode::PageUp), T0), [], "nothing older");
    }

    #[test]
    fn a_message_scrolled_out_of_view_is_not_seen_until_scrolled_to() {
        let mut app = app("alice", &["bob"]);
        // Three lines of timeline, under the start of the conversation and the date.
        app.resize(80, 9);
        open(&mut app, "bob");
        app.load_history("bob", Vec::new(), false);
        let from_bob = |id: &str, at| {
            Event::Message(message(
                id,
                "bob",
                "alice",
                id,
                at,
                MessageStatus::Delivered,
            ))
        };
        for at in 0..3 {
            app.apply(&from_bob(&format!("b{at}"), T0 + at), T0);
        }
        app.on_key(key(KeyCode::Up), T0);
        app.on_key(key(KeyCode::Up), T0);
        assert_eq!(app.apply(&from_bob("b3", T0 + 3), T0), []);
        assert_eq!(app.conversation("bob").map(|c| c.unread), Some(1));
        assert_eq!(app.on_key(key(KeyCode::Down), T0), []);
        assert_eq!(app.on_key(key(KeyCode::Down), T0), []);
        assert_eq!(
            app.on_key(key(KeyCode::Down), T0),
            [Action::MarkSeen {
                peer: "bob".into(),
                ids: vec!["b3".into()],
            }]
        );
    }

    #[test]
    fn a_friend_request_is_accepted_with_a_and_another_rejected_with_r() {
        let mut app = app("alice", &[]);
        app.load_friends(
            Vec::new(),
            vec!["dave".into(), "erin".into()],
            Vec::new(),
            &[],
        );
        assert_eq!(app.on_key(ctrl('r'), T0), []);
        assert!(matches!(app.overlay, Some(Overlay::Requests(_))));
        app.on_key(key(KeyCode::Down), T0);
        assert_eq!(
            app.on_key(key(KeyCode::Char('a')), T0),
            [Action::AcceptFriend {
                user: "erin".into()
            }]
        );
        assert_eq!(
            app.on_key(key(KeyCode::Char('r')), T0),
            [Action::RejectFriend {
                user: "dave".into()
            }]
        );
        assert!(app.received.is_empty());
        assert_eq!(app.on_key(key(KeyCode::Char('a')), T0), []);
        app.on_key(key(KeyCode::Esc), T0);
        assert!(app.overlay.is_none());
    }

    #[test]
    fn a_friend_is_asked_by_name() {
        let mut app = app("alice", &[]);
        app.load_friends(vec!["bob".into()], vec!["dave".into()], Vec::new(), &[]);
        app.on_key(ctrl('r'), T0);
        app.on_key(key(KeyCode::Tab), T0);
        let ask = |app: &mut App, name: &str| {
            type_text(app, name, T0);
            app.on_key(key(KeyCode::Enter), T0)
        };
        assert_eq!(ask(&mut app, "no"), []);
        assert!(
            app.notice
                .as_deref()
                .is_some_and(|n| n.starts_with("A username has"))
        );
        assert_eq!(ask(&mut app, "Bob"), []);
        assert_eq!(app.notice.as_deref(), Some("Bob is your friend already"));
        assert_eq!(ask(&mut app, "ALICE"), []);
        assert_eq!(
            ask(&mut app, "carol"),
            [Action::RequestFriend {
                user: "carol".into()
            }]
        );
        assert_eq!(app.sent, ["carol"]);
        assert_eq!(ask(&mut app, "carol"), []);
        assert_eq!(
            ask(&mut app, "dave"),
            [Action::AcceptFriend {
                user: "dave".into()
            }]
        );
        // The SDK could not send it: the request is not shown as waiting.
        app.action_failed(
            &Action::RequestFriend {
                user: "carol".into(),
            },
            "user not found",
        );
        assert!(app.sent.is_empty());
        assert_eq!(
            app.notice.as_deref(),
            Some("Could not send the friend request: user not found")
        );
    }

    #[test]
    fn the_safety_number_is_asked_for_and_shown_in_groups() {
        let mut app = app("alice", &["bob"]);
        assert_eq!(app.on_key(ctrl('s'), T0), [], "no conversation is open");
        open(&mut app, "bob");
        app.apply(&Event::KeyChanged { user: "bob".into() }, T0);
        assert_eq!(
            app.on_key(ctrl('s'), T0),
            [Action::ShowSafetyNumber { peer: "bob".into() }]
        );
        assert!(app.conversation("bob").is_some_and(|c| !c.key_changed));
        app.show_safety_number("carol", "0".repeat(30));
        app.show_safety_number("bob", "123451234512345 123451234512345".into());
        let Some(Overlay::Safety {
            groups: Some(groups),
            ..
        }) = &app.overlay
        else {
            panic!("the safety number is shown");
        };
        assert_eq!(groups, &["12345"; 6]);
        assert_eq!(type_text(&mut app, "x", T0), [], "the popup takes the keys");
        app.on_key(key(KeyCode::Esc), T0);
        assert!(app.overlay.is_none());
    }

    #[test]
    fn a_paste_is_written_on_one_line_and_sends_nothing() {
        let mut app = app("alice", &["bob"]);
        assert_eq!(app.on_paste("ignored", T0), [], "no conversation is open");
        open(&mut app, "bob");
        assert_eq!(
            app.on_paste("one\r\ntwo\tthree\n", T0),
            [typing("bob", true)]
        );
        let draft = app.conversation("bob").map(|c| c.draft.text().to_owned());
        assert_eq!(draft.as_deref(), Some("one two three"));

        // With no request to answer, the window opens on the "add a friend" field.
        app.on_key(ctrl('r'), T0);
        app.on_paste("carol\n", T0);
        let Some(Overlay::Requests(view)) = &app.overlay else {
            panic!("the requests are open");
        };
        assert_eq!(view.name.text(), "carol");
    }

    #[test]
    fn altgr_writes_and_ctrl_or_alt_do_not() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        let with = |c, modifiers| KeyEvent::new(KeyCode::Char(c), modifiers);
        app.on_key(with('@', KeyModifiers::CONTROL | KeyModifiers::ALT), T0);
        app.on_key(with('x', KeyModifiers::ALT), T0);
        app.on_key(with('u', KeyModifiers::CONTROL), T0);
        app.on_key(with('A', KeyModifiers::SHIFT), T0);
        let draft = app.conversation("bob").map(|c| c.draft.text().to_owned());
        assert_eq!(draft.as_deref(), Some("@A"));
    }

    #[test]
    fn ctrl_c_and_ctrl_q_quit_from_anywhere() {
        let mut app = app("alice", &["bob"]);
        assert_eq!(app.on_key(ctrl('q'), T0), [Action::Quit]);
        app.on_key(ctrl('r'), T0);
        assert_eq!(app.on_key(ctrl('c'), T0), [Action::Quit]);
    }

    #[test]
    fn released_keys_are_not_pressed_twice() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        let mut release = key(KeyCode::Char('x'));
        release.kind = KeyEventKind::Release;
        app.on_key(release, T0);
        assert!(app.conversation("bob").is_some_and(|c| c.draft.is_empty()));
    }

    #[test]
    fn message_ids_are_uuids_unless_the_tests_choose_them() {
        let mut app = App::new("alice".into());
        app.load_friends(vec!["bob".into()], Vec::new(), Vec::new(), &[]);
        open(&mut app, "bob");
        type_text(&mut app, "hi", T0);
        let sent = app.on_key(key(KeyCode::Enter), T0);
        let Some(Action::Send { id, .. }) = sent.first() else {
            panic!("sent: {sent:?}");
        };
        assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4));
    }

    #[test]
    fn a_message_the_sdk_could_not_send_is_shown_failed() {
        let mut app = app("alice", &["bob"]);
        open(&mut app, "bob");
        type_text(&mut app, "hi", T0);
        let sent = app.on_key(key(KeyCode::Enter), T0);
        app.action_failed(&sent[0], "socket closed");
        let entry = app
            .conversation_mut("bob")
            .and_then(|c| c.entry_mut("id-1"))
            .cloned();
        assert_eq!(
            entry.map(|e| e.delivery),
            Some(Delivery::Failed("socket closed".into()))
        );
    }
}
