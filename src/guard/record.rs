//! The guard keeps the timeline: every engine event that matters and every alert that fires or
//! resolves is written to the store, on a thread of its own, so a panel opened at 03:15 shows
//! what happened at 03:12 although the engine remembers only its last 256 events. A store that
//! is slow or gone never holds the guard's loop (latches are enforced there): rows that find
//! the queue full are counted and dropped, and a failed write is said once.

use super::log::say;
use crate::domain::Happening;
use crate::logtext::Masker;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Batches waiting for the writer: past this, new rows are dropped (and counted).
const QUEUE: usize = 256;
/// Alert rows already sent, remembered so each is sent once (forgotten past this many).
const SEEN: usize = 10_000;

/// Rows written, rows dropped (queue full or a failed write), over the guard's life (a
/// reload's new recorder adds to them).
#[derive(Debug, Default)]
pub struct Counts {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Recorder {
    tx: mpsc::Sender<Vec<Happening>>,
    seen: HashSet<(jiff::Timestamp, String)>,
    counts: Arc<Counts>,
    /// `[timeline] since_secs = 0`: nothing is read back, so nothing is kept.
    off: bool,
}

impl Recorder {
    /// The writer thread, ending when the recorder is dropped (a reload replaces it).
    pub fn spawn(state_dir: PathBuf, masker: Masker, window: Duration, keep: usize, counts: Arc<Counts>) -> Recorder {
        let (tx, mut rx) = mpsc::channel::<Vec<Happening>>(QUEUE);
        let c = counts.clone();
        let spawned = std::thread::Builder::new().name("timeline-recorder".into()).spawn(move || {
            let mut store = None;
            let mut failing = false;
            while let Some(rows) = rx.blocking_recv() {
                if store.is_none() {
                    store = crate::store::Store::open(&state_dir).map(|s| s.with_masker(masker.clone())).ok();
                }
                let result = match &store {
                    Some(s) => s.record_happenings(&rows, window, keep),
                    None => Err(format!("the store in {} cannot be opened", state_dir.display())),
                };
                match result {
                    Ok(()) => {
                        c.written.fetch_add(rows.len() as u64, Ordering::Relaxed);
                        if std::mem::take(&mut failing) {
                            say("timeline: the store takes its rows again");
                        }
                    }
                    Err(e) => {
                        c.dropped.fetch_add(rows.len() as u64, Ordering::Relaxed);
                        if !std::mem::replace(&mut failing, true) {
                            say(&format!(
                                "timeline: rows not kept ({e}); a panel reads back only what the engine remembers"
                            ));
                        }
                        store = None;
                    }
                }
            }
        });
        if let Err(e) = spawned {
            say(&format!("timeline: cannot start its writer: {e}"));
        }
        Recorder { tx, seen: HashSet::new(), counts, off: window.is_zero() || keep == 0 }
    }

    /// Engine rows, as they came.
    pub fn engine(&self, rows: &[Happening]) {
        self.send(rows.to_vec());
    }

    /// The alert rows of the guard's timeline not sent yet.
    pub fn alerts<'a>(&mut self, rows: impl Iterator<Item = &'a Happening>) {
        let new: Vec<Happening> = rows.filter(|h| !self.seen.contains(&(h.at, h.key.clone()))).cloned().collect();
        if new.is_empty() || self.off {
            return;
        }
        if self.seen.len() + new.len() > SEEN {
            self.seen.clear();
        }
        self.seen.extend(new.iter().map(|h| (h.at, h.key.clone())));
        self.send(new);
    }

    /// (written, dropped) so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.counts.written.load(Ordering::Relaxed), self.counts.dropped.load(Ordering::Relaxed))
    }

    fn send(&self, rows: Vec<Happening>) {
        if rows.is_empty() || self.off {
            return;
        }
        let n = rows.len() as u64;
        if self.tx.try_send(rows).is_err() {
            self.counts.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}
