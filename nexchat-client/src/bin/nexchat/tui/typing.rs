//! This user's typing reports, timed like the browser client's: `true` when typing starts in a
//! conversation and again every few seconds while it goes on (the server drops reports over
//! its rate, so a lost one is made good), `false` once the keys are idle, the text is sent or
//! emptied, or the user moves to another conversation.

use super::action::Action;

/// How long after the last keystroke typing counts as stopped (ms).
pub(super) const IDLE_MS: i64 = 2_500;
/// How often `true` is said again while typing goes on (ms).
const REFRESH_MS: i64 = 4_000;

/// The last typing report this user made.
#[derive(Debug, Default)]
pub(super) struct TypingReport {
    /// Who was told this user is typing; `None` when nobody is.
    to: Option<String>,
    /// When `true` was last said.
    said_at: i64,
    /// When the last keystroke changed the text.
    last_input: i64,
}

impl TypingReport {
    /// The text written to `to` changed at `now`; `has_text`: whether it holds any now.
    pub(super) fn input(&mut self, to: &str, has_text: bool, now: i64) -> Vec<Action> {
        if !has_text {
            return self.stop().into_iter().collect();
        }
        let mut actions = Vec::new();
        let same = self.is_to(to);
        if !same {
            actions.extend(self.stop());
        }
        if !same || now - self.said_at >= REFRESH_MS {
            self.to = Some(to.to_owned());
            self.said_at = now;
            actions.push(Action::Typing {
                to: to.to_owned(),
                typing: true,
            });
        }
        self.last_input = now;
        actions
    }

    /// Says typing stopped, if it was said to have started.
    pub(super) fn stop(&mut self) -> Option<Action> {
        self.to
            .take()
            .map(|to| Action::Typing { to, typing: false })
    }

    /// Stops the report once no key has changed the text for [`IDLE_MS`].
    pub(super) fn idle(&mut self, now: i64) -> Option<Action> {
        if now - self.last_input >= IDLE_MS {
            self.stop()
        } else {
            None
        }
    }

    /// Whether `name` was told this user is typing.
    pub(super) fn is_to(&self, name: &str) -> bool {
        self.to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case(name))
    }

    /// Drops the report without saying it stopped, because nobody could hear it: the socket
    /// closed (the server tells the friend itself) or the friend is gone. The next keystroke
    /// starts afresh.
    pub(super) fn forget(&mut self) {
        self.to = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testing::typing;

    #[test]
    fn typing_is_said_once_then_again_after_the_refresh_and_stops_when_idle() {
        let mut report = TypingReport::default();
        assert_eq!(report.input("bob", true, 1_000), [typing("bob", true)]);
        assert_eq!(report.input("bob", true, 2_000), []);
        assert_eq!(report.idle(4_000), None, "keys were pressed 2 s ago");
        assert_eq!(report.input("bob", true, 5_000), [typing("bob", true)]);
        assert_eq!(report.idle(5_000 + IDLE_MS), Some(typing("bob", false)));
        assert_eq!(report.idle(60_000), None, "stopped once");
    }

    #[test]
    fn moving_to_another_conversation_or_emptying_the_text_stops_it() {
        let mut report = TypingReport::default();
        report.input("bob", true, 0);
        assert_eq!(
            report.input("carol", true, 10),
            [typing("bob", false), typing("carol", true)]
        );
        assert_eq!(report.input("carol", false, 20), [typing("carol", false)]);
        report.input("bob", true, 30);
        report.forget();
        assert_eq!(report.stop(), None);
        assert_eq!(report.input("bob", true, 40), [typing("bob", true)]);
    }
}
