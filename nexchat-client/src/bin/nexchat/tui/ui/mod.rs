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
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Block;

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
    let [main, status] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
    if app.narrow {
        if app.shows_conversation() {
            chat::draw(frame, main, app);
        } else {
            list::draw(frame, main, app);
        }
    } else {
        let list_width = (main.width / 3).max(LIST_MIN_WIDTH).min(main.width);
        let [left, right] =
            Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(main);
        list::draw(frame, left, app);
        chat::draw(frame, right, app);
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
