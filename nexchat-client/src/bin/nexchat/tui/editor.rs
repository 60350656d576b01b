//! A one-line text field: what is written and where the cursor is.

use ratatui::style::Style;
use ratatui::text::Span;

/// Text being written, with a cursor that moves by whole graphemes, so that an emoji or a
/// letter with its accents is stepped over and deleted as one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Editor {
    text: String,
    /// A byte offset into `text`, always on a grapheme boundary.
    cursor: usize,
}

/// The byte lengths of the graphemes of `text`, in order; the editor holds no control
/// characters, so they cover all of it.
fn graphemes(text: &str) -> Vec<usize> {
    let span = Span::raw(text);
    span.styled_graphemes(Style::default())
        .map(|g| g.symbol.len())
        .collect()
}

impl Editor {
    /// What is written.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// What is written before the cursor.
    pub(super) fn before_cursor(&self) -> &str {
        &self.text[..self.cursor]
    }

    /// Nothing written.
    pub(super) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Writes `c` at the cursor. Control characters are left out: a line has no use for
    /// them, and a terminal would obey them.
    pub(super) fn insert(&mut self, c: char) {
        if !c.is_control() {
            self.text.insert(self.cursor, c);
            self.cursor += c.len_utf8();
        }
    }

    /// Deletes the grapheme before the cursor; whether there was one.
    pub(super) fn backspace(&mut self) -> bool {
        let Some(last) = graphemes(self.before_cursor()).last().copied() else {
            return false;
        };
        self.cursor -= last;
        self.text.drain(self.cursor..self.cursor + last);
        true
    }

    /// Deletes the grapheme under the cursor; whether there was one.
    pub(super) fn delete(&mut self) -> bool {
        let Some(next) = graphemes(&self.text[self.cursor..]).first().copied() else {
            return false;
        };
        self.text.drain(self.cursor..self.cursor + next);
        true
    }

    /// Moves the cursor one grapheme left.
    pub(super) fn left(&mut self) {
        if let Some(last) = graphemes(self.before_cursor()).last() {
            self.cursor -= last;
        }
    }

    /// Moves the cursor one grapheme right.
    pub(super) fn right(&mut self) {
        if let Some(next) = graphemes(&self.text[self.cursor..]).first() {
            self.cursor += next;
        }
    }

    /// Moves the cursor to the start.
    pub(super) fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub(super) fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Empties the field and returns what it held.
    pub(super) fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Editor {
        let mut editor = Editor::default();
        text.chars().for_each(|c| editor.insert(c));
        editor
    }

    #[test]
    fn the_cursor_steps_over_whole_graphemes() {
        // A family emoji is one grapheme of several code points joined by U+200D.
        let mut editor = typed("a👩\u{200d}👧b");
        editor.left();
        editor.left();
        assert_eq!(editor.before_cursor(), "a");
        editor.right();
        assert_eq!(editor.before_cursor(), "a👩\u{200d}👧");
        assert!(editor.backspace());
        assert_eq!(editor.text(), "ab");
        editor.home();
        assert!(editor.delete());
        assert_eq!(editor.text(), "b");
        assert!(!editor.backspace());
        editor.end();
        assert!(!editor.delete());
        editor.insert('é');
        assert_eq!(editor.before_cursor(), "bé");
    }

    #[test]
    fn control_characters_are_not_written() {
        let mut editor = typed("a\u{1b}[2Jb\n");
        assert_eq!(editor.text(), "a[2Jb");
        assert_eq!(editor.take(), "a[2Jb");
        assert!(editor.is_empty());
        assert_eq!(editor.before_cursor(), "");
    }
}
