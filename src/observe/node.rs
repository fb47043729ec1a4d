//! Host figures of a remote engine's machine from Prometheus node metrics (node_exporter):
//! CPU, memory and the watched file systems, checked against the same thresholds as a local
//! host. /proc is this machine's, so it is never read for a remote engine.

use super::host::report;
use super::prom::Prom;
use super::rules::{AlertTracker, Sustain};
use crate::config::Stack;
use crate::config::observe::HostConfig;
use crate::domain::{Disk, HostSample};
use crate::msg::Msg;
use crate::notify::Notifier;
use std::time::Duration;
use tokio::sync::mpsc;

const EVERY: Duration = Duration::from_secs(15);

// irate: the last two samples (a host figure now; the alert's for_secs sustains it).
const CPU: &str = r#"100 * (1 - avg(irate(node_cpu_seconds_total{mode="idle"}[1m])))"#;
const MEM_TOTAL: &str = "sum(node_memory_MemTotal_bytes)";
const MEM_AVAIL: &str = "sum(node_memory_MemAvailable_bytes)";

/// A PromQL string literal (the mount point comes from the config).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One reading from Prometheus.
pub async fn read(prom: &Prom, paths: &[String]) -> HostSample {
    let mut s = HostSample { source: "node metrics".into(), ..HostSample::default() };
    let one = |r: Result<Vec<f64>, String>, what: &str, errors: &mut Vec<String>| match r {
        Ok(v) if !v.is_empty() => Some(v[0]),
        Ok(_) => {
            errors.push(format!("{what}: no node metrics (is node_exporter scraped?)"));
            None
        }
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            None
        }
    };
    let (cpu, total, avail) = futures::join!(prom.instant(CPU), prom.instant(MEM_TOTAL), prom.instant(MEM_AVAIL));
    s.cpu_percent = one(cpu, "CPU", &mut s.errors);
    if let (Some(t), Some(a)) = (one(total, "memory", &mut s.errors), one(avail, "memory", &mut s.errors)) {
        (s.mem_total, s.mem_used) = (t.max(0.0) as u64, (t - a).max(0.0) as u64);
    }
    for p in paths {
        let m = quoted(p);
        let size = prom.instant(&format!("max(node_filesystem_size_bytes{{mountpoint={m}}})")).await;
        let free = prom.instant(&format!("max(node_filesystem_avail_bytes{{mountpoint={m}}})")).await;
        let what = format!("disk {p}");
        if let (Some(t), Some(f)) = (one(size, &what, &mut s.errors), one(free, &what, &mut s.errors)) {
            s.disks.push(Disk { path: p.clone(), total: t.max(0.0) as u64, free: f.max(0.0) as u64 });
        }
    }
    s
}

/// Read the remote machine's figures every [`EVERY`] while the panel runs.
pub fn spawn(stack: &Stack, cfg: HostConfig, tx: mpsc::Sender<Msg>, notifier: Notifier) {
    let c = &stack.config;
    let Some(url) = c.prometheus.url.as_ref() else { return };
    let prom = Prom {
        client: crate::http::LazyClient,
        url: url.get_ref().trim_end_matches('/').to_owned(),
        alertmanager: None,
        timeout: c.prometheus.timeout(),
    };
    let paths = cfg.paths.clone().unwrap_or_else(|| vec!["/".to_owned()]);
    tokio::spawn(async move {
        let mut sus = Sustain::default();
        let mut tracker = AlertTracker::default();
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sample = read(&prom, &paths).await;
            if !report(&cfg, sample, &mut sus, &mut tracker, &notifier, &tx).await {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn mount_points_are_quoted_as_promql_strings() {
        assert_eq!(super::quoted("/var/lib/docker"), "\"/var/lib/docker\"");
        assert_eq!(super::quoted("/a\"b\\c"), "\"/a\\\"b\\\\c\"");
    }
}
