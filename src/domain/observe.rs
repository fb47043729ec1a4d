//! What the observers report: chart panels, alerts and where they came from, host resources.

use jiff::Timestamp;

/// The chart and availability window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    M5,
    H1,
    H24,
}

impl Window {
    pub fn secs(self) -> i64 {
        match self {
            Window::M5 => 300,
            Window::H1 => 3_600,
            Window::H24 => 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Window::M5 => "5m",
            Window::H1 => "1h",
            Window::H24 => "24h",
        }
    }

    pub fn next(self) -> Window {
        match self {
            Window::M5 => Window::H1,
            Window::H1 => Window::H24,
            Window::H24 => Window::M5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub name: String,
    pub severity: Severity,
    /// False while pending (the threshold is crossed but not yet for long enough).
    pub firing: bool,
    pub summary: String,
    pub since: Option<Timestamp>,
    /// The service it is about, from the alert's labels or the panel's config.
    pub service: Option<String>,
    /// "prometheus", "alertmanager", "local" (scraped) or "host".
    pub origin: &'static str,
}

impl Alert {
    pub fn key(&self) -> String {
        format!("{}|{}", self.name, self.service.as_deref().unwrap_or(""))
    }
}

/// One panel's data for the current window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PanelData {
    pub index: usize,
    /// (unix ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
    pub value: Option<f64>,
    /// Series the query returned beyond the one drawn.
    pub extra_series: usize,
    pub error: Option<String>,
}

impl PanelData {
    pub fn failed(index: usize, error: String) -> Self {
        PanelData { index, error: Some(error), ..PanelData::default() }
    }
}

/// Where metrics and alerts come from right now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    /// Nothing configured.
    #[default]
    None,
    Prometheus,
    /// Scraping the services directly; `fallback` says why Prometheus is not used.
    Scrape {
        fallback: Option<String>,
    },
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::None => "no metrics source".into(),
            Source::Prometheus => "metrics: prometheus".into(),
            Source::Scrape { fallback: None } => "metrics: direct scrape".into(),
            Source::Scrape { fallback: Some(_) } => "metrics: direct scrape (prometheus down)".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub source: Source,
    pub window: Window,
    pub panels: Vec<PanelData>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub path: String,
    pub total: u64,
    pub free: u64,
}

impl Disk {
    pub fn free_percent(&self) -> f64 {
        if self.total == 0 { 100.0 } else { self.free as f64 * 100.0 / self.total as f64 }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostSample {
    /// None on the first sample (a rate needs two readings).
    pub cpu_percent: Option<f64>,
    pub mem_total: u64,
    pub mem_used: u64,
    pub disks: Vec<Disk>,
    /// Where the figures come from: empty for this machine's /proc, else e.g. "node metrics".
    pub source: String,
    /// What could not be read.
    pub errors: Vec<String>,
}

impl HostSample {
    pub fn mem_percent(&self) -> f64 {
        if self.mem_total == 0 { 0.0 } else { self.mem_used as f64 * 100.0 / self.mem_total as f64 }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostReport {
    pub sample: HostSample,
    pub alerts: Vec<Alert>,
}
