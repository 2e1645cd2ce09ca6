//! How output looks: colour on or off, the width, and the text helpers every view shares
//! (durations, timestamps, journal text made safe for a terminal).
//!
//! Colours are plain ANSI escape sequences (SGR), written only when colour is on; every view
//! pads its columns before painting them, so that escape sequences never count toward a width.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use orch::Timestamp;

/// What the environment says about output, before the command line overrides it (`--color`,
/// `--width`). Tests build it by hand ([`Style::plain`]) to get the same output everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Whether `--color auto` colours: stdout is a terminal and `NO_COLOR` is unset or empty.
    pub color: bool,
    /// The width when `show` is given no `--width`: `COLUMNS`, else the terminal's, else
    /// [`Style::DEFAULT_WIDTH`].
    pub width: usize,
}

impl Style {
    /// The width when neither `--width`, `COLUMNS` nor the terminal says.
    pub const DEFAULT_WIDTH: usize = 100;

    /// No colour, and this width: what tests use.
    pub fn plain(width: usize) -> Self {
        Style {
            color: false,
            width,
        }
    }

    /// What this process's environment says: whether stdout is a terminal, `NO_COLOR`,
    /// `COLUMNS` and the terminal's width.
    pub fn from_env() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let columns = std::env::var("COLUMNS").ok().as_deref().and_then(columns);
        let width = columns
            .or_else(|| terminal.then(terminal_width).flatten())
            .unwrap_or(Self::DEFAULT_WIDTH);
        Style {
            color: terminal && !no_color,
            width,
        }
    }
}

/// The width `COLUMNS` gives, if it is one: a positive number in `--width`'s range (`u16`). A
/// larger one is ignored: the timeline allocates a cell per column.
fn columns(value: &str) -> Option<usize> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|&columns| columns > 0)
        .map(usize::from)
}

/// What a piece of text means, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Succeeded: green.
    Succeeded,
    /// Failed: red.
    Failed,
    /// Cancelled, unfinished, warnings: yellow.
    Attention,
    /// Read back from an earlier execution: cyan.
    Replayed,
    /// Skipped, waiting, axes and legends: dim.
    Muted,
    /// Headings: bold.
    Strong,
}

impl Tone {
    fn sgr(self) -> &'static str {
        match self {
            Tone::Succeeded => "32",
            Tone::Failed => "31",
            Tone::Attention => "33",
            Tone::Replayed => "36",
            Tone::Muted => "2",
            Tone::Strong => "1",
        }
    }
}

/// Paints text in a [`Tone`] when colour is on, and leaves it as it is when it is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Colour on or off.
    pub fn new(on: bool) -> Self {
        Paint { on }
    }

    /// `text` in `tone`: wrapped in an SGR sequence and a reset when colour is on.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", tone.sgr())
        } else {
            text.to_owned()
        }
    }
}

/// Journal text (ids, errors, warnings) as it is safe to print: control characters, which could
/// move the cursor or recolour the terminal, and the invisible characters that reorder or hide
/// the text around them (bidirectional overrides, zero-width characters) are written escaped
/// (`\n`, `\u{1b}`, `\u{202e}`).
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(unsafe_to_print) {
        Cow::Owned(
            text.chars()
                .map(|c| {
                    if unsafe_to_print(c) {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Control characters, and the format characters that change how the text around them shows:
/// the bidirectional marks, embeddings, overrides and isolates, the zero-width characters, the
/// line and paragraph separators, and the byte order mark.
fn unsafe_to_print(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// How many columns `text` takes (one per character: journal text is mostly ASCII).
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` padded with spaces to `columns` on the right.
pub fn pad(text: &str, columns: usize) -> String {
    let mut padded = text.to_owned();
    padded.extend(std::iter::repeat_n(
        ' ',
        columns.saturating_sub(width(text)),
    ));
    padded
}

/// `text` padded with spaces to `columns` on the left.
pub fn pad_left(text: &str, columns: usize) -> String {
    let mut padded: String =
        std::iter::repeat_n(' ', columns.saturating_sub(width(text))).collect();
    padded.push_str(text);
    padded
}

/// A duration for people: `0 ms`, `0.13 ms`, `21.2 ms`, `450 ms`, `1.25 s`, `12.3 s`,
/// `2 min 5 s`, `1 h 12 min`.
pub fn duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0 ms".to_owned();
    }
    if nanos < 10_000 {
        return "<0.01 ms".to_owned();
    }
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 999.5 {
        return format!("{} ms", decimals(ms));
    }
    let secs = duration.as_secs_f64();
    if secs < 59.95 {
        return format!("{} s", decimals(secs));
    }
    let secs = duration.as_secs() + u64::from(duration.subsec_millis() >= 500);
    if secs < 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{} h {} min", secs / 3600, secs % 3600 / 60)
    }
}

/// Three significant digits at most, without trailing zeros: 0.13, 5, 21.2, 450.
fn decimals(value: f64) -> String {
    let places = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    let text = format!("{value:.places$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// `2026-11-29T10:00:00Z`: RFC 3339 in UTC, to the second.
pub fn to_second(at: Timestamp) -> String {
    let text = at.to_string();
    // `Timestamp` always writes `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    format!("{}Z", text.get(..19).unwrap_or(&text))
}

/// `2026-11-29T10:00:00.064Z`: RFC 3339 in UTC, to the millisecond.
pub fn to_millisecond(at: Timestamp) -> String {
    let text = at.to_string();
    format!("{}Z", text.get(..23).unwrap_or(&text))
}

/// The width of the terminal stdout is, if it is one and says.
fn terminal_width() -> Option<usize> {
    let (terminal_size::Width(columns), _) = terminal_size::terminal_size_of(std::io::stdout())?;
    (columns > 0).then_some(usize::from(columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::ZERO, "0 ms"),
            (Duration::from_nanos(9_999), "<0.01 ms"),
            (Duration::from_micros(132), "0.13 ms"),
            (Duration::from_millis(5), "5 ms"),
            (Duration::from_micros(21_232), "21.2 ms"),
            (Duration::from_micros(62_049), "62 ms"),
            (Duration::from_millis(450), "450 ms"),
            (Duration::from_micros(999_400), "999 ms"),
            (Duration::from_micros(999_600), "1 s"),
            (Duration::from_millis(1_250), "1.25 s"),
            (Duration::from_millis(12_340), "12.3 s"),
            (Duration::from_millis(59_960), "1 min 0 s"),
            (Duration::from_secs(125), "2 min 5 s"),
            (Duration::from_secs(4_320), "1 h 12 min"),
        ];
        for (value, text) in cases {
            assert_eq!(duration(value), text, "{value:?}");
        }
    }

    #[test]
    fn columns_is_a_width_only_in_the_range_of_the_flag() {
        assert_eq!(columns("120"), Some(120));
        assert_eq!(columns(" 80\n"), Some(80));
        assert_eq!(columns("65535"), Some(65_535));
        for ignored in ["", "0", "-1", "wide", "65536", "100000000000"] {
            assert_eq!(columns(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn timestamps_are_cut_to_the_second_or_millisecond() {
        let at = Timestamp::from_unix(Duration::new(1_795_946_400, 64_500_000));
        assert_eq!(to_second(at), "2026-11-29T10:00:00Z");
        assert_eq!(to_millisecond(at), "2026-11-29T10:00:00.064Z");
    }

    #[test]
    fn control_characters_are_escaped_and_colour_only_when_on() {
        assert_eq!(clean("plain"), Cow::Borrowed("plain"));
        assert_eq!(clean("a\nb\x1b[31mc"), "a\\nb\\u{1b}[31mc");
        // Text that would show reversed, or hide between zero-width characters.
        assert_eq!(
            clean("pay\u{202e}gnp.exe\u{200b}x\u{2066}"),
            "pay\\u{202e}gnp.exe\\u{200b}x\\u{2066}"
        );
        assert_eq!(clean("évt-1 支払い"), Cow::Borrowed("évt-1 支払い"));
        assert_eq!(Paint::new(false).paint(Tone::Failed, "x"), "x");
        assert_eq!(
            Paint::new(true).paint(Tone::Failed, "x"),
            "\x1b[31mx\x1b[0m"
        );
        assert_eq!(Paint::new(true).paint(Tone::Failed, ""), "");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad_left("ab", 4), "  ab");
        assert_eq!(pad("abcdef", 4), "abcdef");
    }
}
