//! Restoring a verified backup: a PostgreSQL dump into the running database (psql), or any
//! job with a `restore` command (Redis, InfluxDB): the backup, decompressed, on the command's
//! stdin in the service's container, then a restart if the job asks for one, then the job's
//! `restore_check`, whose answer is recorded.

use super::JOB_LIMIT;
use super::archive::{check_file, feed_decompressed};
use super::jobs::running_container;
use super::manifest::{list, root};
use crate::domain::{BackupStatus, Done, OpError, Outcome, VerifyMode};
use crate::ops::{Ctx, Progress};
use crate::store::{NewOp, lock::ServiceLock};

/// Restore a verified PostgreSQL dump into the running database (the job's user/database).
pub(in crate::ops) async fn restore(
    ctx: &Ctx,
    backup_id: &str,
    job_name: &str,
    p: &mut Progress,
) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("restore")?;
    let job = ctx
        .stack
        .config
        .backup
        .jobs
        .iter()
        .find(|j| j.name == job_name)
        .ok_or_else(|| OpError::Usage(format!("no backup job named {job_name} in the config")))?
        .clone();
    if job.verify != Some(VerifyMode::Postgres) && job.restore.is_none() {
        return Err(OpError::Usage(format!(
            "{job_name} cannot be restored: it is neither a PostgreSQL dump (verify = \"postgres\") nor has a restore command"
        )));
    }
    let root = root(&ctx.state_dir, &ctx.stack);
    let m = list(&root)
        .into_iter()
        .find(|m| m.id == backup_id)
        .ok_or_else(|| OpError::Usage(format!("no backup {backup_id} in {}", root.display())))?;
    if m.status != BackupStatus::Good {
        return Err(OpError::Refused(format!("backup {backup_id} failed verification: it is not restored")));
    }
    let entry = m
        .jobs
        .iter()
        .find(|j| j.name == job_name)
        .ok_or_else(|| OpError::Usage(format!("backup {backup_id} has no {job_name}")))?;
    let file = root.join(&m.id).join(entry.file.as_deref().unwrap_or_default());
    let service = job.service.clone().unwrap_or_default();
    let _lock = ServiceLock::try_take(&ctx.state_dir, &service, "restore").map_err(OpError::Refused)?;
    let store = ctx.store()?;
    let db = job.database.clone().unwrap_or_else(|| service.clone());
    let record = store
        .begin(&NewOp {
            action: "restore".into(),
            service: service.clone(),
            to_image: Some(format!("{backup_id}/{job_name} -> {db}")),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let r = async {
        let id = running_container(ctx, &service).await?;
        let sha = entry.sha256.clone().unwrap_or_default();
        let f2 = file.clone();
        tokio::task::spawn_blocking(move || check_file(&f2, &sha, false)).await.map_err(|e| e.to_string())??;
        p.step(Some(&store), format!("checksum ok; restoring {} into {db}", file.display()));
        if job.verify != Some(VerifyMode::Postgres) {
            return generic(ctx, &job, id, &file, p, &store).await;
        }
        let (rx, feeder) = feed_decompressed(file.clone());
        let user = job.user.clone().unwrap_or_default();
        let psql: Vec<String> = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", &user, "-d", &db]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let out = ctx.backend.exec(&id, &psql, Some(rx), None, JOB_LIMIT).await.map_err(|e| e.to_string())?;
        feeder.await.map_err(|e| e.to_string())??;
        if out.exit_code != 0 {
            return Err(format!("psql exited with code {}: {}", out.exit_code, out.stderr));
        }
        Ok(None)
    }
    .await;
    match r {
        Ok(check) => {
            let summary = match check {
                Some(c) => format!("restored {backup_id}/{job_name} into {db}; check: {c}"),
                None => format!("restored {backup_id}/{job_name} into {db}"),
            };
            p.step(Some(&store), summary.clone());
            if let Err(e) = store.finish(record, Outcome::Succeeded, None, None) {
                p.step(None, format!("WARNING: {e}"));
            }
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            let _ = store.finish(record, Outcome::Failed, Some(&e), None);
            Err(OpError::Failed(format!("restore failed: {e}")))
        }
    }
}

/// A job's own restore: its command with the backup on stdin, the restart, the check.
async fn generic(
    ctx: &Ctx,
    job: &crate::config::stack::BackupJob,
    id: crate::domain::ContainerId,
    file: &std::path::Path,
    p: &mut Progress,
    store: &crate::store::Store,
) -> Result<Option<String>, String> {
    let service = job.service.clone().unwrap_or_default();
    let cmd = job.restore.clone().unwrap_or_default();
    let (rx, feeder) = feed_decompressed(file.to_path_buf());
    let out = ctx.backend.exec(&id, &cmd, Some(rx), None, JOB_LIMIT).await.map_err(|e| e.to_string())?;
    feeder.await.map_err(|e| e.to_string())??;
    if out.exit_code != 0 {
        return Err(format!("{} exited with code {}: {}", cmd.join(" "), out.exit_code, out.stderr));
    }
    p.step(Some(store), format!("{}: restore command done", job.name));
    if job.restore_restart {
        let svc = ctx.backend.resolve(&service, ctx.project()).await.map_err(|e| e.to_string())?;
        let policy = ctx.backend.restart_policy(&svc).await.ok();
        ctx.backend.halt(&svc, None, p).await.map_err(|e| e.to_string())?;
        ctx.backend.resume(&svc, policy, p).await.map_err(|e| e.to_string())?;
        p.step(Some(store), format!("{service} restarted to load what was restored"));
    }
    let Some(check) = job.restore_check.clone() else { return Ok(None) };
    // The server may need a moment after a restart: the check is tried for up to a minute.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let attempt = async {
            let id = running_container(ctx, &service).await?;
            let (ran, text) = crate::ops::exec_output(ctx, &id, &check, JOB_LIMIT).await.map_err(|e| e.to_string())?;
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if ran.exit_code == 0 { Ok(text) } else { Err(format!("exit {}: {text}{}", ran.exit_code, ran.stderr)) }
        }
        .await;
        match attempt {
            Ok(text) => {
                let text = crate::logtext::clean(&text, &ctx.stack.masker);
                p.step(Some(store), format!("{}: check: {text}", job.name));
                return Ok(Some(text));
            }
            Err(e) if std::time::Instant::now() >= deadline => return Err(format!("the restore check failed: {e}")),
            Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
}
