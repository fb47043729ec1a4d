//! The guard's own metrics, in the Prometheus text format, on a loopback address: latched
//! services, blocked restarts, the age and result of the last backup per job, the last alert
//! evaluation. The stack's Prometheus scrapes them and alerts on "backup too old" and "guard
//! down" (`contrib/prometheus/stackdeck-guard.rules.yml`).
//!
//! [`Metrics`] is plain state the guard loop updates; [`render`] writes it; [`serve`] answers
//! `GET /metrics` from a snapshot (rendering never does I/O, serving never computes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub started: i64,
    pub engine_connected: bool,
    /// Latched services, and when each was stopped (unix seconds).
    pub latched: BTreeMap<String, i64>,
    pub restarts_blocked: BTreeMap<String, u64>,
    /// Per job: when it last succeeded, when it last ran, and whether that run succeeded.
    pub backups: BTreeMap<String, JobMetrics>,
    pub next_backup: Option<i64>,
    pub last_alert_evaluation: Option<i64>,
    pub alerts_firing: usize,
    pub chain_intact: bool,
    pub config_reloads: u64,
    pub config_reload_failures: u64,
    /// Timeline rows kept in the store, and dropped (the store slow or failing).
    pub timeline_rows_written: u64,
    pub timeline_rows_dropped: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobMetrics {
    pub last_success: Option<i64>,
    pub last_run: i64,
    pub last_ok: bool,
}

/// A label value as the text format needs it (escaped, inert).
fn label(v: &str) -> String {
    crate::logtext::inert(v).replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn render(m: &Metrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    let b = |x: bool| if x { "1".to_owned() } else { "0".to_owned() };
    family("stackdeck_guard_up", "gauge", "1 while the guard runs.", one("1".into()));
    family("stackdeck_guard_start_time_seconds", "gauge", "When the guard started.", one(m.started.to_string()));
    family("stackdeck_engine_connected", "gauge", "1 while the engine answers.", one(b(m.engine_connected)));
    family("stackdeck_latched_services", "gauge", "Emergency-stopped services.", one(m.latched.len().to_string()));
    family(
        "stackdeck_latched_since_seconds",
        "gauge",
        "When each emergency-stopped service was stopped.",
        m.latched.iter().map(|(s, t)| (format!("{{service=\"{}\"}}", label(s)), t.to_string())).collect(),
    );
    family(
        "stackdeck_restarts_blocked_total",
        "counter",
        "Starts of emergency-stopped services that were stopped again (history).",
        m.restarts_blocked.iter().map(|(s, n)| (format!("{{service=\"{}\"}}", label(s)), n.to_string())).collect(),
    );
    family(
        "stackdeck_backup_last_success_timestamp_seconds",
        "gauge",
        "When each backup job last succeeded (verified).",
        m.backups
            .iter()
            .filter_map(|(j, s)| s.last_success.map(|t| (format!("{{job=\"{}\"}}", label(j)), t.to_string())))
            .collect(),
    );
    family(
        "stackdeck_backup_last_run_timestamp_seconds",
        "gauge",
        "When each backup job last ran.",
        m.backups.iter().map(|(j, s)| (format!("{{job=\"{}\"}}", label(j)), s.last_run.to_string())).collect(),
    );
    family(
        "stackdeck_backup_last_result",
        "gauge",
        "1 when the job's last run succeeded, 0 when it failed.",
        m.backups.iter().map(|(j, s)| (format!("{{job=\"{}\"}}", label(j)), b(s.last_ok))).collect(),
    );
    if let Some(t) = m.next_backup {
        family(
            "stackdeck_backup_next_run_timestamp_seconds",
            "gauge",
            "The next scheduled backup.",
            one(t.to_string()),
        );
    }
    if let Some(t) = m.last_alert_evaluation {
        family(
            "stackdeck_alert_evaluation_timestamp_seconds",
            "gauge",
            "When alerts were last evaluated.",
            one(t.to_string()),
        );
    }
    family(
        "stackdeck_alerts_firing",
        "gauge",
        "Alerts firing at the last evaluation.",
        one(m.alerts_firing.to_string()),
    );
    family("stackdeck_audit_chain_intact", "gauge", "1 while the audit chain verifies.", one(b(m.chain_intact)));
    family("stackdeck_config_reloads_total", "counter", "SIGHUP reloads that took.", one(m.config_reloads.to_string()));
    family(
        "stackdeck_config_reload_failures_total",
        "counter",
        "SIGHUP reloads refused (bad config; the old one stays).",
        one(m.config_reload_failures.to_string()),
    );
    family(
        "stackdeck_timeline_rows_written_total",
        "counter",
        "Timeline rows (engine events, alerts) kept in the store for panels to read back.",
        one(m.timeline_rows_written.to_string()),
    );
    family(
        "stackdeck_timeline_rows_dropped_total",
        "counter",
        "Timeline rows not kept: the store was slow or failing.",
        one(m.timeline_rows_dropped.to_string()),
    );
    out
}

/// Serve `GET /metrics` on `listener` from the shared snapshot, until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Mutex<String>>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            // The request line and headers: a small bounded read, with a time limit.
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, ctype, body) =
                if head.starts_with("GET ") && (path == "/metrics" || path.starts_with("/metrics?")) {
                    let text = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                    ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
                } else if head.starts_with("GET ") && path == "/" {
                    ("200 OK", "text/plain; charset=utf-8", "stackdeck guard: see /metrics\n".to_owned())
                } else {
                    ("404 Not Found", "text/plain; charset=utf-8", "not found\n".to_owned())
                };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_parses_and_labels_are_escaped() {
        let mut m = Metrics { started: 1, chain_intact: true, ..Metrics::default() };
        m.latched.insert("p/bot\"\n\u{1b}[2J".into(), 1_700_000_000);
        m.restarts_blocked.insert("p/bot".into(), 3);
        m.backups.insert("postgres".into(), JobMetrics { last_success: Some(5), last_run: 6, last_ok: false });
        let text = render(&m);
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<_> = text.lines().map(|l| Ok(l.to_owned())).collect();
        let scrape = prometheus_parse::Scrape::parse(lines.into_iter()).expect("parses");
        let find = |name: &str| scrape.samples.iter().find(|s| s.metric == name).expect(name).value.clone();
        assert!(matches!(find("stackdeck_restarts_blocked_total"), prometheus_parse::Value::Counter(v) if v == 3.0));
        assert!(matches!(find("stackdeck_backup_last_result"), prometheus_parse::Value::Gauge(v) if v == 0.0));
        assert!(matches!(find("stackdeck_latched_services"), prometheus_parse::Value::Gauge(v) if v == 1.0));
    }
}
