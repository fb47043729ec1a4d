//! The durable operations history, audit trail and kill-switch state: one SQLite file in the
//! state dir, shared by every operator on the host.
//!
//! Every action is written *before* it starts (outcome `running`, with pid and host) and
//! finished after. A `running` record whose process is gone is marked `interrupted` on the
//! next start, so a `kill -9` mid-action never leaves a silent half-record.

pub mod journal;
pub mod lock;

use crate::domain::{KillSwitch, OpRecord, Outcome, RestartPolicy};
use crate::logtext::{Masker, clean};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who is acting: the OS user, and the SSH client when there is one.
pub fn actor() -> String {
    let user =
        std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty()).unwrap_or_else(
            || {
                use std::os::unix::fs::MetadataExt;
                let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
                let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                uid.and_then(|u| {
                    passwd
                        .lines()
                        .find(|l| l.split(':').nth(2) == Some(&u.to_string()))
                        .and_then(|l| l.split(':').next())
                        .map(str::to_owned)
                })
                .or_else(|| uid.map(|u| format!("uid {u}")))
                .unwrap_or_else(|| "unknown".into())
            },
        );
    match std::env::var("SSH_CLIENT").ok().and_then(|s| s.split_whitespace().next().map(str::to_owned)) {
        Some(from) => format!("{user}@{from}"),
        None => user,
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// What is recorded when an action starts.
#[derive(Debug, Clone, Default)]
pub struct NewOp {
    pub action: String,
    pub service: String,
    pub from_image: Option<String>,
    pub from_image_id: Option<String>,
    pub to_image: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug)]
pub struct Store {
    /// Behind a mutex so operations can hold a `&Store` across awaits (each call is short).
    conn: std::sync::Mutex<Connection>,
    pub dir: PathBuf,
    /// Records imported from the fallback journal when this store was opened.
    pub imported: usize,
    /// Every text written is made inert and masked with it (the config's patterns).
    masker: Masker,
}

/// How long a write waits for another process's lock: operations wait, the emergency stop
/// barely does (it never waits on the store).
const BUSY_WAIT: Duration = Duration::from_secs(10);
const STOP_WAIT: Duration = Duration::from_millis(300);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ops (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  action TEXT NOT NULL, service TEXT NOT NULL,
  from_image TEXT, from_image_id TEXT, to_image TEXT, to_image_id TEXT,
  actor TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT,
  outcome TEXT NOT NULL, reason TEXT, transcript TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ops_service ON ops(service, id);
CREATE TABLE IF NOT EXISTS kill_switch (
  service TEXT PRIMARY KEY, by TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,
  previous_policy TEXT NOT NULL
);
";

impl Store {
    /// Open (creating) the store in `dir`. The dir is made 0700 when created; the file 0600.
    /// Records left in the fallback journal are imported.
    pub fn open(dir: &Path) -> Result<Store, String> {
        Store::open_waiting(dir, BUSY_WAIT)
    }

    /// Open for the emergency stop: a lock held by another process is waited for only briefly.
    pub fn open_for_stop(dir: &Path) -> Result<Store, String> {
        Store::open_waiting(dir, STOP_WAIT)
    }

    fn open_waiting(dir: &Path, busy: Duration) -> Result<Store, String> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create state dir {}: {e}", dir.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let path = dir.join("history.sqlite");
        let fresh = !path.exists();
        let named = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let conn = Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(busy).map_err(named)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(named)?;
        conn.execute_batch(SCHEMA).map_err(|e| format!("cannot set up {}: {e}", path.display()))?;
        let mut store =
            Store { conn: std::sync::Mutex::new(conn), dir: dir.to_path_buf(), imported: 0, masker: Masker::default() };
        store.imported = store.import_journal();
        Ok(store)
    }

    /// Import the fallback journal (see [`journal`]); returns how many records it held.
    fn import_journal(&self) -> usize {
        let Some((taken, entries, bad)) = journal::claim(&self.dir) else { return 0 };
        for b in &bad {
            tracing::warn!("{}: a line could not be read and was left out: {b}", taken.display());
        }
        let mut failed = Vec::new();
        for e in &entries {
            if let Err(err) = self.insert_journaled(e) {
                tracing::warn!("cannot import a journaled {} of {}: {err}", e.action, e.service);
                failed.push(e.clone());
            }
        }
        for e in &failed {
            let _ = journal::append(&self.dir, e);
        }
        let _ = std::fs::remove_file(&taken);
        entries.len() - failed.len()
    }

    fn insert_journaled(&self, e: &journal::Entry) -> Result<(), String> {
        if let Some(id) = e.record {
            // The outcome of a record that exists: finish it (and turn on its latch, if any).
            if let Some(k) = &e.kill_switch {
                self.set_kill_switch(&k.to_kill_switch(&e.service))?;
            }
            return self
                .conn()
                .execute(
                    "UPDATE ops SET outcome = ?2, reason = COALESCE(?3, reason), to_image_id = COALESCE(?4, to_image_id), finished_at = ?5,
                     transcript = transcript || '(outcome recorded in the fallback journal: the history store was unusable)' || char(10)
                     WHERE id = ?1",
                    params![id, e.outcome().as_str(), self.clean_opt(e.reason.as_deref()), self.clean_opt(e.to_image_id.as_deref()), e.finished_at],
                )
                .map(|_| ())
                .map_err(|err| self.fail(err));
        }
        let mut transcript = String::new();
        for l in &e.transcript {
            transcript.push_str(&self.clean(l));
            transcript.push('\n');
        }
        transcript.push_str("(recorded in the fallback journal: the history store was unusable)\n");
        self.conn()
            .execute(
                "INSERT INTO ops (action, service, from_image, actor, host, pid, started_at, finished_at, outcome, reason, transcript)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![e.action, self.clean(&e.service), self.clean_opt(e.from_image.as_deref()), self.clean(&e.actor), self.clean(&e.host), e.pid, e.started_at, e.finished_at, e.outcome().as_str(), self.clean_opt(e.reason.as_deref()), transcript],
            )
            .map_err(|e| self.fail(e))?;
        if let Some(k) = &e.kill_switch {
            self.set_kill_switch(&k.to_kill_switch(&e.service))?;
        }
        Ok(())
    }

    /// Mask with these patterns (the config's) instead of the built-in ones.
    pub fn with_masker(mut self, masker: Masker) -> Store {
        self.masker = masker;
        self
    }

    /// A database error, naming the file ("file is not a database" alone says nothing).
    fn fail(&self, e: rusqlite::Error) -> String {
        format!("{}: {e}", self.dir.join("history.sqlite").display())
    }

    /// What the store writes of a text from outside: inert and masked.
    fn clean(&self, text: &str) -> String {
        clean(text, &self.masker)
    }

    fn clean_opt(&self, text: Option<&str>) -> Option<String> {
        text.map(|t| self.clean(t))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves a usable connection: take it anyway.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes whenever another connection (another operation, another operator) commits:
    /// a cheap "has anything changed?" for pollers.
    pub fn data_version(&self) -> Result<i64, String> {
        self.conn().query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.fail(e))
    }

    /// Record an action before it starts. Returns its id.
    pub fn begin(&self, op: &NewOp) -> Result<i64, String> {
        self.conn()
            .execute(
                "INSERT INTO ops (action, service, from_image, from_image_id, to_image, actor, host, pid, started_at, outcome, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10)",
                params![op.action, self.clean(&op.service), self.clean_opt(op.from_image.as_deref()), self.clean_opt(op.from_image_id.as_deref()), self.clean_opt(op.to_image.as_deref()), self.clean(&actor()), self.clean(&hostname()), std::process::id(), Timestamp::now().to_string(), self.clean_opt(op.reason.as_deref())],
            )
            .map_err(|e| format!("cannot record {} of {}: {}", op.action, op.service, self.fail(e)))?;
        Ok(self.conn().last_insert_rowid())
    }

    /// Append a line to an action's transcript (health tries, steps).
    pub fn note(&self, id: i64, line: &str) -> Result<(), String> {
        self.conn()
            .execute(
                "UPDATE ops SET transcript = transcript || ?2 || char(10) WHERE id = ?1",
                params![id, self.clean(line)],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Record how an operation ended. When the database cannot take it (full disk, locked,
    /// damaged), the outcome goes to the fallback journal and finishes the record when the
    /// store next opens, so that it is never mistaken for a killed process. `Err` only when
    /// neither could be written; the message then says what happened.
    pub fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        reason: Option<&str>,
        to_image_id: Option<&str>,
    ) -> Result<(), String> {
        let now = Timestamp::now().to_string();
        let written = self
            .conn()
            .execute(
                "UPDATE ops SET outcome = ?2, reason = COALESCE(?3, reason), to_image_id = COALESCE(?4, to_image_id), finished_at = ?5 WHERE id = ?1",
                params![id, outcome.as_str(), self.clean_opt(reason), self.clean_opt(to_image_id), now],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e));
        let Err(db) = written else { return Ok(()) };
        let entry = journal::Entry {
            record: Some(id),
            action: String::new(),
            service: String::new(),
            from_image: None,
            to_image_id: to_image_id.map(str::to_owned),
            reason: reason.map(str::to_owned),
            actor: actor(),
            host: hostname(),
            pid: std::process::id(),
            started_at: now.clone(),
            finished_at: Some(now),
            outcome: outcome.as_str().into(),
            transcript: vec![],
            kill_switch: None,
        };
        match journal::append(&self.dir, &entry) {
            Ok(path) => {
                tracing::warn!("record {id} ({}) went to {}: {db}", outcome.as_str(), path.display());
                Ok(())
            }
            Err(j) => Err(format!(
                "the outcome ({}) of record {id} could not be recorded: {db}; fallback journal: {j}",
                outcome.as_str()
            )),
        }
    }

    /// Mark `running` records of dead processes on this host as interrupted. Returns them.
    pub fn mark_interrupted(&self) -> Result<Vec<OpRecord>, String> {
        let host = hostname();
        // The guard must be gone before finish() and get() take the lock again.
        let rows: Vec<(i64, u32)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id, pid FROM ops WHERE outcome = 'running' AND host = ?1")
                .map_err(|e| self.fail(e))?;
            stmt.query_map(params![host], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.fail(e))?
                .filter_map(Result::ok)
                .collect()
        };
        let mut out = Vec::new();
        for (id, pid) in rows {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                self.finish(
                    id,
                    Outcome::Interrupted,
                    Some("stackdeck ended without recording the outcome (killed, or its record could not be written): check what is running"),
                    None,
                )?;
                if let Some(r) = self.get(id)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    pub fn get(&self, id: i64) -> Result<Option<OpRecord>, String> {
        self.conn().query_row(&format!("{SELECT} WHERE id = ?1"), params![id], row).optional().map_err(|e| self.fail(e))
    }

    /// Newest first.
    pub fn recent(&self, limit: usize, service: Option<&str>) -> Result<Vec<OpRecord>, String> {
        let (sql, svc) = match service {
            Some(s) => (format!("{SELECT} WHERE service = ?2 OR service LIKE '%/' || ?2 ORDER BY id DESC LIMIT ?1"), s),
            None => (format!("{SELECT} WHERE ?2 = ?2 ORDER BY id DESC LIMIT ?1"), ""),
        };
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.fail(e))?;
        let rows = stmt.query_map(params![limit as i64, svc], row).map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }

    /// The last image that passed a health gate for this service (deploy or rollback).
    pub fn last_good(&self, service: &str, skip_id: Option<&str>) -> Result<Option<(String, String)>, String> {
        self.conn()
            .query_row(
                "SELECT to_image, to_image_id FROM ops WHERE service = ?1 AND action IN ('deploy','rollback','baseline')
                 AND outcome = 'succeeded' AND to_image_id IS NOT NULL AND to_image_id != COALESCE(?2, '')
                 ORDER BY id DESC LIMIT 1",
                params![service, skip_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    pub fn set_kill_switch(&self, k: &KillSwitch) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT INTO kill_switch (service, by, at, reason, previous_policy) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(service) DO UPDATE SET by = ?2, at = ?3, reason = ?4",
                params![
                    self.clean(&k.service),
                    self.clean(&k.by),
                    k.at.to_string(),
                    self.clean(&k.reason),
                    k.previous_policy.to_string()
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Remove the kill switch; returns it (with the policy to restore).
    pub fn clear_kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        let k = self.kill_switch(service)?;
        self.conn()
            .execute("DELETE FROM kill_switch WHERE service = ?1", params![service])
            .map_err(|e| self.fail(e))?;
        Ok(k)
    }

    pub fn kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        self.conn()
            .query_row(
                "SELECT service, by, at, reason, previous_policy FROM kill_switch WHERE service = ?1",
                params![service],
                ks_row,
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    pub fn kill_switches(&self) -> Result<Vec<KillSwitch>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT service, by, at, reason, previous_policy FROM kill_switch ORDER BY at")
            .map_err(|e| self.fail(e))?;
        let rows = stmt.query_map([], ks_row).map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }

    /// The full transcript of one action (health tries etc.).
    pub fn transcript(&self, id: i64) -> Result<String, String> {
        self.conn()
            .query_row("SELECT transcript FROM ops WHERE id = ?1", params![id], |r| r.get(0))
            .map_err(|e| self.fail(e))
    }
}

const SELECT: &str = "SELECT id, action, service, from_image, to_image, actor, started_at, finished_at, outcome, reason, from_image_id, to_image_id FROM ops";

fn ts(s: Option<String>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OpRecord> {
    let outcome: String = r.get(8)?;
    Ok(OpRecord {
        id: r.get(0)?,
        action: r.get(1)?,
        service: r.get(2)?,
        from_image: r.get(3)?,
        to_image: r.get(4)?,
        actor: r.get(5)?,
        started_at: ts(r.get(6)?).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: ts(r.get(7)?),
        outcome: Outcome::parse(&outcome),
        reason: r.get(9)?,
        from_image_id: r.get(10)?,
        to_image_id: r.get(11)?,
    })
}

fn ks_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KillSwitch> {
    let policy: String = r.get(4)?;
    let previous_policy = RestartPolicy::parse(&policy).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Text,
            format!("unknown restart policy '{policy}' in the kill_switch table").into(),
        )
    })?;
    Ok(KillSwitch {
        service: r.get(0)?,
        by: r.get(1)?,
        at: ts(r.get(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
        reason: r.get(3)?,
        previous_policy,
    })
}

/// The default state dir: `$XDG_DATA_HOME/stackdeck` (usually `~/.local/share/stackdeck`).
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "stackdeck").map(|d| d.data_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("sd-store-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    #[test]
    fn begin_finish_recent_and_last_good() {
        let d = tmp();
        let s = Store::open(&d).unwrap();
        let a = s
            .begin(&NewOp {
                action: "deploy".into(),
                service: "p/bot".into(),
                to_image: Some("bot:2".into()),
                ..NewOp::default()
            })
            .unwrap();
        s.note(a, "try 1: healthy").unwrap();
        s.finish(a, Outcome::Succeeded, None, Some("sha256:b2")).unwrap();
        let b = s
            .begin(&NewOp {
                action: "deploy".into(),
                service: "p/bot".into(),
                to_image: Some("bot:3".into()),
                ..NewOp::default()
            })
            .unwrap();
        s.finish(b, Outcome::RolledBack, Some("unhealthy"), Some("sha256:b3")).unwrap();
        let r = s.recent(10, None).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, b);
        assert_eq!(r[0].outcome, Outcome::RolledBack);
        assert_eq!(s.recent(10, Some("bot")).unwrap().len(), 2, "service matches with or without project");
        assert_eq!(s.last_good("p/bot", None).unwrap(), Some(("bot:2".into(), "sha256:b2".into())));
        assert_eq!(s.last_good("p/bot", Some("sha256:b2")).unwrap(), None);
        assert_eq!(s.transcript(a).unwrap(), "try 1: healthy\n");
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn running_records_of_dead_processes_become_interrupted() {
        let d = tmp();
        let s = Store::open(&d).unwrap();
        let id = s.begin(&NewOp { action: "deploy".into(), service: "bot".into(), ..NewOp::default() }).unwrap();
        // Pretend another (now dead) process wrote it.
        s.conn().execute("UPDATE ops SET pid = 999999999 WHERE id = ?1", params![id]).unwrap();
        let mine = s.begin(&NewOp { action: "stop".into(), service: "bot".into(), ..NewOp::default() }).unwrap();
        let marked = s.mark_interrupted().unwrap();
        assert_eq!(marked.len(), 1);
        assert_eq!(s.get(id).unwrap().unwrap().outcome, Outcome::Interrupted);
        assert_eq!(s.get(mine).unwrap().unwrap().outcome, Outcome::Running, "our own running record is left alone");
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn kill_switch_round_trip() {
        let d = tmp();
        let s = Store::open(&d).unwrap();
        let k = KillSwitch {
            service: "p/bot".into(),
            by: "ops".into(),
            at: Timestamp::now(),
            reason: "loss".into(),
            previous_policy: RestartPolicy::UnlessStopped,
        };
        s.set_kill_switch(&k).unwrap();
        assert_eq!(s.kill_switches().unwrap().len(), 1);
        assert_eq!(s.clear_kill_switch("p/bot").unwrap().unwrap().previous_policy, RestartPolicy::UnlessStopped);
        assert!(s.kill_switches().unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("history.sqlite")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn an_outcome_the_database_cannot_take_goes_to_the_journal_and_finishes_the_record_later() {
        let d = tmp();
        let s = Store::open_for_stop(&d).unwrap();
        let id = s.begin(&NewOp { action: "deploy".into(), service: "p/bot".into(), ..NewOp::default() }).unwrap();
        // Another process holds the database: the outcome cannot be written there.
        let other = Connection::open(d.join("history.sqlite")).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        s.finish(id, Outcome::Succeeded, None, Some("sha256:new")).unwrap();
        assert!(d.join(journal::FILE).exists(), "journaled");
        other.execute_batch("COMMIT").unwrap();
        drop(s);
        let again = Store::open(&d).unwrap();
        assert_eq!(again.imported, 1);
        let r = again.get(id).unwrap().unwrap();
        assert_eq!(r.outcome, Outcome::Succeeded, "finished from the journal, not marked killed");
        assert_eq!(r.to_image_id.as_deref(), Some("sha256:new"));
        assert!(again.mark_interrupted().unwrap().is_empty());
        assert!(!d.join(journal::FILE).exists());
        std::fs::remove_dir_all(d).ok();
    }
}
