//! Stats time series per container over a sliding window, and stack totals.

use crate::domain::{ContainerId, StatsSample};
use std::collections::{HashMap, VecDeque};

/// Samples kept per container (the engine sends one a second): a two-minute window.
pub const WINDOW: usize = 120;

#[derive(Debug, Default)]
pub struct MetricsState {
    series: HashMap<ContainerId, VecDeque<StatsSample>>,
    /// Stats are being streamed (they are only while the Metrics pane is on screen: a stream per
    /// container keeps the engine busy, and nothing else shows them).
    pub streaming: bool,
}

impl MetricsState {
    pub fn push(&mut self, id: ContainerId, s: StatsSample) {
        let q = self.series.entry(id).or_default();
        if q.len() == WINDOW {
            q.pop_front();
        }
        q.push_back(s);
    }

    pub fn forget(&mut self, id: &ContainerId) {
        self.series.remove(id);
    }

    pub fn series(&self, id: &ContainerId) -> Option<&VecDeque<StatsSample>> {
        self.series.get(id)
    }

    pub fn latest(&self, id: &ContainerId) -> Option<&StatsSample> {
        self.series.get(id).and_then(|q| q.back())
    }

    /// Per-second rate of a cumulative counter over the last two samples.
    pub fn rate(&self, id: &ContainerId, f: impl Fn(&StatsSample) -> u64) -> Option<u64> {
        let q = self.series.get(id)?;
        let n = q.len();
        (n >= 2).then(|| f(&q[n - 1]).saturating_sub(f(&q[n - 2])))
    }

    /// Sum of the latest samples of the given containers.
    pub fn totals<'a>(&self, ids: impl Iterator<Item = &'a ContainerId>) -> Totals {
        let mut t = Totals::default();
        for id in ids {
            if let Some(s) = self.latest(id) {
                t.cpu_percent += s.cpu_percent;
                t.mem_bytes += s.mem_bytes;
                t.net_rx_rate += self.rate(id, |s| s.net_rx).unwrap_or(0);
                t.net_tx_rate += self.rate(id, |s| s.net_tx).unwrap_or(0);
                t.blk_read += s.blk_read;
                t.blk_write += s.blk_write;
                t.reporting += 1;
            }
        }
        t
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Totals {
    pub cpu_percent: f64,
    pub mem_bytes: u64,
    pub net_rx_rate: u64,
    pub net_tx_rate: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub reporting: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(cpu: f64, rx: u64) -> StatsSample {
        StatsSample {
            cpu_percent: cpu,
            mem_bytes: 100,
            mem_limit: 0,
            net_rx: rx,
            net_tx: 0,
            blk_read: 0,
            blk_write: 0,
            from: crate::domain::StatsFrom::Engine,
        }
    }

    #[test]
    fn window_is_bounded_and_totals_add_up() {
        let mut m = MetricsState::default();
        let a = ContainerId("a".into());
        let b = ContainerId("b".into());
        for i in 0..200 {
            m.push(a.clone(), s(1.0, i * 10));
        }
        m.push(b.clone(), s(2.5, 0));
        assert_eq!(m.series(&a).unwrap().len(), WINDOW);
        let t = m.totals([a.clone(), b].iter());
        assert!((t.cpu_percent - 3.5).abs() < 1e-9);
        assert_eq!(t.mem_bytes, 200);
        assert_eq!(t.net_rx_rate, 10);
        assert_eq!(t.reporting, 2);
    }
}
