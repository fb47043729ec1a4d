//! The timeline's engine events and alerts as the guard saw them, so a panel started later
//! reads back further than the engine itself remembers (Docker keeps only its last 256 events,
//! which a stack's healthchecks fill within a minute). Bounded by age and by count; every text
//! is made inert and masked when written and again when read (the file can be edited).

use super::Store;
use super::db::{int, t, text};
use crate::domain::{Happen, Happening, Tone};
use jiff::Timestamp;
use rusqlite::types::Value;

/// The SQLite file beside `history.sqlite`: the guard writes it often, and a write there does
/// not change the history's `data_version`, which every panel polls to re-read the history.
pub const FILE: &str = "timeline.sqlite";

/// Attach the timeline's file to the history's connection (made 0600 when new).
pub(super) fn attach(conn: &rusqlite::Connection, dir: &std::path::Path) -> Result<(), String> {
    let path = dir.join(FILE);
    let fresh = !path.exists();
    let named = |e: rusqlite::Error| format!("{}: {e}", path.display());
    conn.execute("ATTACH DATABASE ?1 AS timeline", [path.to_string_lossy()]).map_err(named)?;
    if fresh {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    conn.pragma_update(Some("timeline"), "journal_mode", "WAL").map_err(named)?;
    conn.execute_batch(&super::HAPPENING_TABLE.replace("EXISTS happening", "EXISTS timeline.happening")).map_err(named)
}

/// The columns a row is kept in (`at_ns`: nanoseconds since the epoch).
const COLUMNS: &str = "at_ns, key, kind, service, subject, what, tone, container";

impl Store {
    /// Keep `rows` (a row already kept, same time and key, stays once), then forget what is
    /// older than `window` or past the newest `keep`.
    pub fn record_happenings(
        &self,
        rows: &[Happening],
        window: std::time::Duration,
        keep: usize,
    ) -> Result<(), String> {
        for h in rows {
            self.db.exec(
                &format!(
                    "INSERT INTO happening ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING"
                ),
                vec![
                    Value::Integer(nanos(h.at)),
                    t(self.clean(&h.key)),
                    t(h.kind.as_str()),
                    t(self.clean(&h.service)),
                    t(self.clean(&h.subject)),
                    t(self.clean(&h.what)),
                    t(h.tone.as_str()),
                    h.container.as_deref().map_or(Value::Null, |c| t(self.clean(c))),
                ],
            )?;
        }
        let oldest = Timestamp::now().as_nanosecond() - i128::from(window.as_nanos().min(i64::MAX as u128) as i64);
        self.db.exec("DELETE FROM happening WHERE at_ns < ?1", vec![Value::Integer(clamp(oldest))])?;
        self.db.exec(
            "DELETE FROM happening WHERE at_ns < (SELECT at_ns FROM happening ORDER BY at_ns DESC LIMIT 1 OFFSET ?1)",
            vec![Value::Integer(keep.saturating_sub(1) as i64)],
        )?;
        Ok(())
    }

    /// The kept rows since `since`, at most the newest `keep`, in time order. With a project,
    /// only its services' engine rows (alerts are the stack's).
    pub fn happenings(&self, since: Timestamp, keep: usize, project: Option<&str>) -> Result<Vec<Happening>, String> {
        let prefix = project.map(|p| format!("{p}/")).unwrap_or_default();
        let rows = self.db.query(
            &format!(
                "SELECT {COLUMNS} FROM happening WHERE at_ns >= ?1 AND (kind = 'alert' OR substr(service, 1, ?2) = ?3)
                 ORDER BY at_ns DESC LIMIT ?4"
            ),
            vec![
                Value::Integer(nanos(since)),
                Value::Integer(prefix.chars().count() as i64),
                t(prefix),
                Value::Integer(keep as i64),
            ],
        )?;
        let mut out: Vec<Happening> = rows.iter().filter_map(|r| self.happening(r)).collect();
        out.reverse();
        Ok(out)
    }

    fn happening(&self, r: &[Value]) -> Option<Happening> {
        let col = |i: usize| r.get(i).and_then(text);
        let at = Timestamp::from_nanosecond(i128::from(int(r.first()?)?)).ok()?;
        Some(Happening {
            at,
            key: self.clean(&col(1)?),
            kind: Happen::parse(&col(2)?)?,
            service: self.clean(&col(3).unwrap_or_default()),
            subject: self.clean(&col(4).unwrap_or_default()),
            what: self.clean(&col(5).unwrap_or_default()),
            tone: col(6).and_then(|w| Tone::parse(&w)).unwrap_or(Tone::Plain),
            container: col(7).map(|c| self.clean(&c)),
            times: 1,
        })
    }
}

fn nanos(at: Timestamp) -> i64 {
    clamp(at.as_nanosecond())
}

fn clamp(n: i128) -> i64 {
    n.clamp(0, i128::from(i64::MAX)) as i64
}
