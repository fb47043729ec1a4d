//! The Timeline pane's rows: engine events (live and caught up at start), alerts as they fire
//! and resolve, and stackdeck's operations and latches from the history, joined in time order.
//! Everything is bounded: the engine's rows by `keep`, the alerts' by [`MAX_ALERT_ROWS`], the
//! history's by what the store lists.

use crate::domain::{Alert, Group, Happen, Happening, KillSwitch, OpRecord, Outcome, Tone};
use crate::logtext::inert;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Alert rows kept (firing and resolving).
pub const MAX_ALERT_ROWS: usize = 500;

/// Engine rows kept unless the config says otherwise (`[timeline] keep`).
const DEFAULT_KEEP: usize = 2_000;

/// `12 s`, `3m05s`, `2h10m`: how long an operation took.
fn took(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
    }
}

/// How close to a stackdeck operation an engine event counts as its doing.
const OP_SLACK_SECS: i64 = 5;

#[derive(Debug)]
pub struct TimelineState {
    engine: VecDeque<Happening>,
    alerts: VecDeque<Happening>,
    /// Keys of repeats counted on an earlier row (see [`insert`]).
    counted: HashSet<String>,
    history: Vec<Happening>,
    /// The stackdeck operations, for "was this stackdeck?": (service, from, to or now, label).
    ops: Vec<(String, Timestamp, Option<Timestamp>, String)>,
    /// Alerts firing now, by key, with when they started.
    firing: BTreeMap<String, Timestamp>,
    pub keep: usize,
    /// Only this group's rows, when set.
    pub group: Option<Group>,
    /// Only this service's rows (`project/service`), when set.
    pub service: Option<String>,
    /// The rows shown, newest first (after the filters), made by [`refresh`](Self::refresh).
    pub rows: Vec<Happening>,
    /// The selected row's key; `None` keeps the newest selected as rows arrive.
    pub selected: Option<String>,
    /// First row shown (the pane keeps the selection in sight).
    pub scroll: usize,
    /// Rows changed since the last refresh.
    pub stale: bool,
}

impl Default for TimelineState {
    fn default() -> Self {
        TimelineState::new(DEFAULT_KEEP)
    }
}

/// Within this many seconds, the same thing to the same container again is counted, not shown
/// again.
const REPEAT_SECS: i64 = 5;
const MAX_COUNTED: usize = 10_000;

/// Insert in time order, once: a row with the same time and key is already there. The same
/// happening to the same container moments after the last thing that happened to it (nothing
/// else between) adds to its count.
fn insert(rows: &mut VecDeque<Happening>, counted: &mut HashSet<String>, h: Happening) -> bool {
    // After the rows of the same time: they keep the order they came in.
    let at = rows.partition_point(|r| r.at <= h.at);
    if counted.contains(&h.key) || rows.range(..at).rev().take_while(|r| r.at == h.at).any(|r| r.key == h.key) {
        return false;
    }
    if h.container.is_some()
        && let Some(prev) = rows.range_mut(..at).rev().take(16).find(|r| r.container == h.container)
        && prev.kind == h.kind
        && prev.what == h.what
        && h.at.as_second() - prev.at.as_second() <= REPEAT_SECS
    {
        prev.times = prev.times.saturating_add(1);
        // Read again (a reconnect's catch-up), it is not counted twice. Bounded: past this
        // many, an old repeat read again may be counted again, never lost.
        if counted.len() >= MAX_COUNTED {
            counted.clear();
        }
        counted.insert(h.key);
        return true;
    }
    rows.insert(at, h);
    true
}

/// Does an operation on `op_service` (one service, or several joined by commas) touch `service`?
fn touches(op_service: &str, service: &str) -> bool {
    let name = service.rsplit_once('/').map_or(service, |(_, s)| s);
    op_service
        .split(',')
        .map(str::trim)
        .any(|s| s == service || s == name || s.rsplit_once('/').is_some_and(|(_, n)| n == name))
}

/// The first row shown when `selected` must be in sight in `visible` rows (the pane and the
/// mouse agree on it).
pub fn first_shown(selected: usize, visible: usize) -> usize {
    selected.saturating_sub(visible.saturating_sub(1))
}

impl TimelineState {
    pub fn new(keep: usize) -> Self {
        TimelineState {
            engine: VecDeque::new(),
            alerts: VecDeque::new(),
            counted: HashSet::new(),
            history: Vec::new(),
            ops: Vec::new(),
            firing: BTreeMap::new(),
            keep: keep.max(1),
            group: None,
            service: None,
            rows: Vec::new(),
            selected: None,
            scroll: 0,
            stale: false,
        }
    }

    /// Engine rows, live or caught up, and the rows the guard kept (engine rows and alerts,
    /// each with its own kind); the same row twice is kept once.
    pub fn engine(&mut self, rows: Vec<Happening>) {
        for h in rows {
            let to = if h.kind == Happen::Alert { &mut self.alerts } else { &mut self.engine };
            if insert(to, &mut self.counted, h) {
                self.stale = true;
            }
        }
        while self.engine.len() > self.keep {
            self.engine.pop_front();
        }
        while self.alerts.len() > MAX_ALERT_ROWS {
            self.alerts.pop_front();
        }
    }

    /// The history's operations and the latches, as rows (replacing the last ones).
    pub fn history(&mut self, records: &[OpRecord], latches: &[KillSwitch]) {
        let mut rows = Vec::with_capacity(records.len() + latches.len());
        self.ops.clear();
        for r in records {
            let service = inert(&r.service).into_owned();
            let actor = inert(&r.actor).into_owned();
            // Outcome and actor first: at 80 columns the images are what is cut off.
            let mut what = format!("{} #{} {} by {actor}", inert(&r.action), r.id, r.outcome.as_str());
            if let Some(end) = r.finished_at {
                let secs = end.as_second().saturating_sub(r.started_at.as_second()).max(0);
                what.push_str(&format!(" in {}", took(secs)));
            }
            match (&r.from_image, &r.to_image) {
                (Some(a), Some(b)) if a != b => what.push_str(&format!(": {} → {}", inert(a), inert(b))),
                (_, Some(b)) => what.push_str(&format!(": {}", inert(b))),
                _ => {}
            }
            if let Some(why) = &r.reason {
                what.push_str(&format!(" ({})", inert(why)));
            }
            self.ops.push((
                service.clone(),
                r.started_at,
                r.finished_at,
                format!("stackdeck #{} {}", r.id, inert(&r.action)),
            ));
            let latch = match r.action.as_str() {
                "start" if r.outcome == Outcome::Succeeded => Some((format!("latch released by {actor}"), Tone::Good)),
                "restart-blocked" => Some(("latch held: it ran again and was stopped again".to_owned(), Tone::Warn)),
                _ => None,
            };
            if let Some((text, tone)) = latch {
                rows.push(Happening {
                    at: r.finished_at.unwrap_or(r.started_at),
                    kind: Happen::Latch,
                    service: service.clone(),
                    what: text,
                    tone,
                    key: format!("latch|{}", r.id),
                    container: None,
                    times: 1,
                    subject: String::new(),
                });
            }
            rows.push(Happening {
                at: r.started_at,
                kind: Happen::Op,
                service,
                what,
                tone: r.outcome.tone(),
                key: format!("op|{}", r.id),
                container: None,
                times: 1,
                subject: String::new(),
            });
        }
        for k in latches {
            let mut what = format!("latch engaged by {}: {}", inert(&k.by), inert(&k.reason));
            if let Some(h) = &k.halt {
                what.push_str(&format!(" ({})", inert(h)));
            }
            rows.push(Happening {
                at: k.at,
                kind: Happen::Latch,
                service: inert(&k.service).into_owned(),
                what,
                tone: Tone::Bad,
                key: format!("latch|{}|{}", k.service, k.at.as_nanosecond()),
                container: None,
                times: 1,
                subject: String::new(),
            });
        }
        rows.sort_by_key(|h| h.at);
        if rows != self.history {
            self.history = rows;
            self.stale = true;
        }
    }

    /// The alerts firing now: a row for each that started, and for each that stopped.
    pub fn alerts<'a>(&mut self, now_firing: impl IntoIterator<Item = &'a Alert>, now: Timestamp) {
        let mut seen = BTreeMap::new();
        for a in now_firing.into_iter().filter(|a| a.firing) {
            let key = a.key();
            if !self.firing.contains_key(&key) {
                let at = a.since.unwrap_or(now);
                let service = a.service.as_deref().map(|s| inert(s).into_owned()).unwrap_or_default();
                let what = format!("{} firing ({}): {}", inert(&a.name), a.severity.label(), inert(&a.summary));
                let h = Happening {
                    at,
                    kind: Happen::Alert,
                    service,
                    what,
                    tone: Tone::Bad,
                    key: format!("alert|{key}|firing"),
                    container: None,
                    times: 1,
                    subject: String::new(),
                };
                self.stale |= insert(&mut self.alerts, &mut self.counted, h);
            }
            seen.insert(key, a.since.unwrap_or(now));
        }
        for (key, _) in self.firing.iter().filter(|(k, _)| !seen.contains_key(*k)) {
            let (name, service) = key.split_once('|').unwrap_or((key.as_str(), ""));
            let h = Happening {
                at: now,
                kind: Happen::Alert,
                service: service.to_owned(),
                what: format!("{name} resolved"),
                tone: Tone::Good,
                key: format!("alert|{key}|resolved"),
                container: None,
                times: 1,
                subject: String::new(),
            };
            self.stale |= insert(&mut self.alerts, &mut self.counted, h);
        }
        self.firing = seen;
        while self.alerts.len() > MAX_ALERT_ROWS {
            self.alerts.pop_front();
        }
    }

    /// The alert rows kept (the guard records them).
    pub fn alert_rows(&self) -> impl Iterator<Item = &Happening> {
        self.alerts.iter()
    }

    /// How many rows are kept (before the filters).
    pub fn len(&self) -> usize {
        self.engine.len() + self.alerts.len() + self.history.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Make [`rows`](Self::rows) again: the three sources joined newest first, filtered, and
    /// a start, stop or kill said to be stackdeck's or not.
    pub fn refresh(&mut self, now: Timestamp) {
        let keep = |h: &Happening| {
            self.group.is_none_or(|g| h.kind.group() == g)
                && self.service.as_deref().is_none_or(|s| h.service == s || touches(&h.service, s))
        };
        let mut rows: Vec<Happening> =
            self.engine.iter().chain(&self.alerts).chain(&self.history).filter(|h| keep(h)).cloned().collect();
        // Stable: rows of the same time keep their order, then newest first.
        rows.sort_by_key(|h| h.at);
        rows.reverse();
        for h in &mut rows {
            if matches!(h.kind, Happen::Started | Happen::Stopped | Happen::Killed) {
                let op = self.ops.iter().find(|(svc, from, to, _)| {
                    touches(svc, &h.service)
                        && h.at.as_second() >= from.as_second() - OP_SLACK_SECS
                        && h.at.as_second() <= to.unwrap_or(now).as_second() + OP_SLACK_SECS
                });
                match op {
                    Some((_, _, _, label)) => h.what.push_str(&format!(" ({label})")),
                    None => h.what.push_str(" (not by stackdeck)"),
                }
            }
        }
        self.rows = rows;
        self.stale = false;
    }

    /// Where the selection is in [`rows`](Self::rows).
    pub fn selected_index(&self) -> usize {
        self.selected.as_ref().and_then(|k| self.rows.iter().position(|r| &r.key == k)).unwrap_or(0)
    }

    pub fn selected_row(&self) -> Option<&Happening> {
        self.rows.get(self.selected_index())
    }

    /// Move the selection by `by` rows (down is older); the newest row is "follow".
    pub fn move_selection(&mut self, by: isize) {
        if self.rows.is_empty() {
            return;
        }
        let at = self.selected_index().saturating_add_signed(by).min(self.rows.len() - 1);
        self.selected = if at == 0 { None } else { self.rows.get(at).map(|r| r.key.clone()) };
    }

    /// Cycle the group filter: every row, then each group in turn.
    pub fn cycle_group(&mut self) {
        let all = Group::ALL;
        self.group = match self.group {
            None => Some(all[0]),
            Some(g) => all.iter().position(|x| *x == g).and_then(|i| all.get(i + 1)).copied(),
        };
        self.stale = true;
    }

    /// The rows shown as export lines, oldest first: each starts with its service (one word,
    /// as a merged log line does), then `kind: what`; bad rows are errors, warnings warnings.
    pub fn export_lines(&self) -> Vec<crate::logtext::LogLine> {
        use crate::logtext::{Level, LogLine};
        self.rows
            .iter()
            .rev()
            .map(|h| {
                let svc =
                    if h.service.is_empty() { "-".to_owned() } else { h.service.replace(char::is_whitespace, "_") };
                let level = match h.tone {
                    Tone::Bad => Level::Error,
                    Tone::Warn => Level::Warn,
                    Tone::Good | Tone::Plain => Level::Info,
                };
                let times = if h.times > 1 { format!(" (×{})", h.times) } else { String::new() };
                let subject = if h.subject.is_empty() { String::new() } else { format!("{} ", h.subject) };
                let text = format!("{svc} {}: {subject}{}{times}", h.kind.as_str(), h.what);
                LogLine {
                    timestamp: crate::logtext::Stamp::new(&h.at.to_string()),
                    stderr: false,
                    level,
                    text,
                    cut_bytes: 0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
