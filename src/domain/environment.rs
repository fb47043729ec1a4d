//! Environments as the panel shows them: the one it operates, and every one's summary for the
//! picker that switches between them.

/// The environment the panel operates (always on screen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvBadge {
    pub name: String,
    /// `production`, `staging` or `development`.
    pub kind: String,
}

impl EnvBadge {
    /// Production asks for the service's name before a deploy, rollback or start.
    pub fn is_production(&self) -> bool {
        self.kind == "production"
    }
}

/// One environment's state at a glance, read from its own engine, store and Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSummary {
    pub name: String,
    pub kind: String,
    /// `None` while it is being read; `Some(Err)` when its engine did not answer (why).
    pub engine: Option<Result<EngineCounts, String>>,
    /// Firing alerts from its Prometheus: `None` when it has none configured; `Some(Err)` when
    /// it cannot be reached from here.
    pub alerts: Option<Result<usize, String>>,
    /// Emergency-stopped services (from its store); `Err` when the store cannot be read.
    pub latched: Option<Result<Vec<String>, String>>,
}

/// Containers of an environment's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineCounts {
    pub running: usize,
    pub total: usize,
    pub unhealthy: usize,
}
