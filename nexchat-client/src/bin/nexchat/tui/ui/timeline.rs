//! The open conversation's timeline as lines of the screen.
//!
//! A message takes a line per wrapped line of its text: the time and the sender's name in
//! columns of their own, the text beside them, and the ticks of this user's messages at the
//! right edge, so that the eye finds them in one column.

use nexchat_core::protocol::MessageStatus;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::text::{clock, date, day_number, truncate, width, wrap};
use super::theme;
use crate::tui::conversation::{Body, Conversation, Delivery, Entry, History, Item, ItemKind};

/// Cells of the time column, `HH:MM` and a space.
const TIME: usize = 6;
/// Cells of the tick column at the right edge.
const TICK: usize = 3;
/// The widest the name column grows.
const NAME_MAX: usize = 10;
/// What this user's messages are signed with: shorter than any username, so never one.
const ME: &str = "me";

/// The `height` lines of the timeline on screen, `cells` wide. The view ends with the last
/// item not scrolled away; a conversation too short to fill the screen sits at the bottom, by
/// the input line. Only the items on screen are laid out, however long the history.
pub(super) fn visible_lines(c: &Conversation, cells: usize, height: usize) -> Vec<Line<'static>> {
    let name_cells = (width(&c.peer).max(width(ME)))
        .min(NAME_MAX)
        .min(cells / 4)
        .max(1);
    let block = |index: usize| item_block(c, index, name_cells, cells);
    let in_view = c.items.len().saturating_sub(c.scroll);

    // From the last item in view upwards, until the screen is full or the history starts.
    let mut above = Vec::new();
    let mut first = in_view;
    while first > 0 && above.iter().map(Vec::len).sum::<usize>() < height {
        first -= 1;
        above.push(block(first));
    }
    let mut lines: Vec<Line<'static>> = Vec::new();
    if first == 0 {
        let marker = match c.history {
            History::Unloaded => None,
            History::Loading => Some("loading…"),
            History::More => Some("PgUp: older messages"),
            History::Complete => Some("the start of your conversation"),
        };
        lines.extend(marker.map(|m| Line::styled(m, theme::DIM).centered()));
    }
    lines.extend(above.into_iter().rev().flatten());
    if lines.len() >= height {
        return lines.split_off(lines.len() - height);
    }
    // Scrolled up to the start: what is below the view fills the rest of the screen.
    let mut next = in_view;
    while lines.len() < height && next < c.items.len() {
        lines.extend(block(next));
        next += 1;
    }
    lines.truncate(height);
    let blank = std::iter::repeat_n(Line::default(), height - lines.len());
    blank.chain(lines).collect()
}

/// The lines of the item at `index`, after the date when it starts a new day.
fn item_block(
    c: &Conversation,
    index: usize,
    name_cells: usize,
    cells: usize,
) -> Vec<Line<'static>> {
    let item = &c.items[index];
    let mut lines = Vec::new();
    let day = day_number(item.time);
    if index == 0 || day_number(c.items[index - 1].time) != day {
        let label = format!("── {} ──", date(item.time));
        lines.push(Line::styled(label, theme::DIM).centered());
    }
    lines.extend(item_lines(item, &c.peer, name_cells, cells));
    lines
}

/// The lines of one timeline item.
fn item_lines(item: &Item, peer: &str, name_cells: usize, cells: usize) -> Vec<Line<'static>> {
    let time = Span::styled(format!("{} ", clock(item.time)), theme::DIM);
    let entry = match &item.kind {
        ItemKind::Message(entry) => entry,
        ItemKind::Notice(text) => {
            let indent = " ".repeat(TIME);
            return wrap(&format!("⚠ {text}"), cells.saturating_sub(TIME))
                .into_iter()
                .enumerate()
                .map(|(i, line)| {
                    let lead = if i == 0 {
                        time.clone()
                    } else {
                        Span::raw(indent.clone())
                    };
                    Line::from(vec![lead, Span::styled(line, theme::WARNING)])
                })
                .collect();
        }
    };

    let text_cells = cells.saturating_sub(TIME + name_cells + 1 + TICK).max(1);
    let mut body: Vec<(String, Style)> = match &entry.body {
        Body::Text { text, files } => {
            let mut body: Vec<(String, Style)> = Vec::new();
            if !text.is_empty() || files.is_empty() {
                body.extend(
                    wrap(text, text_cells)
                        .into_iter()
                        .map(|l| (l, Style::new())),
                );
            }
            for file in files {
                let lines = wrap(&format!("📎 {file}"), text_cells);
                body.extend(lines.into_iter().map(|l| (l, theme::DIM)));
            }
            body
        }
        Body::Undecryptable(reason) => {
            let text = format!("⚠ could not be decrypted: {reason}");
            let style = theme::ERROR.add_modifier(Modifier::ITALIC);
            wrap(&text, text_cells)
                .into_iter()
                .map(|l| (l, style))
                .collect()
        }
    };
    let ticked = body.len();
    if let Delivery::Failed(reason) = &entry.delivery {
        let lines = wrap(&format!("not sent: {reason}"), text_cells);
        body.extend(lines.into_iter().map(|l| (l, theme::ERROR)));
    }

    let (sender, name_style) = if entry.outgoing {
        (ME, theme::ME)
    } else {
        (peer, theme::PEER)
    };
    let name = truncate(sender, name_cells);
    let name_pad = " ".repeat(name_cells.saturating_sub(width(&name)) + 1);
    let indent = " ".repeat(TIME + name_cells + 1);
    body.into_iter()
        .enumerate()
        .map(|(i, (text, style))| {
            let mut spans = if i == 0 {
                vec![
                    time.clone(),
                    Span::styled(name.clone(), name_style),
                    Span::raw(name_pad.clone()),
                ]
            } else {
                vec![Span::raw(indent.clone())]
            };
            let pad = text_cells.saturating_sub(width(&text));
            spans.push(Span::styled(text, style));
            if i + 1 == ticked && entry.outgoing {
                let tick = tick(entry);
                let lead = " ".repeat(pad + TICK.saturating_sub(tick.width()));
                spans.push(Span::raw(lead));
                spans.push(tick);
            }
            Line::from(spans)
        })
        .collect()
}

/// The ticks of one of this user's messages: a clock while it waits for the server, one tick
/// once stored, two once delivered, two in the highlight colour once seen.
fn tick(entry: &Entry) -> Span<'static> {
    match &entry.delivery {
        Delivery::Pending => Span::styled("◷", theme::DIM),
        Delivery::Failed(_) => Span::styled("✗", theme::ERROR),
        Delivery::Stored(MessageStatus::Sent) => Span::styled("✓", theme::DIM),
        Delivery::Stored(MessageStatus::Delivered) => Span::styled("✓✓", theme::DIM),
        Delivery::Stored(MessageStatus::Seen) => Span::styled("✓✓", theme::HIGHLIGHT),
    }
}
