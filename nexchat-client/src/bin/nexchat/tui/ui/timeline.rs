//! The open conversation's timeline as lines of the screen, and the view of them that the
//! screen shows.
//!
//! A message takes a line per wrapped line of its text: the time and the sender's name in
//! columns of their own, the text beside them, and the ticks of this user's messages at the
//! right edge, so that the eye finds them in one column.
//!
//! The view is `height` lines tall, at a [`Scroll`]: at the end, or from a top line named by
//! a [`Mark`], which says where the line starts in its item whatever the width, so that a
//! resize keeps on top what was being read. The view moves by lines, never by items, so that
//! every line of a message longer than the screen can be read; and it moves from where it
//! is, laying out only the items it passes, however long the history.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use nexchat_core::protocol::MessageStatus;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::text::{clock, date, day_number, truncate, width, wrap_with_offsets};
use super::theme;
use crate::tui::conversation::{
    Body, Conversation, Delivery, Entry, History, Item, ItemKind, Mark, Scroll,
};

/// Cells of the time column, `HH:MM` and a space.
const TIME: usize = 6;
/// Cells of the tick column at the right edge.
const TICK: usize = 3;
/// The widest the name column grows.
const NAME_MAX: usize = 10;
/// What this user's messages are signed with: shorter than any username, so never one.
const ME: &str = "me";

/// The mark of the line above the first item that says how much history is here.
const HISTORY: Mark = Mark { part: 0, offset: 0 };
/// The mark of the date above the first item of a day.
const DATE: Mark = Mark { part: 1, offset: 0 };
/// The part of an item's text; its attachments, then why it was not sent, are the next ones.
const FIRST_TEXT_PART: usize = 2;

/// A line of the timeline: the item it belongs to, and which of the item's lines it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    /// The item's index.
    item: usize,
    /// The line's index among the item's.
    line: usize,
}

impl Place {
    /// The timeline's first line.
    const START: Self = Self { item: 0, line: 0 };
}

/// The timeline of a conversation laid out `cells` wide: a line saying how much history is
/// here, then each item's lines, the date above the first item of each day.
pub(in crate::tui) struct Timeline<'a> {
    /// The conversation.
    c: &'a Conversation,
    /// The width of a line.
    cells: usize,
    /// The width of the name column.
    name_cells: usize,
    /// The marks of the lines of each item laid out so far, by index: moving the view asks
    /// for the same ones again and again, and a long message is long to lay out.
    marks: RefCell<HashMap<usize, Vec<Mark>>>,
}

impl<'a> Timeline<'a> {
    /// The timeline of `c`, `cells` wide.
    pub(in crate::tui) fn new(c: &'a Conversation, cells: usize) -> Self {
        let name_cells = (width(&c.peer).max(width(ME)))
            .min(NAME_MAX)
            .min(cells / 4)
            .max(1);
        Self {
            c,
            cells,
            name_cells,
            marks: RefCell::default(),
        }
    }

    /// The view of `height` lines at `at`, moved `lines` lines towards the start of the
    /// timeline, and kept full (see [`Self::settled`]).
    pub(in crate::tui) fn older(&self, at: Scroll, lines: usize, height: usize) -> Scroll {
        match self.top(at, height) {
            Some(top) => self.settled(self.scroll_to(self.up(top, lines)), height),
            None => Scroll::End,
        }
    }

    /// The view of `height` lines at `at`, moved `lines` lines towards the end of the
    /// timeline, and kept full (see [`Self::settled`]).
    pub(in crate::tui) fn newer(&self, at: Scroll, lines: usize, height: usize) -> Scroll {
        match (at, self.top(at, height)) {
            (Scroll::Top { .. }, Some(top)) => {
                self.settled(self.scroll_to(self.down(top, lines)), height)
            }
            _ => Scroll::End,
        }
    }

    /// The view of `height` lines at `at`, made to follow the end once it shows the last
    /// line: then no blank line shows below the end while lines above could fill the screen
    /// instead (a view that was full can become short when the terminal grows or lines wrap
    /// less), and what arrives is shown. A view short of the end is left as it is, its mark
    /// too, so that a resize there and back shows the same lines again.
    pub(in crate::tui) fn settled(&self, at: Scroll, height: usize) -> Scroll {
        if at == Scroll::End {
            return at;
        }
        match self.top(at, height) {
            Some(top) if !self.reaches_end(top, height) => at,
            _ => Scroll::End,
        }
    }

    /// Whether the view of `height` lines at `at` shows the first line of the timeline.
    pub(in crate::tui) fn at_start(&self, at: Scroll, height: usize) -> bool {
        self.top(at, height).is_none_or(|top| top == Place::START)
    }

    /// How many items are wholly below the view of `height` lines at `at`: the items not seen
    /// yet.
    pub(in crate::tui) fn below(&self, at: Scroll, height: usize) -> usize {
        match (at, self.top(at, height)) {
            (Scroll::Top { .. }, Some(top)) => {
                let bottom = self.down(top, height.saturating_sub(1));
                self.c.items.len() - 1 - bottom.item
            }
            _ => 0,
        }
    }

    /// The `height` lines of the view at `at`; a timeline shorter than the screen sits at its
    /// bottom, by the input line.
    pub(super) fn view(&self, at: Scroll, height: usize) -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        match self.top(at, height) {
            Some(top) => {
                for item in top.item..self.c.items.len() {
                    if lines.len() >= height {
                        break;
                    }
                    let skip = if item == top.item { top.line } else { 0 };
                    lines.extend(self.block(item).into_iter().skip(skip).map(|(_, l)| l));
                }
            }
            None => lines.extend(self.marker()),
        }
        lines.truncate(height);
        let mut view = vec![Line::default(); height - lines.len()];
        view.extend(lines);
        view
    }

    /// The top line of the view of `height` lines at `at`, if there is an item.
    fn top(&self, at: Scroll, height: usize) -> Option<Place> {
        let last = self.c.items.len().checked_sub(1)?;
        Some(match at {
            Scroll::End => {
                let bottom = Place {
                    item: last,
                    line: self.height(last) - 1,
                };
                self.up(bottom, height.saturating_sub(1))
            }
            Scroll::Top { later, mark } => {
                let item = last - later.min(last);
                let line = self.with_marks(item, |marks| {
                    marks.partition_point(|m| *m <= mark).saturating_sub(1)
                });
                Place { item, line }
            }
        })
    }

    /// The view whose top line is `top`.
    fn scroll_to(&self, top: Place) -> Scroll {
        Scroll::Top {
            later: self.c.items.len() - 1 - top.item,
            mark: self.with_marks(top.item, |marks| marks[top.line]),
        }
    }

    /// Whether a view of `height` lines from `top` shows the timeline's last line.
    fn reaches_end(&self, top: Place, height: usize) -> bool {
        let bottom = self.down(top, height.saturating_sub(1));
        bottom.item + 1 == self.c.items.len() && bottom.line + 1 == self.height(bottom.item)
    }

    /// `at` moved `lines` lines up, or as far as the timeline's first line.
    fn up(&self, mut at: Place, mut lines: usize) -> Place {
        while lines > at.line && at.item > 0 {
            lines -= at.line + 1;
            at.item -= 1;
            at.line = self.height(at.item) - 1;
        }
        at.line = at.line.saturating_sub(lines);
        at
    }

    /// `at` moved `lines` lines down, or as far as the timeline's last line.
    fn down(&self, mut at: Place, mut lines: usize) -> Place {
        loop {
            // The item's lines below `at`.
            let rest = self.height(at.item) - 1 - at.line;
            if lines <= rest || at.item + 1 == self.c.items.len() {
                at.line += lines.min(rest);
                return at;
            }
            lines -= rest + 1;
            at = Place {
                item: at.item + 1,
                line: 0,
            };
        }
    }

    /// The line above the first item that says how much history is here, if it is known.
    fn marker(&self) -> Option<Line<'static>> {
        let marker = match self.c.history {
            History::Unloaded => None,
            History::Loading => Some("loading…"),
            History::More => Some("PgUp: older messages"),
            History::Complete => Some("the start of your conversation"),
        };
        marker.map(|m| Line::styled(m, theme::DIM).centered())
    }

    /// How many lines the item at `index` takes, what sits above it included.
    fn height(&self, index: usize) -> usize {
        self.with_marks(index, <[Mark]>::len)
    }

    /// `f` of the marks of the lines of the item at `index`, in order.
    fn with_marks<T>(&self, index: usize, f: impl FnOnce(&[Mark]) -> T) -> T {
        let mut known = self.marks.borrow_mut();
        let marks = known
            .entry(index)
            .or_insert_with(|| self.block(index).into_iter().map(|(m, _)| m).collect());
        f(marks)
    }

    /// The lines of the item at `index`, each with its mark: the history line above the first
    /// item, the date above the first of each day, then the item's own.
    fn block(&self, index: usize) -> Vec<(Mark, Line<'static>)> {
        let items = &self.c.items;
        let item = &items[index];
        let mut lines = Vec::new();
        if index == 0 {
            lines.extend(self.marker().map(|line| (HISTORY, line)));
        }
        let day = day_number(item.time);
        if index == 0 || day_number(items[index - 1].time) != day {
            let label = format!("── {} ──", date(item.time));
            lines.push((DATE, Line::styled(label, theme::DIM).centered()));
        }
        lines.extend(item_lines(item, &self.c.peer, self.name_cells, self.cells));
        lines
    }
}

/// `parts` wrapped `cells` wide, each line with its mark and the style of its part.
fn wrap_parts(parts: &[(Cow<'_, str>, Style)], cells: usize) -> Vec<(Mark, String, Style)> {
    (FIRST_TEXT_PART..)
        .zip(parts)
        .flat_map(|(part, (text, style))| {
            wrap_with_offsets(text, cells)
                .into_iter()
                .map(move |(offset, line)| (Mark { part, offset }, line, *style))
        })
        .collect()
}

/// The lines of one timeline item, each with its mark.
fn item_lines(
    item: &Item,
    peer: &str,
    name_cells: usize,
    cells: usize,
) -> Vec<(Mark, Line<'static>)> {
    let time = Span::styled(format!("{} ", clock(item.time)), theme::DIM);
    let entry = match &item.kind {
        ItemKind::Message(entry) => entry,
        ItemKind::Notice(text) => {
            let indent = " ".repeat(TIME);
            let notice = [(Cow::Owned(format!("⚠ {text}")), theme::WARNING)];
            return wrap_parts(&notice, cells.saturating_sub(TIME))
                .into_iter()
                .enumerate()
                .map(|(i, (mark, line, style))| {
                    let lead = if i == 0 {
                        time.clone()
                    } else {
                        Span::raw(indent.clone())
                    };
                    (mark, Line::from(vec![lead, Span::styled(line, style)]))
                })
                .collect();
        }
    };

    let text_cells = cells.saturating_sub(TIME + name_cells + 1 + TICK).max(1);
    let mut parts: Vec<(Cow<'_, str>, Style)> = match &entry.body {
        Body::Text { text, files } => {
            let mut parts = Vec::new();
            if !text.is_empty() || files.is_empty() {
                parts.push((Cow::Borrowed(text.as_str()), Style::new()));
            }
            for file in files {
                parts.push((Cow::Owned(format!("📎 {file}")), theme::DIM));
            }
            parts
        }
        Body::Undecryptable(reason) => {
            let text = format!("⚠ could not be decrypted: {reason}");
            vec![(
                Cow::Owned(text),
                theme::ERROR.add_modifier(Modifier::ITALIC),
            )]
        }
    };
    // The ticks go on the last line of what was written, above why it was not sent.
    let ticked_parts = parts.len();
    if let Delivery::Failed(reason) = &entry.delivery {
        parts.push((Cow::Owned(format!("not sent: {reason}")), theme::ERROR));
    }
    let body = wrap_parts(&parts, text_cells);
    let ticked = body
        .iter()
        .filter(|(mark, ..)| mark.part < FIRST_TEXT_PART + ticked_parts)
        .count();

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
        .map(|(i, (mark, text, style))| {
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
            (mark, Line::from(spans))
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
