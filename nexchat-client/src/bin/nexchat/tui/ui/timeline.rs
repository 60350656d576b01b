//! The open conversation's timeline as lines of the screen, and the view of them that the
//! screen shows.
//!
//! A message takes a line per wrapped line of its text: the time and the sender's name in
//! columns of their own, the text beside them, and the ticks of this user's messages at the
//! right edge, so that the eye finds them in one column.
//!
//! The view is `height` lines tall and ends at a [`Scroll`]. It moves by lines, never by
//! items, so that every line of a message longer than the screen can be read; and it moves
//! from where it is, laying out only the items it passes, however long the history.

use std::cell::RefCell;
use std::collections::HashMap;

use nexchat_core::protocol::MessageStatus;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::text::{clock, date, day_number, truncate, width, wrap};
use super::theme;
use crate::tui::conversation::{
    Body, Conversation, Delivery, Entry, History, Item, ItemKind, Scroll,
};

/// Cells of the time column, `HH:MM` and a space.
const TIME: usize = 6;
/// Cells of the tick column at the right edge.
const TICK: usize = 3;
/// The widest the name column grows.
const NAME_MAX: usize = 10;
/// What this user's messages are signed with: shorter than any username, so never one.
const ME: &str = "me";

/// The timeline of a conversation laid out `cells` wide: a line saying how much history is
/// here, then each item's lines, the date above the first item of each day.
pub(in crate::tui) struct Timeline<'a> {
    /// The conversation.
    c: &'a Conversation,
    /// The width of a line.
    cells: usize,
    /// The width of the name column.
    name_cells: usize,
    /// How many lines each item laid out so far takes, by index: moving the view asks for the
    /// same ones again and again, and a long message is long to lay out.
    heights: RefCell<HashMap<usize, usize>>,
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
            heights: RefCell::default(),
        }
    }

    /// The view ending at `at`, moved `lines` lines towards the start of the timeline, and
    /// kept full (see [`Self::settled`]).
    pub(in crate::tui) fn older(&self, at: Scroll, lines: usize, height: usize) -> Scroll {
        self.settled(self.up(self.valid(at), lines), height)
    }

    /// The view ending at `at`, moved `lines` lines towards the end of the timeline, and kept
    /// full (see [`Self::settled`]).
    pub(in crate::tui) fn newer(&self, at: Scroll, lines: usize, height: usize) -> Scroll {
        self.settled(self.down(self.valid(at), lines), height)
    }

    /// The view ending at `at`, moved down as far as it takes to show no blank line above the
    /// start of the timeline while lines below the view could fill the screen instead: a
    /// view that was full can become short when the terminal grows or lines wrap less.
    pub(in crate::tui) fn settled(&self, at: Scroll, height: usize) -> Scroll {
        // At the end, the view is as low as it goes: nothing to lay out.
        if at == Scroll::default() {
            return at;
        }
        let at = self.valid(at);
        let above = self.lines_to(at, height);
        self.down(at, height.saturating_sub(above))
    }

    /// Whether the view of `height` lines ending at `at` shows the first line of the
    /// timeline.
    pub(in crate::tui) fn at_start(&self, at: Scroll, height: usize) -> bool {
        self.lines_to(self.valid(at), height + 1) <= height
    }

    /// The `height` lines of the view ending at `at`; a timeline shorter than the screen sits
    /// at its bottom, by the input line.
    pub(super) fn view(&self, at: Scroll, height: usize) -> Vec<Line<'static>> {
        // Gathered from the bottom line up.
        let mut lines = Vec::new();
        for (index, hidden) in self.upwards(self.valid(at)) {
            if lines.len() >= height {
                break;
            }
            let mut block = self.block(index);
            block.truncate(block.len() - hidden);
            lines.extend(block.into_iter().rev());
        }
        if lines.len() < height {
            lines.extend(self.marker());
        }
        lines.truncate(height);
        lines.resize(height, Line::default());
        lines.reverse();
        lines
    }

    /// `at`, made to end on a line of the timeline: one of an item there is, or none when
    /// there is no item.
    fn valid(&self, at: Scroll) -> Scroll {
        let Some(last) = self.c.items.len().checked_sub(1) else {
            return Scroll::default();
        };
        let below = at.below.min(last);
        let lines = at.lines.min(self.height(last - below) - 1);
        Scroll { below, lines }
    }

    /// The index of the item on the bottom line of the view ending at a valid `at`, if there
    /// is an item.
    fn bottom(&self, at: Scroll) -> Option<usize> {
        self.c.items.len().checked_sub(1 + at.below)
    }

    /// A valid `at` moved `lines` lines up, or as far as the first line of the first item.
    fn up(&self, mut at: Scroll, mut lines: usize) -> Scroll {
        while let Some(index) = self.bottom(at) {
            // The lines of the bottom item from its first to the view's bottom line.
            let shown = self.height(index) - at.lines;
            if lines < shown || index == 0 {
                at.lines += lines.min(shown - 1);
                break;
            }
            lines -= shown;
            at = Scroll {
                below: at.below + 1,
                lines: 0,
            };
        }
        at
    }

    /// A valid `at` moved `lines` lines down, or as far as the end.
    fn down(&self, mut at: Scroll, mut lines: usize) -> Scroll {
        while lines > at.lines && at.below > 0 {
            lines -= at.lines + 1;
            at.below -= 1;
            at.lines = self.bottom(at).map_or(0, |index| self.height(index) - 1);
        }
        at.lines = at.lines.saturating_sub(lines);
        at
    }

    /// How many lines the timeline has from its start to the bottom of the view ending at a
    /// valid `at`, counted only until there are `limit`.
    fn lines_to(&self, at: Scroll, limit: usize) -> usize {
        let mut count = 0;
        for (index, hidden) in self.upwards(at) {
            if count >= limit {
                return count;
            }
            count += self.height(index) - hidden;
        }
        count + usize::from(self.marker().is_some())
    }

    /// The items from the one on the bottom line of the view ending at a valid `at` up to the
    /// first, each with how many of its lines are below the view.
    fn upwards(&self, at: Scroll) -> impl Iterator<Item = (usize, usize)> + use<> {
        let end = self.c.items.len() - at.below;
        (0..end)
            .rev()
            .map(move |index| (index, if index + 1 == end { at.lines } else { 0 }))
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

    /// How many lines the item at `index` takes, its date included.
    fn height(&self, index: usize) -> usize {
        *self
            .heights
            .borrow_mut()
            .entry(index)
            .or_insert_with(|| self.block(index).len())
    }

    /// The lines of the item at `index`, after the date when it starts a new day.
    fn block(&self, index: usize) -> Vec<Line<'static>> {
        let items = &self.c.items;
        let item = &items[index];
        let mut lines = Vec::new();
        let day = day_number(item.time);
        if index == 0 || day_number(items[index - 1].time) != day {
            let label = format!("── {} ──", date(item.time));
            lines.push(Line::styled(label, theme::DIM).centered());
        }
        lines.extend(item_lines(item, &self.c.peer, self.name_cells, self.cells));
        lines
    }
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
