//! The audit table: append-only rows, each hash-chained to the one before.
//!
//! An operation is a `begin` row, any number of `note` rows (its progress) and one or more
//! `finish` rows (the last one counts: an operation marked interrupted can be finished later
//! from the fallback journal). Nothing is ever updated or deleted: triggers refuse it, and each
//! row's `hash` is SHA-256 over its own columns and the previous row's hash, so that an edit or
//! a removal made behind stackdeck's back (sqlite3, a disk editor) is found by [`verify`].
//! The view `ops` gives one row per operation, as the rest of stackdeck reads it.

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params_from_iter};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op INTEGER NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
  action TEXT, service TEXT, outcome TEXT, reason TEXT, text TEXT,
  from_image TEXT, from_image_id TEXT, to_image TEXT, to_image_id TEXT,
  container TEXT, digest TEXT, phases TEXT,
  actor TEXT, "user" TEXT, uid INTEGER, ssh TEXT, via TEXT, tty TEXT, host TEXT, pid INTEGER, endpoint TEXT,
  env TEXT,
  prev TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_op ON audit(op, kind, seq);
CREATE INDEX IF NOT EXISTS audit_begin ON audit(kind, service, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit is append-only: rows are never changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit is append-only: rows are never removed'); END;
"#;

/// One row per operation, as the rest of stackdeck reads it (the same for SQLite and
/// PostgreSQL; each creates it with its own words).
pub const OPS_VIEW: &str = r#"
  WITH fin AS (SELECT op, MAX(seq) AS seq FROM audit WHERE kind = 'finish' GROUP BY op)
  SELECT b.op AS id, b.action, b.service, b.from_image, b.from_image_id,
    COALESCE(f.to_image, b.to_image) AS to_image, COALESCE(f.to_image_id, b.to_image_id) AS to_image_id,
    COALESCE(b.actor, b."user", '?') AS actor, b.host, b.pid, b.at AS started_at, f.at AS finished_at,
    COALESCE(f.outcome, 'running') AS outcome, COALESCE(f.reason, b.reason) AS reason,
    b.container, COALESCE(f.digest, b.digest) AS digest, f.phases, b.via, b.ssh, b.endpoint,
    b.parent
  FROM audit b LEFT JOIN fin ON fin.op = b.op LEFT JOIN audit f ON f.seq = fin.seq
  WHERE b.kind = 'begin';
"#;

/// The hashed columns, in hashing order (then `prev`).
pub const COLUMNS: [&str; 25] = [
    "seq",
    "op",
    "kind",
    "at",
    "action",
    "service",
    "outcome",
    "reason",
    "text",
    "from_image",
    "from_image_id",
    "to_image",
    "to_image_id",
    "container",
    "digest",
    "phases",
    "actor",
    "user",
    "uid",
    "ssh",
    "via",
    "tty",
    "host",
    "pid",
    "endpoint",
];

/// Columns added after the chain existed: hashed only when set (with their name), so that the
/// rows written before them verify as they always did.
pub const LATER: [&str; 2] = ["env", "parent"];

/// Add the [`LATER`] columns to an audit table made before them.
pub fn add_later_columns(conn: &Connection) -> rusqlite::Result<()> {
    for col in LATER {
        let has: bool =
            conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('audit') WHERE name = ?1", [col], |r| r.get(0))?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE audit ADD COLUMN {col} TEXT"))?;
        }
    }
    Ok(())
}

/// Create the `ops` view, or make it again when it was made before a column it reads
/// (a view holds no data: replacing it loses nothing).
pub fn create_view(conn: &Connection) -> rusqlite::Result<()> {
    let current: bool =
        conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('ops') WHERE name = 'parent'", [], |r| r.get(0))?;
    if !current {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; DROP VIEW IF EXISTS ops; CREATE VIEW ops AS {OPS_VIEW} COMMIT;"
        ))?;
    }
    Ok(())
}

/// The hash a chain starts from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One row to append; `op: None` makes it a new operation (its `op` is its own `seq`).
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub op: Option<i64>,
    pub kind: &'static str,
    pub at: String,
    /// Every other column by name (see [`COLUMNS`]); unnamed ones are NULL.
    pub fields: Vec<(&'static str, Value)>,
}

impl Row {
    pub fn text(mut self, col: &'static str, v: Option<String>) -> Row {
        self.fields.push((col, v.map_or(Value::Null, Value::Text)));
        self
    }

    pub fn int(mut self, col: &'static str, v: i64) -> Row {
        self.fields.push((col, Value::Integer(v)));
        self
    }
}

/// SHA-256 of a row's values and the previous hash, hex.
pub fn hash(values: &[Value], prev: &str) -> String {
    let mut h = Sha256::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(later) = i.checked_sub(COLUMNS.len()) {
            if matches!(v, Value::Null) {
                continue;
            }
            h.update(format!("x{}=", LATER.get(later).copied().unwrap_or("?")).as_bytes());
        }
        match v {
            Value::Null => h.update(b"n;"),
            Value::Integer(i) => h.update(format!("i{i};").as_bytes()),
            Value::Real(r) => h.update(format!("r{r};").as_bytes()),
            Value::Text(t) => {
                h.update(format!("t{}:", t.len()).as_bytes());
                h.update(t.as_bytes());
            }
            Value::Blob(b) => {
                h.update(format!("b{}:", b.len()).as_bytes());
                h.update(b);
            }
        }
    }
    h.update(b"p");
    h.update(prev.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The values of `row` as the `seq`th row, in [`COLUMNS`] order, then `prev` and its hash.
pub fn values_of(row: &Row, seq: i64, prev: String) -> Vec<Value> {
    let mut values: Vec<Value> = Vec::with_capacity(COLUMNS.len() + LATER.len() + 2);
    for col in COLUMNS.iter().chain(LATER.iter()).copied() {
        let v = match col {
            "seq" => Value::Integer(seq),
            "op" => Value::Integer(row.op.unwrap_or(seq)),
            "kind" => Value::Text(row.kind.to_owned()),
            "at" => Value::Text(row.at.clone()),
            _ => row.fields.iter().rev().find(|(c, _)| *c == col).map_or(Value::Null, |(_, v)| v.clone()),
        };
        values.push(v);
    }
    let h = hash(&values, &prev);
    values.push(Value::Text(prev));
    values.push(Value::Text(h));
    values
}

/// The column list, quoted (`user` is a keyword in PostgreSQL).
pub fn column_list() -> String {
    COLUMNS.iter().chain(LATER.iter()).map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO audit (...) VALUES (?1, ...)` for [`values_of`].
pub fn insert_sql() -> String {
    let marks = (1..=COLUMNS.len() + LATER.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    format!("INSERT INTO audit ({}, prev, hash) VALUES ({marks})", column_list())
}

/// `SELECT` of every hashed column, then `prev` and `hash`, oldest first.
pub fn select_sql() -> String {
    format!("SELECT {}, prev, hash FROM audit ORDER BY seq", column_list())
}

/// Append `row` at the end of the chain, in one write transaction (so that two processes
/// appending at once each chain to the other's row). Returns its `seq`.
pub fn append(conn: &mut Connection, row: &Row) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let seq: i64 = tx
        .query_row("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0) + 1", [], |r| {
            r.get::<_, i64>(0)
        })?
        .max(tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", [], |r| r.get(0))?);
    let prev: String = tx
        .query_row("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
        .unwrap_or_else(|_| GENESIS.to_owned());
    let values = values_of(row, seq, prev);
    tx.execute(&insert_sql(), params_from_iter(values.iter()))?;
    tx.commit()?;
    Ok(seq)
}

/// What `history --verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain {
    /// Every row is as written, none is missing: how many rows.
    Intact(usize),
    /// The first row that is not as written, or that follows a removed one.
    Broken { seq: i64, op: i64, what: String },
}

/// Walk the whole chain, oldest first.
pub fn verify(conn: &Connection) -> rusqlite::Result<Chain> {
    let mut stmt = conn.prepare(&select_sql())?;
    let n = COLUMNS.len() + LATER.len() + 2;
    let mut rows = stmt.query([])?;
    let mut walk = Walk::default();
    while let Some(r) = rows.next()? {
        let values: Vec<Value> = (0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<_, _>>()?;
        if let Some(broken) = walk.step(&values) {
            return Ok(broken);
        }
    }
    // Rows removed from the end leave the sequence counter ahead of the last row.
    let counter: i64 =
        conn.query_row("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0)", [], |r| r.get(0))?;
    Ok(walk.end(counter))
}

/// The walk along the chain, one row (its [`COLUMNS`], `prev`, `hash`) at a time, whatever
/// database the rows come from.
#[derive(Debug)]
pub struct Walk {
    prev: String,
    last_seq: i64,
    count: usize,
}

impl Default for Walk {
    fn default() -> Self {
        Walk { prev: GENESIS.to_owned(), last_seq: 0, count: 0 }
    }
}

impl Walk {
    /// The next row; `Some` when the chain breaks there.
    pub fn step(&mut self, row: &[Value]) -> Option<Chain> {
        let n = COLUMNS.len() + LATER.len();
        let int = |v: &Value| match v {
            Value::Integer(s) => *s,
            _ => -1,
        };
        let text = |v: Option<&Value>| match v {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let (seq, op) = (int(&row[0]), int(&row[1]));
        let values = &row[..n];
        let (its_prev, its_hash) = (text(row.get(n)), text(row.get(n + 1)));
        let what = describe(values);
        if its_prev != self.prev {
            let gap = if seq != self.last_seq + 1 {
                format!(" (rows {}..{} are missing)", self.last_seq + 1, seq - 1)
            } else {
                String::new()
            };
            return Some(Chain::Broken {
                seq,
                op,
                what: format!("{what}: the row before it was removed or altered{gap}"),
            });
        }
        if hash(values, &its_prev) != its_hash {
            return Some(Chain::Broken { seq, op, what: format!("{what}: altered after it was written") });
        }
        self.prev = its_hash;
        self.last_seq = seq;
        self.count += 1;
        None
    }

    /// After the last row: `counter` is the highest `seq` ever handed out.
    pub fn end(self, counter: i64) -> Chain {
        if counter > self.last_seq {
            return Chain::Broken {
                seq: self.last_seq + 1,
                op: -1,
                what: format!("rows {}..{counter} were removed from the end", self.last_seq + 1),
            };
        }
        Chain::Intact(self.count)
    }
}

/// `row 12 (finish of operation 9: stop p/bot)`.
fn describe(values: &[Value]) -> String {
    let text = |i: usize| match &values[i] {
        Value::Text(t) => crate::logtext::inert(t).into_owned(),
        Value::Integer(n) => n.to_string(),
        _ => String::new(),
    };
    let what = [text(4), text(5)].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" ");
    let what = if what.is_empty() { String::new() } else { format!(": {what}") };
    format!("row {} ({} of operation {}{what})", text(0), text(2), text(1))
}
