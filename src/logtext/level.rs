//! Log level detection for JSON and plain-text lines (cheap: looks at a prefix only).

/// Severity of a log line, as far as it can be told from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    Trace,
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    /// No level found in the text.
    Unknown,
    /// A line inserted by stackdeck (skipped-lines notice, stream restarts).
    Marker,
}

const SCAN: usize = 160;

/// Detect the level of a (sanitized) line.
pub fn detect(text: &str) -> Level {
    let stripped;
    let mut head = prefix(text, SCAN);
    // Coloured logs: the (now inert) SGR sequences "␛[31m" must not glue to the level word.
    // (Only a line with a multi-byte character can hold one: most lines skip the search.)
    if !head.is_ascii() && head.contains("␛[") {
        stripped = strip_sgr(head);
        head = &stripped;
    }
    if head.trim_start().starts_with('{')
        && let Some(l) = json_level(head)
    {
        return l;
    }
    // logfmt: level=warn / lvl=error (found from each `=`: a byte search, no substring set-up)
    for (i, _) in head.match_indices('=') {
        let key = &head[..i];
        if (key.ends_with("level") || key.ends_with("lvl"))
            && let Some(l) = word_level(&head[i + 1..])
        {
            return l;
        }
    }
    // bracketed or bare words: [warn], WARN, ERROR:, E1122 (glog) is not attempted.
    // Word starts: an ASCII letter after anything but a letter, digit or `_` (a byte of a
    // multi-byte character counts as "anything"; an ASCII byte is always a char boundary).
    let b = head.as_bytes();
    for i in 0..b.len() {
        if b[i].is_ascii_alphabetic()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
            && let Some(l) = word_level(&head[i..])
        {
            return l;
        }
    }
    Level::Unknown
}

fn strip_sgr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("␛[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "␛[".len()..];
        let end = after.find(|c: char| !(c.is_ascii_digit() || c == ';')).unwrap_or(after.len());
        // Skip the parameters and the final letter.
        let skip = end + after[end..].chars().next().map_or(0, char::len_utf8);
        out.push(' ');
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

fn prefix(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn json_level(head: &str) -> Option<Level> {
    for key in ["\"level\"", "\"severity\"", "\"lvl\""] {
        if let Some(i) = head.find(key) {
            let rest = head[i + key.len()..].trim_start().strip_prefix(':')?;
            let rest = rest.trim_start().strip_prefix('"')?;
            return word_level(rest);
        }
    }
    None
}

/// The level named by the word at the start of `s`, if the word is exactly a level name: also
/// what a structured line's level field names (`INFO`, `warning`, `[error]`), if anything.
/// On bytes: this runs for every word start of every line, and the `char` searches it used
/// were a tenth of a plain line's time with [`detect`] (`perf`, issue 15).
pub(crate) fn word_level(s: &str) -> Option<Level> {
    let b = s.as_bytes();
    let from = b.iter().position(|c| !matches!(c, b'"' | b'[' | b'<')).unwrap_or(b.len());
    let word = &b[from..];
    // The longest level name has 11 letters: a 12th means it is none of them.
    let len = word.iter().take(12).position(|c| !c.is_ascii_alphabetic()).unwrap_or(word.len().min(12));
    if len > 11 {
        return None;
    }
    // Lower-cased into a stack buffer.
    let mut buf = [0u8; 11];
    for (d, c) in buf.iter_mut().zip(&word[..len]) {
        *d = c.to_ascii_lowercase();
    }
    let lvl = match &buf[..len] {
        b"trace" => Level::Trace,
        b"debug" | b"dbug" => Level::Debug,
        b"info" | b"information" | b"notice" => Level::Info,
        b"warn" | b"warning" => Level::Warn,
        b"error" | b"err" | b"fatal" | b"crit" | b"critical" | b"panic" | b"emerg" | b"alert" => Level::Error,
        _ => return None,
    };
    Some(lvl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        assert_eq!(detect(r#"{"timestamp":"x","level":"WARN","message":"m"}"#), Level::Warn);
        assert_eq!(detect(r#"{"severity": "error"}"#), Level::Error);
    }

    #[test]
    fn text_lines() {
        assert_eq!(detect("2026-11-22T10:00:00.000Z  INFO api_server::http: GET /"), Level::Info);
        assert_eq!(detect("2026-11-22T10:00:00.000Z ERROR db: timeout"), Level::Error);
        assert_eq!(detect("2026/11/22 10:00:00 [warn] 7#7: upstream buffered"), Level::Warn);
        assert_eq!(detect("logger=x t=y level=error msg=\"Failed\""), Level::Error);
        assert_eq!(detect("thread 'main' panicked at src/main.rs"), Level::Unknown);
    }

    #[test]
    fn coloured_level_words() {
        assert_eq!(detect("␛[31mERROR␛[0m something"), Level::Error);
        assert_eq!(detect("2026 ␛[1;33mWARN␛[0m x"), Level::Warn);
    }

    #[test]
    fn level_words_in_any_case_and_their_near_misses() {
        for (word, level) in [
            ("TRACE", Level::Trace),
            ("dbug", Level::Debug),
            ("Information", Level::Info),
            ("[warning]", Level::Warn),
            ("<crit>", Level::Error),
            ("\"Emerg\"", Level::Error),
        ] {
            assert_eq!(word_level(word), Some(level), "{word}");
        }
        // Longer words, shorter ones, and a word of 12 letters that starts with a level's 11.
        for word in ["warnings", "inf", "informations", "errorx", "", "[", "é"] {
            assert_eq!(word_level(word), None, "{word}");
        }
        assert_eq!(word_level("trace_id"), Some(Level::Trace), "a word ends at the first non-letter");
    }

    #[test]
    fn words_inside_other_words_do_not_count() {
        assert_eq!(detect("terror strikes"), Level::Unknown);
        assert_eq!(detect("no level here"), Level::Unknown);
    }
}
