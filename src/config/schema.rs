//! The stack file as written: every table and field, with serde's `deny_unknown_fields` (a typo
//! must not silently disable a health probe). Validation (`stack.rs`, `ranges.rs`,
//! `observe.rs`) and the resolved settings (`Stack::settings`) are built on these types.

use super::observe::{AvailabilityConfig, HostConfig, NotifyConfig, PanelConfig, PrometheusConfig, ScrapeConfig};
use crate::domain::{BackupKind, VerifyMode};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    #[serde(default)]
    pub engine: EngineConfig,
    /// Keyed by `service` (any project) or `project/service`.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default)]
    pub masking: MaskingConfig,
    #[serde(default)]
    pub logs: LogsConfig,
    #[serde(default)]
    pub ui: UiConfig,
    #[serde(default)]
    pub timeline: TimelineConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    #[serde(default)]
    pub prometheus: PrometheusConfig,
    #[serde(default)]
    pub scrape: ScrapeConfig,
    /// Charts, in the order shown.
    #[serde(default)]
    pub panels: Vec<PanelConfig>,
    #[serde(default)]
    pub host: HostConfig,
    #[serde(default)]
    pub availability: AvailabilityConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub guard: GuardConfig,
    /// Staging, production...: each names its engine and what differs (see `environments.rs`).
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

/// What an environment is: production asks for more before it changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Production,
    Staging,
    Development,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Production => "production",
            Kind::Staging => "staging",
            Kind::Development => "development",
        }
    }
}

/// `[environments.NAME]` as written: its engine and kind, the rest are section overrides.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentConfig {
    pub kind: Kind,
    pub host: Option<String>,
    pub context: Option<String>,
    #[serde(flatten)]
    pub overrides: toml::Table,
}

/// `stackdeck guard`: the panel's duties without a terminal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Where the guard serves /metrics (Prometheus text format): a loopback address and port,
    /// default 127.0.0.1:9464. `--metrics` wins over it.
    pub metrics: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go (default: <state dir>/backups). Made 0700; files are 0600.
    pub dir: Option<std::path::PathBuf>,
    /// Retention: backups older than this many days are removed (default 7, as the stack's
    /// backup script).
    pub keep_days: Option<u32>,
    /// Retention: at most this many good backups are kept (default 30).
    pub keep_count: Option<usize>,
    /// When `stackdeck guard` runs every job: a cron expression in the server's local time
    /// (minute hour day-of-month month day-of-week), e.g. "0 3 * * *" (daily at 03:00).
    pub schedule: Option<Spanned<String>>,
    #[serde(default)]
    pub jobs: Vec<BackupJob>,
}

/// One backup job. `kind`:
/// - `exec`: run `command` in the service's container, stream its stdout to a file (pg_dump);
/// - `copy`: optionally run `command` first (redis-cli SAVE), then copy `path` out of the
///   container through the engine's archive API;
/// - `paths`: tar host `paths` (configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJob {
    pub name: String,
    pub kind: BackupKind,
    pub service: Option<String>,
    pub command: Option<Vec<String>>,
    pub path: Option<String>,
    pub paths: Option<Vec<String>>,
    /// File extension before `.gz` (default: sql for exec, the copied file's for copy).
    pub extension: Option<String>,
    /// `postgres`: verify by restoring into a scratch database in the running container.
    pub verify: Option<VerifyMode>,
    pub user: Option<String>,
    pub database: Option<String>,
    /// How a backup of this job goes back (jobs other than a `verify = "postgres"` dump): a
    /// command run in the service's container with the backup, decompressed, on its stdin.
    pub restore: Option<Vec<String>>,
    /// Restart the service's container after `restore` (a server that loads its data at start:
    /// Redis and its dump.rdb).
    #[serde(default)]
    pub restore_restart: bool,
    /// Run after the restore (and the restart): must exit 0; its output is recorded (a row
    /// count, DBSIZE) so the record says what came back.
    pub restore_check: Option<Vec<String>>,
    /// The word typed to confirm the restore (default: the database for a PostgreSQL dump,
    /// else the job's name).
    pub confirm: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Where history, audit and locks live (default: $XDG_DATA_HOME/stackdeck). On a server,
    /// a shared dir such as /var/lib/stackdeck lets every operator see the same history.
    pub dir: Option<std::path::PathBuf>,
    /// The team's shared store: `postgres://USER@HOST:PORT/DATABASE` (no password in it).
    /// History, audit, locks and latches then live there, for every operator wherever they run.
    pub url: Option<String>,
    /// The environment variable that holds the store's password (default PGPASSWORD).
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Engine address (unix:///..., tcp://...). `--host` and DOCKER_HOST win over it.
    pub host: Option<String>,
    /// Full resync period in seconds (events alone go stale). Default 30.
    pub resync_secs: Option<u64>,
    /// For `ssh://` engines: an ssh_config file to use instead of `~/.ssh/config`.
    pub ssh_config: Option<std::path::PathBuf>,
    /// Try to pull an image before deploying it (default true). Set false on hosts that must
    /// never reach a registry: deploys then use local images only.
    pub pull: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// An HTTP(S) URL that must answer 2xx for the service to count as healthy.
    pub health_url: Option<Spanned<String>>,
    /// Seconds between probes (default 5).
    pub probe_interval_secs: Option<u64>,
    /// Probe timeout in seconds (default 2).
    pub probe_timeout_secs: Option<u64>,
    /// Name shown instead of the service name.
    pub display_name: Option<String>,
    /// Leave the service out of the panel.
    #[serde(default)]
    pub hidden: bool,
    /// The emergency stop (X) stops this service.
    #[serde(default)]
    pub kill_switch: bool,
    /// Seconds between SIGTERM and SIGKILL on stop (default: the container's own stop timeout).
    pub stop_grace_secs: Option<u32>,
    /// Health gate for deploys: tries (default 10) x interval (default 5 s).
    pub gate_tries: Option<u32>,
    pub gate_interval_secs: Option<u64>,
    /// After the gate passes: watch the new instance this long; a restart, exit or unhealthy
    /// turn inside the window fails the deploy (default 0: no window).
    pub monitor_secs: Option<u64>,
    /// Smoke checks after the window, in order: shell lines run on this machine (`sh -c`).
    #[serde(default)]
    pub smoke: Vec<String>,
    /// Smoke checks run inside the new container (argv lists), after `smoke`.
    #[serde(default)]
    pub smoke_exec: Vec<Vec<String>>,
    /// Timeout of each smoke check in seconds (default 30).
    pub smoke_timeout_secs: Option<u64>,
    /// How a deploy replaces the container: "stop-first" or "start-first" (overrides the
    /// compose file's deploy.update_config.order; default there: stop-first).
    pub order: Option<String>,
    /// What a failed gate does: "rollback" (default) or "pause" (leave both for the operator).
    pub failure_action: Option<String>,
    /// Halt hook, run before the stop signal of an emergency stop: an HTTP request to this URL
    /// (the bot cancels its resting orders and says what it did)...
    pub halt_url: Option<Spanned<String>>,
    /// ...with this method (default POST)...
    pub halt_method: Option<Spanned<String>>,
    /// ...and these headers (values written here: never a secret)...
    #[serde(default)]
    pub halt_headers: BTreeMap<String, String>,
    /// ...and these, each read from the environment variable named (secrets: a token).
    #[serde(default)]
    pub halt_headers_env: BTreeMap<String, String>,
    /// Or a command run inside the service's container.
    pub halt_exec: Option<Vec<String>>,
    /// The hook's own time limit in seconds (default 3): the stop goes on after it, whatever
    /// the hook does.
    pub halt_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    /// Extra regular expressions; a group named `secret` limits what is masked.
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
    /// Use only `patterns`, not the built-in ones.
    #[serde(default)]
    pub replace_defaults: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Clicks focus panes and select rows, the wheel scrolls (default true). Off: the terminal's
    /// own text selection works without a modifier key.
    pub mouse: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineConfig {
    /// How far back the engine's events are read at start, for what happened while stackdeck
    /// was not running, and how long the guard keeps them (default 3600; 0 reads none).
    pub since_secs: Option<u64>,
    /// Rows kept from the engine, in the panel and in the guard's record (default 2000); the
    /// oldest go first.
    pub keep: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Lines fetched from history when a log view opens (default 200).
    pub tail: Option<u32>,
    /// Lines kept per log view (default 10000).
    pub buffer_lines: Option<usize>,
}
