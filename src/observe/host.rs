//! Host resources when stackdeck runs on the server: CPU (from /proc/stat deltas), memory
//! (MemTotal - MemAvailable, as the stack's rule computes it) and the file systems that hold
//! the data volumes (statvfs). Checked against the stack's thresholds: CPU > 80 %, memory >
//! 85 %, disk free < 20 %, each sustained for `for_secs`.

use super::rules::{Sustain, fmt_value};
use crate::config::observe::HostConfig;
use crate::domain::{Alert, Disk, HostReport, HostSample, Severity};
use crate::msg::Msg;
use crate::notify::Notifier;
use std::time::Duration;
use tokio::sync::mpsc;

const EVERY: Duration = Duration::from_secs(5);

/// `(idle, total)` jiffies of the first line of /proc/stat.
pub fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    let idle = v[3] + v.get(4).copied().unwrap_or(0); // idle + iowait
    Some((idle, v.iter().take(8).sum()))
}

/// `(total, used)` bytes from /proc/meminfo: used = MemTotal - MemAvailable.
pub fn parse_mem(meminfo: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let total = field("MemTotal:")?;
    let avail = field("MemAvailable:")?;
    Some((total, total.saturating_sub(avail)))
}

fn disk(path: &str) -> Result<Disk, String> {
    let s = nix::sys::statvfs::statvfs(path).map_err(|e| format!("statvfs {path}: {e}"))?;
    let frag = s.fragment_size() as u64;
    Ok(Disk { path: path.to_owned(), total: s.blocks() as u64 * frag, free: s.blocks_available() as u64 * frag })
}

/// One reading. `prev` is the previous CPU counters.
fn read(paths: &[String], prev: Option<(u64, u64)>) -> (HostSample, Option<(u64, u64)>) {
    let mut s = HostSample::default();
    let cpu = std::fs::read_to_string("/proc/stat").ok().and_then(|t| parse_cpu(&t));
    match (prev, cpu) {
        (Some((pi, pt)), Some((i, t))) if t > pt => {
            s.cpu_percent = Some(100.0 * (1.0 - (i.saturating_sub(pi)) as f64 / (t - pt) as f64));
        }
        (_, None) => s.errors.push("cannot read /proc/stat".into()),
        _ => {}
    }
    match std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| parse_mem(&t)) {
        Some((total, used)) => (s.mem_total, s.mem_used) = (total, used),
        None => s.errors.push("cannot read /proc/meminfo".into()),
    }
    for p in paths {
        match disk(p) {
            Ok(d) => s.disks.push(d),
            Err(e) => s.errors.push(e),
        }
    }
    (s, cpu)
}

/// The host alerts of one sample.
pub fn alerts(cfg: &HostConfig, s: &HostSample, now: jiff::Timestamp, sus: &mut Sustain) -> Vec<Alert> {
    let for_secs = cfg.hold_secs();
    let mut out = Vec::new();
    let mut check = |key: &str, name: &str, holds: bool, summary: String| {
        if let Some((firing, since)) = sus.step(key, holds, now, for_secs) {
            out.push(Alert {
                name: name.to_owned(),
                severity: Severity::Warning,
                firing,
                summary,
                since: Some(since),
                service: None,
                origin: "host",
            });
        }
    };
    let cpu_max = cfg.cpu_max();
    if let Some(c) = s.cpu_percent {
        check("cpu", "HighCpuUsage", c > cpu_max, format!("host CPU {}% above {}%", fmt_value(c), fmt_value(cpu_max)));
    }
    let mem_max = cfg.memory_max();
    let m = s.mem_percent();
    check(
        "mem",
        "HighMemoryUsage",
        s.mem_total > 0 && m > mem_max,
        format!("host memory {}% above {}%", fmt_value(m), fmt_value(mem_max)),
    );
    let free_min = cfg.disk_free_min();
    for d in &s.disks {
        let f = d.free_percent();
        check(
            &format!("disk:{}", d.path),
            "DiskSpaceLow",
            f < free_min,
            format!("{} has {}% free, below {}%", d.path, fmt_value(f), fmt_value(free_min)),
        );
    }
    out
}

/// Check one sample against the thresholds, announce the alerts that changed, and send both to
/// the panel (this machine's /proc and a remote machine's node metrics alike). `false` when the
/// panel is gone.
pub(super) async fn report(
    cfg: &HostConfig,
    sample: HostSample,
    sus: &mut Sustain,
    tracker: &mut super::rules::AlertTracker,
    notifier: &Notifier,
    tx: &mpsc::Sender<Msg>,
) -> bool {
    let alerts = alerts(cfg, &sample, jiff::Timestamp::now(), sus);
    for change in tracker.update(&alerts) {
        notifier.send_shared(change.text());
    }
    tx.send(Msg::Host(HostReport { sample, alerts })).await.is_ok()
}

/// Default paths: the root file system and the engine's default data root, when present.
pub fn default_paths() -> Vec<String> {
    let mut p = vec!["/".to_owned()];
    if std::path::Path::new("/var/lib/docker").is_dir() {
        p.push("/var/lib/docker".into());
    }
    p
}

pub fn spawn(cfg: HostConfig, tx: mpsc::Sender<Msg>, notifier: Notifier) {
    let paths = cfg.paths.clone().unwrap_or_else(default_paths);
    tokio::spawn(async move {
        let mut prev = None;
        let mut sus = Sustain::default();
        let mut tracker = super::rules::AlertTracker::default();
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_errors = Vec::new();
        loop {
            tick.tick().await;
            let p = paths.clone();
            // statvfs on a hung network mount could block: off the runtime, with a timeout.
            let job = tokio::task::spawn_blocking(move || read(&p, prev));
            let Ok(Ok((sample, cpu))) = tokio::time::timeout(Duration::from_secs(3), job).await else {
                tracing::warn!("host resources: reading took longer than 3 s (a hung mount?)");
                continue;
            };
            prev = cpu;
            if sample.errors != last_errors {
                for e in &sample.errors {
                    tracing::warn!("host resources: {e}");
                }
                last_errors.clone_from(&sample.errors);
            }
            if !report(&cfg, sample, &mut sus, &mut tracker, &notifier, &tx).await {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_and_thresholds() {
        let stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_cpu(stat), Some((800, 1000)));
        let mem = "MemTotal:       1000 kB\nMemFree:         10 kB\nMemAvailable:    100 kB\n";
        assert_eq!(parse_mem(mem), Some((1_024_000, 921_600)));
        assert_eq!(parse_mem("garbage"), None);
        let s = HostSample {
            cpu_percent: Some(91.0),
            mem_total: 100,
            mem_used: 50,
            disks: vec![Disk { path: "/data".into(), total: 100, free: 10 }],
            errors: vec![],
            source: String::new(),
        };
        let mut sus = Sustain::default();
        let cfg = HostConfig { for_secs: Some(0), ..HostConfig::default() };
        let a = alerts(&cfg, &s, jiff::Timestamp::UNIX_EPOCH, &mut sus);
        let names: Vec<&str> = a.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["HighCpuUsage", "DiskSpaceLow"]);
        assert!(a.iter().all(|a| a.firing));
        assert_eq!(a[1].summary, "/data has 10% free, below 20%");
    }

    #[test]
    fn reads_this_machine() {
        let (s, cpu) = read(&["/".to_owned()], None);
        assert!(cpu.is_some() && s.mem_total > 0 && s.disks.len() == 1, "{s:?}");
        assert!(s.disks[0].total > 0);
    }
}
