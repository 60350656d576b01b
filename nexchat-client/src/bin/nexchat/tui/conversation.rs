//! One conversation as the screen holds it: the other user, what is known of them, and the
//! timeline of messages and notices.

use nexchat_client::Message;
use nexchat_core::protocol::MessageStatus;

use super::editor::Editor;

/// How far a message got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Delivery {
    /// Ours, sent but not yet stored by the server: a clock.
    Pending,
    /// Ours, and the server refused it (or the SDK could not send it); it is not sent again.
    Failed(String),
    /// Stored. For ours, how far it got; for theirs, whether this user has seen it.
    Stored(MessageStatus),
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Body {
    /// Text, and the names of the files it carries.
    Text {
        /// The text.
        text: String,
        /// The attachments' file names.
        files: Vec<String>,
    },
    /// It did not open; why, for people.
    Undecryptable(String),
}

/// One message of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The message id.
    pub(super) id: String,
    /// Sent by this user (from any of their devices).
    pub(super) outgoing: bool,
    /// What it says.
    pub(super) body: Body,
    /// How far it got.
    pub(super) delivery: Delivery,
}

impl Entry {
    /// The entry of a decrypted message, seen from `me`.
    pub(super) fn from_message(message: &Message, me: &str) -> Self {
        Self {
            id: message.id.clone(),
            outgoing: message.sender.eq_ignore_ascii_case(me),
            body: Body::Text {
                text: message.text.clone(),
                files: message.attachments.iter().map(|a| a.name.clone()).collect(),
            },
            delivery: Delivery::Stored(message.status),
        }
    }

    /// A message from the peer that this user has not seen yet.
    pub(super) fn unseen(&self) -> bool {
        !self.outgoing && matches!(self.delivery, Delivery::Stored(s) if s < MessageStatus::Seen)
    }
}

/// One line of the timeline, at a time in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// When the server stored it; for a pending message or a notice, the local clock's time.
    pub(super) time: i64,
    /// A message or a notice.
    pub(super) kind: ItemKind,
}

/// What a timeline line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ItemKind {
    /// A message.
    Message(Entry),
    /// Something this client noticed, such as a changed safety number.
    Notice(String),
}

impl Item {
    /// The message, if this is one.
    pub(super) fn entry(&self) -> Option<&Entry> {
        match &self.kind {
            ItemKind::Message(entry) => Some(entry),
            ItemKind::Notice(_) => None,
        }
    }

    fn entry_mut(&mut self) -> Option<&mut Entry> {
        match &mut self.kind {
            ItemKind::Message(entry) => Some(entry),
            ItemKind::Notice(_) => None,
        }
    }

    /// Pending messages stay below everything the server has stored: their place in the
    /// conversation is only known once `Sent` brings the server's timestamp.
    fn pending(&self) -> bool {
        self.entry()
            .is_some_and(|e| e.delivery == Delivery::Pending)
    }
}

/// How much of the history with the peer is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum History {
    /// None asked for yet (the list may know the last message).
    Unloaded,
    /// A page was asked for.
    Loading,
    /// Pages were loaded and older ones exist.
    More,
    /// Everything back to the first message is here.
    Complete,
}

/// Where the view of a timeline is: at the end, or scrolled back to a line named by what it
/// shows, so that neither an older page arriving above nor a new width, which wraps every
/// message anew, moves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Scroll {
    /// The view's bottom line is the timeline's last: it follows what arrives.
    #[default]
    End,
    /// The view's top line is the line of an item that shows `mark`.
    Top {
        /// Items after that item: counted from the end, which an older page leaves alone.
        later: usize,
        /// Where in the item the line is.
        mark: Mark,
    },
}

/// A place in an item's lines that no width changes: the part of the item (the timeline
/// numbers them in the order it draws them: what sits above the item, its text, each
/// attachment…) and how many graphemes of that part come before it. The line that shows a
/// mark is the last one that starts at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Mark {
    /// The part of the item.
    pub(super) part: usize,
    /// Graphemes of the part before the place, each line break counting as one.
    pub(super) offset: usize,
}

/// A conversation with one other user: a friend, or someone who used to be.
#[derive(Debug)]
pub(super) struct Conversation {
    /// The other user, spelled as registered.
    pub(super) peer: String,
    /// Friends now (a former friend's conversation stays for its history).
    pub(super) friend: bool,
    /// Online now.
    pub(super) online: bool,
    /// When the peer last said they are typing; `None` when they are not.
    pub(super) typing_since: Option<i64>,
    /// Their messages this user has not seen, as a count for the badge.
    pub(super) unread: usize,
    /// Messages and notices, oldest first.
    pub(super) items: Vec<Item>,
    /// How much history is loaded.
    pub(super) history: History,
    /// When something last happened, to order the list (ms; 0 for nothing yet).
    pub(super) activity: i64,
    /// Where the view is: the default, at the end, follows what arrives.
    pub(super) scroll: Scroll,
    /// The peer's identity key changed and this user has not looked at the new number yet.
    pub(super) key_changed: bool,
    /// What this user is writing to the peer.
    pub(super) draft: Editor,
}

impl Conversation {
    /// A conversation with nothing in it yet.
    pub(super) fn new(peer: String) -> Self {
        Self {
            peer,
            friend: false,
            online: false,
            typing_since: None,
            unread: 0,
            items: Vec::new(),
            history: History::Unloaded,
            activity: 0,
            scroll: Scroll::default(),
            key_changed: false,
            draft: Editor::default(),
        }
    }

    /// Whether this is the conversation with `name` (usernames are unique regardless of case).
    pub(super) fn is_with(&self, name: &str) -> bool {
        self.peer.eq_ignore_ascii_case(name)
    }

    /// The message with this id.
    pub(super) fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.items
            .iter_mut()
            .filter_map(Item::entry_mut)
            .find(|e| e.id == id)
    }

    /// Adds a message in timestamp order, unless it is here already (delivery is at least
    /// once); then only its status can move forward. Returns whether it was new.
    pub(super) fn add_message(&mut self, time: i64, entry: Entry) -> bool {
        if let Some(known) = self.entry_mut(&entry.id) {
            if let (Delivery::Stored(old), Delivery::Stored(new)) =
                (&known.delivery, &entry.delivery)
            {
                known.delivery = Delivery::Stored((*old).max(*new));
            }
            return false;
        }
        self.insert(Item {
            time,
            kind: ItemKind::Message(entry),
        });
        true
    }

    /// Adds a notice at the end.
    pub(super) fn add_notice(&mut self, time: i64, text: String) {
        self.insert(Item {
            time,
            kind: ItemKind::Notice(text),
        });
    }

    /// The server stored a pending message of ours at `time`: it takes its place in the
    /// server's order. Returns whether the message is here.
    pub(super) fn stored(&mut self, id: &str, time: i64) -> bool {
        let Some(index) = self
            .items
            .iter()
            .position(|item| item.entry().is_some_and(|e| e.id == id))
        else {
            return false;
        };
        let top = self.top_item();
        // Moved rather than added: the view is put back on its top item below.
        let scroll = std::mem::take(&mut self.scroll);
        let mut item = self.items.remove(index);
        if let Some(entry) = item.entry_mut() {
            entry.delivery = match &entry.delivery {
                Delivery::Stored(status) => Delivery::Stored(*status),
                Delivery::Pending | Delivery::Failed(_) => Delivery::Stored(MessageStatus::Sent),
            };
        }
        item.time = time;
        let at = self.insert(item);
        self.scroll = scroll;
        if let (Some(top), Scroll::Top { later, .. }) = (top, &mut self.scroll) {
            *later = self.items.len() - 1 - after_move(top, index, at);
        }
        true
    }

    /// The index of the item on the view's top line, when the view is scrolled back.
    fn top_item(&self) -> Option<usize> {
        let Scroll::Top { later, .. } = self.scroll else {
            return None;
        };
        let last = self.items.len().checked_sub(1)?;
        Some(last - later.min(last))
    }

    /// Puts `item` in its place; returns its index.
    fn insert(&mut self, item: Item) -> usize {
        let mut at = self.items.len();
        if !item.pending() {
            while at > 0 && (self.items[at - 1].pending() || self.items[at - 1].time > item.time) {
                at -= 1;
            }
        }
        self.activity = self.activity.max(item.time);
        // The view's top item is counted from the end: what arrives after it counts too.
        if let Scroll::Top { later, .. } = &mut self.scroll
            && at + *later >= self.items.len()
        {
            *later += 1;
        }
        self.items.insert(at, item);
        at
    }

    /// The conversation is on the screen with `below` items wholly below the view: its unread
    /// count becomes what is still there (everything else has been read, in part at least).
    pub(super) fn read_in_view(&mut self, below: usize) {
        let in_view = self.items.len().saturating_sub(below);
        self.unread = self.items[in_view..]
            .iter()
            .filter_map(Item::entry)
            .filter(|e| e.unseen())
            .count();
    }

    /// As [`Self::read_in_view`], and returns the ids of the peer's messages in view (or
    /// above it) that were unseen, now marked seen here.
    pub(super) fn take_unseen(&mut self, below: usize) -> Vec<String> {
        self.read_in_view(below);
        let in_view = self.items.len().saturating_sub(below);
        self.items[..in_view]
            .iter_mut()
            .filter_map(Item::entry_mut)
            .filter(|e| e.unseen())
            .map(|e| {
                e.delivery = Delivery::Stored(MessageStatus::Seen);
                e.id.clone()
            })
            .collect()
    }

    /// The oldest message id here, where an older page ends.
    pub(super) fn oldest_id(&self) -> Option<String> {
        self.items
            .iter()
            .find_map(|item| item.entry().map(|e| e.id.clone()))
    }
}

/// Where the item at `index` is once the one at `from` is taken out and put back at `to`.
fn after_move(index: usize, from: usize, to: usize) -> usize {
    if index == from {
        return to;
    }
    let taken = index - usize::from(index > from);
    taken + usize::from(taken >= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, outgoing: bool, delivery: Delivery) -> Entry {
        Entry {
            id: id.into(),
            outgoing,
            body: Body::Text {
                text: id.into(),
                files: Vec::new(),
            },
            delivery,
        }
    }

    fn ids(c: &Conversation) -> Vec<&str> {
        c.items
            .iter()
            .filter_map(|i| i.entry().map(|e| e.id.as_str()))
            .collect()
    }

    #[test]
    fn messages_take_the_servers_order_and_pending_ones_stay_last() {
        let mut c = Conversation::new("bob".into());
        let seen = Delivery::Stored(MessageStatus::Seen);
        assert!(c.add_message(20, entry("b", false, seen.clone())));
        assert!(c.add_message(50, entry("mine", true, Delivery::Pending)));
        assert!(c.add_message(10, entry("a", false, seen.clone())));
        // Stored after the pending one was written, but the server's clock is what counts.
        assert!(c.add_message(60, entry("c", false, seen.clone())));
        assert_eq!(ids(&c), ["a", "b", "c", "mine"]);
        assert!(c.stored("mine", 55));
        assert_eq!(ids(&c), ["a", "b", "mine", "c"]);
        assert_eq!(c.activity, 60);
    }

    #[test]
    fn a_stored_message_taking_its_place_leaves_the_view_on_its_top_item() {
        let mut c = Conversation::new("bob".into());
        let seen = Delivery::Stored(MessageStatus::Seen);
        let mark = Mark { part: 2, offset: 0 };
        c.add_message(10, entry("a", false, seen.clone()));
        c.add_message(20, entry("b", false, seen.clone()));
        c.add_message(30, entry("mine", true, Delivery::Pending));
        c.add_message(40, entry("late", true, Delivery::Pending));
        // On "b", and the message moves above it.
        c.scroll = Scroll::Top { later: 2, mark };
        assert!(c.stored("mine", 15));
        assert_eq!(ids(&c), ["a", "mine", "b", "late"]);
        assert_eq!(c.top_item(), Some(2));
        // On the message that moves: the view goes with it.
        c.scroll = Scroll::Top { later: 0, mark };
        assert!(c.stored("late", 5));
        assert_eq!(ids(&c), ["late", "a", "mine", "b"]);
        assert_eq!(c.top_item(), Some(0));
        assert_eq!(c.scroll, Scroll::Top { later: 3, mark });
    }

    #[test]
    fn a_repeated_message_is_not_added_again_and_its_status_never_goes_back() {
        let mut c = Conversation::new("bob".into());
        let delivered = Delivery::Stored(MessageStatus::Delivered);
        assert!(c.add_message(10, entry("a", true, Delivery::Stored(MessageStatus::Seen))));
        assert!(!c.add_message(10, entry("a", true, delivered)));
        assert_eq!(c.items.len(), 1);
        assert_eq!(
            c.entry_mut("a").map(|e| e.delivery.clone()),
            Some(Delivery::Stored(MessageStatus::Seen))
        );
    }

    #[test]
    fn only_unseen_messages_in_view_are_taken() {
        let mut c = Conversation::new("bob".into());
        let delivered = Delivery::Stored(MessageStatus::Delivered);
        c.add_message(
            10,
            entry("old", false, Delivery::Stored(MessageStatus::Seen)),
        );
        c.add_message(20, entry("mine", true, delivered.clone()));
        c.add_message(30, entry("new", false, delivered.clone()));
        let mark = Mark { part: 0, offset: 0 };
        c.scroll = Scroll::Top { later: 1, mark };
        c.add_message(40, entry("below", false, delivered));
        c.add_message(
            5,
            entry("older", false, Delivery::Stored(MessageStatus::Seen)),
        );
        assert_eq!(
            c.scroll,
            Scroll::Top { later: 2, mark },
            "the view stays on what the user scrolled to"
        );
        c.unread = 5;
        assert_eq!(c.take_unseen(2), Vec::<String>::new());
        assert_eq!(c.unread, 2, "both unseen messages are below the view");
        assert_eq!(c.take_unseen(0), ["new", "below"]);
        assert_eq!(c.unread, 0);
        assert_eq!(c.take_unseen(0), Vec::<String>::new());
    }
}
