//! What a supervisor session shares with the next one and with the swarm session: the streams
//! the app wants (kept across reconnects), how a command changes them, and how a session ends.

use super::{Command, logs};

/// What the app currently wants streamed, kept across reconnects.
#[derive(Default)]
pub(super) struct Wants {
    pub(super) follow: Option<logs::Follow>,
    /// Stats streams run only while the app shows them (the Metrics pane).
    pub(super) stats: bool,
}

/// Record a command; returns true when it concerns the log stream.
pub(super) fn apply_cmd(c: Command, wants: &mut Wants) -> bool {
    match c {
        Command::FollowLogs { container, generation, tail, since } => {
            wants.follow =
                Some(logs::Follow { id: container, generation, tail, since, source: logs::Source::Container });
            true
        }
        Command::FollowMerged { sources, generation, tail, since } => {
            wants.follow = sources.first().map(|(id, _)| logs::Follow {
                id: id.clone(),
                generation,
                tail,
                since,
                source: logs::Source::Containers(sources.clone()),
            });
            true
        }
        Command::StopLogs => {
            wants.follow = None;
            true
        }
        Command::Stats(on) => {
            wants.stats = on;
            false
        }
    }
}

pub(super) enum SessionEnd {
    Quit,
    Lost(String),
}
