//! Log lines as they are written out, by the panel's export and by `stackdeck logs`: plain text
//! (`TIME SERVICE | TEXT`) or JSON lines. The line's text is already inert and masked; the
//! names beside it come from outside too and are cleaned here, so every field written is.

use super::{LogLine, Masker, clean};

/// Lines to write out (by `crate::export`, off the UI loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// What the lines are, first in the file's name: `logs`.
    pub kind: &'static str,
    pub service: String,
    pub container: String,
    pub lines: Vec<LogLine>,
    pub json: bool,
    /// Merged logs: each line's first word is its service (written as the line's service).
    pub merged: bool,
}

impl Export {
    /// Each line with where it comes from: the export's service, or a merged line's own tag.
    pub fn sourced(&self) -> impl Iterator<Item = (Origin<'_>, std::borrow::Cow<'_, LogLine>)> {
        self.lines.iter().map(move |l| match l.text.split_once(' ') {
            Some((tag, rest)) if self.merged && l.level != super::Level::Marker => {
                let line = LogLine { text: rest.to_owned(), ..l.clone() };
                (Origin { service: tag, container: "" }, std::borrow::Cow::Owned(line))
            }
            _ => (Origin { service: &self.service, container: &self.container }, std::borrow::Cow::Borrowed(l)),
        })
    }
}

/// Where a line comes from, as written beside it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub service: &'a str,
    pub container: &'a str,
}

fn level(l: &LogLine) -> &'static str {
    use super::Level::*;
    match l.level {
        Trace => "trace",
        Debug => "debug",
        Info => "info",
        Warn => "warn",
        Error => "error",
        Unknown => "",
        Marker => "stackdeck",
    }
}

/// `2026-11-30T03:12:00.123456789Z api-server | text` (a line without a timestamp: `-`).
pub fn text(o: Origin<'_>, l: &LogLine, m: &Masker) -> String {
    let cut = if l.cut_bytes > 0 { format!(" … ({} bytes cut)", l.cut_bytes) } else { String::new() };
    format!("{} {} | {}{cut}", l.stamp().unwrap_or("-"), clean(o.service, m), l.text)
}

/// One JSON object: time, service, container, stream, level, text (and bytes cut, if any).
pub fn json(o: Origin<'_>, l: &LogLine, m: &Masker) -> String {
    let mut v = serde_json::json!({
        "time": l.stamp(),
        "service": clean(o.service, m),
        "container": clean(o.container, m),
        "stream": if l.stderr { "stderr" } else { "stdout" },
        "level": level(l),
        "text": l.text,
    });
    if l.cut_bytes > 0 {
        v["cut_bytes"] = l.cut_bytes.into();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_written_is_inert_and_masked() {
        let m = Masker::default();
        let line =
            LogLine::from_raw(b"2026-11-30T03:12:00.5Z \x1b[31mERROR\x1b[0m key=sk_live_abcdefghijklmnop", true, &m);
        let o = Origin { service: "bot\x1b]0;owned\x07", container: "c-password=hunter2hunter2" };
        let t = text(o, &line, &m);
        assert!(t.starts_with("2026-11-30T03:12:00.5Z bot"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&json(o, &line, &m)).unwrap();
        for s in [t.clone(), j.to_string()] {
            assert!(!s.contains('\x1b') && !s.contains('\x07'), "{s:?}");
            assert!(!s.contains("sk_live_abcdefghijklmnop") && !s.contains("hunter2hunter2"), "{s}");
        }
        assert_eq!(j["stream"], "stderr");
        assert_eq!(j["time"], "2026-11-30T03:12:00.5Z");
    }
}
