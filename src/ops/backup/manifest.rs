//! The manifest beside each backup, the list of backups, and retention.

use crate::config::Stack;
use crate::domain::{BackupStatus, Manifest};
use crate::logtext::inert;
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

/// Remove the files of one job from a backup directory (its output and its spool).
pub(super) fn remove_job_files(dir: &Path, job: &str) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{job}.")) || name.starts_with(&format!(".{job}.")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// How old a backup directory without a manifest must be before it counts as left behind by an
/// interrupted run (one being written right now is younger).
const INCOMPLETE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Remove backup directories that never got a manifest (a killed run, a full disk): nothing can
/// list, verify or restore them, and retention would never see them. Returns their names.
pub(super) fn remove_incomplete(root: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(root) else { return vec![] };
    let mut removed = Vec::new();
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > INCOMPLETE_AFTER);
        if p.is_dir() && !p.join("manifest.json").exists() && old && std::fs::remove_dir_all(&p).is_ok() {
            removed.push(inert(&e.file_name().to_string_lossy()).into_owned());
        }
    }
    removed
}

/// Every backup under `root`, newest first. A manifest is outside text once it is on disk: its
/// id is the directory's own name (never a path the file names), its texts are made inert, and
/// a file name that is not a plain name in the backup's directory is refused.
pub fn list(root: &Path) -> Vec<Manifest> {
    let mut out: Vec<Manifest> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let text = std::fs::read_to_string(e.path().join("manifest.json")).ok()?;
                    let m: Manifest = serde_json::from_str(&text).ok()?;
                    Some(inert_manifest(m, &e.file_name().to_string_lossy()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| b.id.cmp(&a.id));
    out
}

fn inert_manifest(mut m: Manifest, dir_name: &str) -> Manifest {
    let i = |s: &str| inert(s).into_owned();
    m.id = i(dir_name);
    m.created = i(&m.created);
    for j in &mut m.jobs {
        j.name = i(&j.name);
        j.sha256 = j.sha256.as_deref().map(i);
        j.error = j.error.as_deref().map(i);
        j.verified = j.verified.iter().map(|v| i(v)).collect();
        if let Some(f) = &j.file
            && !is_plain_name(f)
        {
            j.error = Some(format!("the manifest names a file outside the backup ({}): refused", i(f)));
            j.file = None;
        }
    }
    if m.jobs.iter().any(|j| j.error.is_some()) {
        m.status = BackupStatus::Failed;
    }
    m
}

/// A file name with no directory part: what a backup's files are.
fn is_plain_name(f: &str) -> bool {
    !f.is_empty() && f != "." && f != ".." && !f.contains(['/', '\\', '\0'])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BackupKind, JobEntry};

    #[test]
    fn a_tampered_manifest_cannot_point_outside_its_backup() {
        let root = std::env::temp_dir().join(format!("sd-manifest-{}", std::process::id()));
        let dir = root.join("20261129T000000Z");
        std::fs::create_dir_all(&dir).unwrap();
        let mut job = JobEntry::new("pg\u{1b}]0;owned\u{7}", BackupKind::Exec);
        job.file = Some("../../../etc/shadow".into());
        let m = Manifest {
            id: "../../etc".into(),
            created: "2026-11-29T00:00:00Z".into(),
            status: BackupStatus::Good,
            jobs: vec![job],
        };
        std::fs::write(dir.join("manifest.json"), serde_json::to_string(&m).unwrap()).unwrap();
        let listed = list(&root);
        assert_eq!(listed.len(), 1);
        let l = &listed[0];
        assert_eq!(l.id, "20261129T000000Z", "the directory's name, not the file's claim");
        assert_eq!(l.status, BackupStatus::Failed);
        assert_eq!(l.jobs[0].file, None);
        assert!(!l.jobs[0].name.contains('\u{1b}') && l.jobs[0].name.contains('␛'), "{}", l.jobs[0].name);
        std::fs::remove_dir_all(root).ok();
    }
}
