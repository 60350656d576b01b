//! The status bar: the socket's state, then the latest notice or the keys that work here.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::text::clean;
use super::theme;
use crate::tui::app::{App, Connection, Focus, Overlay};

/// Draws the status bar into `area`.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let connection = match &app.connection {
        Connection::Connecting => Span::styled("◌ connecting…", theme::WARNING),
        Connection::Connected => Span::styled(format!("● {}", clean(&app.me)), theme::ONLINE),
        Connection::Disconnected { reason, retry_in } => Span::styled(
            format!("○ offline ({}): {}", clean(reason), retrying(*retry_in)),
            theme::ERROR,
        ),
    };
    let said = match &app.notice {
        // Notices name peers and repeat what the server said.
        Some(notice) => Span::styled(clean(notice), theme::WARNING),
        None => Span::styled(help(app), theme::DIM),
    };
    let line = Line::from(vec![connection, Span::styled(" │ ", theme::DIM), said]);
    frame.render_widget(Paragraph::new(line), area);
}

/// When the next attempt to connect starts, in whole seconds rounded up.
fn retrying(retry_in: Duration) -> String {
    match retry_in.as_millis().div_ceil(1_000) {
        0 => "reconnecting now".to_owned(),
        seconds => format!("reconnecting in {seconds} s"),
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
