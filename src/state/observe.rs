//! What the observer and the host reader reported, the chosen window, and availability.

use crate::domain::ServiceKey;
use crate::domain::{Alert, HostSample, PanelData, Source, Window};
use jiff::Timestamp;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Default)]
pub struct ObserveState {
    pub source: Source,
    /// Nothing is configured: the panes say how to configure it.
    pub configured: bool,
    pub window: Window,
    pub panels: Vec<PanelData>,
    /// Alerts from Prometheus/Alertmanager or the local rules.
    pub alerts: Vec<Alert>,
    pub host: Option<HostSample>,
    pub host_alerts: Vec<Alert>,
    pub last_round: Option<Timestamp>,
    /// The selected panel in the Charts pane.
    pub selected: usize,
    /// Scroll offset of the Alerts pane.
    pub scroll: usize,
    pub availability: Availability,
}

impl ObserveState {
    /// Every alert to show, most severe first, firing before pending, oldest first.
    pub fn all_alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.alerts.iter().chain(&self.host_alerts).collect();
        v.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then(b.firing.cmp(&a.firing))
                .then(a.since.cmp(&b.since))
                .then(a.name.cmp(&b.name))
        });
        v
    }
}

/// A run of equal health samples.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    first: Timestamp,
    last: Timestamp,
    healthy: bool,
    count: u32,
}

#[derive(Debug, Default, Clone)]
pub struct Track {
    runs: VecDeque<Run>,
    /// When the health last flipped (as seen by the sampling).
    pub last_change: Option<Timestamp>,
    pub healthy: Option<bool>,
}

/// What availability looks like over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub percent: f64,
    pub samples: u32,
    /// The oldest sample inside the window (later than the window start while stackdeck has
    /// not been running that long).
    pub covered_since: Timestamp,
}

/// Per service: health samples, run-length encoded, kept for a day.
#[derive(Debug, Default)]
pub struct Availability {
    pub services: BTreeMap<ServiceKey, Track>,
}

const KEEP_SECS: i64 = 86_400;

impl Availability {
    pub fn sample(&mut self, key: &ServiceKey, healthy: bool, now: Timestamp) {
        let t = self.services.entry(key.clone()).or_default();
        if t.healthy.is_some_and(|h| h != healthy) {
            t.last_change = Some(now);
        }
        t.healthy = Some(healthy);
        match t.runs.back_mut() {
            Some(r) if r.healthy == healthy && r.last <= now => {
                r.last = now;
                r.count += 1;
            }
            _ => t.runs.push_back(Run { first: now, last: now, healthy, count: 1 }),
        }
        while t.runs.front().is_some_and(|r| now.duration_since(r.last).as_secs() > KEEP_SECS) {
            t.runs.pop_front();
        }
    }

    /// Share of healthy samples over the last `window_secs` before `now`.
    pub fn share(&self, key: &ServiceKey, window_secs: i64, now: Timestamp) -> Option<Share> {
        let t = self.services.get(key)?;
        let cutoff = now - jiff::SignedDuration::from_secs(window_secs);
        let (mut good, mut all) = (0.0_f64, 0.0_f64);
        let mut covered: Option<Timestamp> = None;
        for r in t.runs.iter().filter(|r| r.last >= cutoff) {
            // A run that straddles the window start counts in proportion (samples are evenly spaced).
            let n = if r.first >= cutoff || r.count <= 1 {
                f64::from(r.count)
            } else {
                let span = r.last.duration_since(r.first).as_secs_f64();
                let inside = r.last.duration_since(cutoff).as_secs_f64();
                (f64::from(r.count - 1) * inside / span).floor() + 1.0
            };
            all += n;
            if r.healthy {
                good += n;
            }
            covered.get_or_insert(r.first.max(cutoff));
        }
        (all > 0.0).then(|| Share {
            percent: good * 100.0 / all,
            samples: all as u32,
            covered_since: covered.unwrap_or(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_over_windows_and_last_change() {
        let key = ServiceKey::new(Some("p"), "bot");
        let t0: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        let mut a = Availability::default();
        // 90 healthy samples every 10 s, then 10 unhealthy.
        for i in 0..90 {
            a.sample(&key, true, at(i * 10));
        }
        for i in 90..100 {
            a.sample(&key, false, at(i * 10));
        }
        let now = at(990);
        let all = a.share(&key, 86_400, now).unwrap();
        assert_eq!((all.percent, all.samples), (90.0, 100));
        assert_eq!(all.covered_since, t0);
        // The last 5 minutes (from 690 s): 690..=890 healthy (21 samples), 900..=990 unhealthy (10).
        let five = a.share(&key, 300, now).unwrap();
        assert_eq!(five.samples, 31);
        assert!((five.percent - 21.0 * 100.0 / 31.0).abs() < 1e-9, "{}", five.percent);
        assert_eq!(a.services[&key].last_change, Some(at(900)));
        assert!(a.share(&ServiceKey::new(None, "x"), 300, now).is_none());
    }
}
