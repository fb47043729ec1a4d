//! Recovery after an interrupted deploy (stackdeck killed, the engine lost for longer than the
//! retries allow): the service's previous instance was left aside by the backend
//! (`Container::is_parked`) and a replacement that never passed a gate may be running.
//!
//! `recover` removes the never-gated replacement, puts the previous instance back under its
//! name and gates it again. A latched service (emergency stop) gets its instance back stopped,
//! never started.

use super::gate::{Stopped, gate, latched};
use super::{Ctx, Progress, retry};
use crate::backend::{Retired, Service};
use crate::domain::{Done, OpError, Outcome, ServiceKey};
use crate::store::{NewOp, lock::ServiceLock};
use tokio_util::sync::CancellationToken;

pub(super) async fn recover(ctx: &Ctx, target: &str, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("recover")?;
    super::deploy::refuse_orchestrated(ctx, "recover")?;
    let svc = ctx.backend.resolve(target, ctx.project()).await?;
    let key = svc.key.clone();
    let _lock = ServiceLock::try_take(&ctx.state_dir, &key, "recover").map_err(OpError::Refused)?;
    let parked = match ctx.backend.leftovers(&svc).await?.as_slice() {
        [] if svc.instances.iter().any(crate::domain::Container::is_next) => {
            return super::startfirst::recover_next(ctx, &svc, p).await;
        }
        [] => {
            return Ok(Done {
                outcome: Outcome::Succeeded,
                summary: format!("nothing to recover: no container of {key} was left aside by an interrupted deploy"),
            });
        }
        [one] => one.clone(),
        many => {
            let names: Vec<&str> = many.iter().map(|r| r.name.as_str()).collect();
            return Err(OpError::Usage(format!(
                "{key} has {} containers left aside ({}): remove all but one with docker rm, then recover",
                many.len(),
                names.join(", ")
            )));
        }
    };
    let store = ctx.store()?;
    let others: Vec<_> = svc.instances.iter().filter(|c| c.id != parked.id).cloned().collect();
    let back = svc.instances.iter().find(|c| c.id == parked.id).map(|c| c.image.clone());
    let record = store
        .begin(&NewOp {
            action: "recover".into(),
            service: key.clone(),
            from_image: others.first().map(|c| c.image.clone()),
            to_image: back.clone(),
            reason: Some("an interrupted deploy left the previous container aside".into()),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let result = put_back(ctx, &store, &svc, &parked, &others, p).await;
    let (outcome, text) = match &result {
        Ok(s) => (Outcome::Succeeded, s.clone()),
        Err(Stopped::Aborted(s)) => (Outcome::Interrupted, s.clone()),
        Err(Stopped::Unhealthy(s)) => (Outcome::Failed, s.clone()),
    };
    p.step(Some(&store), text.clone());
    let why = (outcome != Outcome::Succeeded).then_some(text.as_str());
    if let Err(e) = store.finish(record, outcome, why, None) {
        p.step(None, format!("WARNING: {e}"));
    }
    match outcome {
        Outcome::Succeeded => Ok(Done { outcome, summary: text }),
        _ => Err(OpError::Failed(text)),
    }
}

async fn put_back(
    ctx: &Ctx,
    store: &crate::store::Store,
    svc: &Service,
    parked: &Retired,
    others: &[crate::domain::Container],
    p: &mut Progress,
) -> Result<String, Stopped> {
    let b = &ctx.backend;
    let key = &svc.key;
    let failed = |e: crate::domain::EngineError| Stopped::Unhealthy(e.to_string());
    for c in others {
        p.step(Some(store), format!("removing {} ({}): it never passed a gate", c.name, c.image));
        retry(p, "removing it", || b.discard(&c.id, parked.grace)).await.map_err(failed)?;
    }
    if let Some(stop) = latched(store, key) {
        retry(p, "putting it back", || b.reinstate(parked, false)).await.map_err(failed)?;
        return Ok(format!("{} is back under its name, stopped: {stop} (start it when it is safe)", parked.name));
    }
    p.step(Some(store), format!("putting {} back under its name and gating it:", parked.name));
    retry(p, "putting it back", || b.reinstate(parked, true)).await.map_err(failed)?;
    let cfg = ctx.stack.settings(&ServiceKey::parse(key));
    match gate(ctx, store, key, &parked.id, &cfg, p, &CancellationToken::new()).await {
        Ok(()) => Ok(format!("recovered {key}: {} is back and passed the gate", parked.name)),
        Err(Stopped::Aborted(stop)) => {
            if let Ok(Some(now)) = b.instance(&parked.id).await {
                let _ = b.halt(&Service { key: key.clone(), instances: vec![now] }, Some(parked.grace), p).await;
            }
            Err(Stopped::Aborted(stop))
        }
        Err(Stopped::Unhealthy(why)) => Err(Stopped::Unhealthy(format!(
            "{} is back under its name and running, but it did not pass the gate: {why}",
            parked.name
        ))),
    }
}
