//! Backups, modelled on the stack's backup script: a command's stdout streamed to a file
//! (pg_dump), a file copied out of a container through the engine's archive API after a command
//! (redis-cli SAVE, then /data/dump.rdb), and host paths tarred (configuration).
//!
//! Everything is streamed to disk through gzip (never whole in memory), written 0600 in a 0700
//! directory, listed in a manifest with sizes and sha256, then verified: checksums re-read,
//! archives decompressed, and a PostgreSQL dump restored into a scratch database in the running
//! container (created and dropped here). A backup that fails verification is marked failed.

use super::{Ctx, Done, OpError, Progress};
use crate::config::stack::BackupJob;
use crate::domain::{ContainerId, RunState};
use crate::state::history::Outcome;
use crate::store::{NewOp, Store};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one command of a job may run.
const JOB_LIMIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub created: String,
    /// "good" or "failed".
    pub status: String,
    pub jobs: Vec<JobEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobEntry {
    pub name: String,
    pub kind: String,
    pub file: Option<String>,
    /// Size of the file as stored (compressed).
    pub bytes: u64,
    /// Size of the data before compression.
    pub raw_bytes: u64,
    pub sha256: Option<String>,
    /// What was checked ("sha256", "gzip", "tar", "restore into a scratch database").
    pub verified: Vec<String>,
    pub error: Option<String>,
}

impl JobEntry {
    /// Nothing written yet.
    fn empty(job: &BackupJob) -> JobEntry {
        JobEntry {
            name: job.name.clone(),
            kind: job.kind.clone(),
            file: None,
            bytes: 0,
            raw_bytes: 0,
            sha256: None,
            verified: vec![],
            error: None,
        }
    }
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.jobs.iter().map(|j| j.bytes).sum()
    }
}

pub fn root(ctx_state_dir: &Path, stack: &crate::config::Stack) -> PathBuf {
    stack.config.backup.dir.clone().unwrap_or_else(|| ctx_state_dir.join("backups"))
}

/// Run the backup jobs (all, or those named), verify, apply retention.
pub async fn run(ctx: &Ctx, only: &[String], project: Option<&str>, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("backup")?;
    let jobs: Vec<BackupJob> =
        ctx.stack.config.backup.jobs.iter().filter(|j| only.is_empty() || only.contains(&j.name)).cloned().collect();
    if jobs.is_empty() {
        return Err(OpError::Usage(if only.is_empty() {
            "no backup jobs configured: add [[backup.jobs]] to the config".into()
        } else {
            format!("no backup job named {}", only.join(", "))
        }));
    }
    let root = root(&ctx.state_dir, &ctx.stack);
    let store = ctx.store()?;
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let record = store
        .begin(&NewOp { action: "backup".into(), service: names.join(","), ..NewOp::default() })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let id = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let dir = root.join(&id);
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir) {
        let msg = format!("cannot create {}: {e}", dir.display());
        let _ = store.finish(record, Outcome::Failed, Some(&msg), None);
        return Err(OpError::Failed(msg));
    }
    let mut manifest = Manifest {
        id: id.clone(),
        created: jiff::Timestamp::now().to_string(),
        status: "failed".into(),
        jobs: Vec::new(),
    };
    for job in &jobs {
        p.step(Some(&store), format!("{}: {}", job.name, describe(job)));
        let mut entry = match run_job(ctx, job, &dir, project).await {
            Ok(e) => e,
            Err(e) => JobEntry { error: Some(e), ..JobEntry::empty(job) },
        };
        if entry.error.is_none()
            && let Err(e) = verify(ctx, job, &dir, &mut entry, project, p, &store).await
        {
            entry.error = Some(format!("verification failed: {e}"));
        }
        match &entry.error {
            None => p.step(
                Some(&store),
                format!(
                    "{}: {} written, verified ({})",
                    job.name,
                    crate::ui::human_bytes(entry.bytes),
                    entry.verified.join(", ")
                ),
            ),
            Some(e) => p.step(Some(&store), format!("{}: FAILED: {e}", job.name)),
        }
        manifest.jobs.push(entry);
    }
    let good = manifest.jobs.iter().all(|j| j.error.is_none());
    manifest.status = if good { "good" } else { "failed" }.into();
    if let Err(e) = write_manifest(&dir, &manifest) {
        let _ = store.finish(record, Outcome::Failed, Some(&e), None);
        return Err(OpError::Failed(e));
    }
    if good {
        let removed = retention(&root, &ctx.stack, &id);
        if !removed.is_empty() {
            p.step(Some(&store), format!("retention removed {}", removed.join(", ")));
        }
        let summary = format!(
            "backup {id}: {} job(s), {}, verified, in {}",
            manifest.jobs.len(),
            crate::ui::human_bytes(manifest.total_bytes()),
            dir.display()
        );
        p.step(Some(&store), summary.clone());
        store.finish(record, Outcome::Succeeded, None, None).map_err(OpError::Failed)?;
        Ok(Done { outcome: Outcome::Succeeded, summary })
    } else {
        let failed: Vec<String> =
            manifest.jobs.iter().filter_map(|j| j.error.as_ref().map(|e| format!("{}: {e}", j.name))).collect();
        let msg = format!("backup {id} is marked failed (not kept as good): {}", failed.join("; "));
        let _ = store.finish(record, Outcome::Failed, Some(&msg), None);
        Err(OpError::Failed(msg))
    }
}

fn describe(job: &BackupJob) -> String {
    match job.kind.as_str() {
        "exec" => format!(
            "{} in {}",
            job.command.clone().unwrap_or_default().join(" "),
            job.service.as_deref().unwrap_or("?")
        ),
        "copy" => {
            format!("copy {} out of {}", job.path.as_deref().unwrap_or("?"), job.service.as_deref().unwrap_or("?"))
        }
        _ => format!("tar {}", job.paths.clone().unwrap_or_default().join(" ")),
    }
}

async fn running_container(ctx: &Ctx, service: &str, project: Option<&str>) -> Result<ContainerId, String> {
    let (key, containers) = ctx.actions.resolve(service, project).await.map_err(|e| e.to_string())?;
    containers
        .into_iter()
        .find(|c| c.state == RunState::Running)
        .map(|c| c.id)
        .ok_or_else(|| format!("{key} is not running"))
}

async fn run_job(ctx: &Ctx, job: &BackupJob, dir: &Path, project: Option<&str>) -> Result<JobEntry, String> {
    let mut entry = JobEntry::empty(job);
    match job.kind.as_str() {
        "exec" => {
            let id = running_container(ctx, job.service.as_deref().unwrap_or_default(), project).await?;
            let name = format!("{}.{}.gz", job.name, job.extension.as_deref().unwrap_or("sql"));
            let (tx, rx) = mpsc::channel::<Bytes>(16);
            let path = dir.join(&name);
            let writer = tokio::task::spawn_blocking(move || gzip_from_channel(&path, rx));
            let cmd = job.command.clone().unwrap_or_default();
            let ran = ctx.actions.exec(&id, &cmd, None, Some(tx), JOB_LIMIT).await;
            let written = writer.await.map_err(|e| e.to_string())?.map_err(|e| format!("writing {name}: {e}"))?;
            let (code, stderr) = ran?;
            if code != 0 {
                return Err(format!("{} exited with code {code}: {stderr}", cmd.join(" ")));
            }
            (entry.bytes, entry.sha256, entry.raw_bytes) = (written.0, Some(written.1), written.2);
            entry.file = Some(name);
        }
        "copy" => {
            let id = running_container(ctx, job.service.as_deref().unwrap_or_default(), project).await?;
            if let Some(cmd) = job.command.as_ref().filter(|c| !c.is_empty()) {
                let (code, stderr) = ctx.actions.exec(&id, cmd, None, None, JOB_LIMIT).await?;
                if code != 0 {
                    return Err(format!("{} exited with code {code}: {stderr}", cmd.join(" ")));
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
                let mut s = Box::pin(ctx.actions.download(&id, &src));
                while let Some(chunk) = s.next().await {
                    let chunk = chunk?;
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
        _ => {
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

/// A writer that counts and hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create a file that only the owner can read (backups hold secrets); never overwrite.
fn open_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

type Written = (u64, String, u64);

fn gzip_sink(path: &Path) -> std::io::Result<GzEncoder<Hashing<std::fs::File>>> {
    Ok(GzEncoder::new(Hashing { inner: open_new(path)?, hasher: Sha256::new(), count: 0 }, Compression::default()))
}

fn finish(enc: GzEncoder<Hashing<std::fs::File>>, raw: u64) -> std::io::Result<Written> {
    let h = enc.finish()?;
    h.inner.sync_all()?;
    Ok((h.count, hex(&h.hasher.finalize()), raw))
}

fn gzip_from_channel(path: &Path, mut rx: mpsc::Receiver<Bytes>) -> std::io::Result<Written> {
    let mut enc = gzip_sink(path)?;
    let mut raw = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        raw += chunk.len() as u64;
        enc.write_all(&chunk)?;
    }
    finish(enc, raw)
}

fn first_file_of_tar(tar_path: &Path, out: &Path) -> Result<Written, String> {
    let mut ar = tar::Archive::new(std::fs::File::open(tar_path).map_err(|e| e.to_string())?);
    for entry in ar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type().is_file() {
            let mut enc = gzip_sink(out).map_err(|e| e.to_string())?;
            let raw = std::io::copy(&mut entry, &mut enc).map_err(|e| e.to_string())?;
            return finish(enc, raw).map_err(|e| e.to_string());
        }
    }
    Err("the engine's archive held no regular file".into())
}

fn tar_paths(out: &Path, paths: &[String]) -> Result<Written, String> {
    let enc = gzip_sink(out).map_err(|e| e.to_string())?;
    let mut b = tar::Builder::new(enc);
    b.follow_symlinks(false);
    let mut raw = 0u64;
    for p in paths {
        let path = Path::new(p);
        let name = p.trim_start_matches('/');
        let meta = std::fs::metadata(path).map_err(|e| format!("{p}: {e}"))?;
        if meta.is_dir() {
            b.append_dir_all(name, path).map_err(|e| format!("{p}: {e}"))?;
            raw += dir_size(path);
        } else {
            b.append_path_with_name(path, name).map_err(|e| format!("{p}: {e}"))?;
            raw += meta.len();
        }
    }
    let enc = b.into_inner().map_err(|e| e.to_string())?;
    finish(enc, raw).map_err(|e| e.to_string())
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Re-read the checksum and decompress everything; returns the uncompressed size.
fn check_file(path: &Path, sha: &str, is_tar: bool) -> Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    if hex(&h.finalize()) != sha {
        return Err(format!("{}: sha256 does not match the manifest", path.display()));
    }
    let dec = GzDecoder::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    if is_tar {
        let mut ar = tar::Archive::new(dec);
        for e in ar.entries().map_err(|e| format!("not a tar.gz: {e}"))? {
            let mut e = e.map_err(|e| format!("damaged archive: {e}"))?;
            std::io::copy(&mut e, &mut std::io::sink()).map_err(|e| format!("damaged archive: {e}"))?;
        }
    } else {
        let mut dec = dec;
        std::io::copy(&mut dec, &mut std::io::sink()).map_err(|e| format!("does not decompress: {e}"))?;
    }
    Ok(())
}

/// Stream a gzip file, decompressed, into a channel (for a process's stdin).
fn feed_decompressed(path: PathBuf) -> (mpsc::Receiver<Bytes>, tokio::task::JoinHandle<Result<(), String>>) {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let h = tokio::task::spawn_blocking(move || {
        let mut dec = GzDecoder::new(std::fs::File::open(&path).map_err(|e| e.to_string())?);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = dec.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(());
            }
            if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                return Err("the process stopped reading".into());
            }
        }
    });
    (rx, h)
}

async fn verify(
    ctx: &Ctx,
    job: &BackupJob,
    dir: &Path,
    entry: &mut JobEntry,
    project: Option<&str>,
    p: &mut Progress,
    store: &Store,
) -> Result<(), String> {
    let file = dir.join(entry.file.as_deref().unwrap_or_default());
    let sha = entry.sha256.clone().unwrap_or_default();
    let is_tar = job.kind == "paths";
    let f2 = file.clone();
    tokio::task::spawn_blocking(move || check_file(&f2, &sha, is_tar)).await.map_err(|e| e.to_string())??;
    entry.verified.push("sha256".into());
    entry.verified.push(if is_tar { "tar.gz".into() } else { "gzip".into() });
    if job.verify.as_deref() == Some("postgres") {
        p.step(Some(store), format!("{}: restoring into a scratch database to verify", job.name));
        let id = running_container(ctx, job.service.as_deref().unwrap_or_default(), project).await?;
        let user = job.user.clone().unwrap_or_default();
        let scratch = format!("stackdeck_verify_{}", std::process::id());
        let sh = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let (code, err) =
            ctx.actions.exec(&id, &sh(&["createdb", "-U", &user, &scratch]), None, None, JOB_LIMIT).await?;
        if code != 0 {
            return Err(format!("createdb {scratch}: {err}"));
        }
        let (rx, feeder) = feed_decompressed(file);
        let psql = sh(&["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", &user, "-d", &scratch]);
        let restored = ctx.actions.exec(&id, &psql, Some(rx), None, JOB_LIMIT).await;
        let fed = feeder.await.map_err(|e| e.to_string());
        // Always drop the scratch database.
        let _ =
            ctx.actions.exec(&id, &sh(&["dropdb", "-U", &user, "--if-exists", &scratch]), None, None, JOB_LIMIT).await;
        let (code, err) = restored?;
        fed??;
        if code != 0 {
            return Err(format!("the dump does not restore: {err}"));
        }
        entry.verified.push("restore into a scratch database".into());
    }
    Ok(())
}

fn write_manifest(dir: &Path, m: &Manifest) -> Result<(), String> {
    let path = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(m).map_err(|e| e.to_string())?;
    let mut f = open_new(&path).map_err(|e| format!("{}: {e}", path.display()))?;
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
fn retention(root: &Path, stack: &crate::config::Stack, keep_id: &str) -> Vec<String> {
    let days = i64::from(stack.config.backup.keep_days.unwrap_or(7));
    let count = stack.config.backup.keep_count.unwrap_or(30).max(1);
    let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days);
    let mut good = 0usize;
    let mut removed = Vec::new();
    for m in list(root) {
        if m.id == keep_id {
            good += 1;
            continue;
        }
        let old = m.created.parse::<jiff::Timestamp>().is_ok_and(|t| t < cutoff);
        let extra = m.status == "good" && {
            good += 1;
            good > count
        };
        if (old || extra) && std::fs::remove_dir_all(root.join(&m.id)).is_ok() {
            removed.push(m.id);
        }
    }
    removed
}

/// Restore a verified PostgreSQL dump into the running database (the job's user/database).
pub async fn restore(
    ctx: &Ctx,
    backup_id: &str,
    job_name: &str,
    project: Option<&str>,
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
    if job.verify.as_deref() != Some("postgres") {
        return Err(OpError::Usage(format!("{job_name} is not a PostgreSQL dump job (verify = \"postgres\")")));
    }
    let root = root(&ctx.state_dir, &ctx.stack);
    let m = list(&root)
        .into_iter()
        .find(|m| m.id == backup_id)
        .ok_or_else(|| OpError::Usage(format!("no backup {backup_id} in {}", root.display())))?;
    if m.status != "good" {
        return Err(OpError::Refused(format!("backup {backup_id} failed verification: it is not restored")));
    }
    let entry = m
        .jobs
        .iter()
        .find(|j| j.name == job_name)
        .ok_or_else(|| OpError::Usage(format!("backup {backup_id} has no {job_name}")))?;
    let file = root.join(&m.id).join(entry.file.as_deref().unwrap_or_default());
    let service = job.service.clone().unwrap_or_default();
    let _lock =
        crate::store::lock::ServiceLock::try_take(&ctx.state_dir, &service, "restore").map_err(OpError::Refused)?;
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
        let id = running_container(ctx, &service, project).await?;
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
        let (code, err) = ctx.actions.exec(&id, &psql, Some(rx), None, JOB_LIMIT).await?;
        feeder.await.map_err(|e| e.to_string())??;
        if code != 0 {
            return Err(format!("psql exited with code {code}: {err}"));
        }
        Ok(())
    }
    .await;
    match r {
        Ok(()) => {
            let summary = format!("restored {backup_id}/{job_name} into {db}");
            p.step(Some(&store), summary.clone());
            store.finish(record, Outcome::Succeeded, None, None).map_err(OpError::Failed)?;
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            let _ = store.finish(record, Outcome::Failed, Some(&e), None);
            Err(OpError::Failed(format!("restore failed: {e}")))
        }
    }
}
