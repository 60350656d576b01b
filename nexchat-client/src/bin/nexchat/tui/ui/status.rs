//! The status bar: the socket's state, then the latest notice or the keys that work here.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::{clean, truncate, width};
use super::theme;
use crate::tui::app::{App, Connection, Focus, Overlay};

/// Between the parts of the socket's state.
const DOT: &str = " · ";
/// The fewest cells a reason for a closed socket is shown in: fewer would say nothing.
const REASON_MIN: usize = 8;

/// Draws the status bar into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let said = match &app.notice {
        // Notices name peers and repeat what the server said.
        Some(notice) => Span::styled(clean(notice), theme::WARNING),
        None => Span::styled(help(app), theme::DIM),
    };
    let mut spans = connection(&app.connection, &app.me, usize::from(area.width));
    spans.extend([Span::styled(" │ ", theme::DIM), said]);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The socket's state, `me` when it is open, on a bar `cells` wide. A closed one says first
/// when the next attempt starts, which is short and always shown; then why it closed, which
/// can be long (a whole HTTP error), cut to at most half of what is left of the bar, so that
/// the notice or the keys after it keep the other half.
fn connection(connection: &Connection, me: &str, cells: usize) -> Vec<Span<'static>> {
    match connection {
        Connection::Connecting => vec![Span::styled("◌ connecting…", theme::WARNING)],
        Connection::Connected => vec![Span::styled(format!("● {}", clean(me)), theme::ONLINE)],
        Connection::Disconnected { reason, retry_in } => {
            let state = format!("○ offline{DOT}{}", retrying(*retry_in));
            let room = (cells.saturating_sub(width(&state)) / 2).saturating_sub(width(DOT));
            let mut spans = vec![Span::styled(state, theme::ERROR)];
            if room >= REASON_MIN {
                let reason = format!("{DOT}{}", truncate(reason, room));
                spans.push(Span::styled(reason, theme::DIM));
            }
            spans
        }
    }
}

/// When the next attempt to connect starts, in whole seconds rounded up.
fn retrying(retry_in: Duration) -> String {
    match retry_in.as_millis().div_ceil(1_000) {
        0 => "retrying now".to_owned(),
        seconds => format!("retrying in {seconds} s"),
    }
}

/// The keys that work where the keys go now.
fn help(app: &App) -> &'static str {
    match &app.overlay {
        Some(Overlay::Safety { .. }) => "Esc close",
        Some(Overlay::Requests(view)) if view.adding => "Enter ask · Tab requests · Esc close",
        Some(Overlay::Requests(_)) => {
            "↑↓ move · a accept · r reject · Tab add a friend · Esc close"
        }
        None => match app.focus {
            Focus::List if app.open.is_some() => {
                "↑↓ move · Enter open · type to write · Ctrl-R requests · Ctrl-Q quit"
            }
            Focus::List => "↑↓ move · Enter open · Ctrl-R requests · Ctrl-Q quit",
            Focus::Input => {
                "Enter send · Esc back · PgUp older · Ctrl-S safety number · Ctrl-Q quit"
            }
        },
    }
}
