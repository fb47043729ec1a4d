//! Deployment and operations history as the History pane shows it.
//!
//! The records come from the durable store, read by a background task (`runner`).

use crate::domain::{KillSwitch, Manifest, OpRecord};

#[derive(Debug, Default)]
pub struct HistoryState {
    pub records: Vec<OpRecord>,
    /// The order the pane shows them in (see [`threaded`]): index into `records`, and whether
    /// the row is a part of the release shown above it.
    pub order: Vec<(usize, bool)>,
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

/// Newest first, each release followed by its own rows (oldest first). A row whose release is
/// not among `records` (older than the list) stands on its own.
pub fn threaded(records: &[OpRecord]) -> Vec<(usize, bool)> {
    let shown = |id: i64| records.iter().any(|r| r.id == id);
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        if r.parent.is_some_and(shown) {
            continue;
        }
        out.push((i, false));
        let mut kids: Vec<usize> = (0..records.len()).filter(|&k| records[k].parent == Some(r.id)).collect();
        kids.sort_by_key(|&k| records[k].id);
        out.extend(kids.into_iter().map(|k| (k, true)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Outcome;

    fn rec(id: i64, parent: Option<i64>) -> OpRecord {
        OpRecord {
            id,
            action: "deploy".into(),
            service: String::new(),
            from_image: None,
            to_image: None,
            from_image_id: None,
            to_image_id: None,
            actor: String::new(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
            finished_at: None,
            outcome: Outcome::Succeeded,
            reason: None,
            parent,
        }
    }

    #[test]
    fn a_release_is_followed_by_its_rows_oldest_first() {
        // Newest first, as the store lists them: 9 on its own, release 5 with 6..8, 3 whose
        // release is older than the list.
        let r = vec![rec(9, None), rec(8, Some(5)), rec(7, Some(5)), rec(6, Some(5)), rec(5, None), rec(3, Some(1))];
        let ids: Vec<(i64, bool)> = threaded(&r).into_iter().map(|(i, c)| (r[i].id, c)).collect();
        assert_eq!(ids, vec![(9, false), (5, false), (6, true), (7, true), (8, true), (3, false)]);
    }
}
