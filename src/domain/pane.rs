//! The panes of the panel: one enum for where focus is and which key table applies.

/// The panes that take focus. Each has a key table of its own in keybindings.toml (named by
/// [`Pane::name`]) that falls back to the global table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Services,
    Logs,
    Metrics,
    History,
    Charts,
    Alerts,
}

impl Pane {
    pub const ORDER: [Pane; 6] = [Pane::Services, Pane::Logs, Pane::Metrics, Pane::History, Pane::Charts, Pane::Alerts];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Services => "Services",
            Pane::Logs => "Logs",
            Pane::Metrics => "Metrics",
            Pane::History => "History",
            Pane::Charts => "Charts",
            Pane::Alerts => "Alerts",
        }
    }

    /// The key table's name in keybindings.toml.
    pub fn name(self) -> &'static str {
        match self {
            Pane::Services => "services",
            Pane::Logs => "logs",
            Pane::Metrics => "metrics",
            Pane::History => "history",
            Pane::Charts => "charts",
            Pane::Alerts => "alerts",
        }
    }
}
