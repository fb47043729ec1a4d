//! Threshold rules evaluated locally (panels with `alert = ...` while scraping, and the host's
//! CPU/memory/disk), with Prometheus' `for` semantics: pending until the threshold has been
//! crossed for long enough, then firing. And the tracker that turns a changing set of firing
//! alerts into "started" / "resolved" notifications.

use super::{Alert, PanelData, Severity};
use crate::config::observe::PanelConfig;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};

/// Since when each named condition has held.
#[derive(Debug, Default)]
pub struct Sustain {
    since: HashMap<String, Timestamp>,
}

impl Sustain {
    /// Record whether `key`'s condition holds now. Returns `Some((firing, since))` while it does.
    pub fn step(&mut self, key: &str, holds: bool, now: Timestamp, for_secs: u64) -> Option<(bool, Timestamp)> {
        if !holds {
            self.since.remove(key);
            return None;
        }
        let since = *self.since.entry(key.to_owned()).or_insert(now);
        let held = now.duration_since(since).as_secs();
        Some((held >= for_secs as i64, since))
    }
}

/// Is `v` beyond `threshold` in the panel's bad direction?
pub fn beyond(v: f64, threshold: f64, below: bool) -> bool {
    if below { v < threshold } else { v > threshold }
}

pub fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || a == a.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Alerts of the panels that carry one, from their current values.
pub fn panel_alerts(panels: &[PanelConfig], data: &[PanelData], now: Timestamp, s: &mut Sustain) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        let Some(name) = &p.alert else { continue };
        let v = data.iter().find(|d| d.index == i).and_then(|d| d.value);
        let level = v.and_then(|v| {
            if p.critical.is_some_and(|c| beyond(v, c, p.below)) {
                Some((Severity::Critical, p.critical?))
            } else if p.warn.is_some_and(|w| beyond(v, w, p.below)) {
                Some((Severity::Warning, p.warn?))
            } else {
                None
            }
        });
        let key = format!("{i}");
        if let (Some(v), Some((severity, threshold))) = (v, level)
            && let Some((firing, since)) = s.step(&key, true, now, p.alert_hold_secs())
        {
            let dir = if p.below { "below" } else { "above" };
            out.push(Alert {
                name: name.clone(),
                severity,
                firing,
                summary: format!("{} {}{} {dir} {}{}", p.title, fmt_value(v), p.unit, fmt_value(threshold), p.unit),
                since: Some(since),
                service: p.service.clone(),
                origin: "local",
            });
        } else {
            s.step(&key, false, now, 0);
        }
    }
    out
}

/// What changed in the set of firing alerts since the last call.
#[derive(Debug, Default)]
pub struct AlertTracker {
    firing: BTreeMap<String, Alert>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Started(Alert),
    Resolved(Alert),
}

impl AlertTracker {
    /// The alerts of this round; returns what started firing and what stopped.
    pub fn update(&mut self, alerts: &[Alert]) -> Vec<Change> {
        let now: BTreeMap<String, Alert> = alerts.iter().filter(|a| a.firing).map(|a| (a.key(), a.clone())).collect();
        let mut out = Vec::new();
        for (k, a) in &now {
            if !self.firing.contains_key(k) {
                out.push(Change::Started(a.clone()));
            }
        }
        for (k, a) in &self.firing {
            if !now.contains_key(k) {
                out.push(Change::Resolved(a.clone()));
            }
        }
        self.firing = now;
        out
    }
}

impl Change {
    pub fn text(&self) -> String {
        match self {
            Change::Started(a) => format!(
                "[stackdeck] FIRING {} {}{}: {}",
                a.severity.label(),
                a.name,
                a.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
                a.summary
            ),
            Change::Resolved(a) => format!(
                "[stackdeck] RESOLVED {}{}",
                a.name,
                a.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(alert_for: u64) -> PanelConfig {
        PanelConfig {
            title: "Daily loss".into(),
            query: None,
            local: None,
            unit: "%".into(),
            warn: Some(3.0),
            critical: Some(5.0),
            below: false,
            alert: Some("DailyLossExceeded".into()),
            alert_for_secs: Some(alert_for),
            service: Some("trading-bot".into()),
        }
    }

    fn data(v: f64) -> Vec<PanelData> {
        vec![PanelData { index: 0, value: Some(v), ..PanelData::default() }]
    }

    #[test]
    fn pending_then_firing_then_resolved() {
        let t0: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        let mut s = Sustain::default();
        let p = [panel(10)];
        assert!(panel_alerts(&p, &data(1.0), at(0), &mut s).is_empty());
        let a = panel_alerts(&p, &data(6.8), at(1), &mut s);
        assert_eq!((a[0].severity, a[0].firing), (Severity::Critical, false));
        assert_eq!(a[0].summary, "Daily loss 6.80% above 5%");
        let a = panel_alerts(&p, &data(6.8), at(11), &mut s);
        assert!(a[0].firing);
        assert_eq!(a[0].since, Some(at(1)));
        let a = panel_alerts(&p, &data(4.0), at(12), &mut s);
        assert_eq!((a[0].severity, a[0].summary.as_str()), (Severity::Warning, "Daily loss 4% above 3%"));
        assert!(panel_alerts(&p, &data(1.0), at(13), &mut s).is_empty());
    }

    #[test]
    fn tracker_reports_starts_and_resolves_once() {
        let t0: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let mut s = Sustain::default();
        let mut tr = AlertTracker::default();
        let p = [panel(0)];
        let firing = panel_alerts(&p, &data(6.8), t0, &mut s);
        let ch = tr.update(&firing);
        assert!(matches!(&ch[..], [Change::Started(a)] if a.name == "DailyLossExceeded"));
        assert!(ch[0].text().starts_with("[stackdeck] FIRING critical DailyLossExceeded (trading-bot): Daily loss"));
        assert!(tr.update(&firing).is_empty());
        let ch = tr.update(&[]);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].text(), "[stackdeck] RESOLVED DailyLossExceeded (trading-bot)");
    }
}
