//! The log view: a bounded ring buffer of lines for one container, with follow/pause, scroll,
//! search (case-insensitive substring) with match navigation, filter, wrap and timestamps.
//!
//! Positions are absolute sequence numbers (`first_seq + index`), so a paused view stays on the
//! same lines while new ones arrive and old ones fall out of the buffer.

use crate::domain::ContainerId;
use crate::logtext::LogLine;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    Idle,
    Connecting,
    Live,
    Ended(String),
}

#[derive(Debug)]
pub struct LogView {
    pub container: Option<ContainerId>,
    /// The service of `container` (a replacement of the same service keeps the old lines).
    pub service: Option<crate::domain::ServiceKey>,
    /// Which follow request the current lines belong to.
    pub generation: u64,
    lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`.
    first_seq: u64,
    cap: usize,
    pub stream: StreamState,
    /// `None` = following the newest line; `Some(seq)` = paused with `seq` as the last line shown.
    pub anchor: Option<u64>,
    pub query: Option<String>,
    query_lower: String,
    /// The match the view is on (seq), for highlight and next/previous.
    pub current_match: Option<u64>,
    pub filter: bool,
    pub wrap: bool,
    pub timestamps: bool,
    /// Total lines dropped before they reached the buffer (panel could not keep up).
    pub skipped_total: u64,
    /// Merged mode: the logs of every service of a project (or of the marked ones), each line
    /// starting with its service's name, kept in time order.
    pub merged: bool,
    /// In merged mode, the containers followed.
    pub sources: Vec<ContainerId>,
    /// A moment (unix seconds) to pause on once lines that new arrive (a jump from the
    /// timeline to a moment older than what was loaded).
    pub jump_at: Option<i64>,
}

/// A line's engine time, for ordering (RFC 3339 with trimmed nanoseconds is not ordered as text).
fn time_of(l: &LogLine) -> Option<jiff::Timestamp> {
    l.stamp().and_then(|t| t.parse().ok())
}

impl LogView {
    pub fn new(cap: usize) -> Self {
        LogView {
            container: None,
            service: None,
            generation: 0,
            lines: VecDeque::new(),
            first_seq: 0,
            cap,
            stream: StreamState::Idle,
            anchor: None,
            query: None,
            query_lower: String::new(),
            current_match: None,
            filter: false,
            wrap: false,
            timestamps: false,
            skipped_total: 0,
            merged: false,
            jump_at: None,
            sources: Vec::new(),
        }
    }

    /// Start showing another container (clears the buffer, keeps view settings).
    pub fn retarget(&mut self, id: Option<ContainerId>) -> u64 {
        self.carry_over(id, 0, None)
    }

    /// Start showing the container that replaced the one shown (a deploy, a recreation):
    /// its last `keep` lines stay, under a marker that says they are the previous container's,
    /// so the operator still sees why it went.
    pub fn carry_over(&mut self, id: Option<ContainerId>, keep: usize, marker: Option<String>) -> u64 {
        self.container = id;
        self.generation += 1;
        let drop = self.lines.len().saturating_sub(keep);
        self.first_seq += drop as u64;
        self.lines.drain(..drop);
        if let Some(m) = marker.filter(|_| !self.lines.is_empty()) {
            self.push([LogLine::marker(m)]);
        }
        self.anchor = None;
        self.current_match = None;
        self.skipped_total = 0;
        self.stream = if self.container.is_some() { StreamState::Connecting } else { StreamState::Idle };
        self.generation
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number one past the newest line.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }

    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        seq.checked_sub(self.first_seq).and_then(|i| self.lines.get(i as usize))
    }

    /// What an export writes: every loaded line the view shows (the filter applies when on).
    pub fn exported(&self) -> Vec<LogLine> {
        self.lines.iter().filter(|l| self.visible(l)).cloned().collect()
    }

    pub fn last_timestamp(&self) -> Option<&str> {
        self.lines.iter().rev().find_map(|l| l.stamp())
    }

    /// Append lines, evicting the oldest beyond the cap. In merged mode, lines older than the
    /// newest already kept (another container's tail, a slower stream) are put in their place.
    pub fn push(&mut self, lines: impl IntoIterator<Item = LogLine>) {
        let before = self.lines.len();
        for l in lines {
            self.lines.push_back(l);
        }
        if self.merged && before > 0 && before < self.lines.len() {
            let first_new = self.lines.iter().skip(before).filter_map(time_of).min();
            if let Some(t) = first_new
                && self.lines.get(before - 1).and_then(time_of).is_some_and(|last| last > t)
            {
                // Sort only from the first kept line that is later than the batch's oldest.
                let all = self.lines.make_contiguous();
                let from = all[..before].partition_point(|l| time_of(l).is_none_or(|x| x <= t));
                all[from..].sort_by_cached_key(time_of);
            }
        }
        let over = self.lines.len().saturating_sub(self.cap);
        if over > 0 {
            self.lines.drain(..over);
            self.first_seq += over as u64;
            if let Some(a) = self.anchor
                && a < self.first_seq
            {
                self.anchor = Some(self.first_seq.min(self.end_seq().saturating_sub(1)));
            }
            if self.current_match.is_some_and(|m| m < self.first_seq) {
                self.current_match = None;
            }
        }
    }

    pub fn following(&self) -> bool {
        self.anchor.is_none()
    }

    pub fn matches(&self, line: &LogLine) -> bool {
        match &self.query {
            None => true,
            Some(_) if self.query_lower.is_empty() => true,
            Some(_) => contains_ci(&line.text, &self.query_lower),
        }
    }

    /// Is this line shown under the current filter?
    pub fn visible(&self, line: &LogLine) -> bool {
        !self.filter || self.query.is_none() || self.matches(line)
    }

    pub fn query_lower(&self) -> &str {
        &self.query_lower
    }

    pub fn set_query(&mut self, q: Option<String>) {
        self.query_lower = q.as_deref().unwrap_or("").to_lowercase();
        self.query = q.filter(|s| !s.is_empty());
        self.current_match = None;
        if self.query.is_some() {
            // Jump to the newest match at or before the view's bottom.
            let from = self.anchor.unwrap_or(self.end_seq().saturating_sub(1));
            self.current_match = self.find(from, false, true);
            if let Some(m) = self.current_match {
                self.anchor = Some(m);
            }
        } else {
            self.filter = false;
        }
    }

    /// Find a matching line from `from` going backwards (`forward = false`) or forwards.
    fn find(&self, from: u64, forward: bool, inclusive: bool) -> Option<u64> {
        if self.query.is_none() || self.lines.is_empty() {
            return None;
        }
        let start = from.clamp(self.first_seq, self.end_seq() - 1);
        let mut s = if inclusive { Some(start) } else { self.step(start, forward) };
        while let Some(seq) = s {
            if self.get(seq).is_some_and(|l| self.matches(l)) {
                return Some(seq);
            }
            s = self.step(seq, forward);
        }
        None
    }

    /// The neighbouring sequence number inside the buffer, if any.
    fn step(&self, seq: u64, forward: bool) -> Option<u64> {
        if forward { (seq + 1 < self.end_seq()).then_some(seq + 1) } else { (seq > self.first_seq).then(|| seq - 1) }
    }

    /// Pause on the first line at or after `t` (unix seconds), as a search pauses on a match:
    /// it is the view's last line, what led up to it above. False when no kept line is so new.
    pub fn jump_to_time(&mut self, t: i64) -> bool {
        let at = self.lines.iter().position(|l| time_of(l).is_some_and(|x| x.as_second() >= t));
        match at {
            Some(i) => {
                self.anchor = Some(self.first_seq + i as u64);
                true
            }
            None => false,
        }
    }

    /// Move to the next (older = `prev`) match; pauses the view on it.
    pub fn jump_match(&mut self, older: bool) -> bool {
        let from = self.current_match.or(self.anchor).unwrap_or(self.end_seq().saturating_sub(1));
        match self.find(from, !older, self.current_match.is_none()) {
            Some(m) => {
                self.current_match = Some(m);
                self.anchor = Some(m);
                true
            }
            None => false,
        }
    }

    /// Scroll by `delta` visible lines (negative = older). Scrolling up pauses; reaching the
    /// newest line resumes following.
    pub fn scroll(&mut self, delta: i64) {
        if self.lines.is_empty() {
            return;
        }
        let last = self.end_seq() - 1;
        let mut pos = self.anchor.unwrap_or(last);
        let mut left = delta.unsigned_abs();
        while left > 0 {
            let next = if delta < 0 {
                if pos == self.first_seq {
                    break;
                }
                pos - 1
            } else {
                if pos == last {
                    break;
                }
                pos + 1
            };
            pos = next;
            if self.get(pos).is_some_and(|l| self.visible(l)) {
                left -= 1;
            }
        }
        self.anchor = if pos >= last && delta > 0 { None } else { Some(pos) };
    }

    pub fn scroll_top(&mut self) {
        if !self.lines.is_empty() {
            self.anchor = Some(self.first_seq);
        }
    }

    pub fn follow(&mut self) {
        self.anchor = None;
    }

    pub fn toggle_pause(&mut self) {
        self.anchor = match self.anchor {
            Some(_) => None,
            None if self.lines.is_empty() => None,
            None => Some(self.end_seq() - 1),
        };
    }

    /// Lines to show, oldest first, ending at the anchor (or the newest line), at most `n` of
    /// them that pass the filter.
    pub fn window(&self, n: usize) -> Vec<(u64, &LogLine)> {
        let mut out = Vec::with_capacity(n);
        if self.lines.is_empty() || n == 0 {
            return out;
        }
        let mut s = self.anchor.unwrap_or(self.end_seq() - 1).min(self.end_seq() - 1);
        loop {
            if let Some(l) = self.get(s)
                && self.visible(l)
            {
                out.push((s, l));
                if out.len() == n {
                    break;
                }
            }
            if s == self.first_seq {
                break;
            }
            s -= 1;
        }
        out.reverse();
        out
    }

    /// Number of lines that pass the filter (for "x of y" labels).
    pub fn match_count(&self) -> usize {
        if self.query.is_none() {
            return 0;
        }
        self.lines.iter().filter(|l| self.matches(l)).count()
    }
}

/// Case-insensitive substring test; `needle_lower` is already lowercase.
pub fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_ascii() {
        let n = needle_lower.as_bytes();
        if n.is_empty() {
            return true;
        }
        hay.as_bytes().windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(needle_lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: usize, cap: usize) -> LogView {
        let mut v = LogView::new(cap);
        v.retarget(Some(ContainerId("c".into())));
        v.push((0..n).map(|i| LogLine::marker(format!("line {i}"))));
        v
    }

    fn at(t: &str, text: &str) -> LogLine {
        LogLine::from_raw(format!("{t} {text}").as_bytes(), false, &crate::logtext::Masker::default())
    }

    #[test]
    fn merged_lines_that_arrive_late_are_put_in_time_order_and_a_time_can_be_jumped_to() {
        let mut v = LogView::new(100);
        v.merged = true;
        v.retarget(Some(ContainerId("a".into())));
        v.push([at("2026-11-30T03:12:00.5Z", "a 1"), at("2026-11-30T03:12:02Z", "a 2")]);
        // Another container's tail, older than what is kept (and a timestamp without trailing
        // zeros, which does not order as text).
        v.push([at("2026-11-30T03:11:59Z", "b 0"), at("2026-11-30T03:12:01.25Z", "b 1")]);
        assert_eq!(texts(&v, 10), vec!["b 0", "a 1", "b 1", "a 2"]);
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_second();
        assert!(v.jump_to_time(t("2026-11-30T03:12:01Z")));
        assert_eq!(v.window(10).last().unwrap().1.text, "b 1", "the first line at or after the time ends the view");
        assert!(!v.jump_to_time(t("2026-11-30T04:00:00Z")), "nothing that new");
        // Not merged: lines stay in arrival order.
        let mut plain = LogView::new(100);
        plain.push([at("2026-11-30T03:12:02Z", "x"), at("2026-11-30T03:12:01Z", "y")]);
        assert_eq!(texts(&plain, 10), vec!["x", "y"]);
    }

    fn texts(v: &LogView, n: usize) -> Vec<String> {
        v.window(n).into_iter().map(|(_, l)| l.text.clone()).collect()
    }

    #[test]
    fn ring_buffer_is_bounded() {
        let v = view(250, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(texts(&v, 2), vec!["line 248", "line 249"]);
    }

    #[test]
    fn paused_view_stays_put_while_lines_arrive() {
        let mut v = view(10, 100);
        v.scroll(-3);
        assert!(!v.following());
        let before = texts(&v, 2);
        v.push((10..20).map(|i| LogLine::marker(format!("line {i}"))));
        assert_eq!(texts(&v, 2), before);
        v.follow();
        assert_eq!(texts(&v, 1), vec!["line 19"]);
    }

    #[test]
    fn scrolling_down_to_the_end_resumes_following() {
        let mut v = view(10, 100);
        v.scroll(-2);
        v.scroll(5);
        assert!(v.following());
    }

    #[test]
    fn search_next_prev_and_filter() {
        let mut v = view(30, 100);
        v.set_query(Some("LINE 1".into())); // matches 1, 10..19
        assert_eq!(v.current_match, Some(19));
        v.jump_match(true);
        assert_eq!(v.current_match, Some(18));
        v.jump_match(false);
        assert_eq!(v.current_match, Some(19));
        assert_eq!(v.match_count(), 11);
        v.filter = true;
        v.follow();
        assert_eq!(texts(&v, 3), vec!["line 17", "line 18", "line 19"]);
    }

    #[test]
    fn search_with_no_match() {
        let mut v = view(5, 100);
        v.set_query(Some("nothing".into()));
        assert_eq!(v.current_match, None);
        assert!(!v.jump_match(false));
    }

    #[test]
    fn retarget_clears_lines_and_bumps_generation() {
        let mut v = view(5, 100);
        let g = v.generation;
        assert_eq!(v.retarget(Some(ContainerId("d".into()))), g + 1);
        assert!(v.is_empty());
        assert_eq!(v.stream, StreamState::Connecting);
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ci("Hello World", "world"));
        assert!(!contains_ci("Hello", "world"));
        assert!(contains_ci("ÉCOLE", "école"));
    }
}
