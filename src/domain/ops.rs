//! Operations: what can be asked (one [`OpRequest`] for the panel and the command line), what
//! they report while they run, how they end, and what the store keeps of them.

use jiff::Timestamp;
use std::fmt;

/// Every operation stackdeck can carry out. The panel and the command line build these and hand
/// them to the one driver (`ops::execute`); there is no other way to start an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpRequest {
    /// Emergency stop of these services (config names, `project/service` or container names).
    Stop { targets: Vec<String>, reason: Option<String> },
    /// Start a stopped service again (and clear its kill-switch latch, which takes a reason).
    Start { target: String, reason: Option<String> },
    /// Deploy an image behind the health gate (rolled back automatically). `stop_first`: the
    /// operator confirmed stop-first for a service whose start-first deploy is not possible.
    Deploy { target: String, image: String, stop_first: bool },
    /// Go back to the last image that passed a gate.
    Rollback { target: String },
    /// Deploy several services to one tag (each keeps its repository), in `depends_on` order,
    /// each with its own strategy and gate; one failure rolls back those already moved, in
    /// reverse order. One history row, with a child row per service.
    Release { targets: Vec<String>, tag: String, stop_first: bool },
    /// Undo a release (its history row's id) as one operation.
    UndoRelease { id: i64 },
    /// Run these backup jobs (every configured job when empty), verify, apply retention.
    Backup { jobs: Vec<String> },
    /// Restore one job of a verified backup into the running database.
    Restore { backup: String, job: String },
    /// Put back the container an interrupted deploy left aside, through the gate.
    Recover { target: String },
    /// Hold a latch: a container of an emergency-stopped service started again (docker start,
    /// compose up, a restart policy): stop it again and record it. Sent by the panel when the
    /// engine reports the start, never typed by an operator.
    Hold { target: String, container: String },
    /// Write `line` (`API_TAG=2`, shown as a diff and confirmed) to the service's compose
    /// `.env`, so the next `docker-compose up -d` runs what runs now.
    Pin { target: String, line: String },
    /// An interactive command in the service's running container (the panel hands it the
    /// terminal; `stackdeck exec`). Runs in the terminal, never through the background driver.
    Exec { target: String, cmd: Vec<String> },
}

impl OpRequest {
    /// One line naming the operation, for confirmations, progress popups and webhooks.
    pub fn title(&self) -> String {
        match self {
            OpRequest::Stop { targets, .. } => format!("EMERGENCY STOP {}", targets.join(", ")),
            OpRequest::Start { target, .. } => format!("start {target}"),
            OpRequest::Deploy { target, image, stop_first: false } => format!("deploy {image} to {target}"),
            OpRequest::Deploy { target, image, stop_first: true } => format!("deploy {image} to {target} stop-first"),
            OpRequest::Rollback { target } => format!("roll back {target}"),
            OpRequest::Release { targets, tag, stop_first } => format!(
                "release {tag} of {}{}",
                targets.join(", "),
                if *stop_first { " (stop-first where start-first is not possible)" } else { "" }
            ),
            OpRequest::UndoRelease { id } => format!("roll back release #{id}"),
            OpRequest::Backup { jobs } if jobs.is_empty() => "run every backup job".into(),
            OpRequest::Backup { jobs } => format!("run backup jobs {}", jobs.join(", ")),
            OpRequest::Restore { backup, job } => format!("RESTORE {backup}/{job} INTO THE RUNNING DATABASE"),
            OpRequest::Recover { target } => format!("recover {target} after an interrupted deploy"),
            OpRequest::Hold { target, .. } => format!("restart blocked: {target} is emergency-stopped"),
            OpRequest::Pin { target, line } => format!("pin {line} in the .env of {target}"),
            OpRequest::Exec { target, cmd } => format!("run {} in {target}", cmd.join(" ")),
        }
    }

    /// The action's name as recorded in the history.
    pub fn action(&self) -> &'static str {
        match self {
            OpRequest::Stop { .. } => "stop",
            OpRequest::Start { .. } => "start",
            OpRequest::Deploy { .. } => "deploy",
            OpRequest::Rollback { .. } => "rollback",
            OpRequest::Release { .. } => "release",
            OpRequest::UndoRelease { .. } => "release-rollback",
            OpRequest::Backup { .. } => "backup",
            OpRequest::Restore { .. } => "restore",
            OpRequest::Recover { .. } => "recover",
            OpRequest::Hold { .. } => "restart-blocked",
            OpRequest::Pin { .. } => "pin",
            OpRequest::Exec { .. } => "exec",
        }
    }

    /// The operator may cancel it while it runs (until it reports [`Step::Committed`]).
    pub fn cancellable(&self) -> bool {
        matches!(
            self,
            OpRequest::Deploy { .. }
                | OpRequest::Rollback { .. }
                | OpRequest::Release { .. }
                | OpRequest::UndoRelease { .. }
        )
    }
}

/// The words a start-first deploy is refused with when it cannot be done (the panel then offers
/// the same deploy stop-first).
pub const START_FIRST_BLOCKED: &str = "start-first deploy is not possible";

/// What an operation reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Line(String),
    /// Past this point the operation can no longer be cancelled (the old container is gone).
    Committed,
}

/// Why an operation did not do what was asked. Maps to the CLI's exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Bad usage: unknown or ambiguous service, missing image (exit 2).
    Usage(String),
    /// Refused: read-only, lock held, kill switch active, not confirmed (exit 3).
    Refused(String),
    /// The action failed, or a deploy rolled back (exit 1).
    Failed(String),
}

impl OpError {
    pub fn exit_code(&self) -> u8 {
        match self {
            OpError::Failed(_) => 1,
            OpError::Usage(_) => 2,
            OpError::Refused(_) => 3,
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Usage(m) | OpError::Refused(m) | OpError::Failed(m) => f.write_str(m),
        }
    }
}

/// The outcome of a finished operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub outcome: Outcome,
    pub summary: String,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    RolledBack,
    Failed,
    Interrupted,
    /// The gate failed and the service's `failure_action` is `pause`: both instances are left
    /// as they were for the operator (`stackdeck recover` goes back).
    Paused,
}

impl Outcome {
    pub fn parse(s: &str) -> Outcome {
        match s {
            "succeeded" => Outcome::Succeeded,
            "rolled_back" => Outcome::RolledBack,
            "failed" => Outcome::Failed,
            "interrupted" => Outcome::Interrupted,
            "paused" => Outcome::Paused,
            _ => Outcome::Running,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled_back",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Paused => "paused",
        }
    }
}

/// One recorded operation (deploy, rollback, stop, start, backup, restore, baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub id: i64,
    pub action: String,
    pub service: String,
    pub from_image: Option<String>,
    pub to_image: Option<String>,
    pub from_image_id: Option<String>,
    pub to_image_id: Option<String>,
    pub actor: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// The release (its row's id) this operation was a part of.
    pub parent: Option<i64>,
}

/// A container's restart policy, as the engine and `docker run --restart` know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// `on-failure`, with at most this many retries when given.
    OnFailure(Option<u32>),
    /// A replicated Swarm service: what runs it is its replica count (kept by an emergency stop
    /// that scaled it to 0; `start` sets it again).
    Replicas(u64),
    /// A global Swarm service: what runs it is its placement (an emergency stop adds a
    /// constraint no node meets; `start` takes it away again).
    GlobalService,
}

impl RestartPolicy {
    /// Kept by an orchestrator's service (Swarm), not by each container.
    pub fn is_orchestrated(self) -> bool {
        matches!(self, RestartPolicy::Replicas(_) | RestartPolicy::GlobalService)
    }
}

impl RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`; `None` for anything else.
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        match s.split_once(':') {
            Some(("on-failure", n)) => n.parse().ok().map(|n| RestartPolicy::OnFailure(Some(n))),
            Some(("swarm-replicas", n)) => n.parse().ok().map(RestartPolicy::Replicas),
            Some(_) => None,
            None => match s {
                "" | "no" => Some(RestartPolicy::No),
                "always" => Some(RestartPolicy::Always),
                "unless-stopped" => Some(RestartPolicy::UnlessStopped),
                "on-failure" => Some(RestartPolicy::OnFailure(None)),
                "swarm-global" => Some(RestartPolicy::GlobalService),
                _ => None,
            },
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
            RestartPolicy::OnFailure(None) => f.write_str("on-failure"),
            RestartPolicy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            RestartPolicy::Replicas(n) => write!(f, "swarm-replicas:{n}"),
            RestartPolicy::GlobalService => f.write_str("swarm-global"),
        }
    }
}

/// A service stopped by the kill switch (latched), shown as a banner until it is started again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitch {
    pub service: String,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
    /// The restart policy to restore on `start`.
    pub previous_policy: RestartPolicy,
    /// What the halt hook answered (`halt: HTTP 200 in 35 ms: ...` or `halt FAILED ...`), when
    /// the service has one and it ran.
    pub halt: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_round_trip() {
        for s in ["no", "always", "unless-stopped", "on-failure", "on-failure:3", "swarm-replicas:3", "swarm-global"] {
            assert_eq!(RestartPolicy::parse(s).map(|p| p.to_string()).as_deref(), Some(s));
        }
        assert_eq!(RestartPolicy::parse(""), Some(RestartPolicy::No));
        assert_eq!(RestartPolicy::parse("sometimes"), None);
        assert_eq!(RestartPolicy::parse("on-failure:x"), None);
    }

    #[test]
    fn titles_and_cancellation() {
        let d = OpRequest::Deploy { target: "bot".into(), image: "bot:2".into(), stop_first: false };
        assert_eq!(d.title(), "deploy bot:2 to bot");
        assert!(d.cancellable());
        let s = OpRequest::Stop { targets: vec!["a".into(), "b".into()], reason: None };
        assert_eq!(s.title(), "EMERGENCY STOP a, b");
        assert!(!s.cancellable());
        assert_eq!(OpRequest::Backup { jobs: vec![] }.title(), "run every backup job");
    }
}
