//! The one driver of an interactive command in a service's container, for the panel (`e`) and
//! `stackdeck exec`: resolve the service's running container, record who ran what where (an
//! audit row, finished with the exit code), and hand the terminal over (`engine::shell`).
//! Refused under --read-only; the callers confirm in production.

use crate::domain::{Outcome, RunState};
use crate::engine::Endpoint;
use crate::store::{NewOp, Store};
use std::path::Path;

pub struct Exec<'a> {
    pub endpoint: &'a Endpoint,
    pub state_dir: &'a Path,
    pub project: Option<&'a str>,
    pub read_only: bool,
    pub masker: &'a crate::logtext::Masker,
}

/// Run `cmd` in `target`'s running container attached to this terminal (`tty`: as a PTY).
/// `Ok(exit code)`; `Err` says why nothing ran.
pub async fn run(x: &Exec<'_>, target: &str, cmd: &[String], tty: bool) -> Result<Option<i64>, String> {
    if x.read_only {
        return Err("exec refused: stackdeck runs with --read-only".into());
    }
    let backend = crate::engine::backend(x.endpoint).await.map_err(|e| e.to_string())?;
    let svc = backend.resolve(target, x.project).await.map_err(|e| e.to_string())?;
    let c = svc
        .instances
        .iter()
        .filter(|c| !c.is_leftover() && c.state == RunState::Running)
        .max_by_key(|c| c.started_at)
        .ok_or_else(|| format!("{} has no running container", svc.key))?;
    let store = Store::open(x.state_dir)
        .map_err(|e| format!("exec refused: it is audited and the history cannot be opened: {e}"))?
        .with_masker(x.masker.clone());
    let line = crate::logtext::clean(&cmd.join(" "), x.masker);
    let record = store
        .begin(&NewOp {
            action: "exec".into(),
            service: svc.key.clone(),
            reason: Some(line),
            container: Some(c.id.0.clone()),
            ..NewOp::default()
        })
        .map_err(|e| format!("exec refused: it is audited and the history cannot be written: {e}"))?;
    let result = crate::engine::shell::run(x.endpoint, &c.id, cmd.to_vec(), tty).await;
    match &result {
        Ok(code) => {
            let said = code.map_or_else(|| "exit code unknown".into(), |c| format!("exit code {c}"));
            let _ = store.note(record, &said);
            let _ = store.finish(record, Outcome::Succeeded, None, None);
        }
        Err(e) => {
            let _ = store.finish(record, Outcome::Failed, Some(&e.to_string()), None);
        }
    }
    result.map_err(|e| crate::logtext::clean(&e.to_string(), x.masker))
}
