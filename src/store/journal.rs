//! The fallback journal: where an emergency stop is recorded when the history database cannot
//! be (corrupt, locked by another process, on a full disk). One JSON line per record in
//! `journal.jsonl` next to the database, appended and synced; imported into the database by the
//! next process that opens it, and removed then.
//!
//! The stop never waits for this either: when even the journal cannot be written, the caller
//! prints the record instead.

use crate::domain::{KillSwitch, Outcome, RestartPolicy};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const FILE: &str = "journal.jsonl";

/// One operation as the journal keeps it: what the history row would have held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The record this entry finishes, when it exists in the database; `None`: a whole record.
    #[serde(default)]
    pub record: Option<i64>,
    pub action: String,
    pub service: String,
    pub from_image: Option<String>,
    #[serde(default)]
    pub to_image_id: Option<String>,
    pub reason: Option<String>,
    pub actor: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub transcript: Vec<String>,
    /// The kill switch the stop turned on.
    pub kill_switch: Option<Latch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latch {
    pub by: String,
    pub at: String,
    pub reason: String,
    pub previous_policy: String,
    /// The halt hook's answer (journals of older stackdecks have none).
    #[serde(default)]
    pub halt: Option<String>,
}

impl Latch {
    pub fn of(k: &KillSwitch) -> Latch {
        Latch {
            by: k.by.clone(),
            at: k.at.to_string(),
            reason: k.reason.clone(),
            previous_policy: k.previous_policy.to_string(),
            halt: k.halt.clone(),
        }
    }

    pub fn to_kill_switch(&self, service: &str) -> KillSwitch {
        KillSwitch {
            service: service.to_owned(),
            by: self.by.clone(),
            at: self.at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
            reason: self.reason.clone(),
            previous_policy: RestartPolicy::parse(&self.previous_policy).unwrap_or_default(),
            halt: self.halt.clone(),
        }
    }
}

impl Entry {
    pub fn outcome(&self) -> Outcome {
        Outcome::parse(&self.outcome)
    }
}

/// Append one entry (0600, synced). Returns the journal's path.
pub fn append(dir: &Path, entry: &Entry) -> Result<PathBuf, String> {
    let path = dir.join(FILE);
    let mut line = serde_json::to_string(entry).map_err(|e| e.to_string())?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Take the journal for import: renamed first, so that two processes never import it twice
/// and a stop that journals meanwhile starts a new file. `None` when there is none.
pub fn claim(dir: &Path) -> Option<(PathBuf, Vec<Entry>, Vec<String>)> {
    let path = dir.join(FILE);
    if !path.exists() {
        return None;
    }
    let taken = dir.join(format!("journal.importing.{}", std::process::id()));
    std::fs::rename(&path, &taken).ok()?;
    let text = std::fs::read_to_string(&taken).unwrap_or_default();
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(l) {
            Ok(e) => entries.push(e),
            Err(e) => bad.push(format!("{e}")),
        }
    }
    Some((taken, entries, bad))
}
