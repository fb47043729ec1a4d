//! Configuration errors written for the person who has to fix the file.
//!
//! Every error names the file, the line and column, what is wrong and what to do about it.
//! They are produced before the terminal enters raw mode, and the process exits with code 2.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the user named it (or `<built-in keybindings.toml>` for embedded defaults).
    pub file: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
    /// What to change.
    pub fix: String,
}

impl ConfigError {
    pub fn at(
        file: &str,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: span.map(|s| line_col(text, s.start)),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A file that could not be read at all.
    pub fn unreadable(file: &str, err: &std::io::Error) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: None,
            message: format!("cannot read the file: {err}"),
            fix: "check the path and its permissions".into(),
        }
    }

    /// A TOML syntax or type error from the parser.
    pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_owned();
        let fix = if message.contains("unknown field") {
            "remove the field or correct its spelling (unknown fields are errors, not ignored)"
        } else if message.contains("missing field") {
            "add the missing field"
        } else if message.contains("invalid type") {
            "use a value of the type shown"
        } else if message.contains("unknown variant") {
            "use one of the values listed"
        } else {
            "fix the TOML syntax at this place"
        };
        ConfigError::at(file, text, err.span(), message, fix)
    }
}

/// 1-based (line, column) of a byte offset; the column counts characters.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message)?,
            None => write!(f, "{}: {}", self.file, self.message)?,
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 4));
    }

    #[test]
    fn display_names_file_line_and_fix() {
        let e = ConfigError::at("k.toml", "x\ny = 1", Some(2..3), "unknown action 'y'", "use one of: a, b");
        assert_eq!(e.to_string(), "k.toml:2:1: unknown action 'y'\n  fix: use one of: a, b");
    }
}
