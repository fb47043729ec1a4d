//! The durable operations history, audit trail and kill-switch state: one SQLite file in the
//! state dir, shared by every operator on the host.
//!
//! Every action is written *before* it starts (a `begin` row, with pid, host, user and engine)
//! and finished after (a `finish` row). The rows are append-only and hash-chained ([`audit`]);
//! `history --verify` walks the chain. A `running` action whose process is gone is marked
//! `interrupted` on the next start, so a `kill -9` mid-action never leaves a silent half-record.

pub mod audit;
mod db;
pub mod journal;
mod latch;
pub mod lock;
pub mod origin;
mod pg;
pub mod shared;
mod timeline;

use crate::domain::{OpRecord, Outcome};
use crate::logtext::{Masker, clean};
pub use audit::Chain;
use audit::Row;
use db::{Db, int, opt, t};
use jiff::Timestamp;
pub use origin::{actor, hostname};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is recorded when an action starts.
#[derive(Debug, Clone, Default)]
pub struct NewOp {
    pub action: String,
    pub service: String,
    pub from_image: Option<String>,
    pub from_image_id: Option<String>,
    pub to_image: Option<String>,
    pub reason: Option<String>,
    /// The container(s) acted on, and the digest (image id) they run.
    pub container: Option<String>,
    pub digest: Option<String>,
    /// The release this operation is a part of (its row's id).
    pub parent: Option<i64>,
}

/// How an action ended, with what the audit keeps of it.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    pub outcome: Outcome,
    pub reason: Option<&'a str>,
    pub to_image_id: Option<&'a str>,
    pub digest: Option<&'a str>,
    /// Timings per phase (JSON object of milliseconds: halt, signal, exited, verified).
    pub phases: Option<serde_json::Value>,
}

/// Each database's page cache (main and timeline), in KiB (SQLite's negative form).
const CACHE_SIZE: &str = "PRAGMA main.cache_size = -64; PRAGMA timeline.cache_size = -64;";

#[derive(Debug)]
pub struct Store {
    db: Db,
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
CREATE TABLE IF NOT EXISTS kill_switch (
  service TEXT PRIMARY KEY, by TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,
  previous_policy TEXT NOT NULL, halt TEXT
);
CREATE TABLE IF NOT EXISTS latched_instance (
  service TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL, PRIMARY KEY (service, name)
);
CREATE TABLE IF NOT EXISTS hold_claims (claim TEXT PRIMARY KEY, at TEXT NOT NULL);
";

/// The timeline's table ([`timeline`]): in its own SQLite file, and in the shared store's schema.
const HAPPENING_TABLE: &str = "CREATE TABLE IF NOT EXISTS happening (
  at_ns BIGINT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, service TEXT NOT NULL,
  subject TEXT NOT NULL, what TEXT NOT NULL, tone TEXT NOT NULL, container TEXT,
  PRIMARY KEY (at_ns, key)
);";

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

    /// Open the store of another environment: its dir, its shared store if it has one.
    pub fn open_with(dir: &Path, shared: Option<&shared::Shared>) -> Result<Store, String> {
        match shared {
            Some(s) => Store::open_shared(dir, s, BUSY_WAIT),
            None => Store::open_file(dir, BUSY_WAIT),
        }
    }

    fn open_waiting(dir: &Path, busy: Duration) -> Result<Store, String> {
        match shared::current() {
            Some(shared) => Store::open_shared(dir, &shared, busy),
            None => Store::open_file(dir, busy),
        }
    }

    fn open_file(dir: &Path, busy: Duration) -> Result<Store, String> {
        make_state_dir(dir)?;
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
        let legacy = legacy_table(&conn).map_err(named)?;
        conn.execute_batch(SCHEMA).map_err(|e| format!("cannot set up {}: {e}", path.display()))?;
        latch::add_halt_column(&conn).map_err(named)?;
        if legacy {
            conn.execute_batch("ALTER TABLE ops RENAME TO ops_v1").map_err(named)?;
        }
        conn.execute_batch(audit::SCHEMA).map_err(|e| format!("cannot set up {}: {e}", path.display()))?;
        audit::add_later_columns(&conn).map_err(named)?;
        audit::create_view(&conn).map_err(named)?;
        timeline::attach(&conn, dir)?;
        // SQLite keeps up to 2 MB of pages per database by default, and the panel's poller
        // walks the whole audit chain after every change: its connection's memory would grow
        // with the history. The walk reads the file in order, which the OS page cache serves.
        conn.execute_batch(CACHE_SIZE).map_err(named)?;
        let mut store = Store {
            db: Db::Lite { conn: std::sync::Mutex::new(conn), path: path.clone() },
            dir: dir.to_path_buf(),
            imported: 0,
            masker: Masker::default(),
        };
        if legacy {
            store.migrate_v1().map_err(named)?;
        }
        store.imported = store.import_journal();
        Ok(store)
    }

    /// The team's store on PostgreSQL. The state dir still holds this machine's fallback
    /// journal (imported here like the file store's).
    fn open_shared(dir: &Path, shared: &shared::Shared, busy: Duration) -> Result<Store, String> {
        let stop = busy < BUSY_WAIT;
        let (connect, statement) =
            if stop { (Duration::from_millis(500), Duration::from_secs(1)) } else { (BUSY_WAIT, BUSY_WAIT + busy) };
        let pg = pg::Pg::connect(shared, connect, statement, busy)?;
        pg.set_up()?;
        make_state_dir(dir)?;
        let mut store = Store { db: Db::Pg(pg), dir: dir.to_path_buf(), imported: 0, masker: Masker::default() };
        store.imported = store.import_journal();
        Ok(store)
    }

    /// Where the records are: the SQLite file, or the shared store's URL.
    pub fn place(&self) -> String {
        self.db.place()
    }

    /// Whether the records are the team's (a shared PostgreSQL store).
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Pg(_))
    }

    /// The history of stackdeck before the audit chain (one `ops` row per action, updated in
    /// place): each row becomes its begin, transcript and finish rows, in order.
    fn migrate_v1(&self) -> rusqlite::Result<()> {
        let rows: Vec<Vec<Value>> = {
            let Some(conn) = self.db.lite() else { return Ok(()) };
            let mut stmt = conn.prepare(
                "SELECT action, service, from_image, from_image_id, to_image, to_image_id, actor, host, pid,
                        started_at, finished_at, outcome, reason, transcript FROM ops_v1 ORDER BY id",
            )?;
            stmt.query_map([], |r| (0..14).map(|i| r.get::<_, Value>(i)).collect())?.collect::<Result<_, _>>()?
        };
        let t = |v: &Value| match v {
            Value::Text(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        };
        for r in rows {
            let mut begin = Row { op: None, kind: "begin", at: t(&r[9]).unwrap_or_default(), fields: vec![] };
            for (i, col) in ["action", "service", "from_image", "from_image_id", "to_image"].into_iter().enumerate() {
                begin = begin.text(col, t(&r[i]));
            }
            begin = begin
                .text("actor", t(&r[6]))
                .text("host", t(&r[7]))
                .int("pid", t(&r[8]).and_then(|p| p.parse().ok()).unwrap_or(0))
                .text("reason", t(&r[12]))
                .text("via", Some("migrated".into()));
            let op = audit::append(&mut *self.lite()?, &begin)?;
            for line in t(&r[13]).unwrap_or_default().lines() {
                let note = Row { op: Some(op), kind: "note", at: begin.at.clone(), fields: vec![] }
                    .text("text", Some(line.to_owned()));
                audit::append(&mut *self.lite()?, &note)?;
            }
            let outcome = t(&r[11]).unwrap_or_default();
            if outcome != "running" {
                let fin = Row { op: Some(op), kind: "finish", at: t(&r[10]).unwrap_or_default(), fields: vec![] }
                    .text("outcome", Some(outcome))
                    .text("reason", t(&r[12]))
                    .text("to_image_id", t(&r[5]));
                audit::append(&mut *self.lite()?, &fin)?;
            }
        }
        self.lite()?.execute_batch("DROP TABLE ops_v1")
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
        if let Some(k) = &e.kill_switch {
            self.set_kill_switch(&k.to_kill_switch(&e.service))?;
        }
        let op = match e.record {
            // The outcome of a record that exists: finish it.
            Some(id) => id,
            None => {
                let begin = Row { op: None, kind: "begin", at: e.started_at.clone(), fields: vec![] }
                    .text("action", Some(e.action.clone()))
                    .text("service", Some(self.clean(&e.service)))
                    .text("from_image", self.clean_opt(e.from_image.as_deref()))
                    .text("actor", Some(self.clean(&e.actor)))
                    .text("host", Some(self.clean(&e.host)))
                    .int("pid", i64::from(e.pid))
                    .text("reason", self.clean_opt(e.reason.as_deref()))
                    .text("via", Some("journal".into()));
                self.db.append(&begin)?
            }
        };
        let mut lines: Vec<String> = e.transcript.iter().map(|l| self.clean(l)).collect();
        lines.push("(recorded in the fallback journal: the history store was unusable)".into());
        let at = e.finished_at.clone().unwrap_or_else(|| e.started_at.clone());
        for l in lines {
            let note = Row { op: Some(op), kind: "note", at: at.clone(), fields: vec![] }.text("text", Some(l));
            self.db.append(&note)?;
        }
        let fin = Row { op: Some(op), kind: "finish", at, fields: vec![] }
            .text("outcome", Some(e.outcome().as_str().to_owned()))
            .text("reason", self.clean_opt(e.reason.as_deref()))
            .text("to_image_id", self.clean_opt(e.to_image_id.as_deref()));
        self.db.append(&fin).map(|_| ())
    }

    /// Mask with these patterns (the config's) instead of the built-in ones.
    pub fn with_masker(mut self, masker: Masker) -> Store {
        self.masker = masker;
        self
    }

    /// The SQLite connection, for what only the file store has (its migration).
    fn lite(&self) -> rusqlite::Result<std::sync::MutexGuard<'_, Connection>> {
        self.db.lite().ok_or(rusqlite::Error::InvalidQuery)
    }

    #[cfg(test)]
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lite().unwrap_or_else(|| panic!("the tests' stores are SQLite files"))
    }

    /// What the store writes of a text from outside: inert and masked.
    fn clean(&self, text: &str) -> String {
        clean(text, &self.masker)
    }

    fn clean_opt(&self, text: Option<&str>) -> Option<String> {
        text.map(|t| self.clean(t))
    }

    /// Changes whenever another connection (another operation, another operator) commits:
    /// a cheap "has anything changed?" for pollers.
    pub fn data_version(&self) -> Result<i64, String> {
        self.db.version()
    }

    /// Record an action before it starts. Returns its id.
    pub fn begin(&self, op: &NewOp) -> Result<i64, String> {
        let o = origin::Origin::current();
        let row = Row { op: None, kind: "begin", at: Timestamp::now().to_string(), fields: vec![] }
            .text("action", Some(op.action.clone()))
            .text("service", Some(self.clean(&op.service)))
            .text("from_image", self.clean_opt(op.from_image.as_deref()))
            .text("from_image_id", self.clean_opt(op.from_image_id.as_deref()))
            .text("to_image", self.clean_opt(op.to_image.as_deref()))
            .text("reason", self.clean_opt(op.reason.as_deref()))
            .text("container", self.clean_opt(op.container.as_deref()))
            .text("digest", self.clean_opt(op.digest.as_deref()))
            .text("parent", op.parent.map(|p| p.to_string()))
            .text("actor", Some(self.clean(&o.actor())))
            .text("user", Some(self.clean(&o.user)))
            .int("uid", i64::from(o.uid))
            .text("ssh", self.clean_opt(o.ssh.as_deref()))
            .text("via", Some(o.via.clone()))
            .text("tty", self.clean_opt(o.tty.as_deref()))
            .text("env", self.clean_opt(o.environment.as_deref()))
            .text("host", Some(self.clean(&o.host)))
            .int("pid", i64::from(std::process::id()))
            // An ssh user is who logs in, not a secret; an http(s) URL may carry a password.
            .text(
                "endpoint",
                Some(if o.endpoint.starts_with("ssh://") {
                    self.clean(&o.endpoint)
                } else {
                    crate::http::shown(&self.clean(&o.endpoint))
                }),
            );
        self.db.append(&row).map_err(|e| format!("cannot record {} of {}: {e}", op.action, op.service))
    }

    /// Append a line to an action's transcript (health tries, steps).
    pub fn note(&self, id: i64, line: &str) -> Result<(), String> {
        let row = Row { op: Some(id), kind: "note", at: Timestamp::now().to_string(), fields: vec![] }
            .text("text", Some(self.clean(line)));
        self.db.append(&row).map(|_| ())
    }

    /// Record how an operation ended (see [`Store::finish_with`]).
    pub fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        reason: Option<&str>,
        to_image_id: Option<&str>,
    ) -> Result<(), String> {
        self.finish_with(id, &Finish { outcome, reason, to_image_id, digest: None, phases: None })
    }

    /// Record how an operation ended. When the database cannot take it (full disk, locked,
    /// damaged), the outcome goes to the fallback journal and finishes the record when the
    /// store next opens, so that it is never mistaken for a killed process. `Err` only when
    /// neither could be written; the message then says what happened.
    pub fn finish_with(&self, id: i64, f: &Finish<'_>) -> Result<(), String> {
        let now = Timestamp::now().to_string();
        let row = Row { op: Some(id), kind: "finish", at: now.clone(), fields: vec![] }
            .text("outcome", Some(f.outcome.as_str().to_owned()))
            .text("reason", self.clean_opt(f.reason))
            .text("to_image_id", self.clean_opt(f.to_image_id))
            .text("digest", self.clean_opt(f.digest))
            .text("phases", f.phases.as_ref().map(ToString::to_string))
            .int("pid", i64::from(std::process::id()));
        let written = self.db.append(&row).map(|_| ());
        let Err(db) = written else { return Ok(()) };
        let entry = journal::Entry {
            record: Some(id),
            action: String::new(),
            service: String::new(),
            from_image: None,
            to_image_id: f.to_image_id.map(str::to_owned),
            reason: f.reason.map(str::to_owned),
            actor: actor(),
            host: hostname(),
            pid: std::process::id(),
            started_at: now.clone(),
            finished_at: Some(now),
            outcome: f.outcome.as_str().into(),
            transcript: vec![],
            kill_switch: None,
        };
        match journal::append(&self.dir, &entry) {
            Ok(path) => {
                tracing::warn!("record {id} ({}) went to {}: {db}", f.outcome.as_str(), path.display());
                Ok(())
            }
            Err(j) => Err(format!(
                "the outcome ({}) of record {id} could not be recorded: {db}; fallback journal: {j}",
                f.outcome.as_str()
            )),
        }
    }

    /// Walk the audit chain (see [`audit::verify`]).
    pub fn verify(&self) -> Result<Chain, String> {
        self.db.verify()
    }

    /// Mark `running` records of dead processes on this host as interrupted, each with the way
    /// back for its kind of operation. Returns them.
    pub fn mark_interrupted(&self) -> Result<Vec<OpRecord>, String> {
        let host = hostname();
        // The guard must be gone before finish() and get() take the lock again.
        let rows: Vec<(i64, i64, String, String)> = self
            .db
            .query("SELECT id, pid, action, service FROM ops WHERE outcome = 'running' AND host = ?1", vec![t(host)])?
            .iter()
            .filter_map(|r| Some((int(&r[0])?, int(&r[1])?, db::text(&r[2])?, db::text(&r[3])?)))
            .collect();
        let mut out = Vec::new();
        for (id, pid, action, service) in rows {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let way_back = match action.as_str() {
                    "deploy" | "rollback" => format!(
                        "; stackdeck rollback {service} goes back to the last image that passed a gate (on compose, stackdeck recover {service} first puts back a container it set aside)"
                    ),
                    "release" => format!("; stackdeck rollback --release {id} puts back what it moved"),
                    _ => String::new(),
                };
                let why = format!(
                    "stackdeck ended without recording the outcome (killed, or its record could not be written): check what is running{way_back}"
                );
                self.finish(id, Outcome::Interrupted, Some(&why), None)?;
                if let Some(r) = self.get(id)? {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    pub fn get(&self, id: i64) -> Result<Option<OpRecord>, String> {
        let rows = self.db.query(&format!("{SELECT} WHERE id = ?1"), vec![Value::Integer(id)])?;
        Ok(rows.first().map(|r| row(r)))
    }

    /// Newest first.
    pub fn recent(&self, limit: usize, service: Option<&str>) -> Result<Vec<OpRecord>, String> {
        let limit = Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = match service {
            Some(s) => self.db.query(
                &format!("{SELECT} WHERE service = ?2 OR service LIKE '%/' || ?2 ORDER BY id DESC LIMIT ?1"),
                vec![limit, t(s)],
            )?,
            None => self.db.query(&format!("{SELECT} ORDER BY id DESC LIMIT ?1"), vec![limit])?,
        };
        Ok(rows.iter().map(|r| row(r)).collect())
    }

    /// The operations of a release (rows whose parent is `id`), oldest first.
    pub fn children(&self, id: i64) -> Result<Vec<OpRecord>, String> {
        let rows = self.db.query(&format!("{SELECT} WHERE parent = ?1 ORDER BY id"), vec![t(id.to_string())])?;
        Ok(rows.iter().map(|r| row(r)).collect())
    }

    /// The audit fields of one action (who, from where, through what, the phases), as JSON.
    pub fn audit_of(&self, id: i64) -> Result<serde_json::Value, String> {
        let rows = self.db.query(
            "SELECT b.\"user\", b.uid, b.ssh, b.via, b.tty, b.host, b.pid, b.endpoint, o.container, o.digest, o.phases, b.env
             FROM audit b JOIN ops o ON o.id = b.op WHERE b.seq = ?1 AND b.kind = 'begin'",
            vec![Value::Integer(id)],
        )?;
        let r = rows.first().ok_or_else(|| format!("{}: no record {id}", self.place()))?;
        let tx = |i: usize| db::text(&r[i]);
        let n = |i: usize| int(&r[i]);
        Ok(serde_json::json!({
            "user": tx(0), "uid": n(1), "ssh": tx(2), "via": tx(3), "tty": tx(4), "host": tx(5),
            "pid": n(6), "endpoint": tx(7), "container": tx(8), "digest": tx(9),
            "phases": tx(10).and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok()),
            "environment": tx(11),
        }))
    }

    /// How many `action`s succeeded, per service (the guard's blocked-restart counter).
    pub fn succeeded_per_service(&self, action: &str) -> Result<std::collections::BTreeMap<String, u64>, String> {
        let rows = self.db.query(
            "SELECT service, COUNT(*) FROM ops WHERE action = ?1 AND outcome = 'succeeded' GROUP BY service",
            vec![t(action)],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((db::text(&r[0])?, u64::try_from(int(&r[1])?.max(0)).unwrap_or(0))))
            .collect())
    }

    /// The last image that passed a health gate for this service (deploy or rollback).
    pub fn last_good(&self, service: &str, skip_id: Option<&str>) -> Result<Option<(String, String)>, String> {
        let rows = self.db.query(
            "SELECT to_image, to_image_id FROM ops WHERE service = ?1 AND action IN ('deploy','rollback','baseline')
             AND outcome = 'succeeded' AND to_image_id IS NOT NULL AND to_image_id != COALESCE(?2, '')
             ORDER BY id DESC LIMIT 1",
            vec![t(service), opt(skip_id)],
        )?;
        Ok(rows.first().and_then(|r| Some((db::text(&r[0])?, db::text(&r[1])?))))
    }

    /// The full transcript of one action (health tries etc.).
    pub fn transcript(&self, id: i64) -> Result<String, String> {
        let rows = self
            .db
            .query("SELECT text FROM audit WHERE op = ?1 AND kind = 'note' ORDER BY seq", vec![Value::Integer(id)])?;
        let mut out = String::new();
        for r in rows {
            out.push_str(&db::text(&r[0]).unwrap_or_default());
            out.push('\n');
        }
        Ok(out)
    }
}

/// Whether the database holds the history as stackdeck wrote it before the audit chain.
/// The state dir, made 0700 when it is new (the history, latches and backups are this user's).
pub fn make_state_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create state dir {}: {e}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

fn legacy_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT type FROM sqlite_master WHERE name = 'ops'", [], |r| r.get::<_, String>(0))
        .optional()
        .map(|t| t.as_deref() == Some("table"))
}

const SELECT: &str = "SELECT id, action, service, from_image, to_image, actor, started_at, finished_at, outcome, reason, from_image_id, to_image_id, parent FROM ops";

fn ts(s: Option<String>) -> Option<Timestamp> {
    s.and_then(|s| s.parse().ok())
}

fn row(r: &[Value]) -> OpRecord {
    let tx = |i: usize| r.get(i).and_then(db::text);
    OpRecord {
        id: r.first().and_then(int).unwrap_or(0),
        action: tx(1).unwrap_or_default(),
        service: tx(2).unwrap_or_default(),
        from_image: tx(3),
        to_image: tx(4),
        actor: tx(5).unwrap_or_default(),
        started_at: ts(tx(6)).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: ts(tx(7)),
        outcome: Outcome::parse(&tx(8).unwrap_or_default()),
        reason: tx(9),
        from_image_id: tx(10),
        to_image_id: tx(11),
        parent: tx(12).and_then(|p| p.parse().ok()),
    }
}

/// The default state dir: `$XDG_DATA_HOME/stackdeck` (usually `~/.local/share/stackdeck`).
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "stackdeck").map(|d| d.data_dir().to_path_buf())
}

#[cfg(test)]
mod tests;
