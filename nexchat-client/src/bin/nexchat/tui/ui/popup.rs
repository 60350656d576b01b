//! Windows over the screen: the friend requests and a safety number.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::text::{tail, truncate, width, wrap};
use super::{centered, pane, theme};
use crate::tui::app::{App, Requests};

/// The widest the requests window grows.
const REQUESTS_WIDTH: u16 = 56;
/// How many of the requests this user sent the window names.
const SENT_SHOWN: usize = 3;
/// The widest the safety number window grows.
const SAFETY_WIDTH: u16 = 48;

/// Draws `lines` in a bordered window titled `title`, in the middle of `area`.
fn window(frame: &mut Frame, area: Rect, title: &str, width: u16, lines: Vec<Line<'static>>) {
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, width, height);
    let block = pane(true).title(format!(" {title} "));
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The friend requests: who asked this user, whom this user asked, and a field to ask someone.
/// However many there are, the window fits the screen: the requests received scroll to keep
/// the highlighted one in view, and the requests sent beyond a few are counted.
pub(super) fn requests(frame: &mut Frame, area: Rect, app: &App, view: &Requests) {
    let cells = usize::from(REQUESTS_WIDTH.min(area.width).saturating_sub(2));
    let bold = Style::new().add_modifier(Modifier::BOLD);

    let mut waiting: Vec<Line> = app
        .sent
        .iter()
        .take(SENT_SHOWN)
        .map(|name| {
            Line::styled(
                format!("  {}", truncate(name, cells.saturating_sub(2))),
                theme::DIM,
            )
        })
        .collect();
    match app.sent.len() {
        0 => waiting.push(Line::styled("  nobody", theme::DIM)),
        n if n > SENT_SHOWN => {
            waiting.push(Line::styled(
                format!("  and {} more", n - SENT_SHOWN),
                theme::DIM,
            ));
        }
        _ => {}
    }
    // Borders, the three headings, two blank lines, the field, and the requests sent.
    let around = 2 + 3 + 2 + 1 + waiting.len();
    let room = usize::from(area.height).saturating_sub(around).max(1);
    let first = (view.selected + 1).saturating_sub(room);

    let mut lines = vec![Line::styled("Asking you", bold)];
    if app.received.is_empty() {
        lines.push(Line::styled("  nobody", theme::DIM));
    }
    let hint = "a accept · r reject";
    for (index, name) in app.received.iter().enumerate().skip(first).take(room) {
        if index == view.selected && !view.adding {
            let name = truncate(name, cells.saturating_sub(2 + width(hint) + 1));
            let pad = " ".repeat(cells.saturating_sub(2 + width(&name) + width(hint)));
            lines.push(Line::from(vec![
                Span::styled("▌ ", theme::FOCUSED),
                Span::styled(name, Style::new().add_modifier(Modifier::REVERSED)),
                Span::raw(pad),
                Span::styled(hint, theme::DIM),
            ]));
        } else {
            let name = truncate(name, cells.saturating_sub(2));
            lines.push(Line::raw(format!("  {name}")));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Waiting for an answer", bold));
    lines.extend(waiting);
    lines.push(Line::raw(""));
    lines.push(Line::styled("Add a friend", bold));
    let field = if view.adding {
        let typed = tail(view.name.before_cursor(), cells.saturating_sub(3));
        Line::from(vec![
            Span::styled("> ", theme::FOCUSED),
            Span::raw(typed),
            Span::styled("▏", theme::FOCUSED),
        ])
    } else {
        Line::styled("> Tab, then a username", theme::DIM)
    };
    lines.push(field);
    window(frame, area, "Friend requests", REQUESTS_WIDTH, lines);
}

/// The safety number of this user and `peer`: six groups of five digits in two rows, and
/// what to do with them.
pub(super) fn safety(
    frame: &mut Frame,
    area: Rect,
    me: &str,
    peer: &str,
    groups: Option<&[String]>,
) {
    let cells = usize::from(SAFETY_WIDTH.min(area.width).saturating_sub(2));
    let name = |n: &str| truncate(n, cells.saturating_sub(5) / 2);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(name(me), theme::ME),
            Span::raw(" and "),
            Span::styled(name(peer), theme::PEER),
        ])
        .centered(),
        Line::raw(""),
    ];
    match groups {
        Some(groups) => {
            for row in groups.chunks(3) {
                let digits = Style::new().add_modifier(Modifier::BOLD);
                lines.push(Line::styled(row.join(" "), digits).centered());
            }
        }
        None => lines.push(Line::styled("computing…", theme::DIM).centered()),
    }
    lines.push(Line::raw(""));
    let advice = format!(
        "Compare these digits with {}'s, in person or on a call. If they match, nobody \
         stands between you.",
        name(peer)
    );
    let wrapped = wrap(&advice, cells);
    lines.extend(wrapped.into_iter().map(|l| Line::styled(l, theme::DIM)));
    window(frame, area, "Safety number", SAFETY_WIDTH, lines);
}
