//! What the screen's tests share: keys, messages, a screen with fixed ids, and the drawn
//! screen as text.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nexchat_client::{Event, Message};
use nexchat_core::protocol::MessageStatus;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, CellWidth};
use ratatui::layout::Position;

use super::{Action, App, draw};

/// 2026-11-30 18:40:00 UTC, the tests' "now".
pub const T0: i64 = 1_796_064_000_000;
/// A minute, in milliseconds.
pub const MINUTE: i64 = 60_000;

/// A key pressed alone.
pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// The action that reports typing to `to`.
pub fn typing(to: &str, typing: bool) -> Action {
    Action::Typing {
        to: to.into(),
        typing,
    }
}

/// A letter pressed with Ctrl.
pub fn ctrl(letter: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(letter), KeyModifiers::CONTROL)
}

/// Types `text` at `now`; the actions of all its keys.
pub fn type_text(app: &mut App, text: &str, now: i64) -> Vec<Action> {
    text.chars()
        .flat_map(|c| app.on_key(key(KeyCode::Char(c)), now))
        .collect()
}

/// A text message.
pub fn message(
    id: &str,
    sender: &str,
    receiver: &str,
    text: &str,
    timestamp: i64,
    status: MessageStatus,
) -> Message {
    Message {
        id: id.into(),
        sender: sender.into(),
        receiver: receiver.into(),
        text: text.into(),
        attachments: Vec::new(),
        timestamp,
        status,
    }
}

/// The screen of `me`, whose messages get the ids `id-1`, `id-2`, …, with these friends
/// (none online) and the socket connected.
pub fn app(me: &str, friends: &[&str]) -> App {
    let mut next = 0;
    let mut app = App::with_ids(me.into(), move || {
        next += 1;
        format!("id-{next}")
    });
    let friends = friends.iter().map(|f| f.to_string()).collect();
    app.load_friends(friends, Vec::new(), Vec::new(), &[]);
    app.apply(&Event::Connected { online: Vec::new() }, T0);
    app
}

/// `app` drawn on a `width` × `height` terminal.
pub fn render(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| draw(frame, app))
        .expect("drawing into memory");
    terminal.backend().buffer().clone()
}

/// The cells of row `y` that show something, with their columns: a wide character covers the
/// cell after it, which is left out.
fn row(buffer: &Buffer, y: u16) -> Vec<(u16, &str)> {
    let mut cells = Vec::new();
    let mut x = 0;
    while x < buffer.area.width {
        let symbol = buffer[(x, y)].symbol();
        cells.push((x, symbol));
        x += symbol.cell_width().max(1);
    }
    cells
}

/// The screen as text, a line per row, without the spaces at the ends of lines.
pub fn screen(buffer: &Buffer) -> String {
    (0..buffer.area.height)
        .map(|y| {
            let line: String = row(buffer, y).into_iter().map(|(_, s)| s).collect();
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `text` first appears on the screen.
pub fn find(buffer: &Buffer, text: &str) -> Option<Position> {
    (0..buffer.area.height).find_map(|y| {
        let cells = row(buffer, y);
        (0..cells.len()).find_map(|start| {
            let mut joined = String::new();
            for (_, symbol) in &cells[start..] {
                if joined.len() >= text.len() {
                    break;
                }
                joined.push_str(symbol);
            }
            joined
                .starts_with(text)
                .then(|| Position::new(cells[start].0, y))
        })
    })
}

/// A realistic screen of `alice`, 100 × 30: four friends, two of them with unread messages;
/// a friend request each way; the conversation with `bob` open, with a message in every
/// state, `bob` typing, and a reply being written.
pub fn demo() -> App {
    let mut app = app("alice", &[]);
    let friends = ["bob", "carol", "dave", "erin"].map(String::from).to_vec();
    let online = ["bob", "dave"].map(String::from);
    app.load_friends(friends, vec!["frank".into()], vec!["grace".into()], &online);
    let hour = 60 * MINUTE;
    app.load_conversations(vec![
        (
            "carol".into(),
            Some(message(
                "c2",
                "carol",
                "alice",
                "Can you send me the photos from Saturday? The ones by the lake 📷",
                T0 - 85 * MINUTE,
                MessageStatus::Delivered,
            )),
            2,
        ),
        (
            "dave".into(),
            Some(message(
                "d1",
                "dave",
                "alice",
                "良い試合でした！ rematch on Friday?",
                T0 - 26 * hour,
                MessageStatus::Delivered,
            )),
            1,
        ),
    ]);
    app.apply(
        &Event::Connected {
            online: online.to_vec(),
        },
        T0,
    );
    app.resize(100, 30);
    let seen = MessageStatus::Seen;
    let history = vec![
        message(
            "b5",
            "alice",
            "bob",
            "Leaving work in ten minutes",
            T0 - 2 * MINUTE,
            MessageStatus::Sent,
        ),
        message(
            "b4",
            "alice",
            "bob",
            "Deal 🥐",
            T0 - 33 * MINUTE,
            MessageStatus::Delivered,
        ),
        message(
            "b3",
            "bob",
            "alice",
            "Great. I'll bring the spare harness and the chalk bag; you bring the snacks, the \
             good ones from the bakery on the corner.",
            T0 - 35 * MINUTE,
            seen,
        ),
        message(
            "b2",
            "alice",
            "bob",
            "Yes! 7 pm. I booked the wall by the window.",
            T0 - 37 * MINUTE,
            seen,
        ),
        message(
            "b1",
            "bob",
            "alice",
            "Are we still on for the climbing gym tonight?",
            T0 - 38 * MINUTE,
            seen,
        ),
    ];
    // The list starts with the latest activity: carol, dave, then bob and erin by name.
    for code in [KeyCode::Down, KeyCode::Down, KeyCode::Enter] {
        app.on_key(key(code), T0);
    }
    app.load_history("bob", history, false);
    type_text(&mut app, "On my way", T0);
    app.on_key(key(KeyCode::Enter), T0);
    app.apply(
        &Event::Typing {
            from: "bob".into(),
            typing: true,
        },
        T0,
    );
    type_text(&mut app, "see you th", T0);
    app
}

/// Moves the list's highlight to `peer` and opens the conversation; the actions of the Enter.
pub fn open(app: &mut App, peer: &str) -> Vec<Action> {
    let list = app.sorted();
    let at = list
        .iter()
        .position(|c| c.is_with(peer))
        .expect("a conversation in the list");
    let len = list.len();
    if app.focus == super::app::Focus::Input {
        app.on_key(key(KeyCode::Esc), T0);
    }
    for code in std::iter::repeat_n(KeyCode::Up, len).chain(std::iter::repeat_n(KeyCode::Down, at))
    {
        app.on_key(key(code), T0);
    }
    app.on_key(key(KeyCode::Enter), T0)
}
