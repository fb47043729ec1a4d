//! What happened to the stack, one row each: engine events, stackdeck's operations, alerts and
//! kill-switch latches, for the Timeline pane.

use jiff::Timestamp;

/// The kind of a row. Filters work on its [`Group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Happen {
    /// The main process ended (the text has the exit code).
    Died,
    /// The kernel killed a process of the container for memory.
    Oom,
    /// A signal was sent to the container (the text has the signal).
    Killed,
    Restarted,
    Started,
    Stopped,
    /// The health check's verdict changed.
    Health,
    /// An image was pulled to the engine.
    Pulled,
    /// A stackdeck operation, from the history.
    Op,
    /// An alert started or stopped firing.
    Alert,
    /// An emergency-stop latch engaged, held or released.
    Latch,
}

/// The groups a filter chooses between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Engine,
    Ops,
    Alerts,
    Latches,
}

impl Group {
    pub const ALL: [Group; 4] = [Group::Engine, Group::Ops, Group::Alerts, Group::Latches];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Engine => "engine",
            Group::Ops => "operations",
            Group::Alerts => "alerts",
            Group::Latches => "latches",
        }
    }
}

impl Happen {
    pub fn group(self) -> Group {
        match self {
            Happen::Op => Group::Ops,
            Happen::Alert => Group::Alerts,
            Happen::Latch => Group::Latches,
            _ => Group::Engine,
        }
    }

    pub const ALL: [Happen; 11] = [
        Happen::Died,
        Happen::Oom,
        Happen::Killed,
        Happen::Restarted,
        Happen::Started,
        Happen::Stopped,
        Happen::Health,
        Happen::Pulled,
        Happen::Op,
        Happen::Alert,
        Happen::Latch,
    ];

    /// The kind named by [`as_str`](Self::as_str) (a stored row read back).
    pub fn parse(word: &str) -> Option<Happen> {
        Happen::ALL.into_iter().find(|k| k.as_str() == word)
    }

    /// The word in the pane's KIND column and in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Happen::Died => "died",
            Happen::Oom => "oom",
            Happen::Killed => "kill",
            Happen::Restarted => "restart",
            Happen::Started => "start",
            Happen::Stopped => "stop",
            Happen::Health => "health",
            Happen::Pulled => "pull",
            Happen::Op => "op",
            Happen::Alert => "alert",
            Happen::Latch => "latch",
        }
    }
}

/// How a row reads at a glance (the pane colours it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Bad,
    Warn,
    Good,
    Plain,
}

impl Tone {
    pub const ALL: [Tone; 4] = [Tone::Bad, Tone::Warn, Tone::Good, Tone::Plain];

    /// How a stored row keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Bad => "bad",
            Tone::Warn => "warn",
            Tone::Good => "good",
            Tone::Plain => "plain",
        }
    }

    pub fn parse(word: &str) -> Option<Tone> {
        Tone::ALL.into_iter().find(|t| t.as_str() == word)
    }
}

impl super::Outcome {
    /// How an operation's outcome reads (the History and Timeline panes colour it so).
    pub fn tone(self) -> Tone {
        use super::Outcome::*;
        match self {
            Succeeded => Tone::Good,
            Running => Tone::Plain,
            RolledBack | Interrupted | Paused => Tone::Warn,
            Failed => Tone::Bad,
        }
    }
}

/// One row of the timeline. Every text is inert and masked when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Happening {
    pub at: Timestamp,
    pub kind: Happen,
    /// `project/service` as the rest of stackdeck names it (the container's name when it is
    /// not a compose service; empty for the engine as a whole).
    pub service: String,
    /// The container (or image) it happened to, by name; empty for stackdeck's own rows.
    pub subject: String,
    pub what: String,
    pub tone: Tone,
    /// Tells one happening from another with the same time, so a row read twice (the
    /// catch-up at start and the live stream overlap) is kept once.
    pub key: String,
    /// The container (engine rows), for "was stackdeck doing this?".
    pub container: Option<String>,
    /// The same thing again within moments (the kernel's OOM killer fires once per process it
    /// kills): counted on one row.
    pub times: u32,
}

impl Happening {
    /// The service part of [`service`](Self::service), as the pane's column shows it.
    pub fn service_name(&self) -> &str {
        self.service.rsplit_once('/').map_or(self.service.as_str(), |(_, s)| s)
    }
}
