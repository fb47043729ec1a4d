//! Start-first replace (issue 13 part 2): the new container starts next to the old one under a
//! temporary name, passes the gate (health, probe, monitor window, smoke checks), and only then
//! is the old one stopped and removed and the new one given its name. A failed gate removes the
//! new container and the old one never stopped serving; `failure_action: pause` leaves both for
//! the operator. An emergency stop wins at every step (it halts both instances).

use super::gate::{Stopped, abort_reason, gate, healthy_now};
use super::strategy::{Strategy, SwapError};
use super::{Ctx, Progress, retry};
use crate::compose::FailureAction;
use crate::config::stack::ServiceSettings;
use crate::domain::Container;
use crate::store::Store;
use tokio_util::sync::CancellationToken;

#[allow(clippy::too_many_arguments)]
pub(super) async fn swap_beside(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    old: &Container,
    image: &str,
    cfg: &ServiceSettings,
    strategy: &Strategy,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), SwapError> {
    let b = &ctx.backend;
    if let Some(why) = abort_reason(store, key, cancel) {
        return Err(SwapError::Interrupted(why));
    }
    p.step(Some(store), format!("starting the new container next to {} (start-first) with image {image}", old.name));
    let (retired, new) = retry(p, "starting the new container", || b.launch_beside(old, image))
        .await
        .map_err(|e| SwapError::Failed(format!("the new container did not start: {e} (the old one kept serving)")))?;
    p.step(Some(store), "started the new container beside the old one; health gate:".to_owned());
    match super::monitor::full_gate(ctx, store, key, &new, cfg, p, cancel).await {
        Ok(()) => {
            p.step(Some(store), "the new container passed: it joins the service's network name".to_owned());
            if let Err(e) = retry(p, "joining the service's network name", || b.admit(&new, &retired)).await {
                let _ = retry(p, "removing the new container", || b.discard(&new, retired.grace)).await;
                return Err(SwapError::Failed(format!(
                    "the new container could not join the service's network name: {e}; removed (the old one kept serving)"
                )));
            }
            p.committed();
            p.step(Some(store), format!("stopping and removing the old container (grace {} s)", retired.grace));
            retry(p, "removing the old container", || b.discard(&old.id, retired.grace))
                .await
                .map_err(|e| SwapError::Failed(format!("deployed, but the old container could not be removed: {e}")))?;
            retry(p, "naming the new container", || b.promote(&new, &retired.name)).await.map_err(|e| {
                SwapError::Failed(format!(
                    "deployed, but the new container could not take the name {}: {e} (stackdeck recover {key} does it)",
                    retired.name
                ))
            })?;
            p.step(Some(store), format!("the new container is {} now", retired.name));
            let settle = b.address_settle();
            if !settle.is_zero() {
                p.step(
                    Some(store),
                    format!(
                        "holding the service {} s: the old container's address is free again, and a connection that looked the name up just before may still be on its way to it",
                        settle.as_secs()
                    ),
                );
                // The operator's cancel ends it; the emergency stop never waits for it.
                tokio::select! {
                    () = tokio::time::sleep(settle) => {}
                    () = cancel.cancelled() => {}
                }
            }
            Ok(())
        }
        Err(Stopped::Aborted(why)) => {
            p.step(Some(store), format!("aborting: {why}"));
            let _ = retry(p, "removing the new container", || b.discard(&new, retired.grace)).await;
            Err(SwapError::Interrupted(why))
        }
        Err(Stopped::Unhealthy(why)) if strategy.failure_action == FailureAction::Pause => {
            super::gate::record_last_words(ctx, store, &new, p).await;
            p.step(
                Some(store),
                format!(
                    "gate failed: {why}; failure_action is pause: the new container is left running beside the old one for a look (stackdeck recover {key} removes it)"
                ),
            );
            Err(SwapError::Paused(why))
        }
        Err(Stopped::Unhealthy(why)) => {
            p.step(Some(store), format!("gate failed: {why}; removing the new container (the old one kept serving)"));
            super::gate::record_last_words(ctx, store, &new, p).await;
            retry(p, "removing the failed container", || b.discard(&new, retired.grace))
                .await
                .map_err(|e| SwapError::Failed(format!("{why}; and the failed container could not be removed: {e}")))?;
            let fine = healthy_now(ctx, &old.id, cfg).await;
            p.step(
                Some(store),
                if fine {
                    "the old container is healthy".to_owned()
                } else {
                    "WARNING: the old container is not healthy now".to_owned()
                },
            );
            Err(SwapError::RolledBack(why))
        }
    }
}

/// After a start-first deploy was interrupted: a new container under the temporary name is
/// left. Beside the old one it never replaced it: removed (and the old one started again if it
/// was stopped, unless the service is emergency-stopped). Alone, it passed its gate and lost
/// the old one before it took the name: it takes the name now and is gated again.
pub(super) async fn recover_next(
    ctx: &Ctx,
    svc: &crate::backend::Service,
    p: &mut Progress,
) -> Result<crate::domain::Done, crate::domain::OpError> {
    use crate::domain::{Done, NEXT_SUFFIX, OpError, Outcome, RunState};
    let b = &ctx.backend;
    let key = &svc.key;
    let store = ctx.store()?;
    let (nexts, others): (Vec<&Container>, Vec<&Container>) = svc.instances.iter().partition(|c| c.is_next());
    let record = store
        .begin(&crate::store::NewOp {
            action: "recover".into(),
            service: key.clone(),
            reason: Some("an interrupted start-first deploy left its new container".into()),
            ..crate::store::NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let latched = super::gate::latched(&store, key);
    let result: Result<String, String> = async {
        if others.is_empty() {
            let [next] = nexts.as_slice() else {
                return Err(format!(
                    "{} containers under the temporary name: remove all but one with docker rm",
                    nexts.len()
                ));
            };
            let name = next.name.strip_suffix(NEXT_SUFFIX).unwrap_or(&next.name).to_owned();
            p.step(
                Some(&store),
                format!("{} passed its gate and the old container is gone: it takes the name {name}", next.name),
            );
            retry(p, "naming it", || b.promote(&next.id, &name)).await.map_err(|e| e.to_string())?;
            if let Some(stop) = latched {
                let svc1 = crate::backend::Service { key: key.clone(), instances: vec![(*next).clone()] };
                b.halt(&svc1, None, p).await.map_err(|e| e.to_string())?;
                return Ok(format!("{name} has its name back, stopped: {stop}"));
            }
            let cfg = ctx.stack.settings(&next.key);
            return match gate(ctx, &store, key, &next.id, &cfg, p, &CancellationToken::new()).await {
                Ok(()) => Ok(format!("recovered {key}: {name} passed the gate")),
                Err(Stopped::Aborted(w) | Stopped::Unhealthy(w)) => {
                    Err(format!("{name} has its name but did not pass the gate: {w}"))
                }
            };
        }
        for n in &nexts {
            p.step(Some(&store), format!("removing {} ({}): it never replaced the old container", n.name, n.image));
            retry(p, "removing it", || b.discard(&n.id, 10)).await.map_err(|e| e.to_string())?;
        }
        let stopped: Vec<Container> =
            others.iter().filter(|c| c.state != RunState::Running).map(|c| (*c).clone()).collect();
        if !stopped.is_empty() && latched.is_none() {
            let svc1 = crate::backend::Service { key: key.clone(), instances: stopped };
            b.resume(&svc1, None, p).await.map_err(|e| e.to_string())?;
        }
        Ok(format!("recovered {key}: the old container serves, the never-promoted one is removed"))
    }
    .await;
    let (outcome, text) = match &result {
        Ok(t) => (Outcome::Succeeded, t.clone()),
        Err(t) => (Outcome::Failed, t.clone()),
    };
    p.step(Some(&store), text.clone());
    let _ = store.finish(record, outcome, (outcome != Outcome::Succeeded).then_some(text.as_str()), None);
    result.map(|summary| Done { outcome, summary }).map_err(OpError::Failed)
}
