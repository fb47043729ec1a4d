//! Deployment and operations history as the History pane shows it.
//!
//! The records come from the durable store, read by a background task (`runner`).

use crate::domain::{KillSwitch, Manifest, OpRecord};

#[derive(Debug, Default)]
pub struct HistoryState {
    pub records: Vec<OpRecord>,
    /// Services stopped by the kill switch (banner until started again).
    pub kill_switches: Vec<KillSwitch>,
    /// Backups on disk, newest first.
    pub backups: Vec<Manifest>,
    /// False while no store is attached: the pane says so instead of pretending to be empty.
    pub store_attached: bool,
    /// Where the audit chain is broken, when it is (an altered or removed row).
    pub chain_broken: Option<String>,
    pub scroll: usize,
}
