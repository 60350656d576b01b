//! Drawing the screen: the conversation list on the left, the open conversation with its input
//! line on the right, a status bar below, and the friend requests or a safety number over them.
//! A terminal narrower than [`NARROW_BELOW`](super::app::NARROW_BELOW) shows one pane at a time.

mod chat;
mod list;
mod popup;
mod status;
mod text;
mod timeline;

#[cfg(test)]
mod screenshot;
#[cfg(test)]
mod tests;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect, Size};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Block;

pub(super) use self::timeline::Timeline;
use super::app::{App, Focus, Overlay};

/// The colours and weights of the screen, in one place.
mod theme {
    use super::{Color, Modifier, Style};

    /// Secondary text: times, previews, hints.
    pub(super) const DIM: Style = Style::new().fg(Color::DarkGray);
    /// This user's name on their messages.
    pub(super) const ME: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    /// The other user's name on their messages.
    pub(super) const PEER: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    /// Ticks of a message the peer has seen, and what is happening now (typing).
    pub(super) const HIGHLIGHT: Style = Style::new().fg(Color::LightBlue);
    /// Online dots and the connected socket.
    pub(super) const ONLINE: Style = Style::new().fg(Color::Green);
    /// The unread count.
    pub(super) const BADGE: Style = Style::new()
        .fg(Color::Black)
        .bg(Color::Green)
        .add_modifier(Modifier::BOLD);
    /// Something to look at: a changed safety number, a notice.
    pub(super) const WARNING: Style = Style::new().fg(Color::Yellow);
    /// Something that went wrong.
    pub(super) const ERROR: Style = Style::new().fg(Color::Red);
    /// The border of the pane the keys go to.
    pub(super) const FOCUSED: Style = Style::new().fg(Color::Cyan);
}

/// The narrowest list beside a conversation, in columns.
const LIST_MIN_WIDTH: u16 = 16;

/// Draws the whole screen of `app`.
pub fn draw(frame: &mut Frame, app: &App) {
    let [main, status] = main_and_status(frame.area());
    let [list, chat] = panes(main, app.narrow);
    if app.narrow {
        if app.shows_conversation() {
            chat::draw(frame, chat, app);
        } else {
            list::draw(frame, list, app);
        }
    } else {
        list::draw(frame, list, app);
        chat::draw(frame, chat, app);
    }
    status::draw(frame, status, app);
    match &app.overlay {
        Some(Overlay::Requests(view)) => popup::requests(frame, main, app, view),
        Some(Overlay::Safety { peer, groups }) => {
            popup::safety(frame, main, &app.me, peer, groups.as_deref());
        }
        None => {}
    }
}

/// The width and the height of the open conversation's timeline, in cells and lines, on a
/// terminal of `size` (`narrow` or not): where [`draw`] puts it.
pub(super) fn timeline_size(size: Size, narrow: bool) -> (usize, usize) {
    let [main, _] = main_and_status(Rect::from((Position::ORIGIN, size)));
    let [_, chat] = panes(main, narrow);
    let timeline = chat::timeline_area(chat);
    (usize::from(timeline.width), usize::from(timeline.height))
}

/// The screen less its last line, and that line, for the status bar.
fn main_and_status(area: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area)
}

/// Where the list and the open conversation go in `main`: side by side, or in a `narrow`
/// terminal each over all of it, one at a time.
fn panes(main: Rect, narrow: bool) -> [Rect; 2] {
    if narrow {
        return [main, main];
    }
    let list_width = (main.width / 3).max(LIST_MIN_WIDTH).min(main.width);
    Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(main)
}

/// A bordered pane, its border brighter when the keys go to it.
fn pane<'a>(focused: bool) -> Block<'a> {
    Block::bordered().border_style(if focused { theme::FOCUSED } else { theme::DIM })
}

/// Whether the keys go to `focus` (and no window over the screen takes them).
fn has_focus(app: &App, focus: Focus) -> bool {
    app.overlay.is_none() && app.focus == focus
}

/// A `width` × `height` rectangle in the middle of `area`, no larger than it.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
