//! Messages into the update loop, and effects out of it. Every background task reports through
//! a [`Msg`]; `update` answers with [`Effect`]s that the app loop carries out.
//!
//! Only the vocabulary (`domain`) and log lines (`logtext`) are spoken here: the message types
//! never name a module above them (`tests/architecture.rs` checks it).

use crate::domain::{
    Container, ContainerId, EngineInfo, EnvSummary, Health, HostReport, KillSwitch, Manifest, Observation, OpRecord,
    OpRequest, ServiceKey, StatsSample, Window,
};
use crate::logtext::LogLine;
use crossterm::event::KeyEvent;
use jiff::Timestamp;

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal was resized (the next draw picks up the size).
    Resize,
    /// The frame just drawn, when it changed: its size (columns, rows), for what scrolls by
    /// screen (the help), and where each pane is, for the mouse.
    Screen {
        w: u16,
        h: u16,
        zones: Vec<crate::domain::Zone>,
    },
    /// A mouse click or wheel turn (only those are read: a moving pointer wakes nothing).
    Mouse(crossterm::event::MouseEvent),
    /// Wall-clock tick: uptimes and "last contact" ages.
    Tick(Timestamp),
    Engine(EngineEvent),
    /// What the engine is in a swarm (`None`: not in one), and on a manager the nodes and the
    /// services' modes, replicas and update states.
    Swarm(Option<crate::domain::SwarmView>),
    Probe(ProbeResult),
    /// SIGTERM / SIGHUP / SIGINT.
    Signal(&'static str),
    /// Progress and outcome of an operation started from the panel.
    Op(OpEvent),
    /// The store's current history and kill switches (sent when they change).
    History {
        records: Vec<OpRecord>,
        kill_switches: Vec<KillSwitch>,
        backups: Vec<Manifest>,
        /// `Some(where)` when the audit chain is broken (a row altered or removed).
        chain: Option<String>,
    },
    /// A round of the observer: panels and alerts, and where they came from.
    Observed(Observation),
    /// Host resources (CPU, memory, disks) and their alerts.
    Host(HostReport),
    /// Local tags offered by the deploy picker.
    Tags {
        target: String,
        tags: Result<Vec<String>, String>,
    },
    /// What a pin would change in the service's `.env` (the diff, the line), or why it cannot.
    PinPreview {
        target: String,
        preview: Result<(String, String), String>,
    },
    /// One environment's summary, for the picker.
    Environment(EnvSummary),
    /// The compose projects as their files say (or why a project's files could not be read).
    Compose(Vec<Result<crate::domain::ComposeView, (String, String)>>),
    /// The inspect view's container, or why it could not be read.
    Inspected(Result<crate::domain::Inspected, String>),
    /// An export was written (the file, the lines), or why not.
    Exported(Result<(std::path::PathBuf, usize), String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpEvent {
    Progress {
        id: u64,
        line: String,
    },
    /// The operation can no longer be cancelled.
    Committed {
        id: u64,
    },
    /// `Ok(summary)` or `Err(reason)`.
    Done {
        id: u64,
        result: Result<String, String>,
    },
}

/// What the engine side reports.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Connected(EngineInfo),
    /// A full listing (after connect and every resync): replaces what was known.
    Snapshot(Vec<Container>),
    Upsert(Container),
    Removed(ContainerId),
    Health(ContainerId, Health),
    Unreachable {
        reason: String,
        retry_in_secs: u64,
    },
    /// Stats samples: one from a container's engine stream, or one for each container read at
    /// the same moment (a local engine's cgroup files, once a second: one message, not one per
    /// container).
    Stats(Vec<(ContainerId, StatsSample)>),
    /// What happened to containers and images (die, oom, kill, health, pull ...), for the
    /// timeline: one row live, or the catch-up of the window before stackdeck connected.
    Happened(Vec<crate::domain::Happening>),
    Logs(LogBatch),
}

/// Lines from the log stream of one container. `generation` ties it to one follow request, so
/// lines from a stream the user already left are dropped.
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub generation: u64,
    pub container: ContainerId,
    pub lines: Vec<LogLine>,
    /// Lines the stream produced that were dropped because the panel could not keep up.
    pub skipped: u64,
    /// Set when the stream ended (container stopped, engine gone).
    pub ended: Option<String>,
}

/// One HTTP health probe result for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub key: ServiceKey,
    pub ok: bool,
    /// "200 OK", "503 Service Unavailable", "no answer within 2 s", ...
    pub detail: String,
}

/// What `update` asks the outside world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Follow this container's logs (replacing any other follow).
    FollowLogs { container: ContainerId, generation: u64, tail: u32, since: Option<String> },
    /// Follow these containers' logs merged by time, each line labelled with its service.
    FollowMerged { sources: Vec<(ContainerId, String)>, generation: u64, tail: u32, since: Option<String> },
    /// Stop following logs.
    StopLogs,
    /// Run an operation (id for its progress messages).
    RunOp { id: u64, request: OpRequest },
    /// Cancel a running deploy/rollback.
    CancelOp { id: u64 },
    /// Fetch the local tags for the deploy picker.
    LoadTags { target: String, image: String },
    /// Read what a pin of this service would write, for its confirmation.
    PinPreview { target: String },
    /// Stream container stats (only while the Metrics pane is on screen) or stop.
    Stats(bool),
    /// Show charts and availability over this window.
    SetWindow(Window),
    /// Read every environment's summary (the picker is open).
    SummarizeEnvironments,
    /// Write these lines to a file in the state dir (see `export`).
    Export(crate::logtext::export::Export),
    /// Inspect one container for the inspect view.
    Inspect { container: ContainerId },
    /// Hand the terminal to `cmd` in the service's running container, then come back.
    Exec { target: String, cmd: Vec<String> },
}
