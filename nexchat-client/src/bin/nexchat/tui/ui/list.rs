//! The conversation list: every friend and every conversation, newest activity first, two
//! lines each (the name with its online dot, typing mark and unread badge; then the last
//! message).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::text::{truncate, width};
use super::{has_focus, pane, theme};
use crate::tui::app::{App, Focus};
use crate::tui::conversation::{Body, Conversation, ItemKind};

/// Lines per conversation.
const ROWS: usize = 2;
/// Columns before the name: the selection mark, the online dot and a space.
const LEAD: usize = 3;

/// Draws the list into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let block = pane(has_focus(app, Focus::List)).title(" Chats ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let cells = usize::from(inner.width);

    let mut lines = Vec::new();
    if !app.received.is_empty() {
        let count = app.received.len();
        let text = match count {
            1 => "1 friend request: Ctrl-R".to_owned(),
            n => format!("{n} friend requests: Ctrl-R"),
        };
        lines.push(Line::styled(truncate(&text, cells), theme::WARNING));
    }
    let list = app.sorted();
    if list.is_empty() {
        lines.push(Line::styled(
            "No friends yet. Ctrl-R to ask someone.",
            theme::DIM,
        ));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }

    let selected = app
        .selected
        .as_deref()
        .and_then(|s| list.iter().position(|c| c.is_with(s)))
        .unwrap_or(0);
    // Scroll just enough that the highlighted conversation is in view.
    let fits = (usize::from(inner.height).saturating_sub(lines.len()) / ROWS).max(1);
    let first = (selected + 1).saturating_sub(fits);
    for (index, conversation) in list.iter().enumerate().skip(first).take(fits) {
        let focused = index == selected && has_focus(app, Focus::List);
        lines.extend(rows(conversation, cells, index == selected, focused));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The two lines of one conversation, `cells` wide.
fn rows(c: &Conversation, cells: usize, selected: bool, focused: bool) -> [Line<'static>; ROWS] {
    let mark = if selected { "▌" } else { " " };
    let dot = if c.online {
        Span::styled("●", theme::ONLINE)
    } else {
        Span::styled("○", theme::DIM)
    };
    let typing = c.typing_since.is_some();
    let badge = match c.unread {
        0 => String::new(),
        n if n > 99 => " 99+ ".to_owned(),
        n => format!(" {n} "),
    };
    let right = if typing { 2 } else { 0 } + width(&badge);
    let gap = usize::from(right > 0);
    let name = truncate(&c.peer, cells.saturating_sub(LEAD + gap + right));
    let pad = cells.saturating_sub(LEAD + width(&name) + right);
    let name_style = if c.unread > 0 {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };

    let mut first = vec![
        Span::styled(mark, theme::FOCUSED),
        dot,
        Span::raw(" "),
        Span::styled(name, name_style),
        Span::raw(" ".repeat(pad)),
    ];
    if typing {
        first.push(Span::styled("✎ ", theme::HIGHLIGHT));
    }
    if !badge.is_empty() {
        first.push(Span::styled(badge, theme::BADGE));
    }
    let second = if typing {
        Span::styled("typing…", theme::HIGHLIGHT.add_modifier(Modifier::ITALIC))
    } else {
        Span::styled(
            truncate(&preview(c), cells.saturating_sub(LEAD)),
            theme::DIM,
        )
    };
    let row_style = if focused {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    };
    [
        Line::from(first).style(row_style),
        Line::from(vec![Span::raw("   "), second]),
    ]
}

/// What the list says of a conversation's last line, on one line.
fn preview(c: &Conversation) -> String {
    let Some(last) = c.items.last() else {
        return if c.friend {
            "no messages yet".to_owned()
        } else {
            "not a friend".to_owned()
        };
    };
    match &last.kind {
        ItemKind::Notice(text) => text.clone(),
        ItemKind::Message(entry) => {
            let said = match &entry.body {
                Body::Text { text, files } if text.trim().is_empty() => {
                    files.first().map(|f| format!("📎 {f}")).unwrap_or_default()
                }
                Body::Text { text, .. } => text.split_whitespace().collect::<Vec<_>>().join(" "),
                Body::Undecryptable(_) => "⚠ could not be decrypted".to_owned(),
            };
            if entry.outgoing {
                format!("me: {said}")
            } else {
                said
            }
        }
    }
}
