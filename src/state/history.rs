//! Deployment and operations history as the History pane shows it.
//!
//! The records come from a [`HistoryStore`]; the actions issue adds the durable SQLite store
//! and the operations that write to it. Until then no store is attached and the pane shows its
//! empty state.

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
    pub actor: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

/// Where history comes from. Implemented by the durable store (actions issue).
pub trait HistoryStore: Send {
    /// The newest `limit` records, newest first.
    fn recent(&self, limit: usize) -> Result<Vec<OpRecord>, String>;
}

#[derive(Debug, Default)]
pub struct HistoryState {
    pub records: Vec<OpRecord>,
    /// False while no store is attached: the pane says so instead of pretending to be empty.
    pub store_attached: bool,
    pub scroll: usize,
}
