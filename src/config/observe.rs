//! The observability part of the stack config: Prometheus, direct `/metrics` scraping, chart
//! panels with thresholds (and the local alert rules they carry), host resources,
//! availability and webhook notifications.

use super::defaults;
use super::error::ConfigError;
use crate::observe::expr::LocalExpr;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus server (`http://127.0.0.1:9090`). Without it, stackdeck
    /// scrapes the `[scrape]` targets itself.
    pub url: Option<Spanned<String>>,
    /// Take alerts from Alertmanager (`/api/v2/alerts`) instead of Prometheus' `/api/v1/alerts`.
    pub alertmanager_url: Option<Spanned<String>>,
    /// Seconds between polls (default 10).
    pub interval_secs: Option<u64>,
    /// Timeout of every request in seconds (default 3).
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// Seconds between scrapes of every target (default 5).
    pub interval_secs: Option<u64>,
    /// Timeout of every scrape in seconds (default 2).
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub targets: Vec<ScrapeTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTarget {
    /// The service the endpoint belongs to (its alerts are that service's alerts).
    pub service: String,
    pub url: Spanned<String>,
}

/// One chart: a PromQL query for Prometheus, and the same series as a local expression over
/// the scraped samples (`metric`, `rate(metric)`, `quantile(0.95, metric)`, with optional
/// `{label="value"}` matchers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelConfig {
    pub title: String,
    /// PromQL, evaluated by Prometheus (instant query for the value, range query for the chart).
    pub query: Option<String>,
    /// The same series computed from scraped `/metrics` when Prometheus is not in use.
    pub local: Option<Spanned<String>>,
    #[serde(default)]
    pub unit: String,
    pub warn: Option<f64>,
    pub critical: Option<f64>,
    /// Lower is worse (P&L): thresholds fire when the value falls below them.
    #[serde(default)]
    pub below: bool,
    /// Name of the alert evaluated locally from this panel's thresholds (scrape mode;
    /// Prometheus evaluates its own rules).
    pub alert: Option<String>,
    /// Seconds the threshold must be crossed before the alert fires (default 0).
    pub alert_for_secs: Option<u64>,
    /// The service the panel (and its alert) is about.
    pub service: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Read CPU, memory and disks of this machine. Default: on when the engine is a local
    /// socket (stackdeck runs on the server), off for remote engines.
    pub enabled: Option<bool>,
    /// Paths whose file systems are watched (default: "/" and the engine's data root).
    pub paths: Option<Vec<String>>,
    /// Alert thresholds (the stack's: CPU > 80 %, memory > 85 %, disk free < 20 %).
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_free_percent: Option<f64>,
    /// Seconds a host threshold must be crossed before it alerts (default 60).
    pub for_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Objective in percent (default 99.9, the stack's target).
    pub objective: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Name of the environment variable that holds the webhook URL (never the URL itself).
    pub webhook_env: Option<Spanned<String>>,
    /// Tries per message (default 4), with backoff 1 s, 2 s, 4 s...
    pub tries: Option<u32>,
    /// Timeout of one delivery in seconds (default 5).
    pub timeout_secs: Option<u64>,
}

impl PrometheusConfig {
    pub fn interval(&self) -> Duration {
        self.interval_secs.map_or(defaults::PROMETHEUS_INTERVAL, Duration::from_secs)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout_secs.map_or(defaults::PROMETHEUS_TIMEOUT, Duration::from_secs)
    }
}

impl ScrapeConfig {
    pub fn interval(&self) -> Duration {
        self.interval_secs.map_or(defaults::SCRAPE_INTERVAL, Duration::from_secs)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout_secs.map_or(defaults::SCRAPE_TIMEOUT, Duration::from_secs)
    }
}

impl HostConfig {
    pub fn cpu_max(&self) -> f64 {
        self.cpu_percent.unwrap_or(defaults::HOST_CPU_MAX)
    }

    pub fn memory_max(&self) -> f64 {
        self.memory_percent.unwrap_or(defaults::HOST_MEMORY_MAX)
    }

    pub fn disk_free_min(&self) -> f64 {
        self.disk_free_percent.unwrap_or(defaults::HOST_DISK_FREE_MIN)
    }

    pub fn hold_secs(&self) -> u64 {
        self.for_secs.unwrap_or(defaults::HOST_FOR_SECS)
    }

    /// Read this machine's resources: configured, else when the engine is a local socket.
    pub fn enabled_for(&self, engine_host: &str) -> bool {
        self.enabled.unwrap_or_else(|| engine_host.starts_with("unix://"))
    }
}

impl AvailabilityConfig {
    pub fn objective(&self) -> f64 {
        self.objective.unwrap_or(defaults::OBJECTIVE)
    }
}

impl NotifyConfig {
    pub fn tries(&self) -> u32 {
        self.tries.unwrap_or(defaults::NOTIFY_TRIES)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout_secs.map_or(defaults::NOTIFY_TIMEOUT, Duration::from_secs)
    }
}

impl PanelConfig {
    pub fn alert_hold_secs(&self) -> u64 {
        self.alert_for_secs.unwrap_or(0)
    }
}

/// The observability sections of the stack file, as [`validate`] reads them.
#[derive(Debug, Clone, Copy)]
pub struct Sections<'a> {
    pub prometheus: &'a PrometheusConfig,
    pub scrape: &'a ScrapeConfig,
    pub panels: &'a [PanelConfig],
    pub host: &'a HostConfig,
    pub availability: &'a AvailabilityConfig,
    pub notify: &'a NotifyConfig,
}

/// Every URL in the config (health probes, Prometheus, scrape targets) is checked here.
pub(super) fn http_url(file: &str, text: &str, what: &str, u: &Spanned<String>) -> Result<(), ConfigError> {
    let s = u.get_ref();
    if (s.starts_with("http://") || s.starts_with("https://")) && reqwest::Url::parse(s).is_ok() {
        return Ok(());
    }
    Err(ConfigError::at(
        file,
        text,
        Some(u.span()),
        format!("{what} is not an http(s) URL: '{s}'"),
        "write a full URL, e.g. \"http://127.0.0.1:9090\" or \"http://127.0.0.1:8000/health\"",
    ))
}

/// Checks what serde cannot: URLs, local expressions, thresholds, the webhook variable name.
pub fn validate(file: &str, text: &str, c: &Sections<'_>) -> Result<(), ConfigError> {
    let bad = |msg: String, fix: &str| Err(ConfigError::at(file, text, None, msg, fix));
    if let Some(u) = &c.prometheus.url {
        http_url(file, text, "[prometheus] url", u)?;
    }
    if let Some(u) = &c.prometheus.alertmanager_url {
        http_url(file, text, "[prometheus] alertmanager_url", u)?;
    }
    for t in &c.scrape.targets {
        http_url(file, text, &format!("scrape target of '{}'", t.service), &t.url)?;
    }
    for p in c.panels {
        if p.query.is_none() && p.local.is_none() {
            return bad(
                format!("[[panels]] '{}' has neither query nor local", p.title),
                "add query = \"PromQL\" (Prometheus) and/or local = \"metric\" (direct scraping)",
            );
        }
        if let Some(l) = &p.local
            && let Err(e) = LocalExpr::parse(l.get_ref())
        {
            return Err(ConfigError::at(
                file,
                text,
                Some(l.span()),
                format!("[[panels]] '{}': local expression: {e}", p.title),
                "write metric, metric{label=\"v\"}, rate(metric) or quantile(0.95, histogram_metric)",
            ));
        }
        if let (Some(w), Some(cr)) = (p.warn, p.critical)
            && ((!p.below && w > cr) || (p.below && w < cr))
        {
            return bad(
                format!("[[panels]] '{}': warn {w} is beyond critical {cr}", p.title),
                "warn is the earlier threshold: below critical (or above it with below = true)",
            );
        }
        if p.alert.is_some() && p.warn.is_none() && p.critical.is_none() {
            return bad(
                format!("[[panels]] '{}': alert needs a threshold", p.title),
                "add critical = ... (or warn = ...)",
            );
        }
    }
    if let Some(v) = &c.notify.webhook_env {
        let name = v.get_ref();
        let ok = !name.is_empty()
            && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            && !name.starts_with(|ch: char| ch.is_ascii_digit());
        if !ok {
            let fix = if name.contains("://") {
                "put the URL in an environment variable and name the variable here, e.g. webhook_env = \"STACKDECK_WEBHOOK_URL\" (a URL in a file leaks)"
            } else {
                "name an environment variable: letters, digits and _"
            };
            // Never echo what may be the secret URL itself.
            let shown = if name.contains("://") { "a URL".to_owned() } else { format!("'{name}'") };
            return Err(ConfigError::at(
                file,
                text,
                Some(v.span()),
                format!("[notify] webhook_env is {shown}, not an environment variable name"),
                fix,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Stack;

    #[test]
    fn demo_config_parses() {
        let text = include_str!("../../scripts/demo.toml");
        let s = Stack::parse("scripts/demo.toml", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.config.panels.len(), 7);
        assert!(s.config.prometheus.url.is_some() && s.config.scrape.targets.len() == 2);
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let e = Stack::parse("s.toml", "[[panels]]\ntitle = \"x\"\nlocal = \"sum(x)\"\n").unwrap_err();
        assert_eq!(e.position, Some((3, 9)));
        assert!(e.message.contains("only rate(...) and quantile(...)"), "{e}");
        let e = Stack::parse("s.toml", "[prometheus]\nurl = \"127.0.0.1:9090\"\n").unwrap_err();
        assert_eq!(e.position, Some((2, 7)));
        let e =
            Stack::parse("s.toml", "[[panels]]\ntitle = \"x\"\nquery = \"up\"\nwarn = 9\ncritical = 5\n").unwrap_err();
        assert!(e.message.contains("warn 9 is beyond critical 5"), "{e}");
        let e = Stack::parse("s.toml", "[[panels]]\ntitle = \"x\"\n").unwrap_err();
        assert!(e.fix.contains("query ="), "{e}");
        let e = Stack::parse("s.toml", "[prometheus]\nurl = \"http://x\"\nwebhook = \"y\"\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn a_webhook_url_in_the_file_is_refused_without_echoing_it() {
        let e = Stack::parse("s.toml", "[notify]\nwebhook_env = \"https://hooks.example/T0/SECRET\"\n").unwrap_err();
        assert_eq!(e.position, Some((2, 15)));
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert!(e.fix.contains("environment variable"), "{e}");
    }
}
