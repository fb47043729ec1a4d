//! Running one backup job (exec, copy, paths) into a file, and verifying it.

use super::JOB_LIMIT;
use super::archive::{check_file, feed_decompressed, first_file_of_tar, gzip_from_channel, open_new, tar_paths};
use crate::config::stack::BackupJob;
use crate::domain::{BackupKind, ContainerId, JobEntry, VerifyMode};
use crate::ops::{Ctx, Progress};
use crate::store::Store;
use bytes::Bytes;
use futures::StreamExt;
use std::io::Write;
use std::path::Path;
use tokio::sync::mpsc;

pub(super) fn describe(job: &BackupJob) -> String {
    match job.kind {
        BackupKind::Exec => format!(
            "{} in {}",
            job.command.clone().unwrap_or_default().join(" "),
            job.service.as_deref().unwrap_or("?")
        ),
        BackupKind::Copy => {
            format!("copy {} out of {}", job.path.as_deref().unwrap_or("?"), job.service.as_deref().unwrap_or("?"))
        }
        BackupKind::Paths => format!("tar {}", job.paths.clone().unwrap_or_default().join(" ")),
    }
}

pub(super) async fn running_container(ctx: &Ctx, service: &str) -> Result<ContainerId, String> {
    let svc = ctx.backend.resolve(service, ctx.project()).await.map_err(|e| e.to_string())?;
    ctx.backend.exec_target(&svc).await.map_err(|e| e.to_string())
}

pub(super) async fn run_job(ctx: &Ctx, job: &BackupJob, dir: &Path) -> Result<JobEntry, String> {
    let mut entry = JobEntry::new(&job.name, job.kind);
    match job.kind {
        BackupKind::Exec => {
            let id = running_container(ctx, job.service.as_deref().unwrap_or_default()).await?;
            let name = format!("{}.{}.gz", job.name, job.extension.as_deref().unwrap_or("sql"));
            let (tx, rx) = mpsc::channel::<Bytes>(16);
            let path = dir.join(&name);
            let writer = tokio::task::spawn_blocking(move || gzip_from_channel(&path, rx));
            let cmd = job.command.clone().unwrap_or_default();
            let ran = ctx.backend.exec(&id, &cmd, None, Some(tx), JOB_LIMIT).await;
            let written = writer.await.map_err(|e| e.to_string())?.map_err(|e| format!("writing {name}: {e}"))?;
            let out = ran.map_err(|e| e.to_string())?;
            if out.exit_code != 0 {
                return Err(format!("{} exited with code {}: {}", cmd.join(" "), out.exit_code, out.stderr));
            }
            (entry.bytes, entry.sha256, entry.raw_bytes) = (written.0, Some(written.1), written.2);
            entry.file = Some(name);
        }
        BackupKind::Copy => {
            let id = running_container(ctx, job.service.as_deref().unwrap_or_default()).await?;
            if let Some(cmd) = job.command.as_ref().filter(|c| !c.is_empty()) {
                let out = ctx.backend.exec(&id, cmd, None, None, JOB_LIMIT).await.map_err(|e| e.to_string())?;
                if out.exit_code != 0 {
                    return Err(format!("{} exited with code {}: {}", cmd.join(" "), out.exit_code, out.stderr));
                }
            }
            let src = job.path.clone().unwrap_or_default();
            let ext = job.extension.clone().unwrap_or_else(|| {
                Path::new(&src).extension().map_or("bin".into(), |e| e.to_string_lossy().into_owned())
            });
            let name = format!("{}.{ext}.gz", job.name);
            // The archive API answers with a tar stream: spool it to disk, then take the file.
            let spool = dir.join(format!(".{}.tar.part", job.name));
            {
                let mut f = open_new(&spool).map_err(|e| format!("{}: {e}", spool.display()))?;
                let mut s = ctx.backend.copy_out(&id, &src);
                while let Some(chunk) = s.next().await {
                    let chunk = chunk.map_err(|e| e.to_string())?;
                    f.write_all(&chunk).map_err(|e| e.to_string())?;
                }
                f.sync_all().map_err(|e| e.to_string())?;
            }
            let (spool2, path) = (spool.clone(), dir.join(&name));
            let written = tokio::task::spawn_blocking(move || first_file_of_tar(&spool2, &path))
                .await
                .map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&spool);
            let written = written.map_err(|e| format!("{src}: {e}"))?;
            (entry.bytes, entry.sha256, entry.raw_bytes) = (written.0, Some(written.1), written.2);
            entry.file = Some(name);
        }
        BackupKind::Paths => {
            let name = format!("{}.tar.gz", job.name);
            let path = dir.join(&name);
            let paths = job.paths.clone().unwrap_or_default();
            let written =
                tokio::task::spawn_blocking(move || tar_paths(&path, &paths)).await.map_err(|e| e.to_string())??;
            (entry.bytes, entry.sha256, entry.raw_bytes) = (written.0, Some(written.1), written.2);
            entry.file = Some(name);
        }
    }
    Ok(entry)
}

pub(super) async fn verify(
    ctx: &Ctx,
    job: &BackupJob,
    dir: &Path,
    entry: &mut JobEntry,
    p: &mut Progress,
    store: &Store,
) -> Result<(), String> {
    let file = dir.join(entry.file.as_deref().unwrap_or_default());
    let sha = entry.sha256.clone().unwrap_or_default();
    let is_tar = job.kind == BackupKind::Paths;
    let f2 = file.clone();
    tokio::task::spawn_blocking(move || check_file(&f2, &sha, is_tar)).await.map_err(|e| e.to_string())??;
    entry.verified.push("sha256".into());
    entry.verified.push(if is_tar { "tar.gz".into() } else { "gzip".into() });
    if job.verify == Some(VerifyMode::Postgres) {
        p.step(Some(store), format!("{}: restoring into a scratch database to verify", job.name));
        let id = running_container(ctx, job.service.as_deref().unwrap_or_default()).await?;
        let user = job.user.clone().unwrap_or_default();
        let scratch = format!("stackdeck_verify_{}", std::process::id());
        let sh = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let out = ctx
            .backend
            .exec(&id, &sh(&["createdb", "-U", &user, &scratch]), None, None, JOB_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(format!("createdb {scratch}: {}", out.stderr));
        }
        let (rx, feeder) = feed_decompressed(file);
        let psql = sh(&["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", &user, "-d", &scratch]);
        let restored = ctx.backend.exec(&id, &psql, Some(rx), None, JOB_LIMIT).await;
        let fed = feeder.await.map_err(|e| e.to_string());
        // Always drop the scratch database.
        let _ =
            ctx.backend.exec(&id, &sh(&["dropdb", "-U", &user, "--if-exists", &scratch]), None, None, JOB_LIMIT).await;
        let out = restored.map_err(|e| e.to_string())?;
        fed??;
        if out.exit_code != 0 {
            return Err(format!("the dump does not restore: {}", out.stderr));
        }
        entry.verified.push("restore into a scratch database".into());
    }
    Ok(())
}
