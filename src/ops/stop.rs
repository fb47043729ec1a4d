//! The emergency stop, and the hold that enforces it.
//!
//! Stop: record -> kill switch on (a running deploy sees it and aborts) -> keep how each
//! instance is created (a prune cannot take the service away) -> the halt hook, within its own
//! limit -> the backend halts the service (restart policy "no", stop signal, grace, SIGKILL,
//! verified with the engine). Never blocked by a deploy lock. When the history store cannot be
//! written, the stop happens anyway and goes to the fallback journal.
//! Start (clearing the stop) is in `start.rs`.

use super::{Ctx, Progress, Sink};
use crate::domain::{Done, KillSwitch, OpError, Outcome, RestartPolicy, ServiceKey};
use crate::store::{Finish, NewOp, Store, journal};
use std::time::Instant;

/// Stop every target at once; each has its own record and progress.
pub(super) async fn stop_all(
    ctx: &Ctx,
    targets: &[String],
    reason: Option<&str>,
    sink: &Sink,
) -> Result<Done, OpError> {
    if targets.is_empty() {
        return Err(OpError::Usage("stop needs at least one service".into()));
    }
    let runs = targets.iter().map(|t| {
        let mut p = ctx.progress(sink);
        async move { stop(ctx, t, reason, &mut p).await }
    });
    let results = futures::future::join_all(runs).await;
    if results.len() == 1 {
        return results.into_iter().next().expect("one result");
    }
    let mut lines = Vec::new();
    let mut worst: Option<OpError> = None;
    for (t, r) in targets.iter().zip(results) {
        match r {
            Ok(d) => lines.push(d.summary),
            Err(e) => {
                lines.push(format!("{t}: FAILED: {e}"));
                if worst.as_ref().is_none_or(|w| e.exit_code() == 1 || w.exit_code() != 1) {
                    worst = Some(e);
                }
            }
        }
    }
    let text = lines.join("; ");
    match worst {
        None => Ok(Done { outcome: Outcome::Succeeded, summary: text }),
        Some(OpError::Usage(_)) => Err(OpError::Usage(text)),
        Some(OpError::Refused(_)) => Err(OpError::Refused(text)),
        Some(OpError::Failed(_)) => Err(OpError::Failed(text)),
    }
}

async fn stop(ctx: &Ctx, target: &str, reason: Option<&str>, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("stop")?;
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let key = svc.key.clone();
    let settings = ctx.stack.settings(&ServiceKey::parse(&key));
    let reason = reason.unwrap_or("emergency stop").to_owned();
    let started_at = jiff::Timestamp::now();
    // The store is consulted, never waited on: a broken or locked one does not keep the bot
    // running. What it cannot take goes to the fallback journal.
    let mut unrecorded: Vec<String> = Vec::new();
    let store = match Store::open_for_stop(&ctx.state_dir) {
        Ok(s) => Some(s.with_masker(ctx.stack.masker.clone())),
        Err(e) => {
            p.step(None, format!("WARNING: the history store is unusable ({e}): stopping anyway"));
            unrecorded.push(e);
            None
        }
    };
    let first = svc.instances.first();
    let record = store.as_ref().and_then(|s| {
        s.begin(&NewOp {
            action: "stop".into(),
            service: key.clone(),
            from_image: first.map(|c| c.image.clone()),
            from_image_id: first.map(|c| c.image_id.clone()),
            reason: Some(reason.clone()),
            container: Some(svc.instances.iter().map(|c| c.id.0.clone()).collect::<Vec<_>>().join(",")),
            digest: first.map(|c| c.image_id.clone()),
            ..NewOp::default()
        })
        .map_err(|e| {
            p.step(None, format!("WARNING: cannot record the stop ({e}): stopping anyway"));
            unrecorded.push(e);
        })
        .ok()
    });
    p.record = record;
    let started = Instant::now();
    let latch = latch(ctx, store.as_ref(), &svc, &reason, p).await;
    match (&latch.1, &store) {
        (Ok(()), Some(s)) => {
            p.step(Some(s), format!("kill switch on for {key} (restart policy was \"{}\")", latch.0.previous_policy))
        }
        (Err(e), _) => unrecorded.push(format!("kill switch: {e}")),
        (Ok(()), None) => {}
    }
    // On Swarm the service's spec is how its tasks come back: nothing to keep per instance.
    if let Some(s) = store.as_ref().filter(|_| !ctx.backend.orchestrated()) {
        keep_recipes(ctx, s, &svc, p).await;
    }
    // Layer one: the service is told to stand down, within the hook's own limit.
    let hook = match &settings.halt {
        Some(h) if svc.instances.iter().any(|c| c.state == crate::domain::RunState::Running) => {
            let done = super::halt::run(ctx, &svc, h).await;
            p.step(store.as_ref(), done.line.clone());
            if let Some(s) = &store {
                let _ = s.set_halt(&key, &done.line);
            }
            Some(done)
        }
        _ => None,
    };
    let before_signal = started.elapsed();
    let result = ctx.backend.halt(&svc, settings.stop_grace, p).await;
    if let Some(s) = &store {
        p.flush(s);
    }
    let elapsed = started.elapsed();
    // What stackdeck did, and what it did not: stopping a process cancels no resting order.
    let said = match &hook {
        Some(h) if h.ok => format!("; {}", h.line),
        Some(h) => format!("; {}; open orders and positions are unknown to stackdeck: check the exchange", h.line),
        None if settings.kill_switch => {
            "; open orders and positions are unknown to stackdeck: check the exchange".to_owned()
        }
        None => String::new(),
    };
    let (outcome, summary) = match &result {
        Ok(h) if ctx.backend.orchestrated() => (
            Outcome::Succeeded,
            format!(
                "{key} stopped in {:.1} s: no task of it runs on any node (Swarm's stop signal, grace {} s); {} kept for start{said}",
                elapsed.as_secs_f64(),
                h.grace,
                latch.0.previous_policy
            ),
        ),
        Ok(h) => (
            Outcome::Succeeded,
            format!(
                "{key} stopped in {:.1} s (stop signal, grace {} s, then SIGKILL); restart policy set to \"no\"{said}",
                elapsed.as_secs_f64(),
                h.grace
            ),
        ),
        Err(e) => (Outcome::Failed, format!("stop failed: {e}{said}")),
    };
    p.step(store.as_ref(), summary.clone());
    let why = result.as_ref().err().map(ToString::to_string);
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let phases = result.as_ref().ok().map(|h| {
        serde_json::json!({
            "halt_ms": hook.as_ref().map(|h| ms(h.elapsed)),
            "halt_ok": hook.as_ref().map(|h| h.ok),
            "signal_ms": ms(before_signal + h.signalled),
            "exited_ms": ms(before_signal + h.exited),
            "verified_ms": ms(before_signal + h.verified),
        })
    });
    if let (Some(s), Some(id)) = (&store, record) {
        let fin = Finish { outcome, reason: why.as_deref(), to_image_id: None, digest: None, phases };
        if let Err(e) = s.finish_with(id, &fin) {
            unrecorded.push(e);
        }
    }
    let mut summary = summary;
    if !unrecorded.is_empty() {
        let entry = journal::Entry {
            // The row, when it was begun: the import finishes it instead of adding another.
            record,
            to_image_id: None,
            action: "stop".into(),
            service: key.clone(),
            from_image: first.map(|c| c.image.clone()),
            reason: Some(reason.clone()),
            actor: crate::store::actor(),
            host: crate::store::hostname(),
            pid: std::process::id(),
            started_at: started_at.to_string(),
            finished_at: Some(jiff::Timestamp::now().to_string()),
            outcome: outcome.as_str().into(),
            transcript: vec![summary.clone()],
            kill_switch: Some(journal::Latch {
                halt: hook.as_ref().map(|h| h.line.clone()),
                ..journal::Latch::of(&latch.0)
            }),
        };
        let note = match journal::append(&ctx.state_dir, &entry) {
            Ok(path) => format!(
                "recorded in the fallback journal {} (imported when the history store opens again; the store could not take it: {})",
                path.display(),
                unrecorded.join("; ")
            ),
            Err(e) => format!(
                "NOT RECORDED: neither the history store ({}) nor the fallback journal ({e}) could be written; the record: {}",
                unrecorded.join("; "),
                serde_json::to_string(&entry).unwrap_or_default()
            ),
        };
        p.step(None, format!("WARNING: {note}"));
        summary.push_str(&format!("; WARNING: {note}"));
    }
    match result {
        Ok(_) => Ok(Done { outcome, summary }),
        Err(e) => Err(e.into()),
    }
}

/// Keep how each instance is created, so that `start` can bring back one that is removed while
/// the service is latched. A stop that was already latched keeps what it recorded then (the
/// instances may be gone by now).
async fn keep_recipes(ctx: &Ctx, store: &Store, svc: &crate::backend::Service, p: &mut Progress) {
    for c in &svc.instances {
        match ctx.backend.recipe(c).await {
            Ok(r) => {
                let kept =
                    serde_json::json!({"grace": r.grace, "image": c.image, "image_id": c.image_id, "config": r.config});
                if let Err(e) = store.record_instance(&svc.key, &r.name, &kept) {
                    p.step(None, format!("WARNING: cannot keep the configuration of {}: {e}", c.name));
                }
            }
            Err(e) => p.step(None, format!("WARNING: cannot read the configuration of {}: {e}", c.name)),
        }
    }
}

/// The kill switch for `svc` (keeping the restart policy to restore on start), and whether the
/// store took it.
async fn latch(
    ctx: &Ctx,
    store: Option<&Store>,
    svc: &crate::backend::Service,
    reason: &str,
    p: &mut Progress,
) -> (KillSwitch, Result<(), String>) {
    // Stopped before and not started since: keep the policy recorded then.
    let earlier = store.and_then(|s| s.kill_switch(&svc.key).ok().flatten());
    let previous_policy = match earlier {
        Some(k) => k.previous_policy,
        None => match ctx.backend.restart_policy(svc).await {
            Ok(pol) => pol,
            Err(e) => {
                p.step(None, format!("WARNING: cannot read the restart policy ({e}): start will leave it at \"no\""));
                RestartPolicy::No
            }
        },
    };
    let k = KillSwitch {
        service: svc.key.clone(),
        by: crate::store::actor(),
        at: jiff::Timestamp::now(),
        reason: reason.to_owned(),
        previous_policy,
        halt: None,
    };
    let stored = match store {
        Some(s) => s.set_kill_switch(&k),
        None => Err("no history store".into()),
    };
    (k, stored)
}

/// Hold a latch: a container of an emergency-stopped service runs again although nobody started
/// the service through stackdeck. Stop it again at once and record it as its own row. Needs
/// nothing but the engine to act; the record is made as well as the store allows.
pub(super) async fn hold(ctx: &Ctx, target: &str, container: &str, p: &mut Progress) -> Result<Done, OpError> {
    let seen = Instant::now();
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let store = Store::open_for_stop(&ctx.state_dir).map(|s| s.with_masker(ctx.stack.masker.clone())).ok();
    let latch = store.as_ref().and_then(|s| s.kill_switch(&svc.key).ok().flatten());
    let Some(latch) = latch else {
        return Ok(Done { outcome: Outcome::Succeeded, summary: format!("{} is not emergency-stopped", svc.key) });
    };
    let Some(c) = svc.instances.iter().find(|c| c.id.0 == container).cloned() else {
        return Ok(Done { outcome: Outcome::Succeeded, summary: format!("{container} is gone") });
    };
    if !matches!(c.state, crate::domain::RunState::Running | crate::domain::RunState::Restarting) {
        return Ok(Done { outcome: Outcome::Succeeded, summary: format!("{} is not running", c.name) });
    }
    // Every panel and the guard see the same start: one of them holds it (and records it).
    let started_ms = c.started_at.map_or(0, jiff::Timestamp::as_millisecond);
    // On a shared store the claim is the team's (a panel on a laptop and the guard on the
    // server); a claim that cannot be written does not stop the hold.
    let event = format!("{}-{started_ms}", c.id.0);
    let first = match store.as_ref().filter(|s| s.is_shared()) {
        Some(s) => s.claim(&event).unwrap_or(true),
        None => claim(&ctx.state_dir, &event),
    };
    if !first {
        return Ok(Done { outcome: Outcome::Succeeded, summary: format!("{} is held by another stackdeck", c.name) });
    }
    // Held at once: the configured grace, else none (a bot running against its latch must not
    // trade on while it winds down).
    let grace = ctx.stack.settings(&ServiceKey::parse(&svc.key)).stop_grace.unwrap_or(0);
    let one = crate::backend::Service { key: svc.key.clone(), instances: vec![c.clone()] };
    let result = ctx.backend.halt(&one, Some(grace), p).await;
    let started = c.started_at.map_or_else(|| "?".to_owned(), |t| t.strftime("%H:%M:%S").to_string());
    let summary = match &result {
        Ok(_) => format!(
            "{BLOCKED}: {} of {} (emergency-stopped by {}: {}) started at {started}, stopped again {} ms after stackdeck saw it",
            c.name,
            svc.key,
            latch.by,
            latch.reason,
            seen.elapsed().as_millis()
        ),
        Err(e) => format!("restart of {} NOT blocked: {e}", c.name),
    };
    if let Some(s) = &store {
        let op = NewOp {
            action: "restart-blocked".into(),
            service: svc.key.clone(),
            from_image: Some(c.image.clone()),
            reason: Some(format!("container {} started at {started} while emergency-stopped", c.name)),
            ..NewOp::default()
        };
        match s.begin(&op) {
            Ok(id) => {
                p.record = Some(id);
                p.step(Some(s), summary.clone());
                let outcome = if result.is_ok() { Outcome::Succeeded } else { Outcome::Failed };
                if let Err(e) = s.finish(id, outcome, None, None) {
                    p.step(None, format!("WARNING: {e}"));
                }
            }
            Err(e) => p.step(None, format!("WARNING: not recorded: {e}")),
        }
    }
    match result {
        Ok(_) => Ok(Done { outcome: Outcome::Succeeded, summary }),
        Err(_) => Err(OpError::Failed(summary)),
    }
}

/// How the summary of a hold that stopped a container begins (the one worth a webhook).
pub(super) const BLOCKED: &str = "restart blocked";

/// Claim one event (a container's start) for this process: `false` when another stackdeck
/// claimed it first. A state dir that cannot take the claim does not stop the hold.
fn claim(state_dir: &std::path::Path, event: &str) -> bool {
    let dir = state_dir.join("holds");
    if std::fs::create_dir_all(&dir).is_err() {
        return true;
    }
    // Claims older than a day are of no use to anyone.
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.filter_map(Result::ok) {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a.as_secs() > 86_400);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let name: String = event.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    match std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(name)) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AlreadyExists,
    }
}
