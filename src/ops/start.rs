//! Start: clearing an emergency stop. The kill switch goes off (with its reason, a decision of
//! its own), instances removed while the service was latched (a prune, an `rm`) are created
//! again from the configuration the stop recorded, under the same name and labels, and every
//! instance starts with its previous restart policy.

use super::{Ctx, Progress};
use crate::backend::{ResolveError, Retired, Service};
use crate::domain::{ContainerId, Done, OpError, Outcome};
use crate::store::{NewOp, Store, lock::ServiceLock};

pub(super) async fn start(ctx: &Ctx, target: &str, reason: Option<&str>, p: &mut Progress) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("start")?;
    let store = ctx.store()?;
    let (key, svc) = match ctx.backend.resolve(target, ctx.project()).await {
        Ok(svc) => (svc.key.clone(), svc),
        Err(ResolveError::NotFound(n)) => match recorded_key(&store, target, ctx.project())? {
            Some(key) => (key.clone(), Service { key, instances: vec![] }),
            None => return Err(ResolveError::NotFound(n).into()),
        },
        Err(e) => return Err(e.into()),
    };
    let _lock = ServiceLock::try_take(&ctx.state_dir, &key, "start").map_err(OpError::Refused)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    // Engaging the stop is one key; clearing it is a decision of its own, with its reason.
    if let Some(k) = store.kill_switch(&key).map_err(OpError::Failed)?
        && reason.is_none()
    {
        return Err(OpError::Refused(format!(
            "{key} was emergency-stopped by {} at {}: {}; starting it clears the emergency stop: say why with --reason",
            k.by,
            k.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            k.reason
        )));
    }
    let recorded = store.recorded_instances(&key).map_err(OpError::Failed)?;
    let missing: Vec<(String, serde_json::Value)> =
        recorded.into_iter().filter(|(name, _)| !svc.instances.iter().any(|c| &c.name == name)).collect();
    // A swarm service stopped by scaling it to 0 has no task: the latch says how to bring it back.
    let orchestrated = store.kill_switch(&key).ok().flatten().is_some_and(|k| k.previous_policy.is_orchestrated());
    if svc.instances.is_empty() && missing.is_empty() && !orchestrated {
        return Err(OpError::Usage(format!("{key} has no container, and none was recorded when it was stopped")));
    }
    let id = store
        .begin(&NewOp {
            action: "start".into(),
            service: key.clone(),
            to_image: svc.instances.first().map(|c| c.image.clone()),
            reason: reason.map(str::to_owned),
            container: Some(svc.instances.iter().map(|c| c.id.0.clone()).collect::<Vec<_>>().join(",")),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(id);
    ungated_image(ctx, &store, &svc, p).await;
    let ks = store.clear_kill_switch(&key).map_err(OpError::Failed)?;
    let policy = ks.as_ref().map(|k| k.previous_policy);
    let result = async {
        let mut recreated = Vec::new();
        for (name, kept) in &missing {
            recreated.push(recreate(ctx, &store, name, kept, p).await?);
        }
        if !svc.instances.is_empty() || orchestrated {
            ctx.backend.resume(&svc, policy, p).await.map_err(OpError::from)?;
        }
        Ok::<_, OpError>(recreated)
    }
    .await;
    p.flush(&store);
    match result {
        Ok(recreated) => {
            let _ = store.forget_instances(&key);
            let mut summary = match policy {
                Some(pol) => format!("{key} started; restart policy \"{pol}\" restored"),
                None => format!("{key} started"),
            };
            if !recreated.is_empty() {
                summary.push_str(&format!(
                    "; recreated {} from the configuration recorded at the stop (the container had been removed)",
                    recreated.join(", ")
                ));
            }
            p.step(Some(&store), summary.clone());
            if let Err(e) = store.finish(id, Outcome::Succeeded, None, None) {
                p.step(None, format!("WARNING: {e}"));
            }
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(e) => {
            // Keep the kill switch if the start failed: the banner must not lie.
            if let Some(k) = ks {
                let _ = store.set_kill_switch(&k);
            }
            let _ = store.finish(id, Outcome::Failed, Some(&e.to_string()), None);
            Err(e)
        }
    }
}

/// Create a removed instance again from what the stop kept, and start it.
async fn recreate(
    ctx: &Ctx,
    store: &Store,
    name: &str,
    kept: &serde_json::Value,
    p: &mut Progress,
) -> Result<String, OpError> {
    let image = kept["image"].as_str().unwrap_or_default();
    let image_id = kept["image_id"].as_str().unwrap_or_default();
    // The exact image it ran, by id, when its tag has moved on since.
    let by_ref = ctx.backend.image_id(image).await.ok().flatten();
    let use_image = if by_ref.as_deref() == Some(image_id) || image_id.is_empty() { image } else { image_id };
    let retired = Retired {
        id: ContainerId(String::new()),
        name: name.to_owned(),
        grace: kept["grace"].as_u64().and_then(|g| u32::try_from(g).ok()).unwrap_or(10),
        config: kept["config"].clone(),
    };
    p.step(
        Some(store),
        format!("{name} was removed while stopped: creating it again from the recorded configuration ({use_image})"),
    );
    let id = ctx.backend.launch(&retired, use_image).await?;
    p.step(Some(store), format!("{name} created again as {} and started", id.short()));
    Ok(name.to_owned())
}

/// The latched service a target names when no container of it exists any more.
fn recorded_key(store: &Store, target: &str, project: Option<&str>) -> Result<Option<String>, OpError> {
    let keys: Vec<String> = store.kill_switches().map_err(OpError::Failed)?.into_iter().map(|k| k.service).collect();
    let matches: Vec<&String> = keys
        .iter()
        .filter(|k| {
            *k == target
                || match project {
                    Some(pr) => **k == format!("{pr}/{target}"),
                    None => k.rsplit_once('/').is_some_and(|(_, s)| s == target),
                }
        })
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(OpError::Usage(
            ResolveError::Ambiguous(target.to_owned(), many.iter().map(|k| (*k).clone()).collect()).to_string(),
        )),
    }
}

/// When the image the service comes back on was put there by a deploy or rollback that ended
/// before its gate passed (the stop interrupted it, or stackdeck was killed), that is said, with
/// the way back. Best effort: nothing here holds the start back.
async fn ungated_image(ctx: &Ctx, store: &Store, svc: &Service, p: &mut Progress) {
    let Ok(recent) = store.recent(50, Some(&svc.key)) else { return };
    let Some(last) = recent.iter().find(|r| r.service == svc.key && matches!(r.action.as_str(), "deploy" | "rollback"))
    else {
        return;
    };
    if last.outcome != Outcome::Interrupted {
        return;
    }
    let image = if ctx.backend.orchestrated() {
        ctx.backend.rollout(svc).await.ok().map(|r| r.image)
    } else {
        svc.instances.first().map(|c| c.image.clone())
    };
    let Some(image) = image.filter(|i| Some(i.as_str()) == last.to_image.as_deref()) else { return };
    p.step(
        Some(store),
        format!(
            "note: {} comes back on {image}, put there by {} #{} which ended before its gate passed ({}); stackdeck rollback {} goes back to the last image that passed one",
            svc.key,
            last.action,
            last.id,
            last.reason.as_deref().unwrap_or("interrupted"),
            svc.key
        ),
    );
}
