//! All of the panel's state. One writer: `update`. Rendering reads it; nothing else mutates it.

pub mod compose;
pub mod history;
pub mod logs;
pub mod metrics;
pub mod observe;
pub mod services;
pub mod timeline;

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
    /// The help's first entry shown (see `config::help::entries`).
    pub help_scroll: usize,
    /// The last frame's size (columns, rows).
    pub screen: (u16, u16),
    /// Where the last frame drew each pane.
    pub zones: Vec<crate::domain::Zone>,
    pub panel_log: bool,
    /// The search prompt's text while it is open.
    pub search_input: Option<String>,
    /// A one-line notice for the status bar (e.g. "no more matches").
    pub notice: Option<String>,
    pub popup: Option<Popup>,
    /// Popups that arrived while another was open (an operation's follow-up offer, a pin's
    /// preview): the next one opens when the open one closes. One popup is on screen at a time.
    pub queue: std::collections::VecDeque<Popup>,
}

/// How many popups may wait behind the open one.
pub const MAX_QUEUED: usize = 8;

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
    /// A pin's diff (sanitized lines), confirmed with the keys of a confirmation.
    Pin { target: String, diff: Vec<String>, line: String },
    /// The tag to deploy the marked services to, as one release.
    Release { targets: Vec<String>, input: String },
    /// Why an emergency-stopped service may run again (starting it clears the stop).
    Reason { target: String, input: String },
    /// Every environment's summary; choose one to switch to.
    Environments { selected: usize },
    /// The selected container inspected (`None` while it is read), scrolled by `scroll` lines.
    Inspect { scroll: usize, view: Option<Result<crate::domain::Inspected, String>> },
}

/// The emergency stop's targets and the kill-switch config's problems (see
/// [`AppState::kill_switch_plan`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillSwitchPlan {
    pub targets: Vec<String>,
    pub problems: Vec<String>,
}

/// An operation started from this panel, as its popup shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpView {
    pub id: u64,
    pub title: String,
    pub request: crate::domain::OpRequest,
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
    /// The compose files' view and the drift from it.
    pub compose: compose::ComposeState,
    /// The swarm, when the engine is in one.
    pub swarm: Option<crate::domain::SwarmView>,
    pub logs: logs::LogView,
    pub metrics: metrics::MetricsState,
    pub history: history::HistoryState,
    pub observe: observe::ObserveState,
    /// What happened, in time order (the Timeline pane).
    pub timeline: timeline::TimelineState,
    pub ui: UiState,
    pub read_only: bool,
    /// The team's shared store (`[state] url`), as shown; `None`: this machine's file.
    pub shared_store: Option<String>,
    /// The environment operated (`--env`), always on screen.
    pub environment: Option<crate::domain::EnvBadge>,
    /// Every environment of the config, with what the picker last read of each.
    pub environments: Vec<crate::domain::EnvSummary>,
    /// Chosen in the picker: the panel ends and opens this one.
    pub switch_to: Option<String>,
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
    /// Containers of emergency-stopped services this panel is stopping again (once per start).
    pub holding: std::collections::HashSet<crate::domain::ContainerId>,
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
            compose: compose::ComposeState::default(),
            swarm: None,
            logs: logs::LogView::new(log_cap),
            metrics: metrics::MetricsState::default(),
            history: history::HistoryState::default(),
            observe: observe::ObserveState::default(),
            timeline: timeline::TimelineState::default(),
            ui: UiState {
                focus: Pane::Services,
                detail: Pane::Logs,
                help: false,
                help_scroll: 0,
                screen: (80, 24),
                zones: Vec::new(),
                panel_log: false,
                search_input: None,
                notice: None,
                popup: None,
                queue: std::collections::VecDeque::new(),
            },
            read_only: false,
            shared_store: None,
            environment: None,
            environments: Vec::new(),
            switch_to: None,
            project: None,
            tail,
            ops: Vec::new(),
            next_op: 1,
            kill_switch_targets: Vec::new(),
            backup_jobs: Vec::new(),
            restorable: Vec::new(),
            holding: std::collections::HashSet::new(),
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

    /// What the emergency stop stops, and what is wrong with the kill-switch config, from the
    /// services the engine has now. A name without a project (`trading-bot`) that matches
    /// services in several projects stops all of them (a kill switch must never fail to stop)
    /// and is a config problem shown in the header; `project/service` names exactly one.
    /// Without a kill-switch service in the config: the selected service.
    pub fn kill_switch_plan(&self) -> KillSwitchPlan {
        let mut plan = KillSwitchPlan::default();
        if self.kill_switch_targets.is_empty() {
            plan.targets = self.services.selected().map(|c| vec![c.key.to_string()]).unwrap_or_default();
            return plan;
        }
        for name in &self.kill_switch_targets {
            if name.contains('/') || !self.services.loaded {
                plan.targets.push(name.clone());
                continue;
            }
            let mut keys: Vec<String> = self
                .services
                .containers
                .values()
                .filter(|c| c.key.service == *name)
                .map(|c| c.key.to_string())
                .collect();
            keys.sort();
            keys.dedup();
            match keys.len() {
                0 => {
                    plan.problems.push(format!("kill switch '{name}' matches no service"));
                    plan.targets.push(name.clone());
                }
                1 => plan.targets.extend(keys),
                n => {
                    plan.problems.push(format!(
                        "kill switch '{name}' is ambiguous ({n} services: {}): write project/service in the config",
                        keys.join(", ")
                    ));
                    plan.targets.extend(keys);
                }
            }
        }
        plan.targets.dedup();
        plan
    }

    /// Services with a container an interrupted deploy left behind (`Container::is_leftover`).
    pub fn needs_recovery(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.services.containers.values().filter(|c| c.is_leftover()).map(|c| c.key.to_string()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Open a popup that arrived by itself (not from a key): at once when none is open, else
    /// after the open ones. At most [`MAX_QUEUED`] wait; the oldest is dropped first.
    pub fn offer_popup(&mut self, popup: Popup) {
        if self.ui.popup.is_none() {
            self.ui.popup = Some(popup);
        } else {
            if self.ui.queue.len() >= MAX_QUEUED {
                self.ui.queue.pop_front();
            }
            self.ui.queue.push_back(popup);
        }
        self.dirty = true;
    }

    /// After a popup closed: the next waiting one opens.
    pub fn next_popup(&mut self) {
        if self.ui.popup.is_none() {
            self.ui.popup = self.ui.queue.pop_front();
        }
    }

    /// What waits behind the popup on screen: queued popups, and an operation's popup (running
    /// or with its result) hidden while another popup or the help is open.
    pub fn popups_waiting(&self) -> usize {
        let covered = self.ui.popup.is_some() || self.ui.help;
        self.ui.queue.len() + usize::from(covered && self.op_shown().is_some())
    }

    /// The engine is a Swarm manager: deploys are service updates and a task row's logs are its
    /// service's merged logs. (On a worker the panel works as on a plain engine.)
    pub fn on_swarm_manager(&self) -> bool {
        self.swarm.as_ref().is_some_and(|s| s.role == crate::domain::SwarmRole::Manager)
    }

    /// Data is stale while the engine is not answering.
    pub fn stale(&self) -> bool {
        !matches!(self.engine.conn, Conn::Connected)
    }
}
