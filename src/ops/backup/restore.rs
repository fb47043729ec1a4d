//! Restoring a verified PostgreSQL dump into the running database.

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
    if job.verify != Some(VerifyMode::Postgres) {
        return Err(OpError::Usage(format!("{job_name} is not a PostgreSQL dump job (verify = \"postgres\")")));
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
    let db = job.database.clone().unwrap_or_default();
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
        Ok(())
    }
    .await;
    match r {
        Ok(()) => {
            let summary = format!("restored {backup_id}/{job_name} into {db}");
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
