//! All of the panel's state. One writer: `update`. Rendering reads it; nothing else mutates it.

pub mod history;
pub mod logs;
pub mod metrics;
pub mod observe;
pub mod services;

use crate::domain::{EngineInfo, OpRequest, Pane};
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Connecting,
    Connected,
    Unreachable { since: Timestamp, reason: String, retry_in_secs: u64 },
}

#[derive(Debug, Clone)]
pub struct EngineStatus {
    pub host: String,
    pub source: String,
    pub info: Option<EngineInfo>,
    pub conn: Conn,
    pub last_contact: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct UiState {
    pub focus: Pane,
    /// Which of Logs / Metrics / History fills the lower area.
    pub detail: Pane,
    pub help: bool,
    pub panel_log: bool,
    /// The search prompt's text while it is open.
    pub search_input: Option<String>,
    /// A one-line notice for the status bar (e.g. "no more matches").
    pub notice: Option<String>,
    pub popup: Option<Popup>,
}

/// Modal popups of the actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    /// "Do this? y / n" for a mutating action.
    Confirm(OpRequest),
    /// Choose the image to deploy: local tags (newest first) or a typed reference.
    Picker {
        target: String,
        current: String,
        tags: Option<Result<Vec<String>, String>>,
        input: String,
        selected: usize,
    },
    /// Choose the backup jobs to run (all checked at first).
    Jobs { jobs: Vec<(String, bool)>, selected: usize },
    /// Choose what to restore: (backup id, job, the word that confirms it).
    Restore { choices: Vec<(String, String, String)>, selected: usize },
    /// An operation confirmed by typing a word (a restore: the database's name).
    Typed { request: OpRequest, word: String, input: String },
}

/// An operation started from this panel, as its popup shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpView {
    pub id: u64,
    pub title: String,
    pub lines: Vec<String>,
    pub done: Option<Result<String, String>>,
    pub cancellable: bool,
    /// Closed by the operator after it finished.
    pub dismissed: bool,
}

#[derive(Debug)]
pub struct AppState {
    pub now: Timestamp,
    /// Time zone for clock times shown to the operator (the system's; UTC in tests).
    pub tz: jiff::tz::TimeZone,
    pub engine: EngineStatus,
    pub services: services::ServicesState,
    pub logs: logs::LogView,
    pub metrics: metrics::MetricsState,
    pub history: history::HistoryState,
    pub observe: observe::ObserveState,
    pub ui: UiState,
    pub read_only: bool,
    pub project: Option<String>,
    /// Lines to tail when a log view opens.
    pub tail: u32,
    /// Operations started from this panel (the newest last); the last one is shown until
    /// dismissed.
    pub ops: Vec<OpView>,
    pub next_op: u64,
    /// Kill-switch services from the config (targets of the emergency stop).
    pub kill_switch_targets: Vec<String>,
    /// Backup jobs from the config, in order.
    pub backup_jobs: Vec<String>,
    /// Jobs that can be restored, with the word that confirms a restore (the database).
    pub restorable: Vec<(String, String)>,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    pub quit: bool,
}

impl AppState {
    pub fn new(host: &str, source: &str, now: Timestamp, log_cap: usize, tail: u32) -> Self {
        AppState {
            now,
            tz: jiff::tz::TimeZone::UTC,
            engine: EngineStatus {
                host: host.to_owned(),
                source: source.to_owned(),
                info: None,
                conn: Conn::Connecting,
                last_contact: None,
            },
            services: services::ServicesState::default(),
            logs: logs::LogView::new(log_cap),
            metrics: metrics::MetricsState::default(),
            history: history::HistoryState::default(),
            observe: observe::ObserveState::default(),
            ui: UiState {
                focus: Pane::Services,
                detail: Pane::Logs,
                help: false,
                panel_log: false,
                search_input: None,
                notice: None,
                popup: None,
            },
            read_only: false,
            project: None,
            tail,
            ops: Vec::new(),
            next_op: 1,
            kill_switch_targets: Vec::new(),
            backup_jobs: Vec::new(),
            restorable: Vec::new(),
            dirty: true,
            quit: false,
        }
    }

    /// An operation of this panel is still running.
    pub fn op_running(&self) -> bool {
        self.ops.iter().any(|o| o.done.is_none())
    }

    /// The operation popup on screen: the newest one, until dismissed.
    pub fn op_shown(&self) -> Option<&OpView> {
        self.ops.last().filter(|o| !o.dismissed)
    }

    /// Data is stale while the engine is not answering.
    pub fn stale(&self) -> bool {
        !matches!(self.engine.conn, Conn::Connected)
    }
}
