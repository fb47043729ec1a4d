//! Services and their containers: newtypes for what comes from the engine, so no module outside
//! `engine` ever handles a raw API struct.

use jiff::Timestamp;
use serde::Serialize;
use std::fmt;

/// A container id (full, as the engine gives it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerId(pub String);

impl ContainerId {
    /// The 12-character form people know from `docker ps`.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which service a container belongs to: a compose project and service, or a standalone
/// container (no project; the service name is the container name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub project: Option<String>,
    pub service: String,
}

impl ServiceKey {
    pub fn new(project: Option<&str>, service: &str) -> Self {
        ServiceKey { project: project.map(str::to_owned), service: service.to_owned() }
    }

    /// `project/service` or `service` (as written in the config and on the command line).
    pub fn parse(name: &str) -> Self {
        match name.split_once('/') {
            Some((p, s)) => ServiceKey::new(Some(p), s),
            None => ServiceKey::new(None, name),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.project {
            Some(p) => write!(f, "{p}/{}", self.service),
            None => f.write_str(&self.service),
        }
    }
}

/// The engine's run state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Restarting,
    Paused,
    Created,
    Exited,
    Dead,
    Removing,
    Unknown,
    /// No container exists: an emergency-stopped service whose container was removed (a
    /// prune, an `rm`). Shown so that it is not forgotten; `start` creates it again.
    Gone,
}

impl RunState {
    pub fn parse(s: &str) -> Self {
        match s {
            "running" => RunState::Running,
            "restarting" => RunState::Restarting,
            "paused" => RunState::Paused,
            "created" => RunState::Created,
            "exited" => RunState::Exited,
            "dead" => RunState::Dead,
            "removing" => RunState::Removing,
            _ => RunState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Restarting => "restarting",
            RunState::Paused => "paused",
            RunState::Created => "created",
            RunState::Exited => "exited",
            RunState::Dead => "dead",
            RunState::Removing => "removing",
            RunState::Unknown => "unknown",
            RunState::Gone => "removed",
        }
    }
}

/// Health as the operator needs it. `None` = no healthcheck and no probe configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Unhealthy,
    Starting,
    None,
}

impl Health {
    pub fn parse(s: &str) -> Self {
        match s {
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            "starting" => Health::Starting,
            _ => Health::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Starting => "starting",
            Health::None => "none",
        }
    }

    /// The worse of two health readings (engine healthcheck and HTTP probe).
    pub fn worst(self, other: Health) -> Health {
        fn rank(h: Health) -> u8 {
            match h {
                Health::None => 0,
                Health::Healthy => 1,
                Health::Starting => 2,
                Health::Unhealthy => 3,
            }
        }
        if rank(other) > rank(self) { other } else { self }
    }
}

/// Everything stackdeck knows about one container, from list + inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: ContainerId,
    /// Name without the leading slash.
    pub name: String,
    pub key: ServiceKey,
    pub state: RunState,
    /// From the engine's healthcheck (inspect / events).
    pub health: Health,
    /// Image reference as configured (`fx-trading-bot:1`).
    pub image: String,
    /// Image id (`sha256:...`).
    pub image_id: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub restarts: i64,
    pub exit_code: Option<i64>,
    /// Memory limit in bytes (0 = none).
    pub memory_limit: u64,
    /// The engine's process id of its main process while it runs (inspect only).
    pub pid: Option<u32>,
    /// The compose files that made it, from its labels (compose containers only).
    pub compose: Option<ComposeFiles>,
}

/// `com.docker.compose.project.config_files` and `.working_dir`, as the labels say them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComposeFiles {
    pub files: Vec<String>,
    pub working_dir: String,
}

/// The suffix of the name a container backend keeps a retired instance under while its
/// replacement is gated. One found later means a replace was interrupted (kill -9, engine lost):
/// `stackdeck recover` puts it back.
pub const PARKED_SUFFIX: &str = "-stackdeck-old";

/// The suffix of the name a start-first deploy gives the new instance while it is gated next
/// to the old one. One found later (beside the old instance) never passed its gate, or passed
/// and lost its old instance before taking its name: `stackdeck recover` sorts out which.
pub const NEXT_SUFFIX: &str = "-stackdeck-next";

/// The id prefix of the row kept for an emergency-stopped service whose container is gone.
pub const GONE_PREFIX: &str = "gone:";

impl Container {
    /// Was this instance left aside by an interrupted replace?
    pub fn is_parked(&self) -> bool {
        self.name.ends_with(PARKED_SUFFIX)
    }

    /// Was this instance started beside the old one by a start-first deploy, not yet named?
    pub fn is_next(&self) -> bool {
        self.name.ends_with(NEXT_SUFFIX)
    }

    /// Left over by a deploy (either side of a replace): not what "runs" for the service.
    pub fn is_leftover(&self) -> bool {
        self.is_parked() || self.is_next()
    }

    /// The short image id (12 hex digits, without `sha256:`).
    pub fn short_image_id(&self) -> &str {
        short_image_id(&self.image_id)
    }
}

/// `sha256:0123456789ab…` -> `0123456789ab`, as `docker images` shows it.
pub fn short_image_id(id: &str) -> &str {
    let s = id.strip_prefix("sha256:").unwrap_or(id);
    &s[..s.len().min(12)]
}

/// One stats sample for one container, already reduced to what the panel shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSample {
    /// CPU in percent of one core (docker CLI semantics: 200 % = two cores busy).
    pub cpu_percent: f64,
    pub mem_bytes: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    /// Where the figures were read.
    pub from: StatsFrom,
}

/// Where a container's stats come from: the engine's stats stream, or (an engine on this
/// machine) the kernel's cgroup files the engine computes them from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFrom {
    Engine,
    Cgroup,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_health() {
        assert_eq!(Health::Healthy.worst(Health::Unhealthy), Health::Unhealthy);
        assert_eq!(Health::None.worst(Health::Healthy), Health::Healthy);
        assert_eq!(Health::Starting.worst(Health::Healthy), Health::Starting);
    }

    #[test]
    fn short_ids() {
        let c = ContainerId("0123456789abcdef".into());
        assert_eq!(c.short(), "0123456789ab");
        assert_eq!(ServiceKey::new(Some("p"), "s").to_string(), "p/s");
        assert_eq!(ServiceKey::new(None, "s").to_string(), "s");
        assert_eq!(ServiceKey::parse("p/s"), ServiceKey::new(Some("p"), "s"));
        assert_eq!(ServiceKey::parse("s"), ServiceKey::new(None, "s"));
        assert_eq!(short_image_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
