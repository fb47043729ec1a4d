//! Turning raw container log bytes into text that is safe to put on an operator's terminal.
//!
//! Everything here is pure and runs on the log-follow task, never on the UI loop:
//! bytes -> [`sanitize`] (inert, visible control bytes) -> [`mask`] (secrets) -> [`level`].
//! Nothing in this module may write to a terminal or allocate without bound.

pub mod export;
pub mod gate;
pub mod json;
pub mod level;
pub mod mask;
mod patterns;
pub mod sanitize;
pub mod stamp;

pub use level::Level;
pub use mask::Masker;
use sanitize::printable_ascii;
pub use sanitize::{MAX_LINE_BYTES, sanitize};
pub use stamp::Stamp;

/// The one rule for every text that comes from outside stackdeck (names, labels, image
/// references, engine errors, command and health output, alert texts): made inert as log lines
/// are, before it is printed, stored, sent or drawn. Borrowed when there is nothing to change.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LINE_BYTES && !text.chars().any(sanitize::needs_replacing) {
        std::borrow::Cow::Borrowed(text)
    } else {
        let c = sanitize(text.as_bytes());
        let mut t = c.text;
        if c.cut_bytes > 0 {
            t.push_str(&format!(" … ({} bytes cut)", c.cut_bytes));
        }
        std::borrow::Cow::Owned(t)
    }
}

/// [`clean`] with the built-in patterns, for texts read where the config's masker is not at hand
/// (compose labels, alert texts).
pub fn clean_builtin(text: &str) -> String {
    clean(text, &Masker::default())
}

/// [`inert`], then masked: for what stackdeck stores, prints or sends about an operation.
pub fn clean(text: &str, masker: &Masker) -> String {
    masker.mask(&inert(text)).into_owned()
}

/// One log line, ready for display: sanitized, masked, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// RFC 3339 timestamp from the engine (`timestamps=true`), if it sent one.
    pub timestamp: Option<Stamp>,
    pub stderr: bool,
    pub level: Level,
    /// Inert, masked text. Never contains control characters.
    pub text: String,
    /// Bytes of the original line that were cut off (lines longer than [`MAX_LINE_BYTES`]).
    pub cut_bytes: usize,
}

impl LogLine {
    /// Build a display line from one raw line (without its trailing newline).
    pub fn from_raw(raw: &[u8], stderr: bool, masker: &Masker) -> Self {
        let (timestamp, body) = split_timestamp(raw);
        // A printable ASCII line of display length is inert as it stands: read in place.
        let plain = body.len() <= MAX_LINE_BYTES && printable_ascii(body);
        let (clean, cut_bytes) = if plain {
            (std::borrow::Cow::Borrowed(std::str::from_utf8(body).expect("printable ASCII is UTF-8")), 0)
        } else {
            let c = sanitize(body);
            (std::borrow::Cow::Owned(c.text), c.cut_bytes)
        };
        // JSON lines are shown as "LEVEL target: message key=value": the message is what an
        // operator needs to see first at 80 columns. Decoded strings are sanitized again
        // (a JSON "\u001b" decodes to a real ESC) unless what came out is printable ASCII.
        // A JSON line's level field, when it names a level, is its level.
        let (shown, named) = match json::compact_with_level(&clean) {
            Some((c, named)) if c.len() <= MAX_LINE_BYTES && printable_ascii(c.as_bytes()) => {
                (std::borrow::Cow::Owned(c), named)
            }
            Some((c, named)) => (std::borrow::Cow::Owned(sanitize(c.as_bytes()).text), named),
            None => (clean, None),
        };
        // One copy of the line at most: the masked text, or else the shown one.
        let text = match masker.mask(&shown) {
            std::borrow::Cow::Borrowed(_) => shown.into_owned(),
            std::borrow::Cow::Owned(m) => m,
        };
        let level = named.unwrap_or_else(|| level::detect(&text));
        LogLine { timestamp, stderr, level, text, cut_bytes }
    }

    /// The engine's timestamp, as it sent it.
    pub fn stamp(&self) -> Option<&str> {
        self.timestamp.as_ref().map(Stamp::as_str)
    }

    /// A line stackdeck itself inserts into a log view (e.g. "N lines skipped").
    pub fn marker(text: impl Into<String>) -> Self {
        LogLine { timestamp: None, stderr: false, level: Level::Marker, text: text.into(), cut_bytes: 0 }
    }
}

/// The engine prefixes each line with `2026-11-22T13:55:41.123456789Z ` when asked for
/// timestamps. Split it off so the view can toggle it. A first word that is not made of a
/// timestamp's characters stays part of the line (and is sanitized with it).
fn split_timestamp(raw: &[u8]) -> (Option<Stamp>, &[u8]) {
    if raw.len() > 20
        && raw[4] == b'-'
        && raw[7] == b'-'
        && raw[10] == b'T'
        && let Some(sp) = memchr::memchr(b' ', &raw[..raw.len().min(stamp::MAX + 1)])
        && let ts = &raw[..sp]
        && (ts.ends_with(b"Z") || ts.contains(&b'+'))
        && let Some(stamp) = Stamp::from_bytes(ts)
    {
        return (Some(stamp), &raw[sp + 1..]);
    }
    (None, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_timestamp_is_split_off() {
        let m = Masker::default();
        let l = LogLine::from_raw(b"2026-11-22T13:55:41.123456789Z hello", false, &m);
        assert_eq!(l.stamp(), Some("2026-11-22T13:55:41.123456789Z"));
        assert_eq!(l.text, "hello");
    }

    #[test]
    fn a_first_word_with_other_characters_is_not_a_timestamp() {
        let m = Masker::default();
        let l = LogLine::from_raw(b"2026-11-22T\x1b[31m:55Z hello", false, &m);
        assert_eq!(l.timestamp, None);
        assert!(!l.text.contains('\x1b'), "{:?}", l.text);
        assert!(l.text.ends_with(":55Z hello"), "{:?}", l.text);
    }

    #[test]
    fn a_json_line_takes_its_level_from_its_level_field() {
        let m = Masker::default();
        // The field names the level, whatever the rest of the line holds.
        let l = LogLine::from_raw(br#"{"level":"info","msg":"retry","detail":"last level=error"}"#, false, &m);
        assert_eq!((l.level, l.text.as_str()), (Level::Info, r#"INFO  retry detail="last level=error""#));
        let l = LogLine::from_raw(br#"{"severity":"WARNING","message":"m"}"#, false, &m);
        assert_eq!(l.level, Level::Warn);
        // A field that names no level word (pino's numbers): the text is searched as before.
        let l = LogLine::from_raw(br#"{"level":30,"msg":"upstream error"}"#, false, &m);
        assert_eq!(l.level, Level::Error);
        // No level field: the same.
        let l = LogLine::from_raw(br#"{"msg":"[warn] disk"}"#, false, &m);
        assert_eq!(l.level, Level::Warn);
    }

    #[test]
    fn line_without_timestamp_is_kept_whole() {
        let m = Masker::default();
        let l = LogLine::from_raw(b"2026 was a year", false, &m);
        assert_eq!(l.timestamp, None);
        assert_eq!(l.text, "2026 was a year");
    }

    #[test]
    fn secrets_in_hostile_line_are_masked_after_sanitizing() {
        let m = Masker::default();
        let l = LogLine::from_raw(b"\x1b[31mERROR\x1b[0m token=abc123secret", true, &m);
        assert!(!l.text.contains('\x1b'));
        assert!(!l.text.contains("abc123secret"), "{}", l.text);
        assert_eq!(l.level, Level::Error);
    }
}
