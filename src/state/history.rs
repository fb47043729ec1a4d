//! Deployment and operations history as the History pane shows it.
//!
//! The records come from the durable store (`crate::store`), read by a background task.

use jiff::Timestamp;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    RolledBack,
    Failed,
    Interrupted,
    Refused,
}

impl Outcome {
    pub fn parse(s: &str) -> Outcome {
        match s {
            "succeeded" => Outcome::Succeeded,
            "rolled_back" => Outcome::RolledBack,
            "failed" => Outcome::Failed,
            "interrupted" => Outcome::Interrupted,
            "refused" => Outcome::Refused,
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
            Outcome::Refused => "refused",
        }
    }
}

/// One recorded operation (deploy, rollback, stop, start, backup, restore).
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
}

#[derive(Debug, Default)]
pub struct HistoryState {
    pub records: Vec<OpRecord>,
    /// Services stopped by the kill switch (banner until started again).
    pub kill_switches: Vec<crate::store::KillSwitch>,
    /// Backups on disk, newest first.
    pub backups: Vec<crate::ops::backup::Manifest>,
    /// False while no store is attached: the pane says so instead of pretending to be empty.
    pub store_attached: bool,
    pub scroll: usize,
}
