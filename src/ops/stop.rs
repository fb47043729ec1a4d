//! Emergency stop and start.
//!
//! Stop: record -> kill switch on (a running deploy sees it and aborts) -> restart policy "no"
//! (neither a daemon restart nor a reboot brings it back) -> stop signal, grace, SIGKILL ->
//! confirm with the engine that nothing runs. Never blocked by a deploy lock.
//! Start: kill switch off -> the previous restart policy back -> start.

use super::{Ctx, Done, OpError, Progress};
use crate::domain::RunState;
use crate::state::history::Outcome;
use crate::store::{KillSwitch, NewOp};
use std::time::Instant;

pub async fn stop(
    ctx: &Ctx,
    target: &str,
    project: Option<&str>,
    reason: Option<String>,
    p: &mut Progress,
) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("stop")?;
    let (key, containers) = ctx.actions.resolve(target, project).await?;
    let store = ctx.store()?;
    let reason = reason.unwrap_or_else(|| "emergency stop".into());
    let image = containers.first().map(|c| c.image.clone());
    let id = store
        .begin(&NewOp {
            action: "stop".into(),
            service: key.clone(),
            from_image: image,
            reason: Some(reason.clone()),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(id);
    let started = Instant::now();
    let result = stop_inner(ctx, &store, &key, &containers, &reason, p).await;
    let elapsed = started.elapsed();
    match result {
        Ok(grace) => {
            let summary = format!(
                "{key} stopped in {:.1} s (stop signal, grace {grace} s, then SIGKILL); restart policy set to \"no\"",
                elapsed.as_secs_f64()
            );
            p.step(Some(&store), summary.clone());
            store.finish(id, Outcome::Succeeded, None, None).map_err(OpError::Failed)?;
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            p.step(Some(&store), format!("stop failed: {e}"));
            let _ = store.finish(id, Outcome::Failed, Some(&e.to_string()), None);
            Err(e)
        }
    }
}

async fn stop_inner(
    ctx: &Ctx,
    store: &crate::store::Store,
    key: &str,
    containers: &[crate::domain::Container],
    reason: &str,
    p: &mut Progress,
) -> Result<u32, OpError> {
    let first = containers.first().ok_or_else(|| OpError::Usage(format!("{key} has no container")))?;
    let previous_policy = match store.kill_switch(key).map_err(OpError::Failed)? {
        // Stopped before and not started since: keep the policy recorded then.
        Some(k) => k.previous_policy,
        None => ctx.actions.restart_policy(&first.id).await.map_err(OpError::Failed)?,
    };
    store
        .set_kill_switch(&KillSwitch {
            service: key.to_owned(),
            by: crate::store::actor(),
            at: jiff::Timestamp::now(),
            reason: reason.to_owned(),
            previous_policy: previous_policy.clone(),
        })
        .map_err(OpError::Failed)?;
    p.step(Some(store), format!("kill switch on for {key} (restart policy was \"{previous_policy}\")"));
    let cfg_grace = ctx.stack.service(&first.key).and_then(|s| s.stop_grace_secs);
    let mut grace = 0;
    let mut stops = Vec::new();
    for c in containers {
        ctx.actions.set_restart_policy(&c.id, "no").await.map_err(OpError::Failed)?;
        let g = match cfg_grace {
            Some(g) => g,
            None => ctx.actions.spec(&c.id).await.map(|s| s.stop_timeout).unwrap_or(10),
        };
        grace = grace.max(g);
        if c.state == RunState::Running || c.state == RunState::Restarting || c.state == RunState::Paused {
            p.step(Some(store), format!("stopping {} (grace {g} s)", c.name));
            let actions = ctx.actions.clone();
            let id = c.id.clone();
            stops.push(async move { (id.clone(), actions.stop(&id, g).await) });
        }
    }
    for (id, r) in futures::future::join_all(stops).await {
        if let Err(e) = r {
            p.step(Some(store), format!("stop of {} reported: {e}; sending SIGKILL", id.short()));
            ctx.actions.kill(&id).await.map_err(OpError::Failed)?;
        }
    }
    // Only the engine's word counts.
    for c in containers {
        let (state, _, _) = ctx.actions.health(&c.id).await.map_err(OpError::Failed)?;
        if matches!(state, RunState::Running | RunState::Restarting | RunState::Paused) {
            ctx.actions.kill(&c.id).await.map_err(OpError::Failed)?;
            let (state, _, _) = ctx.actions.health(&c.id).await.map_err(OpError::Failed)?;
            if matches!(state, RunState::Running | RunState::Restarting) {
                return Err(OpError::Failed(format!("{} is still {} after SIGKILL", c.name, state.as_str())));
            }
        }
    }
    Ok(grace)
}

pub async fn start(ctx: &Ctx, target: &str, project: Option<&str>, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("start")?;
    let (key, containers) = ctx.actions.resolve(target, project).await?;
    let _lock = crate::store::lock::ServiceLock::try_take(&ctx.state_dir, &key, "start").map_err(OpError::Refused)?;
    let store = ctx.store()?;
    let id = store
        .begin(&NewOp {
            action: "start".into(),
            service: key.clone(),
            to_image: containers.first().map(|c| c.image.clone()),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(id);
    let ks = store.clear_kill_switch(&key).map_err(OpError::Failed)?;
    let policy = ks.as_ref().map(|k| k.previous_policy.clone());
    let mut result = Ok(());
    for c in &containers {
        if let Some(pol) = &policy
            && let Err(e) = ctx.actions.set_restart_policy(&c.id, pol).await
        {
            result = Err(e);
            break;
        }
        p.step(Some(&store), format!("starting {}", c.name));
        if let Err(e) = ctx.actions.start(&c.id).await {
            result = Err(e);
            break;
        }
    }
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
            let _ = store.finish(id, Outcome::Failed, Some(&e), None);
            Err(OpError::Failed(e))
        }
    }
}
