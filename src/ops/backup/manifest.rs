//! The manifest beside each backup, the list of backups, and retention.

use crate::config::Stack;
use crate::domain::{BackupStatus, Manifest};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where backups go: `[backup] dir`, else `<state dir>/backups`.
pub fn root(state_dir: &Path, stack: &Stack) -> PathBuf {
    stack.config.backup.dir.clone().unwrap_or_else(|| state_dir.join("backups"))
}

pub(super) fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), String> {
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(m).map_err(|e| e.to_string())?;
    let mut f = super::archive::open_new(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every backup under `root`, newest first.
pub fn list(root: &Path) -> Vec<Manifest> {
    let mut out: Vec<Manifest> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("manifest.json")).ok())
                .filter_map(|t| serde_json::from_str(&t).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

/// Remove backups older than `keep_days`, and good ones beyond the newest `keep_count`.
/// Never the one just made. Returns the ids removed.
pub(super) fn retention(root: &Path, stack: &Stack, keep_id: &str) -> Vec<String> {
    let (days, count) = (i64::from(stack.keep_days()), stack.keep_count());
    let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days);
    let mut good = 0usize;
    let mut removed = Vec::new();
    for m in list(root) {
        if m.id == keep_id {
            good += 1;
            continue;
        }
        let old = m.created.parse::<jiff::Timestamp>().is_ok_and(|t| t < cutoff);
        let extra = m.status == BackupStatus::Good && {
            good += 1;
            good > count
        };
        if (old || extra) && std::fs::remove_dir_all(root.join(&m.id)).is_ok() {
            removed.push(m.id);
        }
    }
    removed
}
