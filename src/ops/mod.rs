//! Operations that change the stack: emergency stop, start, deploy, rollback. One code path for
//! the command line and the panel. Each operation is recorded in the store before it starts and
//! finished after; progress goes to a [`Progress`] (printed by the CLI, shown by the panel).

pub mod backup;
pub mod deploy;
pub mod stop;

use crate::config::Stack;
use crate::engine::actions::{Actions, ResolveError};
use crate::state::history::Outcome;
use crate::store::Store;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// Why an operation did not do what was asked. Maps to the CLI's exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Bad usage: unknown or ambiguous service, missing image (exit 2).
    Usage(String),
    /// Refused: read-only, lock held, kill switch active (exit 3).
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

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Usage(m) | OpError::Refused(m) | OpError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<ResolveError> for OpError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Engine(m) => OpError::Failed(m),
            other => OpError::Usage(other.to_string()),
        }
    }
}

/// The outcome of a finished operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub outcome: Outcome,
    pub summary: String,
}

/// What an operation needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actions: Actions,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub read_only: bool,
}

impl Ctx {
    pub fn store(&self) -> Result<Store, OpError> {
        Store::open(&self.state_dir).map_err(OpError::Failed)
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<(), OpError> {
        if self.read_only {
            Err(OpError::Refused(format!("{what} refused: stackdeck runs with --read-only")))
        } else {
            Ok(())
        }
    }
}

/// What an operation reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Line(String),
    /// Past this point the operation can no longer be cancelled (the old container is gone).
    Committed,
}

/// Progress of one operation: to the transcript in the store, and to whoever watches.
#[derive(Debug)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<Step>>,
    record: Option<i64>,
    lines: Vec<String>,
}

impl Progress {
    pub fn new(tx: Option<mpsc::UnboundedSender<Step>>) -> Progress {
        Progress { tx, record: None, lines: Vec::new() }
    }

    pub fn step(&mut self, store: Option<&Store>, line: impl Into<String>) {
        let line = line.into();
        tracing::info!("{line}");
        if let (Some(store), Some(id)) = (store, self.record) {
            let _ = store.note(id, &line);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Step::Line(line.clone()));
        }
        self.lines.push(line);
    }

    /// Say that cancelling is no longer possible.
    pub fn committed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Step::Committed);
        }
    }

    pub fn transcript(&self) -> &[String] {
        &self.lines
    }
}
