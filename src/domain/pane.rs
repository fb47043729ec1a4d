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
    Timeline,
}

impl Pane {
    pub const ORDER: [Pane; 7] =
        [Pane::Services, Pane::Logs, Pane::Metrics, Pane::History, Pane::Charts, Pane::Alerts, Pane::Timeline];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Services => "Services",
            Pane::Logs => "Logs",
            Pane::Metrics => "Metrics",
            Pane::History => "History",
            Pane::Charts => "Charts",
            Pane::Alerts => "Alerts",
            Pane::Timeline => "Timeline",
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
            Pane::Timeline => "timeline",
        }
    }
}

/// Where a pane was drawn in the last frame (columns and rows from the top left, borders
/// included): what a mouse click or wheel turn lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub pane: Pane,
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Zone {
    pub fn contains(&self, col: u16, row: u16) -> bool {
        col >= self.x && col < self.x.saturating_add(self.w) && row >= self.y && row < self.y.saturating_add(self.h)
    }
}
