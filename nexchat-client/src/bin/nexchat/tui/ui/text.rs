//! Measuring, cutting and wrapping text in terminal cells, and telling times.
//!
//! Widths are ratatui's (a CJK character or an emoji takes two cells), measured grapheme by
//! grapheme over the graphemes the screen draws. Everything drawn from a peer, a server or
//! an error goes through here first, so that no character reaches the terminal that it would
//! obey rather than draw: a tab becomes spaces, line breaks break lines ([`wrap`]), other
//! control characters become visible marks, and bidi overrides are left out.

use ratatui::buffer::CellWidth;
use ratatui::style::Style;
use ratatui::text::Span;

/// Tab stops are this many cells apart.
const TAB_STOP: usize = 4;

/// `text` without a character that a terminal obeys rather than draws, but the tab, which
/// [`graphemes`] spaces out. A C0 control character (line breaks included: on a single line
/// they are marks too) or DEL becomes its Unicode control picture, `␛` for ESC, so that what
/// was sent can be seen; a C1 one, which has no picture, becomes `�`. The bidi embeddings,
/// overrides and isolates are left out: a terminal that orders text both ways would reorder
/// what follows one, up to the end of the line, so that a peer's words (or the time and
/// ticks beside them) could read as something else.
fn printable(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(c),
            '\0'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)),
            '\u{7f}' => Some('\u{2421}'),
            '\u{80}'..='\u{9f}' => Some(char::REPLACEMENT_CHARACTER),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => None,
            c => Some(c),
        })
        .collect()
}

/// The graphemes the screen draws of `text`, on one line: [`printable`], with each tab spaced
/// out to the next tab stop.
fn graphemes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut column = 0;
    for (index, run) in printable(text).split('\t').enumerate() {
        if index > 0 {
            let spaces = TAB_STOP - column % TAB_STOP;
            out.extend(std::iter::repeat_n(" ".to_owned(), spaces));
            column += spaces;
        }
        for g in Span::raw(run).styled_graphemes(Style::default()) {
            column += usize::from(g.symbol.cell_width());
            out.push(g.symbol.to_owned());
        }
    }
    out
}

/// `text` as the screen draws it on one line (see [`graphemes`]).
pub(super) fn clean(text: &str) -> String {
    graphemes(text).concat()
}

/// How many cells `text` takes.
pub(super) fn width(text: &str) -> usize {
    graphemes(text)
        .into_iter()
        .map(|g| usize::from(g.cell_width()))
        .sum()
}

/// `text` cut to at most `max` cells, ending in `…` when something was cut.
pub(super) fn truncate(text: &str, max: usize) -> String {
    let graphemes = graphemes(text);
    let cells: usize = graphemes.iter().map(|g| usize::from(g.cell_width())).sum();
    if cells <= max {
        return graphemes.concat();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in graphemes {
        let w = usize::from(g.cell_width());
        // One cell stays for the ellipsis.
        if used + w + 1 > max {
            break;
        }
        out.push_str(&g);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// The longest end of `text` that fits in `max` cells.
pub(super) fn tail(text: &str, max: usize) -> String {
    let mut kept = Vec::new();
    let mut used = 0;
    for g in graphemes(text).into_iter().rev() {
        used += usize::from(g.cell_width());
        if used > max {
            break;
        }
        kept.push(g);
    }
    kept.into_iter().rev().collect()
}

/// The lines of `text`, split at each line break: `\n`, `\r\n` or a lone `\r`, as the
/// systems a message may come from write them.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

/// `text` in lines of at most `max` cells: broken at spaces where it can be, inside a word
/// where the word is longer than a line, and at every line break of its own. A tab reaches
/// the next tab stop of its line as the text wrote it, before wrapping.
pub(super) fn wrap(text: &str, max: usize) -> Vec<String> {
    wrap_with_offsets(text, max)
        .into_iter()
        .map(|(_, line)| line)
        .collect()
}

/// As [`wrap`], each line with its offset in `text`: how many of the graphemes drawn of
/// `text` come before it, each line break counting as one. Unlike a line's number, it does
/// not change with `max`, so it can say which line to show again at another width.
pub(super) fn wrap_with_offsets(text: &str, max: usize) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    // The offset of the paragraph's first grapheme.
    let mut base = 0;
    for paragraph in split_lines(text) {
        let graphemes = graphemes(paragraph);
        let mut line = String::new();
        let mut start = base;
        let mut used = 0;
        // Where the line can be broken: the byte after its last space, and its offset.
        let mut after_space = None;
        for (offset, g) in (base..).zip(&graphemes) {
            let w = usize::from(g.cell_width());
            if used + w > max && !line.is_empty() {
                if g == " " {
                    lines.push((start, line.trim_end().to_owned()));
                    line.clear();
                    used = 0;
                    after_space = None;
                    start = offset + 1;
                    continue;
                }
                match after_space {
                    Some((at, rest_start)) => {
                        let rest = line.split_off(at);
                        lines.push((start, line.trim_end().to_owned()));
                        used = width(&rest);
                        line = rest;
                        start = rest_start;
                    }
                    None => {
                        lines.push((start, std::mem::take(&mut line)));
                        used = 0;
                        start = offset;
                    }
                }
                after_space = None;
            }
            line.push_str(g);
            used += w;
            if g == " " {
                after_space = Some((line.len(), offset + 1));
            }
        }
        lines.push((start, line));
        base += graphemes.len() + 1;
    }
    lines
}

/// Milliseconds since the Unix epoch as whole days and the minute of that day, in UTC.
fn day_and_minute(ms: i64) -> (i64, i64) {
    let minutes = ms.div_euclid(60_000);
    (minutes.div_euclid(1_440), minutes.rem_euclid(1_440))
}

/// The time of day of `ms`, `HH:MM`, in UTC: the same on every machine and in every test.
pub(super) fn clock(ms: i64) -> String {
    let (_, minute) = day_and_minute(ms);
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The day of `ms` since the Unix epoch (UTC), to tell when a day changes.
pub(super) fn day_number(ms: i64) -> i64 {
    day_and_minute(ms).0
}

/// The date of `ms` in UTC, as `Mon 30 Nov 2026`.
pub(super) fn date(ms: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = day_number(ms);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[usize::try_from((days + 3).rem_euclid(7)).expect("0..7")];
    let (year, month, day) = civil(days);
    let month = MONTHS[usize::try_from(month - 1).expect("months are 1..=12")];
    format!("{weekday} {day} {month} {year}")
}

/// The Gregorian year, month (1–12) and day (1–31) of a day number since 1970-01-01: Howard
/// Hinnant's `civil_from_days`, counted in 400-year eras that start on 1 March.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_cells_and_are_never_cut_in_half() {
        assert_eq!(width("日本語"), 6);
        assert_eq!(width("a👍b"), 4);
        assert_eq!(truncate("日本語のなまえ", 6), "日本…");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdefg", 6), "abcde…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(tail("ab日本", 5), "b日本");
        assert_eq!(tail("ab日本", 3), "本");
    }

    #[test]
    fn wrapping_breaks_at_spaces_then_inside_long_words() {
        assert_eq!(wrap("the quick brown fox", 10), ["the quick", "brown fox"]);
        assert_eq!(wrap("abcdefghij klm", 4), ["abcd", "efgh", "ij", "klm"]);
        assert_eq!(wrap("你好世界", 5), ["你好", "世界"]);
        assert_eq!(wrap("one\n\ntwo", 10), ["one", "", "two"]);
        assert_eq!(wrap("", 10), [""]);
    }

    #[test]
    fn a_wrapped_line_starts_at_the_same_offset_whatever_the_width() {
        let text = "the quick brown fox\n\njumps";
        let offsets = |max| -> Vec<usize> {
            wrap_with_offsets(text, max)
                .into_iter()
                .map(|(offset, _)| offset)
                .collect()
        };
        // "the quick" "brown fox" "" "jumps": the spaces broken at are not drawn, but count.
        assert_eq!(offsets(10), [0, 10, 20, 21]);
        assert_eq!(offsets(5), [0, 4, 10, 16, 20, 21]);
        assert_eq!(offsets(40), [0, 20, 21]);
        assert_eq!(
            wrap_with_offsets("abcdefghij klm", 4),
            [
                (0, "abcd".to_owned()),
                (4, "efgh".to_owned()),
                (8, "ij".to_owned()),
                (11, "klm".to_owned()),
            ]
        );
        // A tab is spaced out before wrapping, the same at every width.
        assert_eq!(wrap_with_offsets("a\tb c", 5)[1], (6, "c".to_owned()));
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(wrap("a\u{1b}[31mb\u{7}", 20), ["a␛[31mb␇"]);
        assert_eq!(wrap("csi\u{9b}1m del\u{7f}", 20), ["csi�1m del␡"]);
        assert_eq!(width("\u{1b}"), 1);
        // A line break is a mark where the text stays on one line.
        assert_eq!(truncate("two\nlines", 20), "two␊lines");
        assert_eq!(clean("\u{0}\u{9f}"), "␀�");
    }

    #[test]
    fn bidi_overrides_and_isolates_are_left_out() {
        let overrides = "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}";
        assert_eq!(clean(&format!("a{overrides}b")), "ab");
        assert_eq!(truncate("\u{202e}evil", 10), "evil");
        assert_eq!(wrap("x\u{2067}y", 10), ["xy"]);
    }

    #[test]
    fn tabs_reach_the_next_tab_stop() {
        assert_eq!(clean("tab\there"), "tab here");
        assert_eq!(clean("\tx\ty"), "    x   y");
        assert_eq!(clean("日本\tx"), "日本    x");
        assert_eq!(wrap("a\tb", 20), ["a   b"]);
        assert_eq!(width("a\t"), 4);
    }

    #[test]
    fn every_line_break_breaks_the_line() {
        assert_eq!(
            wrap("one\r\ntwo\rthree\nfour", 20),
            ["one", "two", "three", "four"]
        );
        assert_eq!(wrap("a\r\rb\r\n", 20), ["a", "", "b", ""]);
    }

    #[test]
    fn times_and_dates_are_in_utc() {
        // 2026-11-30 18:42:10 UTC.
        let ms = 1_796_064_130_000;
        assert_eq!(clock(ms), "18:42");
        assert_eq!(date(ms), "Mon 30 Nov 2026");
        assert_eq!(date(0), "Thu 1 Jan 1970");
        assert_eq!(date(951_782_400_000), "Tue 29 Feb 2000");
        assert_eq!(clock(-60_000), "23:59");
        assert_eq!(day_number(ms) - day_number(ms - 19 * 3_600_000), 1);
    }
}
