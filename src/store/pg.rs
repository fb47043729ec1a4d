//! The shared store on PostgreSQL (`[state] url`): the same tables, rows and hash chain as the
//! SQLite file, for a team whose operators run stackdeck on different machines.
//!
//! The `postgres` client drives a runtime of its own, so it cannot be called from inside
//! stackdeck's: each connection lives on its own thread and takes jobs through a channel (a
//! call blocks the caller the way a SQLite call does). Statements carry timeouts, so a store
//! that stops answering fails a call instead of hanging it; the emergency stop's connection
//! waits least (it never waits on the store: its record then goes to the fallback journal).

use super::audit::{self, Chain, Row, Walk};
use super::shared::Shared;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use rusqlite::types::Value;
use std::sync::mpsc;
use std::time::Duration;

type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// One connection to the shared store, on its own thread.
#[derive(Debug)]
pub struct Pg {
    jobs: mpsc::Sender<Job>,
    /// The store as messages name it (no password).
    pub shown: String,
    /// How long a call waits for its answer: the server's statement timeout is no help when
    /// the server itself stops answering.
    answer: Duration,
}

/// Advisory lock keys: the schema set-up and the end of the audit chain.
const SETUP_KEY: i64 = 0x5354_4b44_0001;
const AUDIT_KEY: i64 = 0x5354_4b44_0002;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit (
  seq BIGINT PRIMARY KEY,
  op BIGINT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
  action TEXT, service TEXT, outcome TEXT, reason TEXT, text TEXT,
  from_image TEXT, from_image_id TEXT, to_image TEXT, to_image_id TEXT,
  container TEXT, digest TEXT, phases TEXT,
  actor TEXT, "user" TEXT, uid BIGINT, ssh TEXT, via TEXT, tty TEXT, host TEXT, pid BIGINT, endpoint TEXT,
  env TEXT, parent TEXT,
  prev TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_op ON audit(op, kind, seq);
CREATE INDEX IF NOT EXISTS audit_begin ON audit(kind, service, seq);
CREATE TABLE IF NOT EXISTS audit_head (one INT PRIMARY KEY CHECK (one = 1), seq BIGINT NOT NULL);
INSERT INTO audit_head VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS state_version (one INT PRIMARY KEY CHECK (one = 1), n BIGINT NOT NULL);
INSERT INTO state_version VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS kill_switch (
  service TEXT PRIMARY KEY, "by" TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL,
  previous_policy TEXT NOT NULL, halt TEXT
);
CREATE TABLE IF NOT EXISTS latched_instance (
  service TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL, PRIMARY KEY (service, name)
);
CREATE TABLE IF NOT EXISTS locks (service TEXT PRIMARY KEY, holder TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hold_claims (claim TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE OR REPLACE FUNCTION stackdeck_append_only() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'the audit is append-only: rows are never changed or removed'; END $f$;
CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION stackdeck_append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
  FOR EACH STATEMENT EXECUTE FUNCTION stackdeck_append_only();
CREATE OR REPLACE FUNCTION stackdeck_head_forward() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.seq < OLD.seq THEN
    RAISE EXCEPTION 'the audit counter only moves forward';
  END IF;
  RETURN NEW;
END $f$;
CREATE OR REPLACE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION stackdeck_head_forward();
CREATE OR REPLACE FUNCTION stackdeck_bump() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN UPDATE state_version SET n = n + 1; RETURN NULL; END $f$;
CREATE OR REPLACE TRIGGER kill_switch_bump AFTER INSERT OR UPDATE OR DELETE ON kill_switch
  FOR EACH STATEMENT EXECUTE FUNCTION stackdeck_bump();
CREATE OR REPLACE TRIGGER latched_instance_bump AFTER INSERT OR UPDATE OR DELETE ON latched_instance
  FOR EACH STATEMENT EXECUTE FUNCTION stackdeck_bump();
"#;

impl Pg {
    /// Connect (on a new thread), waiting at most `wait` for the server, with every statement
    /// limited to `statement` and every lock wait to `lock`.
    pub fn connect(shared: &Shared, wait: Duration, statement: Duration, lock: Duration) -> Result<Pg, String> {
        let shown = shared.shown();
        let mut cfg = shared.config()?;
        cfg.connect_timeout(wait).options(&format!(
            "-c statement_timeout={} -c lock_timeout={}",
            statement.as_millis(),
            lock.as_millis()
        ));
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), String>>(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        let named = shown.clone();
        std::thread::Builder::new()
            .name("shared-store".into())
            .spawn(move || {
                let mut client = match cfg.connect(NoTls) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ =
                            ready_tx.send(Err(format!("cannot connect to the shared store {named}: {}", words(&e))));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while let Ok(job) = rx.recv() {
                    // A server restart closes the connection: open a new one for the next job
                    // (the job itself then fails or succeeds on its own).
                    if client.is_closed()
                        && let Ok(c) = cfg.connect(NoTls)
                    {
                        client = c;
                    }
                    job(&mut client);
                }
            })
            .map_err(|e| format!("cannot start the shared store's thread: {e}"))?;
        // The client's connect timeout covers the socket only; a server that accepts and then
        // says nothing (stopped, overloaded) is given half as long again.
        match ready_rx.recv_timeout(wait * 3 / 2) {
            Ok(Ok(())) => Ok(Pg { jobs, shown, answer: statement + Duration::from_secs(2) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "cannot connect to the shared store {shown}: no answer within {} ms",
                (wait * 3 / 2).as_millis()
            )),
        }
    }

    /// Run `f` on the connection's thread and wait for its answer.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, String> {
        let (tx, rx) = mpsc::sync_channel(1);
        let gone = || format!("the shared store {}: the connection is gone", self.shown);
        self.jobs
            .send(Box::new(move |c: &mut Client| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| gone())?;
        match rx.recv_timeout(self.answer) {
            Ok(answer) => answer.map_err(|e| format!("the shared store {}: {}", self.shown, words(&e))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("the shared store {}: no answer within {} ms", self.shown, self.answer.as_millis()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(gone()),
        }
    }

    /// Create the tables, view and triggers when missing (one process at a time).
    pub fn set_up(&self) -> Result<(), String> {
        self.call(|c| {
            // Set up already: nothing to do (replacing triggers would lock the audit table).
            let ready = "SELECT to_regclass('ops') IS NOT NULL AND to_regclass('hold_claims') IS NOT NULL AND to_regclass('happening') IS NOT NULL
                AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'ops' AND column_name = 'parent')";
            if c.query_one(ready, &[])?.get::<_, bool>(0) {
                return Ok(());
            }
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_KEY])?;
            // A store made before the `parent` column: add it (the view's new column is its
            // last, which CREATE OR REPLACE VIEW allows).
            tx.batch_execute(&format!(
                "{SCHEMA}{}\nALTER TABLE audit ADD COLUMN IF NOT EXISTS parent TEXT; CREATE OR REPLACE VIEW ops AS {}",
                super::HAPPENING_TABLE,
                super::audit::OPS_VIEW
            ))?;
            tx.commit()
        })
    }

    /// Rows of a query written with `?N` parameters.
    pub fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>, String> {
        let sql = dollars(sql);
        self.call(move |c| {
            let stmt = c.prepare(&sql)?;
            let args = bind(stmt.params(), &params);
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
            Ok(c.query(&stmt, &refs)?.iter().map(values).collect())
        })
    }

    /// Run a statement written with `?N` parameters; how many rows it changed.
    pub fn exec(&self, sql: &str, params: Vec<Value>) -> Result<u64, String> {
        let sql = dollars(sql);
        self.call(move |c| {
            let stmt = c.prepare(&sql)?;
            let args = bind(stmt.params(), &params);
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
            c.execute(&stmt, &refs)
        })
    }

    /// Append a row at the end of the chain: one writer at a time (an advisory lock for the
    /// length of the transaction), so that two machines appending at once chain to each other.
    pub fn append(&self, row: &Row) -> Result<i64, String> {
        let row = row.clone();
        let insert = dollars(&audit::insert_sql());
        self.call(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_KEY])?;
            let counter: i64 = tx.query_one("SELECT seq FROM audit_head", &[])?.get(0);
            let last: Option<(i64, String)> = tx
                .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
                .map(|r| (r.get(0), r.get(1)));
            let seq = counter.max(last.as_ref().map_or(0, |l| l.0)) + 1;
            let prev = last.map_or_else(|| audit::GENESIS.to_owned(), |l| l.1);
            let vals = audit::values_of(&row, seq, prev);
            let stmt = tx.prepare(&insert)?;
            let args = bind(stmt.params(), &vals);
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect();
            tx.execute(&stmt, &refs)?;
            tx.execute("UPDATE audit_head SET seq = $1", &[&seq])?;
            tx.commit()?;
            Ok(seq)
        })
    }

    /// Walk the whole chain (see [`audit::verify`]).
    pub fn verify(&self) -> Result<Chain, String> {
        let (rows, counter) = self.call(|c| {
            let rows: Vec<Vec<Value>> = c.query(&audit::select_sql(), &[])?.iter().map(values).collect();
            let counter: i64 = c.query_one("SELECT seq FROM audit_head", &[])?.get(0);
            Ok((rows, counter))
        })?;
        let mut walk = Walk::default();
        for r in &rows {
            if let Some(broken) = walk.step(r) {
                return Ok(broken);
            }
        }
        Ok(walk.end(counter))
    }

    /// Grows with every change by anybody (audit rows, latches).
    pub fn version(&self) -> Result<i64, String> {
        self.call(|c| {
            let r = c.query_one("SELECT (SELECT seq FROM audit_head) + (SELECT n FROM state_version)", &[])?;
            Ok(r.get::<_, Option<i64>>(0).unwrap_or(0))
        })
    }

    /// Take the cross-machine lock on `service` for as long as this connection lives:
    /// `Ok(())`, or `Err(Ok(holder))` with what the holder wrote.
    pub fn try_lock(&self, service: &str, holder: &str) -> Result<(), Result<String, String>> {
        let (service, holder) = (service.to_owned(), holder.to_owned());
        let key = lock_key(&service);
        let answer = self.call(move |c| {
            let got: bool = c.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.get(0);
            if got {
                c.execute(
                    "INSERT INTO locks (service, holder) VALUES ($1, $2)
                     ON CONFLICT (service) DO UPDATE SET holder = EXCLUDED.holder",
                    &[&service, &holder],
                )?;
                return Ok(None);
            }
            let who = c.query_opt("SELECT holder FROM locks WHERE service = $1", &[&service])?;
            Ok(Some(who.map(|r| r.get::<_, String>(0)).unwrap_or_default()))
        });
        match answer {
            Ok(None) => Ok(()),
            Ok(Some(who)) => Err(Ok(who)),
            Err(e) => Err(Err(e)),
        }
    }
}

/// The advisory lock key of a service: the first 8 bytes of SHA-256 of its name.
fn lock_key(service: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("stackdeck lock {service}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// `?1` → `$1` (stackdeck's statements are written for both databases).
fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// Each value as the type the statement expects.
fn bind(types: &[Type], params: &[Value]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    types
        .iter()
        .zip(params)
        .map(|(ty, v)| -> Box<dyn ToSql + Sync + Send> {
            let int = match v {
                Value::Integer(i) => Some(*i),
                Value::Text(t) => t.parse().ok(),
                _ => None,
            };
            let text = match v {
                Value::Text(t) => Some(t.clone()),
                Value::Integer(i) => Some(i.to_string()),
                Value::Real(r) => Some(r.to_string()),
                _ => None,
            };
            match *ty {
                Type::INT8 => Box::new(int),
                Type::INT4 => Box::new(int.and_then(|i| i32::try_from(i).ok())),
                Type::INT2 => Box::new(int.and_then(|i| i16::try_from(i).ok())),
                Type::BOOL => Box::new(int.map(|i| i != 0)),
                _ => Box::new(text),
            }
        })
        .collect()
}

/// A row's columns as the neutral values the rest of the store reads.
fn values(r: &postgres::Row) -> Vec<Value> {
    (0..r.len())
        .map(|i| {
            let ty = r.columns()[i].type_().clone();
            let v = match ty {
                Type::INT8 => r.try_get::<_, Option<i64>>(i).ok().flatten().map(Value::Integer),
                Type::INT4 => r.try_get::<_, Option<i32>>(i).ok().flatten().map(|n| Value::Integer(n.into())),
                Type::INT2 => r.try_get::<_, Option<i16>>(i).ok().flatten().map(|n| Value::Integer(n.into())),
                Type::BOOL => r.try_get::<_, Option<bool>>(i).ok().flatten().map(|b| Value::Integer(b.into())),
                _ => r.try_get::<_, Option<String>>(i).ok().flatten().map(Value::Text),
            };
            v.unwrap_or(Value::Null)
        })
        .collect()
}

/// A PostgreSQL error in the user's terms (the server's message, not the client's wrapper).
fn words(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let s = e.to_string();
    let inner = std::error::Error::source(e).map(ToString::to_string);
    match inner {
        Some(i) if !s.contains(&i) => format!("{s}: {i}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_rewritten_but_question_marks_in_text_are_not() {
        assert_eq!(dollars("SELECT '?' WHERE a = ?1 AND b = ?12"), "SELECT '?' WHERE a = $1 AND b = $12");
    }

    #[test]
    fn lock_keys_differ_per_service_and_are_stable() {
        assert_ne!(lock_key("p/bot"), lock_key("p/api"));
        assert_eq!(lock_key("p/bot"), lock_key("p/bot"));
    }
}
