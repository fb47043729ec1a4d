//! The one seam between the store's records and the database that keeps them: the SQLite file
//! in the state dir, or the team's PostgreSQL ([`super::pg`]). Statements are written once,
//! with `?N` parameters, and values cross as SQLite's neutral [`Value`]s.

use super::audit::{self, Chain, Row};
use super::pg::Pg;
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub enum Db {
    /// Behind a mutex so operations can hold a `&Store` across awaits (each call is short).
    Lite {
        conn: Mutex<Connection>,
        path: PathBuf,
    },
    Pg(Pg),
}

impl Db {
    /// The SQLite connection (migrations, tests); `None` for PostgreSQL.
    pub fn lite(&self) -> Option<MutexGuard<'_, Connection>> {
        match self {
            // A panic while holding the lock leaves a usable connection: take it anyway.
            Db::Lite { conn, .. } => Some(lock(conn)),
            Db::Pg(_) => None,
        }
    }

    /// Where the records are, as messages name it.
    pub fn place(&self) -> String {
        match self {
            Db::Lite { path, .. } => path.display().to_string(),
            Db::Pg(p) => p.shown.clone(),
        }
    }

    /// A SQLite error, naming the file ("file is not a database" alone says nothing).
    fn fail(&self, e: &rusqlite::Error) -> String {
        format!("{}: {e}", self.place())
    }

    pub fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>, String> {
        match self {
            Db::Lite { conn, .. } => {
                let conn = lock(conn);
                let run = || -> rusqlite::Result<Vec<Vec<Value>>> {
                    let mut stmt = conn.prepare_cached(sql)?;
                    let n = stmt.column_count();
                    let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                        (0..n).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>()
                    })?;
                    rows.collect()
                };
                run().map_err(|e| self.fail(&e))
            }
            Db::Pg(p) => p.query(sql, params),
        }
    }

    pub fn exec(&self, sql: &str, params: Vec<Value>) -> Result<u64, String> {
        match self {
            Db::Lite { conn, .. } => {
                let conn = lock(conn);
                conn.execute(sql, params_from_iter(params.iter())).map(|n| n as u64).map_err(|e| self.fail(&e))
            }
            Db::Pg(p) => p.exec(sql, params),
        }
    }

    pub fn append(&self, row: &Row) -> Result<i64, String> {
        match self {
            Db::Lite { conn, .. } => audit::append(&mut lock(conn), row).map_err(|e| self.fail(&e)),
            Db::Pg(p) => p.append(row),
        }
    }

    pub fn verify(&self) -> Result<Chain, String> {
        match self {
            Db::Lite { conn, .. } => audit::verify(&lock(conn)).map_err(|e| self.fail(&e)),
            Db::Pg(p) => p.verify(),
        }
    }

    /// Changes whenever anybody commits a change.
    pub fn version(&self) -> Result<i64, String> {
        match self {
            Db::Lite { conn, .. } => {
                lock(conn).query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.fail(&e))
            }
            Db::Pg(p) => p.version(),
        }
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A text column (NULL and non-text: `None`).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// An integer column.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Text(t) => t.parse().ok(),
        _ => None,
    }
}

/// `Value::Text` or NULL.
pub fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::Text(s.to_owned()))
}

/// `Value::Text`.
pub fn t(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}
