//! Emergency stop and start.
//!
//! Stop: record -> kill switch on (a running deploy sees it and aborts) -> the backend halts the
//! service (restart policy "no", stop signal, grace, SIGKILL, verified with the engine). Never
//! blocked by a deploy lock. When the history store cannot be written, the stop happens anyway
//! and says that it was not recorded.
//! Start: kill switch off -> the backend resumes the service with its previous restart policy.

use super::{Ctx, Progress, Sink};
use crate::domain::{Done, KillSwitch, OpError, Outcome, ServiceKey};
use crate::store::{NewOp, Store, lock::ServiceLock};
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
        let mut p = Progress::new(sink.clone());
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
    let reason = reason.unwrap_or("emergency stop").to_owned();
    // The store is consulted, never waited on: a broken one does not keep the bot running.
    let store = match ctx.store() {
        Ok(s) => Some(s),
        Err(e) => {
            p.step(None, format!("WARNING: the history store is unusable ({e}): stopping anyway, NOT recorded"));
            None
        }
    };
    let record = store.as_ref().and_then(|s| {
        s.begin(&NewOp {
            action: "stop".into(),
            service: key.clone(),
            from_image: svc.instances.first().map(|c| c.image.clone()),
            reason: Some(reason.clone()),
            ..NewOp::default()
        })
        .map_err(|e| p.step(None, format!("WARNING: cannot record the stop ({e}): stopping anyway")))
        .ok()
    });
    p.record = record;
    let started = Instant::now();
    let latched = latch(ctx, store.as_ref(), &svc, &reason, p).await;
    let grace = ctx.stack.settings(&ServiceKey::parse(&key)).stop_grace;
    let result = ctx.backend.halt(&svc, grace, p).await;
    if let Some(s) = &store {
        p.flush(s);
    }
    let elapsed = started.elapsed();
    let finish = |outcome, why: Option<&str>| {
        if let (Some(s), Some(id)) = (&store, record) {
            let _ = s.finish(id, outcome, why, None);
        }
    };
    match result {
        Ok(grace) => {
            let mut summary = format!(
                "{key} stopped in {:.1} s (stop signal, grace {grace} s, then SIGKILL); restart policy set to \"no\"",
                elapsed.as_secs_f64()
            );
            if let Err(e) = latched {
                summary.push_str(&format!("; WARNING: the kill switch could not be recorded ({e})"));
            }
            p.step(store.as_ref(), summary.clone());
            finish(Outcome::Succeeded, None);
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            p.step(store.as_ref(), format!("stop failed: {e}"));
            finish(Outcome::Failed, Some(&e.to_string()));
            Err(e.into())
        }
    }
}

/// Turn the kill switch on, keeping the restart policy to restore on start.
async fn latch(
    ctx: &Ctx,
    store: Option<&Store>,
    svc: &crate::backend::Service,
    reason: &str,
    p: &mut Progress,
) -> Result<(), String> {
    let store = store.ok_or("no history store")?;
    let previous_policy = match store.kill_switch(&svc.key)? {
        // Stopped before and not started since: keep the policy recorded then.
        Some(k) => k.previous_policy,
        None => ctx.backend.restart_policy(svc).await.map_err(|e| e.to_string())?,
    };
    store.set_kill_switch(&KillSwitch {
        service: svc.key.clone(),
        by: crate::store::actor(),
        at: jiff::Timestamp::now(),
        reason: reason.to_owned(),
        previous_policy,
    })?;
    p.step(Some(store), format!("kill switch on for {} (restart policy was \"{previous_policy}\")", svc.key));
    Ok(())
}

pub(super) async fn start(ctx: &Ctx, target: &str, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("start")?;
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let key = svc.key.clone();
    let _lock = ServiceLock::try_take(&ctx.state_dir, &key, "start").map_err(OpError::Refused)?;
    let store = ctx.store()?;
    let id = store
        .begin(&NewOp {
            action: "start".into(),
            service: key.clone(),
            to_image: svc.instances.first().map(|c| c.image.clone()),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(id);
    let ks = store.clear_kill_switch(&key).map_err(OpError::Failed)?;
    let policy = ks.as_ref().map(|k| k.previous_policy);
    let result = ctx.backend.resume(&svc, policy, p).await;
    p.flush(&store);
    match result {
        Ok(()) => {
            let summary = match policy {
                Some(pol) => format!("{key} started; restart policy \"{pol}\" restored"),
                None => format!("{key} started"),
            };
            p.step(Some(&store), summary.clone());
            store.finish(id, Outcome::Succeeded, None, None).map_err(OpError::Failed)?;
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            // Keep the kill switch if the start failed: the banner must not lie.
            if let Some(k) = ks {
                let _ = store.set_kill_switch(&k);
            }
            let _ = store.finish(id, Outcome::Failed, Some(&e.to_string()), None);
            Err(e.into())
        }
    }
}
