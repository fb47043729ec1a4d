//! Every default of the stack config, in one place. The config types' getters apply them
//! (`Stack::settings`, `HostConfig::cpu_max`, ...); nothing else writes a default value. The
//! allowed ranges are in `ranges.rs`: a getter never clamps.

use std::time::Duration;

/// `[engine] resync_secs`: a full re-list this often (events alone go stale).
pub const RESYNC_SECS: u64 = 30;

/// `[services.X]`: seconds between HTTP probes, and the probe timeout.
pub const PROBE_INTERVAL_SECS: u64 = 5;
pub const PROBE_TIMEOUT_SECS: u64 = 2;
/// `[services.X]`: the deploy gate, `gate_tries` x `gate_interval_secs`.
pub const GATE_TRIES: u32 = 10;
pub const GATE_INTERVAL_SECS: u64 = 5;
/// `[services.X]`: the halt hook's own time limit, `halt_timeout_secs`.
pub const HALT_TIMEOUT_SECS: u64 = 3;
/// `[guard] metrics`: the port of 127.0.0.1 the guard serves /metrics on.
pub const GUARD_METRICS_PORT: u16 = 9464;

/// `[logs]`: lines fetched when a log view opens, and lines kept per view.
pub const TAIL: u32 = 200;
pub const BUFFER_LINES: usize = 10_000;
/// The timeline's catch-up window at start, and the engine rows it keeps.
pub const TIMELINE_SINCE_SECS: u64 = 3_600;
pub const TIMELINE_KEEP: usize = 2_000;

/// `[backup]` retention (the stack's backup script keeps 7 days).
pub const KEEP_DAYS: u32 = 7;
pub const KEEP_COUNT: usize = 30;

/// `[prometheus]`, `[scrape]`: poll periods and request timeouts.
pub const PROMETHEUS_INTERVAL: Duration = Duration::from_secs(10);
pub const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(3);
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// `[host]` thresholds, the stack's own alert rules: CPU > 80 %, memory > 85 %, disk free
/// < 20 %, each held for 60 s.
pub const HOST_CPU_MAX: f64 = 80.0;
pub const HOST_MEMORY_MAX: f64 = 85.0;
pub const HOST_DISK_FREE_MIN: f64 = 20.0;
pub const HOST_FOR_SECS: u64 = 60;

/// `[availability] objective`, the stack's target in percent.
pub const OBJECTIVE: f64 = 99.9;

/// `[notify]`: tries per message and the timeout of one delivery.
pub const NOTIFY_TRIES: u32 = 4;
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
