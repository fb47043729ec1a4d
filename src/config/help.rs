//! The help's content and layout, from the live keymap: groups of (keys, description), the
//! focused pane's group first, then what works everywhere, the other panes, and the prompts and
//! popups; each description word-wrapped beside its keys. The help view draws this layout and
//! `update` scrolls it (by entry, never past the last full screen), so both use the same one.

use super::{Keymap, Mode};
use crate::domain::Pane;

/// One line of the help before wrapping: a group's heading or one binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpEntry {
    Heading(String),
    Binding { keys: String, help: &'static str },
}

/// Every entry, in the order shown. Without mutating actions under `--read-only`.
pub fn entries(keymap: &Keymap, focus: Pane, read_only: bool) -> Vec<HelpEntry> {
    let mut order = vec![Mode::Pane(focus), Mode::Global];
    order.extend(Pane::ORDER.iter().filter(|p| **p != focus).map(|p| Mode::Pane(*p)));
    order.extend([Mode::Search, Mode::Confirm, Mode::Picker]);
    let mut out = Vec::new();
    for mode in order {
        let items: Vec<HelpEntry> = keymap
            .all()
            .filter(|(m, a, ks)| *m == mode && !ks.is_empty() && !(read_only && a.is_mutating()))
            .map(|(_, a, ks)| HelpEntry::Binding {
                keys: ks.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
                help: a.help(),
            })
            .collect();
        if items.is_empty() {
            continue;
        }
        out.push(HelpEntry::Heading(heading(mode, focus)));
        out.extend(items);
    }
    out
}

/// One screen row of the help: a heading, or keys (empty on a continuation row) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Heading(String),
    Binding { keys: String, text: String },
}

/// The key column's width; the description is wrapped beside it.
pub const KEYS: usize = 14;

/// The help's inner size (columns, rows) on a screen of this size.
pub fn geometry(screen: (u16, u16)) -> (usize, usize) {
    let w = screen.0.saturating_sub(2).min(100);
    (usize::from(w.saturating_sub(2)), usize::from(screen.1.saturating_sub(2)))
}

/// The rows of one entry at this inner width.
pub fn rows(e: &HelpEntry, width: usize) -> Vec<Row> {
    match e {
        HelpEntry::Heading(h) => vec![Row::Heading(format!("[{h}]"))],
        HelpEntry::Binding { keys, help } => {
            let mut out = Vec::new();
            // Keys wider than their column get a row of their own.
            let beside = keys.chars().count() < KEYS;
            if !beside {
                out.push(Row::Binding { keys: keys.clone(), text: String::new() });
            }
            for (i, text) in words(help, width.saturating_sub(KEYS + 2).max(10)).into_iter().enumerate() {
                let keys = if i == 0 && beside { keys.clone() } else { String::new() };
                out.push(Row::Binding { keys, text });
            }
            out
        }
    }
}

/// The last entry that can be first on screen: from it on, everything fits.
pub fn last_start(entries: &[HelpEntry], width: usize, height: usize) -> usize {
    let mut start = entries.len();
    let mut used = 0;
    while start > 0 {
        let n = rows(&entries[start - 1], width).len();
        if used + n > height {
            break;
        }
        used += n;
        start -= 1;
    }
    start.min(entries.len().saturating_sub(1))
}

/// Word-wrap `s` to `w` columns; a word longer than a row is split.
pub fn words(s: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let mut rows: Vec<String> = vec![String::new()];
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let row = rows.last_mut().expect("one row");
            let used = row.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= w {
                if gap == 1 {
                    row.push(' ');
                }
                row.extend(word.drain(..));
            } else if used == 0 {
                // Longer than a whole row: split it.
                row.extend(word.drain(..w));
                rows.push(String::new());
            } else {
                rows.push(String::new());
            }
        }
    }
    if rows.len() > 1 && rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

fn heading(mode: Mode, focus: Pane) -> String {
    match mode {
        Mode::Pane(p) if p == focus => format!("{} pane (focused)", p.title()),
        Mode::Pane(p) => format!("{} pane", p.title()),
        Mode::Global => "every pane".into(),
        Mode::Search => "the search prompt".into(),
        Mode::Confirm => "a confirmation".into(),
        Mode::Picker => "pickers and typed prompts".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Action;

    #[test]
    fn the_focused_pane_comes_first_and_read_only_hides_mutations() {
        let km = Keymap::defaults();
        let e = entries(&km, Pane::Logs, false);
        assert_eq!(e[0], HelpEntry::Heading("Logs pane (focused)".into()));
        let pos = |h: &str| e.iter().position(|x| *x == HelpEntry::Heading(h.into())).unwrap();
        assert!(pos("every pane") < pos("Services pane"));
        assert!(pos("Services pane") < pos("a confirmation"));
        let bindings = e.iter().filter(|x| matches!(x, HelpEntry::Binding { .. })).count();
        assert_eq!(bindings, km.all().filter(|(_, _, ks)| !ks.is_empty()).count(), "every binding once");
        let ro = entries(&km, Pane::Services, true);
        let stop = Action::EmergencyStop.help();
        assert!(e.iter().any(|x| matches!(x, HelpEntry::Binding { help, .. } if *help == stop)));
        assert!(!ro.iter().any(|x| matches!(x, HelpEntry::Binding { help, .. } if *help == stop)));
    }

    #[test]
    fn words_wrap_whole_and_long_words_split() {
        assert_eq!(words("select the first service", 10), vec!["select the", "first", "service"]);
        assert_eq!(words("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        assert_eq!(words("abcdefghij", 5), vec!["abcde", "fghij"]);
        assert_eq!(words("", 5), vec![""]);
        let text = "show or hide stackdeck's own log";
        assert_eq!(words(text, 12).join(" "), text, "nothing is lost");
    }

    #[test]
    fn the_last_screen_is_full() {
        let km = Keymap::defaults();
        let e = entries(&km, Pane::Services, false);
        let (w, h) = geometry((80, 24));
        let last = last_start(&e, w, h);
        let tail: usize = e[last..].iter().map(|x| rows(x, w).len()).sum();
        let one_more = rows(&e[last - 1], w).len();
        assert!(tail <= h && tail + one_more > h, "{tail} rows from {last}, {one_more} before it, {h} room");
    }
}
