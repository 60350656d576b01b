//! The screen as drawn: what it says, where, and in which colours where colour carries meaning.

use std::time::Duration;

use crossterm::event::KeyCode;
use nexchat_client::Event;
use nexchat_core::protocol::{ErrorCode, MessageStatus};
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::theme;
use crate::tui::testing::{
    MINUTE, T0, app, ctrl, demo, find, key, message, open, render, screen, type_text, typing,
};
use crate::tui::{Action, App};

/// The line of the screen that shows `text`.
fn line_with(buffer: &Buffer, text: &str) -> String {
    screen(buffer)
        .lines()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("{text:?} is not on the screen:\n{}", screen(buffer)))
        .to_owned()
}

/// The part in the list of the line that shows `text` there: from the list's left border to
/// its right one.
fn list_row(buffer: &Buffer, text: &str) -> String {
    let line = line_with(buffer, text);
    let end = line
        .char_indices()
        .filter(|(_, c)| *c == '│')
        .nth(1)
        .map_or(line.len(), |(at, c)| at + c.len_utf8());
    line[..end].to_owned()
}

/// Whether a list row shows nothing after the name: no badge, no typing mark.
fn bare(row: &str, name: &str) -> bool {
    row.trim_end_matches('│').trim_end().ends_with(name)
}

/// The foreground and background colours of the first cell of `text` on the screen.
fn colours(buffer: &Buffer, text: &str) -> (Option<Color>, Option<Color>) {
    let at = find(buffer, text).unwrap_or_else(|| panic!("{text:?} is not on the screen"));
    let style = buffer[at].style();
    (style.fg, style.bg)
}

/// `alice` with the conversation with `bob` open, its history loaded (empty).
fn talking_to_bob() -> App {
    let mut app = app("alice", &["bob", "carol"]);
    app.resize(80, 24);
    open(&mut app, "bob");
    app.load_history("bob", Vec::new(), false);
    app
}

#[test]
fn the_list_shows_unread_badges_online_dots_and_who_is_typing() {
    let buffer = render(&demo(), 100, 30);
    let carol = list_row(&buffer, "carol");
    assert!(carol.starts_with("│ ○ carol "), "{carol}");
    assert!(carol.ends_with(" 2 │"), "{carol}");
    assert!(list_row(&buffer, "dave").ends_with(" 1 │"));
    assert!(list_row(&buffer, "● bob").ends_with(" ✎ │"));
    assert!(bare(&list_row(&buffer, "erin"), "erin"));
    assert_eq!(colours(&buffer, " 2 "), (theme::BADGE.fg, theme::BADGE.bg));
    assert_eq!(colours(&buffer, "● dave").0, Some(Color::Green));
    assert_eq!(colours(&buffer, "○ carol").0, Some(Color::DarkGray));
    assert!(screen(&buffer).contains("1 friend request: Ctrl-R"));
}

#[test]
fn the_list_puts_the_newest_activity_first() {
    let buffer = render(&demo(), 100, 30);
    let rows: Vec<usize> = ["● bob", "○ carol", "● dave", "○ erin"]
        .iter()
        .map(|name| {
            find(&buffer, name)
                .map(|p| usize::from(p.y))
                .expect("listed")
        })
        .collect();
    assert!(rows.is_sorted(), "{rows:?}");
}

#[test]
fn ticks_go_from_the_clock_to_one_two_and_seen() {
    let mut app = talking_to_bob();
    type_text(&mut app, "hello", T0);
    app.on_key(key(KeyCode::Enter), T0);
    let tick = |app: &App| line_with(&render(app, 80, 24), "me  hello");
    assert!(tick(&app).ends_with(" ◷ │"), "{}", tick(&app));

    app.apply(
        &Event::Sent {
            id: "id-1".into(),
            to: "bob".into(),
            timestamp: T0 + 1_000,
        },
        T0,
    );
    assert!(tick(&app).ends_with(" ✓ │"), "{}", tick(&app));

    let receipt = |status| Event::Receipt {
        peer: "bob".into(),
        ids: vec!["id-1".into()],
        status,
    };
    app.apply(&receipt(MessageStatus::Delivered), T0);
    assert!(tick(&app).ends_with(" ✓✓ │"), "{}", tick(&app));
    assert_eq!(
        colours(&render(&app, 80, 24), "✓✓").0,
        Some(Color::DarkGray)
    );

    app.apply(&receipt(MessageStatus::Seen), T0);
    // A late "delivered" does not take the seen ticks back.
    app.apply(&receipt(MessageStatus::Delivered), T0);
    assert!(tick(&app).ends_with(" ✓✓ │"), "{}", tick(&app));
    assert_eq!(colours(&render(&app, 80, 24), "✓✓").0, theme::HIGHLIGHT.fg);
}

#[test]
fn a_long_conversation_shows_its_end_and_pages_up_to_its_start() {
    let mut app = app("alice", &["bob"]);
    // Six lines of timeline: 12 rows less the status bar, the input line and two borders.
    app.resize(80, 12);
    open(&mut app, "bob");
    let history = (0..40)
        .map(|i| {
            let text = format!("line {i:02}");
            let id = format!("m{i:02}");
            message(
                &id,
                "bob",
                "alice",
                &text,
                T0 + i * MINUTE,
                MessageStatus::Seen,
            )
        })
        .collect();
    app.load_history("bob", history, true);
    let shows = |app: &App, from: i64, to: i64| {
        let text = screen(&render(app, 80, 12));
        // "bob line …" is in the timeline; the list's preview says "line 39" alone.
        (0..40).all(|i| text.contains(&format!("bob line {i:02}")) == (from..=to).contains(&i))
    };
    assert!(shows(&app, 34, 39));
    // A page is the six lines less two, which stay in view.
    app.on_key(key(KeyCode::PageUp), T0);
    assert!(shows(&app, 30, 35));
    while app.on_key(key(KeyCode::PageUp), T0).is_empty() {}
    // At the start, the older page is on its way, and the screen is filled from the top.
    let text = screen(&render(&app, 80, 12));
    assert!(text.contains("loading…"), "{text}");
    assert!(shows(&app, 0, 3));
    for _ in 0..10 {
        app.on_key(key(KeyCode::PageDown), T0);
    }
    assert!(shows(&app, 34, 39));
}

#[test]
fn own_messages_are_signed_me_and_the_peers_with_their_name() {
    let mut app = talking_to_bob();
    let from_bob = message("b1", "bob", "alice", "hi alice", T0, MessageStatus::Seen);
    app.apply(&Event::Message(from_bob), T0);
    type_text(&mut app, "hi bob", T0);
    app.on_key(key(KeyCode::Enter), T0 + MINUTE);
    let buffer = render(&app, 80, 24);
    assert!(screen(&buffer).contains("│ 18:40 bob hi alice "));
    assert!(screen(&buffer).contains("│ 18:41 me  hi bob "));
    assert_eq!(colours(&buffer, "me  hi bob").0, theme::ME.fg);
    assert_eq!(colours(&buffer, "bob hi alice").0, theme::PEER.fg);
}

#[test]
fn typing_is_shown_in_the_header_and_the_list_and_cleared() {
    let mut app = talking_to_bob();
    app.apply(
        &Event::Presence {
            user: "bob".into(),
            online: true,
        },
        T0,
    );
    let typing = |on| Event::Typing {
        from: "bob".into(),
        typing: on,
    };
    app.apply(&typing(true), T0);
    let buffer = render(&app, 80, 24);
    assert!(line_with(&buffer, "┌ bob").contains("bob ● online · typing…"));
    assert!(list_row(&buffer, "● bob").ends_with(" ✎ │"));
    assert!(screen(&buffer).contains("   typing…"));

    app.apply(&typing(false), T0);
    let buffer = render(&app, 80, 24);
    assert!(!screen(&buffer).contains("typing…"));
    assert!(!screen(&buffer).contains('✎'));
}

#[test]
fn the_requests_window_lists_requests_both_ways_and_asks_by_name() {
    let mut app = app("alice", &["bob"]);
    app.load_friends(
        vec!["bob".into()],
        vec!["dave".into(), "erin".into()],
        vec!["grace".into()],
        &[],
    );
    app.on_key(ctrl('r'), T0);
    let text = screen(&render(&app, 80, 24));
    for expected in [
        "Friend requests",
        "Asking you",
        "Waiting for an answer",
        "grace",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(line_with(&render(&app, 80, 24), "dave").contains("a accept · r reject"));
    assert!(!line_with(&render(&app, 80, 24), "erin").contains("accept"));

    app.on_key(key(KeyCode::Tab), T0);
    type_text(&mut app, "heidi", T0);
    assert!(screen(&render(&app, 80, 24)).contains("> heidi▏"));
}

#[test]
fn a_long_list_of_requests_scrolls_to_the_highlighted_one() {
    let mut app = app("alice", &[]);
    let received = (0..30).map(|i| format!("asker{i:02}")).collect();
    let sent = (0..5).map(|i| format!("asked{i}")).collect();
    app.load_friends(Vec::new(), received, sent, &[]);
    app.on_key(ctrl('r'), T0);
    for _ in 0..25 {
        app.on_key(key(KeyCode::Down), T0);
    }
    let text = screen(&render(&app, 80, 24));
    assert!(line_with(&render(&app, 80, 24), "asker25").contains("a accept"));
    assert!(!text.contains("asker00"));
    assert!(text.contains("asked2") && !text.contains("asked3"));
    assert!(text.contains("and 2 more"));
    assert!(text.contains("Add a friend"), "{text}");
}

#[test]
fn the_safety_number_window_shows_six_groups_and_both_names() {
    let mut app = talking_to_bob();
    app.on_key(ctrl('s'), T0);
    assert!(screen(&render(&app, 80, 24)).contains("computing…"));
    app.show_safety_number("bob", "12345 67890 13579 24680 11223 44556".into());
    let buffer = render(&app, 80, 24);
    let text = screen(&buffer);
    for expected in [
        "Safety number",
        "alice and bob",
        "12345 67890 13579",
        "24680 11223 44556",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    // The digits are centred in the window: as far from its left border as from its right.
    let corner = find(&buffer, "┌ Safety number").expect("the window");
    let right = (corner.x..buffer.area.width)
        .find(|&x| buffer[(x, corner.y)].symbol() == "┐")
        .expect("the window's right corner");
    let digits = find(&buffer, "24680 11223 44556").expect("the second row");
    let before = digits.x - corner.x - 1;
    let after = right - (digits.x + 17);
    assert!(
        before.abs_diff(after) <= 1,
        "{before} cells before, {after} after"
    );
    app.on_key(key(KeyCode::Esc), T0);
    assert!(!screen(&render(&app, 80, 24)).contains("Safety number"));
}

#[test]
fn a_changed_safety_number_is_shown_until_looked_at() {
    let mut app = talking_to_bob();
    app.apply(&Event::KeyChanged { user: "bob".into() }, T0);
    let buffer = render(&app, 80, 24);
    assert!(line_with(&buffer, "┌ bob").contains("⚠ safety number changed: Ctrl-S"));
    assert!(screen(&buffer).contains("18:40 ⚠ bob's safety number changed"));
    app.on_key(ctrl('s'), T0);
    app.on_key(key(KeyCode::Esc), T0);
    assert!(line_with(&render(&app, 80, 24), "┌ bob").contains("Ctrl-S safety number"));
}

/// A 32-character name, the longest a username can be.
const LONG: &str = "a_very_long_username_of_32_chars";

/// Whether the borders of the panes are whole: every row of the frame ends where it should.
fn borders_hold(buffer: &Buffer, columns: &[u16]) {
    let height = buffer.area.height;
    for y in 1..height.saturating_sub(2) {
        for &x in columns {
            let symbol = buffer[(x, y)].symbol();
            assert!(
                symbol == "│" || symbol == "┐" || symbol == "┘" || symbol == "┌" || symbol == "└",
                "column {x} of row {y} is {symbol:?}:\n{}",
                screen(buffer)
            );
        }
    }
}

#[test]
fn long_names_are_cut_with_an_ellipsis_and_long_messages_wrap() {
    assert_eq!(LONG.len(), 32);
    let mut app = app("alice", &[LONG, "bob"]);
    let long_text = "日本語のメッセージはとても長いので折り返されます 🎉🎉🎉 and a word that is \
                     muchlongerthananylinecanholdatallreally";
    let from_long = message("l1", LONG, "alice", long_text, T0, MessageStatus::Delivered);
    app.apply(&Event::Message(from_long), T0);
    app.apply(
        &Event::Typing {
            from: LONG.into(),
            typing: true,
        },
        T0,
    );

    app.resize(80, 24);
    let buffer = render(&app, 80, 24);
    assert!(!screen(&buffer).contains(LONG));
    assert!(line_with(&buffer, "a_very").contains('…'));
    borders_hold(&buffer, &[0, 25, 26, 79]);

    open(&mut app, LONG);
    let buffer = render(&app, 80, 24);
    assert!(!screen(&buffer).contains(LONG), "{}", screen(&buffer));
    assert!(line_with(&buffer, "┌ a_very").contains("typing…"));
    assert!(screen(&buffer).contains("折り返"));
    borders_hold(&buffer, &[0, 25, 26, 79]);

    app.resize(40, 12);
    let buffer = render(&app, 40, 12);
    assert!(!screen(&buffer).contains(LONG));
    assert!(line_with(&buffer, "┌ a_very").contains('…'));
    borders_hold(&buffer, &[0, 39]);
    // In the list, the whole name fits beside a typing mark, but not beside a badge too.
    app.on_key(key(KeyCode::Esc), T0);
    app.apply(
        &Event::Typing {
            from: LONG.into(),
            typing: true,
        },
        T0,
    );
    assert!(screen(&render(&app, 40, 12)).contains(LONG));
    app.load_conversations(vec![(LONG.into(), None, 12)]);
    let buffer = render(&app, 40, 12);
    assert!(!screen(&buffer).contains(LONG));
    assert!(list_row(&buffer, "a_very").ends_with("✎  12 │"));
    borders_hold(&buffer, &[0, 39]);
}

#[test]
fn a_narrow_terminal_shows_the_list_or_the_conversation() {
    let mut app = app("alice", &["bob", "carol"]);
    app.resize(50, 16);
    let buffer = render(&app, 50, 16);
    assert!(screen(&buffer).starts_with("┌ Chats"));
    assert!(!screen(&buffer).contains("┌ bob"));

    open(&mut app, "bob");
    app.load_history("bob", Vec::new(), false);
    let buffer = render(&app, 50, 16);
    assert!(screen(&buffer).starts_with("┌ bob"));
    assert!(!screen(&buffer).contains("Chats"));

    // Back in the list, bob's conversation is off the screen: his message is unread.
    app.on_key(key(KeyCode::Esc), T0);
    let from_bob = message("b1", "bob", "alice", "psst", T0, MessageStatus::Delivered);
    assert_eq!(app.apply(&Event::Message(from_bob), T0), []);
    let buffer = render(&app, 50, 16);
    assert!(screen(&buffer).starts_with("┌ Chats"));
    assert!(list_row(&buffer, "bob").ends_with(" 1 │"));

    // Widened, the conversation is beside the list again, and seen.
    let actions = app.resize(100, 30);
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert!(bare(&list_row(&render(&app, 100, 30), "○ bob"), "bob"));
}

#[test]
fn the_open_conversation_counts_nothing_unread_while_another_does() {
    let mut app = talking_to_bob();
    let to_alice = |id: &str, from: &str| {
        Event::Message(message(id, from, "alice", id, T0, MessageStatus::Delivered))
    };
    app.apply(&to_alice("b1", "bob"), T0);
    app.apply(&to_alice("c1", "carol"), T0);
    let buffer = render(&app, 80, 24);
    assert!(list_row(&buffer, "○ carol").ends_with(" 1 │"));
    assert!(bare(&list_row(&buffer, "○ bob"), "bob"));
}

#[test]
fn tiny_terminals_are_drawn_without_panicking() {
    let mut plain = demo();
    let mut requests = demo();
    requests.on_key(ctrl('r'), T0);
    let mut safety = demo();
    safety.on_key(ctrl('s'), T0);
    safety.show_safety_number("bob", "1".repeat(30));
    for app in [&mut plain, &mut requests, &mut safety] {
        for width in 0..=32 {
            for height in 0..=10 {
                app.resize(width, height);
                render(app, width, height);
            }
        }
    }
    plain.resize(20, 5);
    let text = screen(&render(&plain, 20, 5));
    assert_eq!(text.lines().count(), 5);
}

/// The last line of `app` drawn at `width` columns: the status bar.
fn bar_at(app: &mut App, width: u16) -> String {
    app.resize(width, 24);
    let text = screen(&render(app, width, 24));
    text.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn the_status_bar_says_when_the_socket_comes_back() {
    let mut app = talking_to_bob();
    assert!(bar_at(&mut app, 80).starts_with("● alice │ Enter send · Esc back"));
    let lost = |reason: &str| Event::Disconnected {
        reason: reason.into(),
        retry_in: Duration::from_millis(2_500),
    };
    app.apply(&lost("connection reset"), T0);
    let bar = bar_at(&mut app, 80);
    assert!(
        bar.starts_with("○ offline · retrying in 3 s · connection reset │ Enter send"),
        "{bar}"
    );
    let buffer = render(&app, 80, 24);
    assert_eq!(colours(&buffer, "○ offline · retrying").0, Some(Color::Red));
    assert_eq!(
        colours(&buffer, "connection reset").0,
        Some(Color::DarkGray)
    );

    // However long the reason, when the socket is tried again is seen first.
    app.apply(
        &lost(
            "HTTP request failed: error sending request for url \
             (http://127.0.0.1:8080/auth/ws-ticket): client error (Connect): tcp connect \
             error: Connection refused (os error 111)",
        ),
        T0,
    );
    for width in [40, 60, 80, 100, 200] {
        let bar = bar_at(&mut app, width);
        assert!(bar.starts_with("○ offline · retrying in 3 s "), "{bar}");
    }
    let wide = bar_at(&mut app, 100);
    assert!(wide.contains(" · HTTP request failed: e"), "{wide}");
    assert!(wide.contains("… │ Enter send"), "{wide}");
    let narrow = bar_at(&mut app, 40);
    assert!(
        narrow.starts_with("○ offline · retrying in 3 s │ Enter"),
        "{narrow}"
    );

    app.apply(&Event::Connected { online: Vec::new() }, T0);
    assert!(bar_at(&mut app, 80).starts_with("● alice │ "));
}

/// The status bar of `app` drawn at 80 × 24.
fn status_bar(app: &App) -> String {
    let text = screen(&render(app, 80, 24));
    text.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn what_is_typed_in_the_list_is_written_to_the_open_conversation() {
    let mut app = app("alice", &["bob", "carol", "dave"]);
    app.resize(80, 24);
    // With nowhere to write, j and k move the highlight.
    type_text(&mut app, "jjk", T0);
    assert!(list_row(&render(&app, 80, 24), "carol").starts_with("│▌"));
    open(&mut app, "bob");
    app.load_history("bob", Vec::new(), false);

    // Tab, as "Tab writes" might make a newcomer press: the keys are in the list.
    app.on_key(key(KeyCode::Tab), T0);
    assert!(status_bar(&app).contains("↑↓ move · Enter open · type to write"));
    assert_eq!(type_text(&mut app, "just", T0), [typing("bob", true)]);
    assert!(
        status_bar(&app).contains("Enter send"),
        "the input line has the keys"
    );
    // The list's other keys stay its own, and a paste is written too.
    app.on_key(key(KeyCode::Esc), T0);
    app.on_key(key(KeyCode::Down), T0);
    app.on_paste(" kidding", T0);
    let buffer = render(&app, 80, 24);
    assert!(
        list_row(&buffer, "carol").starts_with("│▌"),
        "{}",
        screen(&buffer)
    );
    assert!(
        screen(&buffer).contains("││ just kidding "),
        "{}",
        screen(&buffer)
    );
    assert!(status_bar(&app).contains("Enter send"));
}

#[test]
fn failed_and_undecryptable_messages_say_so() {
    let mut app = talking_to_bob();
    app.apply(
        &Event::Undecryptable {
            id: "b1".into(),
            sender: "bob".into(),
            receiver: "alice".into(),
            timestamp: T0,
            reason: "wrong key".into(),
        },
        T0,
    );
    type_text(&mut app, "a huge file", T0);
    app.on_key(key(KeyCode::Enter), T0);
    app.apply(
        &Event::Refused {
            code: ErrorCode::TooLarge,
            message: "too large".into(),
            id: Some("id-1".into()),
        },
        T0,
    );
    let buffer = render(&app, 80, 24);
    assert!(line_with(&buffer, "bob ⚠").contains("could not be decrypted: wrong key"));
    assert!(line_with(&buffer, "me  a huge file").ends_with(" ✗ │"));
    assert!(screen(&buffer).contains("not sent: too large"));
    assert_eq!(colours(&buffer, "not sent").0, Some(Color::Red));
}

#[test]
fn the_input_line_keeps_the_cursor_end_in_view() {
    let mut app = talking_to_bob();
    app.resize(40, 12);
    type_text(&mut app, &"0123456789".repeat(6), T0);
    // The last 35 characters, and a cell for the cursor after them.
    let input = line_with(&render(&app, 40, 12), "56789  │");
    assert_eq!(input, format!("│ {}  │", &"0123456789".repeat(6)[25..]));
}

/// Whether a cell of the screen holds a character in `forbidden`.
fn holds_any(buffer: &Buffer, forbidden: impl Fn(char) -> bool) -> bool {
    buffer
        .content()
        .iter()
        .any(|cell| cell.symbol().chars().any(&forbidden))
}

#[test]
fn tabs_line_breaks_and_control_characters_are_drawn_not_obeyed() {
    let mut app = talking_to_bob();
    let said = [
        "tab\there",
        "one\r\ntwo\rthree",
        "bell\u{7} esc\u{1b}[2J csi\u{9b}31m",
    ];
    for (at, text) in (0..).zip(said) {
        let from_bob = message(
            &format!("b{at}"),
            "bob",
            "alice",
            text,
            T0 + at,
            MessageStatus::Seen,
        );
        app.apply(&Event::Message(from_bob), T0);
    }
    app.apply(
        &Event::FriendRequest {
            from: "eve\u{7}".into(),
        },
        T0,
    );
    let buffer = render(&app, 80, 24);
    let text = screen(&buffer);
    assert!(text.contains("│ 18:40 bob tab here "), "{text}");
    for line in ["bob one ", "     two ", "     three "] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(text.contains("bob bell␇ esc␛[2J csi�31m "), "{text}");
    assert!(line_with(&buffer, "asks to be").starts_with("● alice │ eve␇ asks"));
    assert!(!holds_any(&buffer, char::is_control), "{text}");
}

/// Whether `c` is a bidi embedding, override or isolate.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[test]
fn bidi_overrides_in_names_and_text_never_reach_the_terminal() {
    let eve = "eve\u{202e}lam";
    let mut app = app("alice", &["bob", eve]);
    app.resize(80, 24);
    let said = "pay \u{2067}0001\u{2069} or \u{202e}evil";
    app.apply(
        &Event::Message(message("e1", eve, "alice", said, T0, MessageStatus::Seen)),
        T0,
    );
    open(&mut app, eve);
    app.on_paste("draft\u{202b} text", T0);
    app.apply(
        &Event::FriendRequest {
            from: "mal\u{202d}lory".into(),
        },
        T0,
    );
    let buffer = render(&app, 80, 24);
    let text = screen(&buffer);
    assert!(!holds_any(&buffer, bidi_control), "{text:?}");
    assert!(text.contains("evelam pay 0001 or evil"), "{text}");
    assert!(text.contains("draft text"), "{text}");
    assert!(text.contains("mallory asks to be your friend"), "{text}");

    app.on_key(ctrl('r'), T0);
    let buffer = render(&app, 80, 24);
    assert!(!holds_any(&buffer, bidi_control));
    assert!(screen(&buffer).contains("mallory"));
}

#[test]
fn a_request_arriving_in_the_open_window_is_answered_without_tab() {
    let mut app = app("alice", &["bob"]);
    app.resize(80, 24);
    app.on_key(ctrl('r'), T0);
    assert!(
        screen(&render(&app, 80, 24)).contains("> ▏"),
        "no request: the field has the keys"
    );
    let request = |from: &str| Event::FriendRequest { from: from.into() };
    app.apply(&request("dave"), T0);
    assert!(line_with(&render(&app, 80, 24), "dave").contains("a accept · r reject"));
    assert_eq!(
        app.on_key(key(KeyCode::Char('a')), T0),
        [Action::AcceptFriend {
            user: "dave".into()
        }]
    );

    // None left: the field has the keys again, and a name may begin with a or r.
    assert_eq!(type_text(&mut app, "amy", T0), []);
    // A request arriving while a name is being written leaves the keys in the field.
    app.apply(&request("erin"), T0);
    type_text(&mut app, "_r", T0);
    assert!(screen(&render(&app, 80, 24)).contains("> amy_r▏"));
    assert_eq!(
        app.on_key(key(KeyCode::Enter), T0),
        [Action::RequestFriend {
            user: "amy_r".into()
        }]
    );
    app.on_key(key(KeyCode::Tab), T0);
    assert_eq!(
        app.on_key(key(KeyCode::Char('r')), T0),
        [Action::RejectFriend {
            user: "erin".into()
        }]
    );
}

/// The screens of `app` from where its view is to the start of the open conversation, a page
/// up at a time: the first is the screen before any key, the last one that a page up leaves
/// as it is.
fn pages_to_the_start(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut screens = vec![screen(&render(app, width, height))];
    loop {
        app.on_key(key(KeyCode::PageUp), T0);
        let now = screen(&render(app, width, height));
        if screens.last() == Some(&now) {
            return screens;
        }
        screens.push(now);
    }
}

/// `alice` talking to `bob` at 100 × 30 (24 lines of timeline), who sent these messages
/// and then "the end", all of it loaded.
fn bob_said(texts: &[String]) -> App {
    let mut app = app("alice", &["bob"]);
    app.resize(100, 30);
    open(&mut app, "bob");
    let history = texts
        .iter()
        .map(String::as_str)
        .chain(["the end"])
        .zip(0..)
        .map(|(text, at)| {
            let id = format!("b{at}");
            message(&id, "bob", "alice", text, T0 + at, MessageStatus::Seen)
        })
        .collect();
    app.load_history("bob", history, false);
    app
}

/// How many of `words` both screens show.
fn shared(words: &[String], one: &str, other: &str) -> usize {
    words
        .iter()
        .filter(|w| one.contains(w.as_str()) && other.contains(w.as_str()))
        .count()
}

#[test]
fn paging_moves_a_screen_of_lines_less_two_and_skips_none() {
    // Twenty messages of eight lines, a word a line: "m00.0" to "m19.7".
    let words: Vec<String> = (0..20)
        .flat_map(|m| (0..8).map(move |l| format!("m{m:02}.{l}")))
        .collect();
    let texts: Vec<String> = words.chunks(8).map(|lines| lines.join("\n")).collect();
    let mut app = bob_said(&texts);

    // "the end", bob's last two messages, and seven lines of the one before.
    let end = screen(&render(&app, 100, 30));
    assert!(end.contains("bob the end") && end.contains("m17.1") && !end.contains("m17.0"));
    app.on_key(key(KeyCode::Up), T0);
    let up = screen(&render(&app, 100, 30));
    assert!(up.contains("m17.0") && !up.contains("bob the end"), "{up}");
    app.on_key(key(KeyCode::Down), T0);
    assert_eq!(screen(&render(&app, 100, 30)), end);

    let screens = pages_to_the_start(&mut app, 100, 30);
    for word in &words {
        assert!(
            screens.iter().any(|s| s.contains(word)),
            "{word} never shown"
        );
    }
    assert_eq!(
        shared(&words, &screens[0], &screens[1]),
        2,
        "{}",
        screens[1]
    );
    for pair in screens.windows(2) {
        assert!(shared(&words, &pair[0], &pair[1]) >= 2, "{}", pair[1]);
    }
    assert!(
        screens
            .last()
            .is_some_and(|s| s.contains("the start of your conversation"))
    );
}

#[test]
fn every_line_of_a_message_longer_than_the_screen_can_be_read() {
    // 9,000 characters, "w0000 w0001 …": 188 lines where a line holds 50 cells.
    let words: Vec<String> = (0..1_500).map(|w| format!("w{w:04}")).collect();
    let mut app = bob_said(&[words.join(" ")]);

    let screens = pages_to_the_start(&mut app, 100, 30);
    assert_eq!(
        screens.len(),
        9,
        "a screen, then eight pages up to the start"
    );
    for word in &words {
        assert!(
            screens.iter().any(|s| s.contains(word)),
            "{word} never shown"
        );
    }
    for pair in screens.windows(2) {
        assert!(shared(&words, &pair[0], &pair[1]) > 0, "{}", pair[1]);
    }
    for _ in 1..screens.len() {
        app.on_key(key(KeyCode::PageDown), T0);
    }
    assert_eq!(screen(&render(&app, 100, 30)), screens[0]);
}

#[test]
fn what_a_taller_terminal_brings_into_view_is_seen() {
    let mut app = app("alice", &["bob"]);
    app.resize(80, 12);
    open(&mut app, "bob");
    let history = (0..10)
        .map(|i| {
            let id = format!("b{i}");
            message(&id, "bob", "alice", &id, T0 + i, MessageStatus::Seen)
        })
        .collect();
    app.load_history("bob", history, false);
    app.on_key(key(KeyCode::PageUp), T0);
    app.on_key(key(KeyCode::PageUp), T0);
    let late = message(
        "late",
        "bob",
        "alice",
        "late",
        T0 + 10,
        MessageStatus::Delivered,
    );
    assert_eq!(app.apply(&Event::Message(late), T0), [], "below the view");

    // Seven lines more, as many as the conversation has: the start stays at the top, and
    // what fills the screen below it is seen.
    assert_eq!(
        app.resize(80, 19),
        [Action::MarkSeen {
            peer: "bob".into(),
            ids: vec!["late".into()],
        }]
    );
    let text = screen(&render(&app, 80, 19));
    assert!(text.contains("bob late"), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|l| l.contains("the start of")),
        "{text}"
    );
}

/// The first line of the open conversation's timeline as drawn at `width` × `height`, without
/// the list beside it and the borders.
fn top_line(app: &App, width: u16, height: u16) -> String {
    let text = screen(&render(app, width, height));
    let row = text.lines().nth(1).unwrap_or_default();
    // The timeline's pane is the last on the row.
    let pane = row.trim_end_matches('│').rsplit('│').next();
    pane.unwrap_or_default().trim().to_owned()
}

#[test]
fn a_resize_keeps_the_line_being_read_at_the_top() {
    // 30,000 characters, "w0000 w0001 …": about 600 lines at 100 columns, 1,000 at 70.
    let words: Vec<String> = (0..5_000).map(|w| format!("w{w:04}")).collect();
    let mut app = bob_said(&[words.join(" ")]);
    for _ in 0..12 {
        app.on_key(key(KeyCode::PageUp), T0);
    }
    let before = screen(&render(&app, 100, 30));
    let top = top_line(&app, 100, 30);
    let first = top.split(' ').next().unwrap_or_default().to_owned();
    assert!(first.starts_with('w'), "{before}");

    // Narrower, every line holds fewer words, but the one read first stays on top.
    app.resize(70, 30);
    let narrow = top_line(&app, 70, 30);
    assert!(
        narrow.split(' ').any(|w| w == first),
        "{first} in {narrow:?}"
    );
    app.resize(100, 30);
    assert_eq!(screen(&render(&app, 100, 30)), before);
    // Shorter, the lines below go.
    app.resize(100, 15);
    assert_eq!(top_line(&app, 100, 15), top);
    app.resize(100, 30);
    assert_eq!(screen(&render(&app, 100, 30)), before);

    // At the start, the start stays in view.
    pages_to_the_start(&mut app, 100, 30);
    let start = top_line(&app, 100, 30);
    assert_eq!(start, "the start of your conversation");
    app.resize(100, 15);
    assert_eq!(top_line(&app, 100, 15), start);
    app.resize(60, 30);
    assert_eq!(top_line(&app, 60, 30), start);
}

#[test]
fn a_message_stored_while_scrolled_back_leaves_the_view_where_it_is() {
    let texts: Vec<String> = (0..20)
        .map(|m| {
            (0..8)
                .map(|l| format!("m{m:02}.{l}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let mut app = bob_said(&texts);
    type_text(&mut app, "hi", T0);
    app.on_key(key(KeyCode::Enter), T0 + MINUTE);
    app.on_key(key(KeyCode::PageUp), T0);
    app.on_key(key(KeyCode::PageUp), T0);
    let before = screen(&render(&app, 100, 30));
    // Stored by the server: the message takes its place (the last still), below the view.
    app.apply(
        &Event::Sent {
            id: "id-1".into(),
            to: "bob".into(),
            timestamp: T0 + MINUTE,
        },
        T0,
    );
    assert_eq!(screen(&render(&app, 100, 30)), before);
}
