//! What the screen asks the live loop to do with the SDK.

/// One thing for the live loop to do with the SDK, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a text message under this id (the screen shows it as pending already).
    Send {
        /// The receiver.
        to: String,
        /// The message id, a UUID chosen here so that the screen knows it before `Sent`.
        id: String,
        /// The text.
        text: String,
    },
    /// Report that this user started or stopped typing to `to`.
    Typing {
        /// The friend being written to.
        to: String,
        /// Typing now or not.
        typing: bool,
    },
    /// Tell `peer` that this user has seen these messages of theirs.
    MarkSeen {
        /// The sender of the messages.
        peer: String,
        /// Their ids, oldest first.
        ids: Vec<String>,
    },
    /// Fetch a page of the history with `peer` and give it to
    /// [`App::load_history`](super::App::load_history).
    LoadOlder {
        /// The other user of the conversation.
        peer: String,
        /// The oldest message id already shown: the page ends just before it. `None` asks for
        /// the newest page, when a conversation is opened for the first time.
        before: Option<String>,
    },
    /// Ask `user` to be friends.
    RequestFriend {
        /// Who to ask.
        user: String,
    },
    /// Accept the friend request of `user`.
    AcceptFriend {
        /// Who asked.
        user: String,
    },
    /// Reject the friend request of `user`.
    RejectFriend {
        /// Who asked.
        user: String,
    },
    /// Compute the safety number with `peer` and give it to
    /// [`App::show_safety_number`](super::App::show_safety_number).
    ShowSafetyNumber {
        /// The friend.
        peer: String,
    },
    /// Leave the program.
    Quit,
}
