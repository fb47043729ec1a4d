//! The bounded in-memory time series of direct scraping. Only metrics some panel reads are
//! kept. Each series holds the raw samples of the last hour plus one sample a minute for up
//! to a day, so memory stays bounded however long stackdeck runs: at most
//! `MAX_SERIES x (RAW + COARSE)` points of 16 bytes (about 7 MB), typically a few hundred KB.

use std::collections::{HashMap, HashSet, VecDeque};

/// Sorted label pairs (without the metric name).
pub type Labels = Vec<(String, String)>;

const RAW_MS: i64 = 3_600_000;
const COARSE_STEP_MS: i64 = 60_000;
const KEEP_MS: i64 = 86_400_000;
/// Raw samples per series at most (an hour at 5 s; faster scrapes keep less than an hour).
const RAW_MAX: usize = 720;
const COARSE_MAX: usize = (KEEP_MS / COARSE_STEP_MS) as usize;
pub const MAX_SERIES: usize = 200;
/// A gauge older than this is no longer "the current value" (Prometheus' lookback delta).
const STALE_MS: i64 = 300_000;

#[derive(Debug, Default)]
pub struct Series {
    coarse: VecDeque<(i64, f64)>,
    raw: VecDeque<(i64, f64)>,
}

impl Series {
    fn push(&mut self, t: i64, v: f64) {
        if self.raw.back().is_some_and(|(lt, _)| *lt >= t) {
            return; // out of order or duplicate
        }
        self.raw.push_back((t, v));
        while let Some(&(ft, fv)) = self.raw.front() {
            if t - ft <= RAW_MS && self.raw.len() <= RAW_MAX {
                break;
            }
            self.raw.pop_front();
            // The raw sample leaving the hour becomes a coarse one, one a minute.
            if self.coarse.back().is_none_or(|(ct, _)| ft - ct >= COARSE_STEP_MS) {
                self.coarse.push_back((ft, fv));
            }
        }
        while self.coarse.front().is_some_and(|(ct, _)| t - ct > KEEP_MS) || self.coarse.len() > COARSE_MAX {
            self.coarse.pop_front();
        }
    }

    /// Points with `from <= time <= to`, oldest first.
    fn points(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        let range = |q: &'_ VecDeque<(i64, f64)>| {
            let a = q.partition_point(|(t, _)| *t < from);
            let b = q.partition_point(|(t, _)| *t <= to);
            a..b.max(a)
        };
        let (c, r) = (range(&self.coarse), range(&self.raw));
        self.coarse.range(c).chain(self.raw.range(r)).copied()
    }

    /// The latest value at or before `t`, unless it is stale.
    pub fn at(&self, t: i64) -> Option<f64> {
        self.points(t - STALE_MS, t).last().map(|(_, v)| v)
    }

    /// Counter increase over `[from, to]` (resets counted as starting from zero) and the
    /// seconds it spans. None with fewer than two samples.
    pub fn increase(&self, from: i64, to: i64) -> Option<(f64, f64)> {
        let mut it = self.points(from, to);
        let (t0, mut prev) = it.next()?;
        let mut inc = 0.0;
        let mut last_t = t0;
        for (t, v) in it {
            inc += if v >= prev { v - prev } else { v };
            prev = v;
            last_t = t;
        }
        let secs = (last_t - t0) as f64 / 1000.0;
        (secs > 0.0).then_some((inc, secs))
    }

    pub fn len(&self) -> usize {
        self.raw.len() + self.coarse.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Default)]
pub struct Tsdb {
    wanted: HashSet<String>,
    metrics: HashMap<String, Vec<(Labels, Series)>>,
    series_count: usize,
    /// Samples refused because MAX_SERIES was reached (reported, never silent).
    pub refused: u64,
}

impl Tsdb {
    pub fn new(wanted: impl IntoIterator<Item = String>) -> Self {
        Tsdb { wanted: wanted.into_iter().collect(), ..Tsdb::default() }
    }

    pub fn wants(&self, metric: &str) -> bool {
        self.wanted.contains(metric)
    }

    /// Store one sample. Labels must be sorted. Returns false when it was not kept.
    pub fn insert(&mut self, metric: &str, labels: Labels, t: i64, v: f64) -> bool {
        if !self.wanted.contains(metric) || !v.is_finite() {
            return false;
        }
        let list = self.metrics.entry(metric.to_owned()).or_default();
        if let Some((_, s)) = list.iter_mut().find(|(l, _)| *l == labels) {
            s.push(t, v);
            return true;
        }
        if self.series_count >= MAX_SERIES {
            self.refused += 1;
            return false;
        }
        let mut s = Series::default();
        s.push(t, v);
        list.push((labels, s));
        self.series_count += 1;
        true
    }

    pub fn series(&self, metric: &str) -> impl Iterator<Item = (&Labels, &Series)> {
        self.metrics.get(metric).into_iter().flatten().map(|(l, s)| (l, s))
    }

    pub fn total_points(&self) -> usize {
        self.metrics.values().flatten().map(|(_, s)| s.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_five_second_samples_stays_bounded() {
        let mut db = Tsdb::new(["g".to_owned()]);
        let day = 86_400_000;
        for i in 0..(2 * day / 5_000) {
            assert!(db.insert("g", vec![], i * 5_000, i as f64));
        }
        let n = db.total_points();
        assert!(n <= RAW_MAX + COARSE_MAX, "{n} points");
        let s = db.series("g").next().unwrap().1;
        let now = 2 * day - 5_000;
        assert_eq!(s.at(now), Some((now / 5_000) as f64));
        // 23 hours ago is still answered, from the coarse samples.
        let old = s.at(now - 23 * 3_600_000).unwrap();
        assert!((((now - 23 * 3_600_000) / 5_000) as f64 - old).abs() <= 12.0, "{old}");
        assert!(!db.insert("unwanted", vec![], 0, 1.0));
    }

    #[test]
    fn increase_handles_counter_resets_and_staleness() {
        let mut db = Tsdb::new(["c".to_owned()]);
        for (t, v) in [(0, 10.0), (1_000, 15.0), (2_000, 2.0), (3_000, 4.0)] {
            db.insert("c", vec![], t, v);
        }
        let s = db.series("c").next().unwrap().1;
        assert_eq!(s.increase(0, 3_000), Some((9.0, 3.0)), "5, then a reset to 2, then 2 more");
        assert_eq!(s.increase(2_500, 3_000), None);
        assert_eq!(s.at(3_000 + STALE_MS + 1), None);
    }

    #[test]
    fn series_cap_is_counted() {
        let mut db = Tsdb::new(["m".to_owned()]);
        for i in 0..(MAX_SERIES + 5) {
            db.insert("m", vec![("i".into(), i.to_string())], 0, 1.0);
        }
        assert_eq!(db.refused, 5);
    }
}
