//! Backups, modelled on the stack's backup script: a command's stdout streamed to a file
//! (pg_dump), a file copied out of a container through the engine's archive API after a command
//! (redis-cli SAVE, then /data/dump.rdb), and host paths tarred (configuration).
//!
//! Everything is streamed to disk through gzip (never whole in memory), written 0600 in a 0700
//! directory, listed in a manifest with sizes and sha256, then verified: checksums re-read,
//! archives decompressed, and a PostgreSQL dump restored into a scratch database in the running
//! container (created and dropped here). A backup that fails verification is marked failed.
//!
//! - `jobs`: running and verifying one job;
//! - `archive`: gzip/tar/sha256 file I/O;
//! - `manifest`: the manifest, the list of backups, retention;
//! - `restore`: putting a dump back.

mod archive;
mod jobs;
mod manifest;
mod restore;

pub use manifest::{list, root};
pub(super) use restore::restore;

use super::{Ctx, Progress};
use crate::config::stack::BackupJob;
use crate::domain::{BackupStatus, Done, JobEntry, Manifest, OpError, Outcome};
use crate::store::NewOp;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one command of a job may run.
const JOB_LIMIT: Duration = Duration::from_secs(3600);

/// Run the backup jobs (all, or those named), verify, apply retention.
pub(super) async fn run(ctx: &Ctx, only: &[String], p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("backup")?;
    let configured = &ctx.stack.config.backup.jobs;
    let unknown: Vec<&str> =
        only.iter().filter(|n| !configured.iter().any(|j| &j.name == *n)).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(OpError::Usage(format!("no backup job named {}", unknown.join(", "))));
    }
    let jobs: Vec<BackupJob> =
        configured.iter().filter(|j| only.is_empty() || only.contains(&j.name)).cloned().collect();
    if jobs.is_empty() {
        return Err(OpError::Usage("no backup jobs configured: add [[backup.jobs]] to the config".into()));
    }
    let root = root(&ctx.state_dir, &ctx.stack);
    let store = ctx.store()?;
    let stale = manifest::remove_incomplete(&root);
    if !stale.is_empty() {
        p.step(None, format!("removed incomplete backups left by interrupted runs: {}", stale.join(", ")));
    }
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let record = store
        .begin(&NewOp { action: "backup".into(), service: names.join(","), ..NewOp::default() })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let (id, dir) = match new_backup_dir(&root) {
        Ok(v) => v,
        Err(msg) => {
            let _ = store.finish(record, Outcome::Failed, Some(&msg), None);
            return Err(OpError::Failed(msg));
        }
    };
    let mut manifest = Manifest {
        id: id.clone(),
        created: jiff::Timestamp::now().to_string(),
        status: BackupStatus::Failed,
        jobs: Vec::new(),
    };
    for job in &jobs {
        p.step(Some(&store), format!("{}: {}", job.name, jobs::describe(job)));
        let mut entry = match jobs::run_job(ctx, job, &dir).await {
            Ok(e) => e,
            Err(e) => JobEntry { error: Some(e), ..JobEntry::new(&job.name, job.kind) },
        };
        if entry.error.is_none()
            && let Err(e) = jobs::verify(ctx, job, &dir, &mut entry, p, &store).await
        {
            entry.error = Some(format!("verification failed: {e}"));
        }
        // Command output (stderr) reaches the manifest, the record and the webhook: inert and masked.
        entry.error = entry.error.map(|e| crate::logtext::clean(&e, &ctx.stack.masker));
        if entry.error.is_some() {
            // A failed job's partial output (a full disk, a dead command) is not kept.
            entry.bytes = 0;
            entry.file = None;
            manifest::remove_job_files(&dir, &job.name);
        }
        match &entry.error {
            None => p.step(
                Some(&store),
                format!(
                    "{}: {} written, verified ({})",
                    job.name,
                    crate::format::human_bytes(entry.bytes),
                    entry.verified.join(", ")
                ),
            ),
            Some(e) => p.step(Some(&store), format!("{}: FAILED: {e}", job.name)),
        }
        manifest.jobs.push(entry);
    }
    let good = manifest.jobs.iter().all(|j| j.error.is_none());
    manifest.status = if good { BackupStatus::Good } else { BackupStatus::Failed };
    if let Err(e) = manifest::write_manifest(&dir, &manifest) {
        // Without its manifest a backup can be neither listed, verified nor restored, and
        // retention would never find it: nothing of it is kept.
        let _ = std::fs::remove_dir_all(&dir);
        let msg = format!("backup {id} failed: {e}; its files were removed");
        let _ = store.finish(record, Outcome::Failed, Some(&msg), None);
        return Err(OpError::Failed(msg));
    }
    if good {
        let removed = manifest::retention(&root, &ctx.stack, &id);
        if !removed.is_empty() {
            p.step(Some(&store), format!("retention removed {}", removed.join(", ")));
        }
        let summary = format!(
            "backup {id}: {} job(s), {}, verified, in {}",
            manifest.jobs.len(),
            crate::format::human_bytes(manifest.total_bytes()),
            dir.display()
        );
        p.step(Some(&store), summary.clone());
        if let Err(e) = store.finish(record, Outcome::Succeeded, None, None) {
            p.step(None, format!("WARNING: {e}"));
        }
        Ok(Done { outcome: Outcome::Succeeded, summary })
    } else {
        let failed: Vec<String> =
            manifest.jobs.iter().filter_map(|j| j.error.as_ref().map(|e| format!("{}: {e}", j.name))).collect();
        let msg = format!("backup {id} is marked failed (not kept as good): {}", failed.join("; "));
        let _ = store.finish(record, Outcome::Failed, Some(&msg), None);
        Err(OpError::Failed(msg))
    }
}

/// A fresh directory for one backup, named for the second it started. Two backups in the same
/// second (a retry after a failure, two operators) each get their own: the directory is created
/// exclusively and a taken name gets a `-2`, `-3`… suffix, so no run ever writes into another's.
fn new_backup_dir(root: &Path) -> Result<(String, PathBuf), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    for n in 1..=100u32 {
        let id = if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") };
        let dir = root.join(&id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!("cannot create a backup directory in {}: 100 names for {stamp} are taken", root.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_backups_in_one_second_get_their_own_directories() {
        let root = std::env::temp_dir().join(format!("sd-bdir-{}", std::process::id()));
        let ids: Vec<String> = (0..3).map(|_| super::new_backup_dir(&root).unwrap().0).collect();
        std::fs::remove_dir_all(&root).ok();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 3, "{ids:?}");
    }
}
