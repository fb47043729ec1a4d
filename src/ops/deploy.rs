//! Health-gated deploy with automatic rollback, and rollback to the last image that passed a
//! gate (same path).
//!
//! Never two instances of a service at once: the old container is stopped first and kept
//! (renamed) until the new one passes the gate; a failed gate restores it and gates it again.
//! An emergency stop of the service (from any process) aborts the deploy between steps and
//! during the gate. The operator can cancel until the old container is removed.

use super::{Ctx, Done, OpError, Progress};
use crate::domain::{ContainerId, Health, RunState, short_image_id};
use crate::engine::actions::repo_of;
use crate::state::history::Outcome;
use crate::store::{NewOp, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deploy,
    Rollback,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Deploy => "deploy",
            Kind::Rollback => "rollback",
        }
    }
}

/// Why the new container did not become the service.
enum Stopped {
    /// The gate failed: roll back.
    Unhealthy(String),
    /// Emergency stop or operator cancel: do not bring anything back up.
    Aborted(String),
}

/// Tags kept per service so rollback targets survive `docker system prune -f`.
const KEEP_TAGS: usize = 3;

pub fn keep_repo(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    format!("stackdeck-keep/{safe}")
}

/// Deploy `image` (or, for a rollback, the last image that passed a gate) to `target`.
pub async fn run(
    ctx: &Ctx,
    kind: Kind,
    target: &str,
    project: Option<&str>,
    image: Option<&str>,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    ctx.refuse_if_read_only(kind.name())?;
    let (key, containers) = ctx.actions.resolve(target, project).await?;
    // The lock first: during another deploy the service briefly has two containers.
    let _lock =
        crate::store::lock::ServiceLock::try_take(&ctx.state_dir, &key, kind.name()).map_err(OpError::Refused)?;
    let old = match containers.as_slice() {
        [one] => one.clone(),
        [] => return Err(OpError::Usage(format!("{key} has no container"))),
        many => {
            return Err(OpError::Usage(format!(
                "{key} has {} containers; {} handles services with one container",
                many.len(),
                kind.name()
            )));
        }
    };
    let store = ctx.store()?;
    if let Some(k) = store.kill_switch(&key).map_err(OpError::Failed)? {
        return Err(OpError::Refused(format!(
            "{key} was emergency-stopped by {} at {}: {}; start it first (stackdeck start {key})",
            k.by,
            k.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            k.reason
        )));
    }
    if kind == Kind::Deploy {
        baseline(ctx, &store, &key, &old, p).await;
    }
    // The image to run, by id (a tag may move; the id is what passed or will pass the gate).
    let (to_ref, to_id) = match kind {
        Kind::Rollback => store.last_good(&key, Some(&old.image_id)).map_err(OpError::Failed)?.ok_or_else(|| {
            OpError::Failed(format!("no earlier image of {key} passed a health gate: nothing to roll back to"))
        })?,
        Kind::Deploy => {
            let reference = image.ok_or_else(|| OpError::Usage("deploy needs an image".into()))?;
            let local = ctx.actions.image_id(reference).await.map_err(OpError::Failed)?;
            if ctx.stack.config.engine.pull == Some(false) {
                if local.is_none() {
                    return Err(OpError::Usage(format!(
                        "image {reference} is not on this host (and [engine] pull = false)"
                    )));
                }
                p.step(None, format!("not pulling ([engine] pull = false): using the local image {reference}"));
            } else {
                match ctx.actions.pull(reference, Duration::from_secs(30)).await {
                    Ok(()) => p.step(None, format!("pulled {reference}")),
                    Err(e) => {
                        if local.is_none() {
                            return Err(OpError::Usage(format!(
                                "image {reference} is not on this host and could not be pulled: {e}"
                            )));
                        }
                        p.step(None, format!("registry not reachable ({e}): using the local image {reference}"));
                    }
                }
            }
            let id = ctx
                .actions
                .image_id(reference)
                .await
                .map_err(OpError::Failed)?
                .ok_or_else(|| OpError::Usage(format!("image {reference} not found")))?;
            (reference.to_owned(), id)
        }
    };
    let record = store
        .begin(&NewOp {
            action: kind.name().into(),
            service: key.clone(),
            from_image: Some(old.image.clone()),
            from_image_id: Some(old.image_id.clone()),
            to_image: Some(to_ref.clone()),
            reason: None,
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    p.step(
        Some(&store),
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
    let keep = format!("{}:{}", keep_repo(&key), short_image_id(&to_id));
    let create_ref = if ctx.actions.image_id(&to_ref).await.ok().flatten().as_deref() == Some(to_id.as_str()) {
        to_ref.clone()
    } else if ctx.actions.image_id(&keep).await.ok().flatten().as_deref() == Some(to_id.as_str()) {
        keep
    } else {
        to_id.clone()
    };
    // Stackdeck must not exit half-way: the record is finished on every path below.
    let result = swap(ctx, &store, &key, &old.id, &create_ref, p, cancel).await;
    match result {
        Ok(()) => {
            protect(ctx, &key, &to_id, p, &store).await;
            let summary = format!("{} of {key} to {to_ref} succeeded", kind.name());
            p.step(Some(&store), summary.clone());
            store.finish(record, Outcome::Succeeded, None, Some(&to_id)).map_err(OpError::Failed)?;
            Ok(Done { outcome: Outcome::Succeeded, summary })
        }
        Err(SwapError::RolledBack(reason)) => {
            let _ = store.finish(record, Outcome::RolledBack, Some(&reason), Some(&to_id));
            Err(OpError::Failed(format!("{} of {key} to {to_ref} rolled back: {reason}", kind.name())))
        }
        Err(SwapError::Interrupted(reason)) => {
            let _ = store.finish(record, Outcome::Interrupted, Some(&reason), Some(&to_id));
            Err(OpError::Failed(format!("{} of {key} aborted: {reason}", kind.name())))
        }
        Err(SwapError::Failed(reason)) => {
            p.step(Some(&store), format!("FAILED: {reason}"));
            let _ = store.finish(record, Outcome::Failed, Some(&reason), Some(&to_id));
            Err(OpError::Failed(format!("{} of {key} failed: {reason}", kind.name())))
        }
    }
}

enum SwapError {
    RolledBack(String),
    Interrupted(String),
    Failed(String),
}

/// Stop the old container, start the new one, gate it; on failure restore the old one.
async fn swap(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    old: &ContainerId,
    image: &str,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), SwapError> {
    let a = &ctx.actions;
    let fail = SwapError::Failed;
    let spec = a.spec(old).await.map_err(fail)?;
    let svc_cfg = crate::domain::ServiceKey::parse(key);
    let cfg = ctx.stack.service(&svc_cfg).cloned().unwrap_or_default();
    let grace = cfg.stop_grace_secs.unwrap_or(spec.stop_timeout);
    if let Some(why) = abort_reason(store, key, cancel) {
        return Err(SwapError::Interrupted(why));
    }
    p.step(Some(store), format!("stopping the old container {} (grace {grace} s)", spec.name));
    a.stop(old, grace).await.map_err(SwapError::Failed)?;
    let parked = format!("{}-stackdeck-old", spec.name);
    a.rename(old, &parked).await.map_err(SwapError::Failed)?;
    if let Some(why) = abort_reason(store, key, cancel) {
        // Put the old container back under its name, stopped: the abort wants the service down
        // (emergency stop) or untouched (cancel before anything new ran: start it again).
        let _ = a.rename(old, &spec.name).await;
        if cancel.is_cancelled() {
            let _ = a.start(old).await;
        }
        return Err(SwapError::Interrupted(why));
    }
    p.step(Some(store), format!("creating {} from its own configuration with image {image}", spec.name));
    let new = match a.create(&spec, image, &spec.name).await {
        Ok(id) => id,
        Err(e) => {
            let _ = a.rename(old, &spec.name).await;
            let _ = a.start(old).await;
            return Err(SwapError::Failed(format!("cannot create the new container: {e} (old container restarted)")));
        }
    };
    let gated = match a.start(&new).await {
        Ok(()) => {
            p.step(Some(store), "started the new container; health gate:".to_owned());
            gate(ctx, store, key, &new, &cfg, p, cancel).await
        }
        Err(e) => Err(Stopped::Unhealthy(format!("the new container did not start: {e}"))),
    };
    match gated {
        Ok(()) => {
            p.committed();
            a.remove(old)
                .await
                .map_err(|e| SwapError::Failed(format!("deployed, but the old container could not be removed: {e}")))?;
            p.step(Some(store), "removed the old container".to_owned());
            Ok(())
        }
        Err(Stopped::Aborted(why)) => {
            p.step(Some(store), format!("aborting: {why}"));
            let _ = a.stop(&new, grace).await;
            let _ = a.remove(&new).await;
            let _ = a.set_restart_policy(old, "no").await;
            let _ = a.rename(old, &spec.name).await;
            Err(SwapError::Interrupted(why))
        }
        Err(Stopped::Unhealthy(why)) => {
            p.step(Some(store), format!("gate failed: {why}; rolling back to the previous container"));
            let _ = a.stop(&new, grace).await;
            a.remove(&new)
                .await
                .map_err(|e| SwapError::Failed(format!("{why}; and the failed container could not be removed: {e}")))?;
            a.rename(old, &spec.name).await.map_err(|e| {
                SwapError::Failed(format!("{why}; and the old container could not be renamed back: {e}"))
            })?;
            a.start(old)
                .await
                .map_err(|e| SwapError::Failed(format!("{why}; and the old container did not start: {e}")))?;
            p.step(Some(store), "previous container started again; gating it:".to_owned());
            match gate(ctx, store, key, old, &cfg, p, &CancellationToken::new()).await {
                Ok(()) => {
                    p.step(Some(store), "previous container passed the gate".to_owned());
                    Err(SwapError::RolledBack(why))
                }
                Err(Stopped::Unhealthy(w2) | Stopped::Aborted(w2)) => {
                    Err(SwapError::Failed(format!("{why}; the previous container is not healthy either: {w2}")))
                }
            }
        }
    }
}

fn abort_reason(store: &Store, key: &str, cancel: &CancellationToken) -> Option<String> {
    if cancel.is_cancelled() {
        return Some("cancelled by the operator".into());
    }
    match store.kill_switch(key) {
        Ok(Some(k)) => Some(format!("emergency stop by {}: {}", k.by, k.reason)),
        _ => None,
    }
}

/// The health gate: the engine's healthcheck reaches healthy (when the container has one) AND
/// the configured HTTP URL answers 2xx, tried `tries` times `interval` apart.
async fn gate(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    id: &ContainerId,
    cfg: &crate::config::stack::ServiceConfig,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), Stopped> {
    let tries = cfg.gate_tries.unwrap_or(10).max(1);
    let interval = Duration::from_secs(cfg.gate_interval_secs.unwrap_or(5).max(1));
    let url = cfg.health_url.as_ref().map(|u| u.get_ref().clone());
    let client = crate::probe::client();
    for i in 1..=tries {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => return Err(Stopped::Unhealthy("cancelled by the operator".into())),
        }
        // Cancel = go back to the old container; emergency stop = leave the service down.
        if cancel.is_cancelled() {
            return Err(Stopped::Unhealthy("cancelled by the operator".into()));
        }
        if let Some(why) = abort_reason(store, key, cancel) {
            return Err(Stopped::Aborted(why));
        }
        let (state, health, exit) = ctx.actions.health(id).await.map_err(Stopped::Unhealthy)?;
        if state != RunState::Running {
            let why = format!(
                "the container is {} (exit code {})",
                state.as_str(),
                exit.map_or("?".into(), |c| c.to_string())
            );
            p.step(Some(store), format!("  try {i}/{tries}: {why}"));
            return Err(Stopped::Unhealthy(why));
        }
        if health == Health::Unhealthy {
            p.step(Some(store), format!("  try {i}/{tries}: engine healthcheck unhealthy"));
            return Err(Stopped::Unhealthy("the engine's healthcheck reports unhealthy".into()));
        }
        let engine_ok = matches!(health, Health::Healthy | Health::None);
        let (http_ok, http) = match &url {
            Some(u) => {
                let (ok, d) =
                    crate::probe::probe_once(&client, u, Duration::from_secs(cfg.probe_timeout_secs.unwrap_or(2)))
                        .await;
                (ok, format!("{u} {d}"))
            }
            None => (true, "no health URL configured".into()),
        };
        let engine = if health == Health::None { "no healthcheck" } else { health.as_str() };
        p.step(Some(store), format!("  try {i}/{tries}: engine {engine}, http {http}"));
        if engine_ok && http_ok {
            return Ok(());
        }
    }
    Err(Stopped::Unhealthy(format!("not healthy after {tries} tries {} s apart", interval.as_secs())))
}

/// Tag the image that passed the gate so `docker system prune -f` cannot remove the rollback
/// target; keep the newest few.
async fn protect(ctx: &Ctx, key: &str, image_id: &str, p: &mut Progress, store: &Store) {
    let repo = keep_repo(key);
    match ctx.actions.tag(image_id, &repo, short_image_id(image_id)).await {
        Ok(()) => p.step(
            Some(store),
            format!("kept {repo}:{} for rollbacks (survives docker system prune)", short_image_id(image_id)),
        ),
        Err(e) => {
            p.step(Some(store), format!("warning: could not tag {repo}: {e}; a prune may remove the rollback target"))
        }
    }
    if let Ok(tags) = ctx.actions.local_tags(&format!("{repo}:x")).await {
        for old in tags.iter().filter(|t| repo_of(t) == repo).skip(KEEP_TAGS) {
            let _ = ctx.actions.untag(old).await;
        }
    }
}

/// The image running before the first gated deploy never passed a stackdeck gate. If it is
/// healthy right now, record it as a `baseline` (and keep-tag it), so that rolling back from
/// the first deploy has somewhere to go.
async fn baseline(ctx: &Ctx, store: &Store, key: &str, old: &crate::domain::Container, p: &mut Progress) {
    if store.last_good(key, None).ok().flatten().is_some_and(|(_, id)| id == old.image_id) {
        return;
    }
    let cfg = ctx.stack.service(&old.key).cloned().unwrap_or_default();
    let Ok((state, health, _)) = ctx.actions.health(&old.id).await else { return };
    let http_ok = match cfg.health_url.as_ref() {
        Some(u) => crate::probe::probe_once(&crate::probe::client(), u.get_ref(), Duration::from_secs(2)).await.0,
        None => true,
    };
    if state != RunState::Running || !matches!(health, Health::Healthy | Health::None) || !http_ok {
        return;
    }
    let op = NewOp {
        action: "baseline".into(),
        service: key.to_owned(),
        to_image: Some(old.image.clone()),
        reason: Some("healthy before the deploy".into()),
        ..NewOp::default()
    };
    if let Ok(id) = store.begin(&op) {
        let _ = store.finish(id, Outcome::Succeeded, None, Some(&old.image_id));
        protect(ctx, key, &old.image_id, p, store).await;
    }
}
