//! Kill-switch state: which services are emergency-stopped (by whom, when, why, the policy to
//! restore, what the halt hook answered) and how each of their instances is created again.
//! State, not audit: the stops and starts themselves are audit rows.

use super::db::{self, opt, t};
use super::{Store, ts};
use crate::domain::{KillSwitch, RestartPolicy};
use jiff::Timestamp;
use rusqlite::Connection;
use rusqlite::types::Value;

const KS: &str = "SELECT service, \"by\", at, reason, previous_policy, halt FROM kill_switch";

impl Store {
    pub fn set_kill_switch(&self, k: &KillSwitch) -> Result<(), String> {
        self.db
            .exec(
                "INSERT INTO kill_switch (service, \"by\", at, reason, previous_policy, halt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(service) DO UPDATE SET \"by\" = ?2, at = ?3, reason = ?4, halt = COALESCE(?6, kill_switch.halt)",
                vec![
                    t(self.clean(&k.service)),
                    t(self.clean(&k.by)),
                    t(k.at.to_string()),
                    t(self.clean(&k.reason)),
                    t(k.previous_policy.to_string()),
                    opt(self.clean_opt(k.halt.as_deref()).as_deref()),
                ],
            )
            .map(|_| ())
    }

    /// Keep the halt hook's answer with the kill switch (the banner shows it).
    pub fn set_halt(&self, service: &str, line: &str) -> Result<(), String> {
        self.db
            .exec("UPDATE kill_switch SET halt = ?2 WHERE service = ?1", vec![t(service), t(self.clean(line))])
            .map(|_| ())
    }

    /// Remove the kill switch; returns it (with the policy to restore). The recorded instances
    /// stay until [`Store::forget_instances`]: a start that fails still finds them.
    pub fn clear_kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        let k = self.kill_switch(service)?;
        self.db.exec("DELETE FROM kill_switch WHERE service = ?1", vec![t(service)])?;
        Ok(k)
    }

    /// Keep how an instance of a latched service was created (the engine's own description),
    /// so that `start` can create it again if it is removed meanwhile (a prune, an `rm`). The
    /// first stop's record is kept: a second stop sees the instance as the first one left it.
    pub fn record_instance(&self, service: &str, name: &str, config: &serde_json::Value) -> Result<(), String> {
        self.db
            .exec(
                "INSERT INTO latched_instance (service, name, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT(service, name) DO NOTHING",
                vec![t(service), t(name), t(config.to_string())],
            )
            .map(|_| ())
    }

    /// The recorded instances of `service`: (name, configuration).
    pub fn recorded_instances(&self, service: &str) -> Result<Vec<(String, serde_json::Value)>, String> {
        let rows = self
            .db
            .query("SELECT name, config FROM latched_instance WHERE service = ?1 ORDER BY name", vec![t(service)])?;
        let mut out = Vec::new();
        for r in rows {
            let name = db::text(&r[0]).unwrap_or_default();
            let text = db::text(&r[1]).unwrap_or_default();
            let config = serde_json::from_str(&text)
                .map_err(|e| format!("the recorded configuration of {name} is unreadable: {e}"))?;
            out.push((name, config));
        }
        Ok(out)
    }

    pub fn forget_instances(&self, service: &str) -> Result<(), String> {
        self.db.exec("DELETE FROM latched_instance WHERE service = ?1", vec![t(service)]).map(|_| ())
    }

    pub fn kill_switch(&self, service: &str) -> Result<Option<KillSwitch>, String> {
        let rows = self.db.query(&format!("{KS} WHERE service = ?1"), vec![t(service)])?;
        rows.first().map(|r| ks_row(r)).transpose()
    }

    pub fn kill_switches(&self) -> Result<Vec<KillSwitch>, String> {
        self.db.query(&format!("{KS} ORDER BY at"), vec![])?.iter().map(|r| ks_row(r)).collect()
    }

    /// Claim one event for one holder: `true` for the first to claim `key` (a panel and a
    /// guard, on this machine or another, see the same start; one of them holds it).
    pub fn claim(&self, key: &str) -> Result<bool, String> {
        self.db
            .exec(
                "INSERT INTO hold_claims (claim, at) VALUES (?1, ?2) ON CONFLICT(claim) DO NOTHING",
                vec![t(key), t(Timestamp::now().to_string())],
            )
            .map(|n| n == 1)
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

fn ks_row(r: &[Value]) -> Result<KillSwitch, String> {
    let tx = |i: usize| r.get(i).and_then(db::text);
    let policy = tx(4).unwrap_or_default();
    let previous_policy = RestartPolicy::parse(&policy)
        .ok_or_else(|| format!("unknown restart policy '{policy}' in the kill_switch table"))?;
    Ok(KillSwitch {
        service: tx(0).unwrap_or_default(),
        by: tx(1).unwrap_or_default(),
        at: ts(tx(2)).unwrap_or(Timestamp::UNIX_EPOCH),
        reason: tx(3).unwrap_or_default(),
        previous_policy,
        halt: tx(5),
    })
}
