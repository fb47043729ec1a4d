//! The validated stack config ([`Stack`]): parsing, the checks that need more than a type
//! (URLs, regular expressions, job fields; ranges in `ranges.rs`), the compiled masker, and the
//! resolved settings every layer reads. The raw types of the file are in `schema.rs`.

use super::defaults;
use super::error::ConfigError;
pub use super::schema::{
    BackupConfig, BackupJob, EngineConfig, LogsConfig, MaskingConfig, ServiceConfig, StackConfig, StateConfig,
};
use crate::domain::{BackupKind, ServiceKey, VerifyMode};
use crate::logtext::mask::{DEFAULT_PATTERNS, Masker};
use std::time::Duration;

/// A validated stack config plus the compiled masker.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub config: StackConfig,
    pub masker: Masker,
}

impl Stack {
    pub fn parse(file: &str, text: &str) -> Result<Stack, ConfigError> {
        let config: StackConfig = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
        super::ranges::check(file, text, &config)?;
        for (name, svc) in &config.services {
            if let Some(url) = &svc.health_url {
                super::observe::http_url(file, text, &format!("health_url of service '{name}'"), url)?;
            }
            check_halt(file, text, name, svc)?;
        }
        let mut names = std::collections::HashSet::new();
        for job in &config.backup.jobs {
            let bad = |msg: String, fix: &str| {
                Err(ConfigError::at(file, text, None, format!("[[backup.jobs]] '{}': {msg}", job.name), fix))
            };
            if job.name.is_empty() || !job.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return bad("the name must be letters, digits, - or _".into(), "rename the job");
            }
            if !names.insert(job.name.clone()) {
                return bad("the name is used twice".into(), "give every job its own name");
            }
            match job.kind {
                BackupKind::Exec if job.service.is_none() || job.command.as_ref().is_none_or(Vec::is_empty) => {
                    return bad(
                        "kind = \"exec\" needs service and command".into(),
                        "add service = \"...\" and command = [\"...\"]",
                    );
                }
                BackupKind::Copy if job.service.is_none() || job.path.is_none() => {
                    return bad(
                        "kind = \"copy\" needs service and path".into(),
                        "add service = \"...\" and path = \"/in/the/container\"",
                    );
                }
                BackupKind::Paths if job.paths.as_ref().is_none_or(Vec::is_empty) => {
                    return bad("kind = \"paths\" needs paths".into(), "add paths = [\"/etc/...\"]");
                }
                BackupKind::Exec | BackupKind::Copy | BackupKind::Paths => {}
            }
            if job.restore.as_ref().is_some_and(Vec::is_empty) || job.restore_check.as_ref().is_some_and(Vec::is_empty)
            {
                return bad("restore and restore_check need a command".into(), "name the command, or remove the field");
            }
            if job.restore.is_some() && (job.service.is_none() || job.kind == BackupKind::Paths) {
                return bad(
                    "restore needs a job of kind \"exec\" or \"copy\" (it runs in the service's container)".into(),
                    "remove restore from this job",
                );
            }
            if (job.restore_restart || job.restore_check.is_some()) && job.restore.is_none() {
                return bad("restore_restart and restore_check need restore".into(), "add restore = [\"...\"]");
            }
            if job.confirm.as_ref().is_some_and(|w| w.trim().is_empty() || w.chars().any(char::is_control)) {
                return bad("confirm must be a word to type".into(), "e.g. confirm = \"redis\"");
            }
            match job.verify {
                None => {}
                Some(VerifyMode::Postgres)
                    if job.kind == BackupKind::Exec && job.user.is_some() && job.database.is_some() => {}
                Some(VerifyMode::Postgres) => {
                    return bad(
                        "verify = \"postgres\" needs kind = \"exec\", user and database".into(),
                        "add user and database",
                    );
                }
            }
        }
        if let Some(s) = &config.backup.schedule {
            schedule(s.get_ref()).map_err(|e| {
                ConfigError::at(
                    file,
                    text,
                    Some(s.span()),
                    format!("[backup] schedule is not a cron expression: {e}"),
                    "write five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" for daily at 03:00",
                )
            })?;
        }
        if let Some(m) = &config.guard.metrics {
            metrics_addr(m.get_ref()).map_err(|e| {
                ConfigError::at(
                    file,
                    text,
                    Some(m.span()),
                    format!("[guard] metrics: {e}"),
                    "write a loopback address and port, e.g. \"127.0.0.1:9464\"",
                )
            })?;
        }
        let sections = super::observe::Sections {
            prometheus: &config.prometheus,
            scrape: &config.scrape,
            panels: &config.panels,
            host: &config.host,
            availability: &config.availability,
            notify: &config.notify,
        };
        super::observe::validate(file, text, &sections)?;
        let defaults: &[&str] = if config.masking.replace_defaults { &[] } else { DEFAULT_PATTERNS };
        for p in &config.masking.patterns {
            if let Err(e) = regex::Regex::new(p.get_ref()) {
                let first = e.to_string().lines().last().unwrap_or("invalid").trim().to_owned();
                return Err(ConfigError::at(
                    file,
                    text,
                    Some(p.span()),
                    format!("masking pattern is not a valid regular expression: {first}"),
                    "fix the pattern (regex syntax; name a group (?P<secret>...) to mask only that part)",
                ));
            }
        }
        let masker =
            Masker::new(defaults.iter().copied(), config.masking.patterns.iter().map(|p| p.get_ref().as_str()))
                .map_err(|(p, e)| {
                    ConfigError::at(file, text, None, format!("masking pattern '{p}': {e}"), "fix the pattern")
                })?;
        Ok(Stack { config, masker })
    }

    /// The config entry for a service: `project/service` first, then `service`.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceConfig> {
        self.config.services.get(&key.to_string()).or_else(|| self.config.services.get(&key.service))
    }

    /// A service's settings with every default applied.
    pub fn settings(&self, key: &ServiceKey) -> ServiceSettings {
        ServiceSettings::of(self.service(key))
    }

    /// Config names of the kill-switch services.
    pub fn kill_switch_targets(&self) -> Vec<String> {
        self.config.services.iter().filter(|(_, s)| s.kill_switch).map(|(n, _)| n.clone()).collect()
    }

    /// Jobs a restore can put back (PostgreSQL dumps, and jobs with a `restore` command), with
    /// the word that confirms it: `confirm`, else the database's name, else the job's.
    pub fn restorable_jobs(&self) -> Vec<(String, String)> {
        self.config
            .backup
            .jobs
            .iter()
            .filter(|j| j.verify == Some(VerifyMode::Postgres) || j.restore.is_some())
            .map(|j| {
                let word = j.confirm.clone().or_else(|| j.database.clone()).unwrap_or_else(|| j.name.clone());
                (j.name.clone(), word)
            })
            .collect()
    }

    /// Services left out of the panel.
    pub fn hidden(&self) -> Vec<ServiceKey> {
        self.config.services.iter().filter(|(_, s)| s.hidden).map(|(n, _)| ServiceKey::parse(n)).collect()
    }

    pub fn tail(&self) -> u32 {
        self.config.logs.tail.unwrap_or(defaults::TAIL)
    }

    /// Mouse clicks and wheel in the panel (`[ui] mouse`, default on).
    pub fn mouse(&self) -> bool {
        self.config.ui.mouse.unwrap_or(true)
    }

    /// How far back the timeline reads the engine's events at start (`[timeline] since_secs`).
    pub fn timeline_since(&self) -> Duration {
        Duration::from_secs(self.config.timeline.since_secs.unwrap_or(defaults::TIMELINE_SINCE_SECS))
    }

    /// Timeline rows kept from the engine (`[timeline] keep`).
    pub fn timeline_keep(&self) -> usize {
        self.config.timeline.keep.unwrap_or(defaults::TIMELINE_KEEP)
    }

    pub fn buffer_lines(&self) -> usize {
        self.config.logs.buffer_lines.unwrap_or(defaults::BUFFER_LINES)
    }

    /// The engine's full resync period.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.config.engine.resync_secs.unwrap_or(defaults::RESYNC_SECS))
    }

    /// Try to pull an image before deploying it.
    pub fn pull(&self) -> bool {
        self.config.engine.pull.unwrap_or(true)
    }

    /// Backup retention: days kept, and good backups kept.
    pub fn keep_days(&self) -> u32 {
        self.config.backup.keep_days.unwrap_or(defaults::KEEP_DAYS)
    }

    pub fn keep_count(&self) -> usize {
        self.config.backup.keep_count.unwrap_or(defaults::KEEP_COUNT)
    }
}

/// A service's settings as the panel, the probes and the operations use them: the one place
/// where the per-service defaults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    pub health_url: Option<String>,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub display_name: Option<String>,
    pub hidden: bool,
    pub kill_switch: bool,
    /// Grace between the stop signal and SIGKILL; `None`: the container's own.
    pub stop_grace: Option<u32>,
    pub gate_tries: u32,
    pub gate_interval: Duration,
    /// The monitor window after the gate (zero: none); `monitor_set`: the config says it (it
    /// wins over the compose file's update_config.monitor).
    pub monitor: Duration,
    pub monitor_set: bool,
    /// The config's deploy order and failure action, when it sets them.
    pub order: Option<crate::compose::Order>,
    pub failure_action: Option<crate::compose::FailureAction>,
    /// Smoke checks after the window, in order.
    pub smoke: Vec<Smoke>,
    pub smoke_timeout: Duration,
    /// What runs before the stop signal of an emergency stop, if anything.
    pub halt: Option<HaltHook>,
}

/// A smoke check after a deploy's gate and monitor window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Smoke {
    /// A shell line run on this machine (`sh -c`).
    Host(String),
    /// A command run in the new container.
    Exec(Vec<String>),
}

/// A halt hook: how the service is told to stand down before it is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaltHook {
    pub action: HaltAction,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaltAction {
    /// An HTTP request; headers are (name, value) or (name, env var to read at stop time).
    Http { url: String, method: String, headers: Vec<(String, String)>, headers_env: Vec<(String, String)> },
    /// A command run in the service's container.
    Exec(Vec<String>),
}

impl ServiceSettings {
    fn of(c: Option<&ServiceConfig>) -> ServiceSettings {
        let d = ServiceConfig::default();
        let c = c.unwrap_or(&d);
        ServiceSettings {
            health_url: c.health_url.as_ref().map(|u| u.get_ref().clone()),
            probe_interval: Duration::from_secs(c.probe_interval_secs.unwrap_or(defaults::PROBE_INTERVAL_SECS)),
            probe_timeout: Duration::from_secs(c.probe_timeout_secs.unwrap_or(defaults::PROBE_TIMEOUT_SECS)),
            display_name: c.display_name.clone(),
            hidden: c.hidden,
            kill_switch: c.kill_switch,
            stop_grace: c.stop_grace_secs,
            gate_tries: c.gate_tries.unwrap_or(defaults::GATE_TRIES),
            gate_interval: Duration::from_secs(c.gate_interval_secs.unwrap_or(defaults::GATE_INTERVAL_SECS)),
            monitor: Duration::from_secs(c.monitor_secs.unwrap_or(0)),
            monitor_set: c.monitor_secs.is_some(),
            order: c.order.as_deref().and_then(crate::compose::Order::parse),
            failure_action: c.failure_action.as_deref().and_then(crate::compose::FailureAction::parse),
            smoke: c
                .smoke
                .iter()
                .map(|l| Smoke::Host(l.clone()))
                .chain(c.smoke_exec.iter().map(|a| Smoke::Exec(a.clone())))
                .collect(),
            smoke_timeout: Duration::from_secs(c.smoke_timeout_secs.unwrap_or(30)),
            halt: halt_hook(c),
        }
    }
}

/// A backup schedule: five cron fields (seconds are not offered: a backup per second is a
/// mistake, not a schedule).
pub fn schedule(expr: &str) -> Result<croner::Cron, String> {
    if expr.split_whitespace().count() != 5 {
        return Err(format!("'{}' has {} fields, not 5", crate::logtext::inert(expr), expr.split_whitespace().count()));
    }
    croner::parser::CronParser::new().parse(expr).map_err(|e| e.to_string())
}

/// Where the guard serves its metrics: a loopback address only (they name services and
/// backup results; they are for the stack's own Prometheus on this host).
pub fn metrics_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr =
        s.parse().map_err(|_| format!("'{}' is not an address:port", crate::logtext::inert(s)))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address: the metrics are served on this host only"));
    }
    if addr.port() == 0 {
        return Err("port 0 is not a port Prometheus can scrape".into());
    }
    Ok(addr)
}

impl Stack {
    /// Every HTTP endpoint of the stack stackdeck calls (health URLs, halt hooks, Prometheus,
    /// Alertmanager, scrape targets): what an ssh engine forwards.
    pub fn http_endpoints(&self) -> Vec<String> {
        let c = &self.config;
        let mut out: Vec<String> = Vec::new();
        for s in c.services.values() {
            out.extend(s.health_url.iter().chain(s.halt_url.iter()).map(|u| u.get_ref().clone()));
        }
        out.extend(c.prometheus.url.iter().chain(c.prometheus.alertmanager_url.iter()).map(|u| u.get_ref().clone()));
        out.extend(c.scrape.targets.iter().map(|t| t.url.get_ref().clone()));
        out
    }

    /// The guard's metrics address: the config's, else 127.0.0.1:9464.
    pub fn guard_metrics(&self) -> std::net::SocketAddr {
        self.config
            .guard
            .metrics
            .as_ref()
            .and_then(|m| metrics_addr(m.get_ref()).ok())
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], defaults::GUARD_METRICS_PORT)))
    }
}

fn halt_hook(c: &ServiceConfig) -> Option<HaltHook> {
    let timeout = Duration::from_secs(c.halt_timeout_secs.unwrap_or(defaults::HALT_TIMEOUT_SECS));
    let action = match (&c.halt_url, &c.halt_exec) {
        (Some(url), _) => HaltAction::Http {
            url: url.get_ref().clone(),
            method: c.halt_method.as_ref().map_or_else(|| "POST".to_owned(), |m| m.get_ref().to_ascii_uppercase()),
            headers: c.halt_headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            headers_env: c.halt_headers_env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        },
        (None, Some(cmd)) => HaltAction::Exec(cmd.clone()),
        (None, None) => return None,
    };
    Some(HaltHook { action, timeout })
}

/// The halt hook's fields: one kind of hook, a method HTTP knows, header names and values
/// HTTP accepts, env var names that can exist.
fn check_halt(file: &str, text: &str, name: &str, svc: &ServiceConfig) -> Result<(), ConfigError> {
    let bad = |span: Option<std::ops::Range<usize>>, msg: String, fix: &str| {
        Err(ConfigError::at(file, text, span, format!("[services.\"{name}\"] {msg}"), fix))
    };
    if let Some(url) = &svc.halt_url {
        super::observe::http_url(file, text, &format!("halt_url of service '{name}'"), url)?;
        if svc.halt_exec.is_some() {
            return bad(Some(url.span()), "has both halt_url and halt_exec".into(), "keep one of the two halt hooks");
        }
    }
    if let Some(m) = &svc.halt_method {
        if svc.halt_url.is_none() {
            return bad(Some(m.span()), "halt_method without halt_url".into(), "add halt_url, or remove halt_method");
        }
        if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&m.get_ref().to_ascii_uppercase().as_str()) {
            return bad(
                Some(m.span()),
                format!(
                    "halt_method = \"{}\" is not an HTTP method the hook sends",
                    crate::logtext::inert(m.get_ref())
                ),
                "use POST (the default), PUT, PATCH, DELETE or GET",
            );
        }
    }
    if svc.halt_exec.as_ref().is_some_and(Vec::is_empty) {
        return bad(
            None,
            "halt_exec is empty".into(),
            "name the command, e.g. halt_exec = [\"bot-cli\", \"cancel-all\"]",
        );
    }
    let has_headers = !svc.halt_headers.is_empty() || !svc.halt_headers_env.is_empty();
    if has_headers && svc.halt_url.is_none() {
        return bad(None, "halt_headers without halt_url".into(), "add halt_url, or remove the headers");
    }
    for (h, v) in svc.halt_headers.iter().chain(svc.halt_headers_env.iter()) {
        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
            return bad(
                None,
                format!("halt header name '{}' is not a valid HTTP header name", crate::logtext::inert(h)),
                "use letters, digits and - (e.g. Authorization)",
            );
        }
        if reqwest::header::HeaderValue::from_str(v).is_err() {
            return bad(
                None,
                format!("the value of halt header '{h}' has characters HTTP does not allow"),
                "remove control characters and newlines from it",
            );
        }
    }
    for (h, var) in &svc.halt_headers_env {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(
                None,
                format!(
                    "halt_headers_env.{h} = \"{}\" is not an environment variable name",
                    crate::logtext::inert(var)
                ),
                "name the variable that holds the value, e.g. BOT_HALT_TOKEN",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_hooks_schedules_and_the_guard_address_are_checked_at_their_line() {
        let err = |t: &str| Stack::parse("s.toml", t).unwrap_err();
        let e =
            err("[services.bot]\nkill_switch = true\nhalt_url = \"http://127.0.0.1:1/halt\"\nhalt_exec = [\"x\"]\n");
        assert!(e.message.contains("both halt_url and halt_exec") && e.position.is_some(), "{e}");
        let e = err("[services.bot]\nhalt_url = \"http://127.0.0.1:1/halt\"\nhalt_method = \"FETCH\"\n");
        assert!(e.message.contains("halt_method") && e.position.map(|p| p.0) == Some(3), "{e}");
        assert!(
            err("[services.bot]\nhalt_exec = [\"x\"]\nhalt_timeout_secs = 31\n").message.contains("halt_timeout_secs")
        );
        assert!(
            err("[services.bot]\nhalt_exec = [\"x\"]\nhalt_timeout_secs = 0\n").message.contains("halt_timeout_secs")
        );
        assert!(
            err("[services.bot]\nhalt_headers_env = { Authorization = \"X\" }\n").message.contains("without halt_url")
        );
        let e = err(
            "[services.bot]\nhalt_url = \"http://127.0.0.1:1/\"\nhalt_headers_env = { Authorization = \"not a var\" }\n",
        );
        assert!(e.message.contains("environment variable"), "{e}");
        let e = err("[backup]\nschedule = \"61 * * * *\"\n");
        assert!(e.message.contains("schedule") && e.position.map(|p| p.0) == Some(2), "{e}");
        assert!(err("[backup]\nschedule = \"* * *\"\n").message.contains("3 fields, not 5"));
        let e = err("[guard]\nmetrics = \"0.0.0.0:9464\"\n");
        assert!(e.message.contains("not a loopback address") && e.position.map(|p| p.0) == Some(2), "{e}");
        assert!(err("[guard]\nmetrics = \"127.0.0.1:0\"\n").message.contains("port 0"));
        let ok = Stack::parse(
            "s.toml",
            "[services.bot]\nhalt_url = \"http://127.0.0.1:1/halt\"\nhalt_headers = { X-Reason = \"kill\" }\n[backup]\nschedule = \"0 3 * * *\"\n[guard]\nmetrics = \"127.0.0.1:9500\"\n",
        )
        .unwrap();
        let h = ok.settings(&ServiceKey::parse("bot")).halt.unwrap();
        assert_eq!(h.timeout, Duration::from_secs(3));
        assert!(matches!(h.action, HaltAction::Http { ref method, .. } if method == "POST"));
        assert_eq!(ok.guard_metrics().port(), 9500);
    }

    #[test]
    fn full_example_parses() {
        let s = Stack::parse(
            "s.toml",
            r#"
[engine]
resync_secs = 20
[services."fx-stack/trading-bot"]
health_url = "http://127.0.0.1:59101/health"
display_name = "Trading bot"
[services.redis]
hidden = true
[masking]
patterns = ["acct-(?P<secret>[0-9]+)"]
[logs]
tail = 50
"#,
        )
        .unwrap();
        assert_eq!(s.tail(), 50);
        let bot = s.service(&ServiceKey::new(Some("fx-stack"), "trading-bot")).unwrap();
        assert_eq!(bot.display_name.as_deref(), Some("Trading bot"));
        assert!(s.service(&ServiceKey::new(Some("other"), "redis")).unwrap().hidden);
        assert_eq!(s.masker.mask("acct-991 api_key=x"), "acct-**** api_key=****");
    }

    #[test]
    fn unknown_field_is_an_error_with_position() {
        let e = Stack::parse("s.toml", "[services.bot]\nhealth_uri = \"http://x\"\n").unwrap_err();
        assert_eq!(e.position, Some((2, 1)));
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_url_and_bad_regex() {
        let e = Stack::parse("s.toml", "[services.bot]\nhealth_url = \"localhost:80\"\n").unwrap_err();
        assert_eq!(e.position, Some((2, 14)));
        let e = Stack::parse("s.toml", "[masking]\npatterns = [\"ok\", \"(bad\"]\n").unwrap_err();
        assert_eq!(e.position, Some((2, 19)));
        assert!(e.message.contains("regular expression"), "{e}");
    }
}
