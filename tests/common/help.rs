//! Reading the help popup back from a screen (a test backend's or tmux's).

/// The description column of a help screen's rows (inside the border, after the key column),
/// joined and with whitespace collapsed: a wrapped description reads whole again.
pub fn help_text(screen: &str) -> String {
    let mut out = String::new();
    for row in screen.lines().skip(1) {
        let cells: Vec<char> = row.trim_matches('"').chars().collect();
        let inner: String = cells.iter().skip(2).take(cells.len().saturating_sub(4)).collect();
        let text: String = if inner.starts_with('[') { inner } else { inner.chars().skip(16).collect() };
        out.push(' ');
        out.push_str(text.trim_end_matches(['│', ' ']));
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The help title's "Keys A-B of N".
pub fn help_range(screen: &str) -> Option<(usize, usize, usize)> {
    let rest = &screen[screen.find("Keys ")? + 5..];
    let (a, rest) = rest.split_once('-')?;
    let (b, rest) = rest.split_once(" of ")?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((a.parse().ok()?, b.parse().ok()?, n.parse().ok()?))
}
