//! Health-gated deploy with automatic rollback, and rollback to the last image that passed a
//! gate (same path).
//!
//! Never two instances of a service at once: the backend retires the old instance first (stopped
//! and kept aside) until the new one passes the gate; a failed gate reinstates it and gates it
//! again. An emergency stop of the service (from any process) aborts the deploy between steps
//! and during the gate. The operator can cancel until the old instance is removed.

use super::gate::{Stopped, abort_reason, gate, healthy_now, latched};
use super::strategy::SwapError;
pub(super) use super::target::{Kind, To, target_image};
use super::{Ctx, Progress, retry};
use crate::backend::{Retired, Service};
use crate::config::stack::ServiceSettings;
use crate::domain::{Container, ContainerId, Done, OpError, OpRequest, Outcome, ServiceKey, short_image_id};
use crate::store::{NewOp, Store, lock::ServiceLock};
use tokio_util::sync::CancellationToken;

/// One service's deploy, its service locked and checked by the caller.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub kind: Kind,
    pub key: String,
    pub old: Container,
    pub to: To,
    /// The operator accepted stop-first where start-first is not possible.
    pub stop_first_ok: bool,
    /// The release this deploy is a part of.
    pub parent: Option<i64>,
}

/// Deploy `image` (or, for a rollback, the last image that passed a gate) to `target`.
pub(super) async fn run(
    ctx: &Ctx,
    request: &OpRequest,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    let (kind, target, to, stop_first_ok) = match request {
        OpRequest::Deploy { target, image, stop_first } => {
            (Kind::Deploy, target, To::Image(image.clone()), *stop_first)
        }
        OpRequest::Rollback { target } => (Kind::Rollback, target, To::LastGood, false),
        other => return Err(OpError::Usage(format!("{} is not a deploy", other.title()))),
    };
    ctx.refuse_if_read_only(kind.name())?;
    refuse_remote_unshared(ctx, kind.name())?;
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let key = svc.key.clone();
    // The lock first: during another deploy the service briefly has two containers.
    let _lock = ServiceLock::try_take(&ctx.state_dir, &key, kind.name()).map_err(OpError::Refused)?;
    if ctx.backend.orchestrated() {
        if stop_first_ok {
            return Err(OpError::Usage(
                "--stop-first is for compose services; on Swarm the service's update_config orders the update".into(),
            ));
        }
        let store = ctx.store()?;
        refuse_latched(&store, &key)?;
        return super::swarm_deploy::one(ctx, &store, kind, &svc, &to, None, p, cancel).await;
    }
    let old = single(&svc, kind.name())?;
    let store = ctx.store()?;
    refuse_latched(&store, &key)?;
    let plan = Plan { kind, key, old, to, stop_first_ok, parent: None };
    one(ctx, &store, plan, p, cancel).await
}

/// Two laptops deploying one service: each would hold only its own lock and history.
pub(super) fn refuse_remote_unshared(ctx: &Ctx, what: &str) -> Result<(), OpError> {
    if crate::domain::is_remote(ctx.backend.endpoint()) && !ctx.local_state && crate::store::shared::current().is_none()
    {
        return Err(OpError::Refused(format!(
            "{what} refused: the engine is remote and the history and locks are this machine's only (another operator's deploy would not be seen); run stackdeck on the server, set [state] url to the team's store, or give --local-state"
        )));
    }
    Ok(())
}

/// Recover puts back a container a deploy left aside: on Swarm there is none (Swarm keeps the
/// old tasks itself), so it is refused, saying what works.
pub(super) fn refuse_orchestrated(ctx: &Ctx, what: &str) -> Result<(), OpError> {
    if ctx.backend.orchestrated() {
        return Err(OpError::Refused(format!(
            "{what} refused: the engine is a Swarm manager, where a deploy leaves no container aside (Swarm replaces the tasks itself); stackdeck rollback SERVICE goes back to the last gated image"
        )));
    }
    Ok(())
}

/// The service's one container (a deploy replaces one container).
pub(super) fn single(svc: &Service, what: &str) -> Result<Container, OpError> {
    let key = &svc.key;
    match svc.instances.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(OpError::Usage(format!("{key} has no container"))),
        many => {
            let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
            let hint = if many.iter().any(crate::domain::Container::is_leftover) {
                format!(": an interrupted deploy left one aside; `stackdeck recover {key}` puts it back")
            } else {
                String::new()
            };
            Err(OpError::Usage(format!(
                "{key} has {} containers ({}); {what} handles services with one container{hint}",
                many.len(),
                names.join(", "),
            )))
        }
    }
}

/// A deploy never starts an emergency-stopped service.
pub(super) fn refuse_latched(store: &Store, key: &str) -> Result<(), OpError> {
    match store.kill_switch(key).map_err(OpError::Failed)? {
        Some(k) => Err(OpError::Refused(format!(
            "{key} was emergency-stopped by {} at {}: {}; start it first (stackdeck start {key})",
            k.by,
            k.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            k.reason
        ))),
        None => Ok(()),
    }
}

/// Carry out one deploy: record it, choose the strategy, replace the container behind the gate,
/// record how it ended.
pub(super) async fn one(
    ctx: &Ctx,
    store: &Store,
    plan: Plan,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    let Plan { kind, ref key, ref old, .. } = plan;
    if kind == Kind::Deploy {
        baseline(ctx, store, key, old, p).await;
    }
    let (to_ref, to_id) = target_image(ctx, store, key, &plan.to, &old.image_id, p).await?;
    let record = store
        .begin(&NewOp {
            action: kind.name().into(),
            service: key.clone(),
            from_image: Some(old.image.clone()),
            from_image_id: Some(old.image_id.clone()),
            to_image: Some(to_ref.clone()),
            reason: None,
            container: Some(old.id.0.clone()),
            digest: Some(old.image_id.clone()),
            parent: plan.parent,
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    p.step(
        Some(store),
        format!(
            "{} {key}: {} ({}) -> {to_ref} ({})",
            kind.name(),
            old.image,
            short_image_id(&old.image_id),
            short_image_id(&to_id)
        ),
    );
    // Create with a reference that names exactly this image, so `docker ps` shows a name:
    // the reference itself while it still points here, else our keep tag, else the id.
    let keep = ctx.backend.kept_reference(key, &to_id);
    let create_ref = if ctx.backend.image_id(&to_ref).await.ok().flatten().as_deref() == Some(to_id.as_str()) {
        to_ref.clone()
    } else if ctx.backend.image_id(&keep).await.ok().flatten().as_deref() == Some(to_id.as_str()) {
        keep
    } else {
        to_id.clone()
    };
    let mut cfg = ctx.stack.settings(&ServiceKey::parse(key));
    let strategy =
        match super::strategy::resolve(ctx, old, &cfg, kind == Kind::Rollback, plan.stop_first_ok, store, p).await {
            Ok(s) => s,
            Err(e) => {
                // The reason is the row's (and the caller prints it once).
                let _ = store.finish(record, Outcome::Failed, Some(&e.to_string()), None);
                return Err(e);
            }
        };
    cfg.monitor = strategy.monitor;
    // Stackdeck must not exit half-way: the record is finished on every path below.
    let result = match strategy.order {
        crate::compose::Order::StartFirst => {
            super::startfirst::swap_beside(ctx, store, key, old, &create_ref, &cfg, &strategy, p, cancel).await
        }
        crate::compose::Order::StopFirst => swap(ctx, store, key, old, &create_ref, &cfg, &strategy, p, cancel).await,
    };
    let name = kind.name();
    let (outcome, reason, error) = match result {
        Ok(()) => {
            protect(ctx, key, &to_id, p, store).await;
            let summary = format!("{name} of {key} to {to_ref} succeeded");
            p.step(Some(store), summary.clone());
            if let Err(e) = store.finish(record, Outcome::Succeeded, None, Some(&to_id)) {
                p.step(None, format!("WARNING: {e}"));
            }
            return Ok(Done { outcome: Outcome::Succeeded, summary });
        }
        Err(SwapError::RolledBack(reason)) => {
            let e = format!("{name} of {key} to {to_ref} rolled back: {reason}");
            (Outcome::RolledBack, reason, e)
        }
        Err(SwapError::Paused(reason)) => {
            let e = format!(
                "{name} of {key} to {to_ref} paused (failure_action: pause): {reason}; both containers are left as they are: stackdeck recover {key} goes back"
            );
            (Outcome::Paused, reason, e)
        }
        Err(SwapError::Interrupted(reason)) => {
            let e = format!("{name} of {key} aborted: {reason}");
            (Outcome::Interrupted, reason, e)
        }
        Err(SwapError::Failed(reason)) => {
            p.step(Some(store), format!("FAILED: {reason}"));
            let e = format!("{name} of {key} failed: {reason}");
            (Outcome::Failed, reason, e)
        }
    };
    let _ = store.finish(record, outcome, Some(&reason), Some(&to_id));
    Err(OpError::Failed(error))
}

/// Stop-first: retire the old instance, launch the new one, gate it; on failure reinstate the
/// old one (or, with failure action pause, leave both as they are).
#[allow(clippy::too_many_arguments)]
async fn swap(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    old: &Container,
    image: &str,
    cfg: &ServiceSettings,
    strategy: &super::strategy::Strategy,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), SwapError> {
    let b = &ctx.backend;
    if let Some(why) = abort_reason(store, key, cancel) {
        return Err(SwapError::Interrupted(why));
    }
    p.step(Some(store), format!("stopping the old container {} (grace {})", old.name, grace_text(cfg.stop_grace)));
    let retired = retry(p, "stopping the old container", || b.retire(old, cfg.stop_grace))
        .await
        .map_err(|e| SwapError::Failed(e.to_string()))?;
    if let Some(why) = abort_reason(store, key, cancel) {
        // Put the old instance back under its name: the abort wants the service down
        // (emergency stop) or untouched (cancel before anything new ran: start it again).
        return match bring_back(ctx, store, key, &retired, p).await {
            Ok(()) => Err(SwapError::Interrupted(why)),
            Err(e) => Err(e),
        };
    }
    p.step(Some(store), format!("creating {} from its own configuration with image {image}", retired.name));
    let new = match b.launch(&retired, image).await {
        Ok(id) => id,
        Err(e) => {
            bring_back(ctx, store, key, &retired, p).await?;
            return Err(SwapError::Failed(format!("the new container did not start: {e} (old container restarted)")));
        }
    };
    p.step(Some(store), "started the new container; health gate:".to_owned());
    match super::monitor::full_gate(ctx, store, key, &new, cfg, p, cancel).await {
        Ok(()) => {
            p.committed();
            retry(p, "removing the old container", || b.commit(&retired))
                .await
                .map_err(|e| SwapError::Failed(format!("deployed, but the old container could not be removed: {e}")))?;
            p.step(Some(store), "removed the old container".to_owned());
            Ok(())
        }
        Err(Stopped::Aborted(why)) => {
            p.step(Some(store), format!("aborting: {why}"));
            let _ = retry(p, "removing the new container", || b.discard(&new, retired.grace)).await;
            let _ = retry(p, "putting the old container back", || b.reinstate(&retired, false)).await;
            Err(SwapError::Interrupted(why))
        }
        Err(Stopped::Unhealthy(why)) if strategy.failure_action == crate::compose::FailureAction::Pause => {
            super::gate::record_last_words(ctx, store, &new, p).await;
            p.step(
                Some(store),
                format!(
                    "gate failed: {why}; failure_action is pause: the new container keeps running, the old one is kept aside stopped (stackdeck recover {key} puts it back)"
                ),
            );
            Err(SwapError::Paused(why))
        }
        Err(Stopped::Unhealthy(why)) => roll_back(ctx, store, key, &retired, &new, why, p).await,
    }
}

/// The new instance failed its gate: remove it, reinstate the old one and gate that. An
/// emergency stop at any point leaves the service down and ends the deploy as interrupted.
async fn roll_back(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    retired: &Retired,
    new: &ContainerId,
    why: String,
    p: &mut Progress,
) -> Result<(), SwapError> {
    let b = &ctx.backend;
    p.step(Some(store), format!("gate failed: {why}; rolling back to the previous container"));
    super::gate::record_last_words(ctx, store, new, p).await;
    retry(p, "removing the failed container", || b.discard(new, retired.grace))
        .await
        .map_err(|e| SwapError::Failed(format!("{why}; and the failed container could not be removed: {e}")))?;
    bring_back(ctx, store, key, retired, p).await?;
    p.step(Some(store), "previous container started again; gating it:".to_owned());
    let cfg = ctx.stack.settings(&ServiceKey::parse(key));
    match gate(ctx, store, key, &retired.id, &cfg, p, &CancellationToken::new()).await {
        Ok(()) => {
            p.step(Some(store), "previous container passed the gate".to_owned());
            Err(SwapError::RolledBack(why))
        }
        Err(Stopped::Aborted(stop)) => {
            halt_retired(ctx, store, key, retired, p).await;
            Err(SwapError::Interrupted(stop))
        }
        Err(Stopped::Unhealthy(w2)) => {
            Err(SwapError::Failed(format!("{why}; the previous container is not healthy either: {w2}")))
        }
    }
}

/// Put the retired instance back in service, started, unless the service was emergency-stopped:
/// then it goes back stopped (restart policy "no"). A stop that lands while it starts is obeyed
/// right after. `Err(Interrupted)` when the service stays down because of a stop.
async fn bring_back(ctx: &Ctx, store: &Store, key: &str, retired: &Retired, p: &mut Progress) -> Result<(), SwapError> {
    let b = &ctx.backend;
    if let Some(stop) = latched(store, key) {
        p.step(Some(store), format!("interrupted by {stop}: the previous container stays stopped"));
        retry(p, "putting the old container back", || b.reinstate(retired, false))
            .await
            .map_err(|e| SwapError::Failed(format!("{stop}; and the old container could not be renamed back: {e}")))?;
        return Err(SwapError::Interrupted(stop));
    }
    retry(p, "putting the old container back", || b.reinstate(retired, true))
        .await
        .map_err(|e| SwapError::Failed(format!("the old container did not come back: {e}")))?;
    if let Some(stop) = latched(store, key) {
        halt_retired(ctx, store, key, retired, p).await;
        return Err(SwapError::Interrupted(stop));
    }
    Ok(())
}

/// Stop the reinstated instance again (an emergency stop arrived while it came back).
async fn halt_retired(ctx: &Ctx, store: &Store, key: &str, retired: &Retired, p: &mut Progress) {
    let Ok(Some(now)) = ctx.backend.instance(&retired.id).await else { return };
    let svc = Service { key: key.to_owned(), instances: vec![now] };
    match ctx.backend.halt(&svc, Some(retired.grace), p).await {
        Ok(_) => p.step(Some(store), "emergency stop: the previous container was stopped again".to_owned()),
        Err(e) => p.step(Some(store), format!("emergency stop: stopping the previous container failed: {e}")),
    }
}

fn grace_text(g: Option<u32>) -> String {
    g.map_or_else(|| "its own stop timeout".into(), |g| format!("{g} s"))
}

/// Keep the image that passed the gate so `docker system prune -f` cannot remove the rollback
/// target (the backend keeps the newest few per service).
async fn protect(ctx: &Ctx, key: &str, image_id: &str, p: &mut Progress, store: &Store) {
    match ctx.backend.keep_image(key, image_id).await {
        Ok(r) => p.step(Some(store), format!("kept {r} for rollbacks (survives docker system prune)")),
        Err(e) => p.step(
            Some(store),
            format!("warning: could not keep {image_id}: {e}; a prune may remove the rollback target"),
        ),
    }
}

/// The image running before the first gated deploy never passed a stackdeck gate. If it is
/// healthy right now, record it as a `baseline` (and keep it), so that rolling back from the
/// first deploy has somewhere to go.
async fn baseline(ctx: &Ctx, store: &Store, key: &str, old: &Container, p: &mut Progress) {
    if store.last_good(key, None).ok().flatten().is_some_and(|(_, id)| id == old.image_id) {
        return;
    }
    if !healthy_now(ctx, &old.id, &ctx.stack.settings(&old.key)).await {
        return;
    }
    if super::target::record_baseline(store, key, &old.image, &old.image_id, "healthy before the deploy") {
        protect(ctx, key, &old.image_id, p, store).await;
    }
}
