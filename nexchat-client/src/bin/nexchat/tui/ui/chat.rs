//! The open conversation: a header line (the peer, online or typing, the safety number), the
//! timeline with times, names and ticks, and the input line.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Padding, Paragraph};

use super::text::{clean, tail, truncate, width};
use super::timeline::Timeline;
use super::{has_focus, pane, theme};
use crate::tui::app::{App, Focus};
use crate::tui::conversation::Conversation;

/// Draws the open conversation and its input line into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(conversation) = app.open_conversation() else {
        let block = pane(false);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let middle = Rect {
            y: inner.y + inner.height / 2,
            height: inner.height.min(1),
            ..inner
        };
        frame.render_widget(
            Paragraph::new("Choose a conversation: ↑↓ and Enter")
                .style(theme::DIM)
                .centered(),
            middle,
        );
        return;
    };
    let [timeline, input] = timeline_and_input(area);
    draw_timeline(frame, timeline, conversation);
    draw_input(frame, input, app, conversation);
}

/// The conversation's `area` as the timeline's pane above the input line's.
fn timeline_and_input(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(area)
}

/// The timeline's pane, without its header.
fn timeline_pane<'a>() -> Block<'a> {
    pane(false).padding(Padding::horizontal(1))
}

/// Where the timeline's lines go when the conversation is drawn into `area`.
pub(super) fn timeline_area(area: Rect) -> Rect {
    let [timeline, _] = timeline_and_input(area);
    timeline_pane().inner(timeline)
}

/// The header: the peer's name and state on the left, the safety number hint on the right.
fn header(c: &Conversation, cells: usize) -> (Line<'static>, Option<Line<'static>>) {
    let mut state = vec![if !c.friend {
        Span::styled("not a friend", theme::DIM)
    } else if c.online {
        Span::styled("● online", theme::ONLINE)
    } else {
        Span::styled("○ offline", theme::DIM)
    }];
    if c.typing_since.is_some() {
        state.push(Span::styled(" · ", theme::DIM));
        state.push(Span::styled(
            "typing…",
            theme::HIGHLIGHT.add_modifier(Modifier::ITALIC),
        ));
    }
    let state_width: usize = state.iter().map(Span::width).sum();
    let hint = if c.key_changed {
        Span::styled(" ⚠ safety number changed: Ctrl-S ", theme::WARNING)
    } else {
        Span::styled(" Ctrl-S safety number ", theme::DIM)
    };
    // The spaces around the name and after the state.
    let fixed = 3 + state_width;
    let with_hint = cells > fixed + width(&c.peer).min(8) + hint.width();
    let room = if with_hint {
        cells - fixed - hint.width() - 1
    } else {
        cells.saturating_sub(fixed)
    };
    let mut left = vec![
        Span::raw(" "),
        Span::styled(truncate(&c.peer, room), theme::PEER),
        Span::raw(" "),
    ];
    left.extend(state);
    left.push(Span::raw(" "));
    (
        Line::from(left),
        with_hint.then(|| Line::from(hint).right_aligned()),
    )
}

fn draw_timeline(frame: &mut Frame, area: Rect, c: &Conversation) {
    let (left, right) = header(c, usize::from(area.width.saturating_sub(2)));
    let mut block = timeline_pane().title(left);
    if let Some(right) = right {
        block = block.title_top(right);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let timeline = Timeline::new(c, usize::from(inner.width));
    let height = usize::from(inner.height);
    // Settled as the screen's state is after every key and event; and again here, so that
    // whatever changed since, the drawing never shows blank lines below the timeline's end.
    let lines = timeline.view(timeline.settled(c.scroll, height), height);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The input line: the draft, scrolled so that the cursor stays in view.
fn draw_input(frame: &mut Frame, area: Rect, app: &App, c: &Conversation) {
    let focused = has_focus(app, Focus::Input);
    let block = pane(focused).padding(Padding::horizontal(1));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cells = usize::from(inner.width);
    let cursor = if c.draft.is_empty() {
        let hint = if !c.friend {
            format!("{} is not your friend", c.peer)
        } else if focused {
            "Write a message; Enter sends it".to_owned()
        } else {
            "Tab to write".to_owned()
        };
        frame.render_widget(
            Paragraph::new(truncate(&hint, cells)).style(theme::DIM),
            inner,
        );
        0
    } else {
        // One cell stays free after the text for the cursor.
        let before = tail(c.draft.before_cursor(), cells.saturating_sub(1));
        // A draft holds no control characters, but a paste can bring bidi overrides.
        let after = clean(&c.draft.text()[c.draft.before_cursor().len()..]);
        frame.render_widget(Paragraph::new(format!("{before}{after}")), inner);
        u16::try_from(width(&before)).expect("the text before the cursor fits the line")
    };
    if focused && !inner.is_empty() {
        frame.set_cursor_position((inner.x + cursor, inner.y));
    }
}
