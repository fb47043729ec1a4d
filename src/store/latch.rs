//! Kill-switch state: which services are emergency-stopped (by whom, when, why, the policy to
//! restore, what the halt hook answered) and how each of their instances is created again.
//! State, not audit: the stops and starts themselves are audit rows.

use super::{Store, ts};
use crate::domain::{KillSwitch, RestartPolicy};
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

impl Store {
    pub fn set_kill_switch(&self, k: &KillSwitch) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT INTO kill_switch (service, by, at, reason, previous_policy, halt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(service) DO UPDATE SET by = ?2, at = ?3, reason = ?4, halt = COALESCE(?6, halt)",
                params![
                    self.clean(&k.service),
                    self.clean(&k.by),
                    k.at.to_string(),
                    self.clean(&k.reason),
                    k.previous_policy.to_string(),
                    self.clean_opt(k.halt.as_deref())
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Keep the halt hook's answer with the kill switch (the banner shows it).
    pub fn set_halt(&self, service: &str, line: &str) -> Result<(), String> {
        self.conn()
            .execute("UPDATE kill_switch SET halt = ?2 WHERE service = ?1", params![service, self.clean(line)])
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Remove the kill switch; returns it (with the policy to restore). The recorded instances
    /// stay until [`Store::forget_instances`]: a start that fails still finds them.
    pub fn clear_kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        let k = self.kill_switch(service)?;
        self.conn()
            .execute("DELETE FROM kill_switch WHERE service = ?1", params![service])
            .map_err(|e| self.fail(e))?;
        Ok(k)
    }

    /// Keep how an instance of a latched service was created (the engine's own description),
    /// so that `start` can create it again if it is removed meanwhile (a prune, an `rm`). The
    /// first stop's record is kept: a second stop sees the instance as the first one left it.
    pub fn record_instance(&self, service: &str, name: &str, config: &serde_json::Value) -> Result<(), String> {
        self.conn()
            .execute(
                "INSERT INTO latched_instance (service, name, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT(service, name) DO NOTHING",
                params![service, name, config.to_string()],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The recorded instances of `service`: (name, configuration).
    pub fn recorded_instances(&self, service: &str) -> Result<Vec<(String, serde_json::Value)>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, config FROM latched_instance WHERE service = ?1 ORDER BY name")
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map(params![service], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.fail(e))?;
        let mut out = Vec::new();
        for r in rows {
            let (name, text) = r.map_err(|e| self.fail(e))?;
            let config = serde_json::from_str(&text)
                .map_err(|e| format!("the recorded configuration of {name} is unreadable: {e}"))?;
            out.push((name, config));
        }
        Ok(out)
    }

    pub fn forget_instances(&self, service: &str) -> Result<(), String> {
        self.conn()
            .execute("DELETE FROM latched_instance WHERE service = ?1", params![service])
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    pub fn kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        self.conn()
            .query_row(
                "SELECT service, by, at, reason, previous_policy, halt FROM kill_switch WHERE service = ?1",
                params![service],
                ks_row,
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    pub fn kill_switches(&self) -> Result<Vec<KillSwitch>, String> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT service, by, at, reason, previous_policy, halt FROM kill_switch ORDER BY at")
            .map_err(|e| self.fail(e))?;
        let rows = stmt.query_map([], ks_row).map_err(|e| self.fail(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.fail(e))
    }
}

/// The kill switch of an older stackdeck has no `halt` column.
pub(super) fn add_halt_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool =
        conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info('kill_switch') WHERE name = 'halt'", [], |r| {
            r.get(0)
        })?;
    if !has {
        conn.execute_batch("ALTER TABLE kill_switch ADD COLUMN halt TEXT")?;
    }
    Ok(())
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
        halt: r.get(5)?,
    })
}
