//! A gated deploy (and rollback) of a Swarm service: a service update to the new image with the
//! service's own update_config, Swarm doing the scheduling, and stackdeck's gate on top. Every
//! task of the new image must run on a ready node (Swarm counts a task with a healthcheck as
//! running only once healthy), the HTTP probe must pass, and the monitor window must pass
//! without a failed task. A failed gate goes back with Swarm's own rollback (`rollback =
//! previous`) while the spec is still the one this deploy wrote; when Swarm rolled back by
//! itself (its failure_action), that is waited for and said. Each task's progress is a step
//! of the operation, live. An emergency stop wins at every point: the deploy ends where it is.

use super::gate::{abort_reason, latched};
use super::target::{Kind, To, record_baseline, target_image};
use super::{Ctx, Progress, retry};
use crate::backend::Service;
use crate::config::stack::ServiceSettings;
use crate::domain::{Done, EngineError, OpError, Outcome, Rollout, ServiceKey, short_image_id};
use crate::store::{NewOp, Store};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the rollout is looked at.
const LOOK: Duration = Duration::from_millis(500);
/// Time for each task to be placed, start and turn healthy, on top of the gate's own tries.
const PER_TASK: Duration = Duration::from_secs(30);

/// Why the gate ended without passing.
enum Ended {
    /// The gate failed (or the operator cancelled): go back.
    Failed(String),
    /// Swarm rolled back by itself: wait for it, go no further.
    SwarmRolledBack(String),
    /// An emergency stop: leave everything as the stop left it.
    Stopped(String),
    /// Someone else changed the service meanwhile: touch nothing.
    Changed(String),
}

/// Deploy `to` to the Swarm service `svc` (its lock taken and its latch checked by the caller),
/// on its own or as a part of the release `parent`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn one(
    ctx: &Ctx,
    store: &Store,
    kind: Kind,
    svc: &Service,
    to: &To,
    parent: Option<i64>,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    let key = &svc.key;
    let before = ctx.backend.rollout(svc).await?;
    let old_ref = before.image.clone();
    let old_id = ctx.backend.image_id(&old_ref).await.ok().flatten().unwrap_or_default();
    if kind == Kind::Deploy && !old_id.is_empty() && before.settled_on(&old_ref) {
        // Where a first rollback goes when no stackdeck gate has passed yet.
        record_baseline(store, key, &old_ref, &old_id, "every task running before the deploy");
    }
    let (to_ref, to_id) = target_image(ctx, store, key, to, &old_id, p).await?;
    // The spec names exactly the gated image: its reference while it still names that image
    // on the manager, else the image id (which every node resolves without a registry).
    let spec_ref = if ctx.backend.image_id(&to_ref).await.ok().flatten().as_deref() == Some(to_id.as_str()) {
        to_ref.clone()
    } else {
        to_id.clone()
    };
    let record = store
        .begin(&NewOp {
            action: kind.name().into(),
            service: key.clone(),
            from_image: Some(old_ref.clone()),
            from_image_id: Some(old_id.clone()),
            to_image: Some(to_ref.clone()),
            reason: None,
            container: None,
            digest: Some(old_id.clone()),
            parent,
        })
        .map_err(OpError::Failed)?;
    p.record = Some(record);
    let name = kind.name();
    p.step(
        Some(store),
        format!(
            "{name} {key} on Swarm: {old_ref} ({}) -> {spec_ref} ({}), a service update",
            short_image_id(&old_id),
            short_image_id(&to_id)
        ),
    );
    p.step(Some(store), format!("the service's update_config: {}", before.policy));
    let mut cfg = ctx.stack.settings(&ServiceKey::parse(key));
    if !cfg.monitor_set {
        cfg.monitor = before.monitor;
    }
    let (outcome, reason) = match update(ctx, store, svc, &before, &spec_ref, &cfg, p, cancel).await {
        Ok(()) => {
            match ctx.backend.keep_image(key, &to_id).await {
                Ok(r) => p.step(Some(store), format!("kept {r} on the manager for rollbacks")),
                Err(e) => p.step(Some(store), format!("warning: could not keep {to_id} on the manager: {e}")),
            }
            let summary = format!("{name} of {key} to {to_ref} succeeded");
            p.step(Some(store), summary.clone());
            if let Err(e) = store.finish(record, Outcome::Succeeded, None, Some(&to_id)) {
                p.step(None, format!("WARNING: {e}"));
            }
            return Ok(Done { outcome: Outcome::Succeeded, summary });
        }
        Err(Ended::Stopped(why)) => (Outcome::Interrupted, why),
        Err(Ended::Changed(why)) => (Outcome::Failed, why),
        Err(Ended::SwarmRolledBack(why)) => match settle_back(ctx, store, svc, &old_ref, &cfg, p).await {
            Ok(()) => (Outcome::RolledBack, why),
            Err(e) => (Outcome::Failed, format!("{why}; {e}")),
        },
        Err(Ended::Failed(why)) => match go_back(ctx, store, svc, &spec_ref, &old_ref, &cfg, p).await {
            Ok(()) => (Outcome::RolledBack, why),
            Err(e) => (Outcome::Failed, format!("{why}; {e}")),
        },
    };
    let _ = store.finish(record, outcome, Some(&reason), Some(&to_id));
    let text = match outcome {
        Outcome::RolledBack => format!("{name} of {key} to {to_ref} rolled back: {reason}"),
        Outcome::Interrupted => format!("{name} of {key} aborted: {reason}"),
        _ => format!("{name} of {key} failed: {reason}"),
    };
    Err(OpError::Failed(text))
}

/// How long the rollout may take: every task placed, started and healthy, and the monitor.
fn budget(r: &Rollout, cfg: &ServiceSettings) -> Duration {
    let per_task = PER_TASK + cfg.gate_interval * cfg.gate_tries + cfg.monitor;
    per_task * u32::try_from(r.desired.max(1)).unwrap_or(u32::MAX)
}

/// Say each task line not said yet (a task's state, node or error changed), and each node that
/// went down or came back.
fn say_tasks(r: &Rollout, service: &str, said: &mut HashSet<String>, store: &Store, p: &mut Progress) {
    let down: HashSet<String> =
        r.down.iter().map(|n| format!("node {n} is down: Swarm moves its tasks elsewhere")).collect();
    let gone: Vec<String> = said.iter().filter(|l| l.starts_with("node ") && !down.contains(*l)).cloned().collect();
    for l in gone {
        said.remove(&l);
        p.step(Some(store), format!("{} is back", l.split(" is down").next().unwrap_or(&l)));
    }
    for l in down {
        if said.insert(l.clone()) {
            p.step(Some(store), l);
        }
    }
    for t in r.tasks.iter().filter(|t| t.meant_to_run || t.failed()) {
        let line = t.line(service);
        if said.insert(line.clone()) {
            p.step(Some(store), format!("  {line}"));
        }
    }
}

/// One look, through engine trouble (an unreachable manager is tried again for a while).
async fn look(ctx: &Ctx, svc: &Service, p: &mut Progress) -> Result<Rollout, EngineError> {
    retry(p, "reading the service's tasks", || ctx.backend.rollout(svc)).await
}

/// The update and the gate.
#[allow(clippy::too_many_arguments)]
async fn update(
    ctx: &Ctx,
    store: &Store,
    svc: &Service,
    before: &Rollout,
    image: &str,
    cfg: &ServiceSettings,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), Ended> {
    let key = &svc.key;
    let short = ServiceKey::parse(key).service;
    // Before anything moved: a stop or a cancel ends it here.
    if let Some(why) = abort_reason(store, key, cancel) {
        return Err(Ended::Stopped(why));
    }
    let known = before.ids();
    retry(p, "updating the service", || ctx.backend.update_image(svc, image))
        .await
        .map_err(|e| Ended::Changed(format!("the service update was refused: {e}")))?;
    p.step(Some(store), format!("service updated; Swarm replaces the tasks; gate: every task of {image} running"));
    let limit = budget(before, cfg);
    let t0 = Instant::now();
    let mut said = HashSet::new();
    let mut settled_at: Option<Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOOK) => {}
            () = cancel.cancelled() => {}
        }
        if let Some(why) = latched(store, key) {
            p.step(Some(store), format!("{why}: the deploy ends here; the stop wins"));
            return Err(Ended::Stopped(why));
        }
        if cancel.is_cancelled() {
            return Err(Ended::Failed("cancelled by the operator".into()));
        }
        let r = look(ctx, svc, p).await.map_err(|e| Ended::Failed(format!("the manager stopped answering: {e}")))?;
        say_tasks(&r, &short, &mut said, store, p);
        if r.image != image {
            if r.rolling_back() {
                evidence(ctx, svc, &r, image, &known, store, p).await;
                let msg = if r.message.is_empty() { String::new() } else { format!(": {}", r.message) };
                return Err(Ended::SwarmRolledBack(format!("Swarm rolled the update back (its failure_action){msg}")));
            }
            return Err(Ended::Changed(format!(
                "the service was changed by someone else during the deploy (its image is {} now): left as it is",
                r.image
            )));
        }
        if r.state == "paused" {
            return Err(Ended::Failed(format!("Swarm paused the update: {}", r.message)));
        }
        if let Some(t) = r.new_failures(image, &known).next() {
            let why = format!("a task failed: {}", t.line(&short));
            evidence(ctx, svc, &r, image, &known, store, p).await;
            return Err(Ended::Failed(why));
        }
        match (r.settled_on(image), settled_at) {
            (true, None) => {
                if let Some(why) = probe(cfg, store, p).await {
                    return Err(Ended::Failed(why));
                }
                p.step(
                    Some(store),
                    format!(
                        "every task of {image} runs ({}); watching them for {} s (monitor window)",
                        r.count_on(image),
                        cfg.monitor.as_secs()
                    ),
                );
                settled_at = Some(Instant::now());
            }
            (true, Some(at)) if at.elapsed() >= cfg.monitor => {
                if !cfg.smoke.is_empty() {
                    p.step(
                        Some(store),
                        "the smoke checks are not run on Swarm (they run in one container; a service's tasks are on several nodes)"
                            .to_owned(),
                    );
                }
                p.committed();
                p.step(Some(store), format!("the gate passed: {} tasks of {image} running", r.count_on(image)));
                return Ok(());
            }
            (false, Some(_)) => {
                evidence(ctx, svc, &r, image, &known, store, p).await;
                return Err(Ended::Failed(format!(
                    "inside the monitor window not every task of {image} runs any more ({})",
                    r.count_on(image)
                )));
            }
            _ => {}
        }
        if t0.elapsed() > limit {
            let down: Vec<String> = r
                .tasks
                .iter()
                .filter(|t| t.meant_to_run && !t.node_ready)
                .map(|t| format!("{} on {}", t.slot, t.node))
                .collect();
            let nodes =
                if down.is_empty() { String::new() } else { format!("; on nodes that are down: {}", down.join(", ")) };
            return Err(Ended::Failed(format!(
                "after {} s {} tasks of {image} run{nodes}",
                limit.as_secs(),
                r.count_on(image)
            )));
        }
    }
}

/// The configured HTTP probe, tried as the gate tries it; the reason when it never passed.
async fn probe(cfg: &ServiceSettings, store: &Store, p: &mut Progress) -> Option<String> {
    let u = cfg.health_url.as_ref()?;
    if let Some(why) = crate::http::unreachable(u) {
        p.step(Some(store), format!("  http {} {why}: Swarm's task health decides", crate::http::shown(u)));
        return None;
    }
    let client = crate::http::client();
    for i in 1..=cfg.gate_tries {
        let t0 = std::time::Instant::now();
        let (ok, d) = crate::http::probe_once(&client, u, cfg.probe_timeout).await;
        p.step(
            Some(store),
            format!(
                "  try {i}/{}: http {} {d} in {} ms",
                cfg.gate_tries,
                crate::http::shown(u),
                t0.elapsed().as_millis()
            ),
        );
        if ok {
            return None;
        }
        tokio::time::sleep(cfg.gate_interval).await;
    }
    Some(format!("the HTTP probe never passed in {} tries", cfg.gate_tries))
}

/// The tasks of the new image that did not make it, and what they said last (their log through
/// the manager; the health-check log too for a task on the manager's own node).
#[allow(clippy::too_many_arguments)]
async fn evidence(
    ctx: &Ctx,
    svc: &Service,
    r: &Rollout,
    image: &str,
    known: &HashSet<String>,
    store: &Store,
    p: &mut Progress,
) {
    let short = ServiceKey::parse(&svc.key).service;
    let ended = r.tasks.iter().filter(|t| t.image == image && !known.contains(&t.id) && !t.running());
    for t in ended.take(3) {
        p.step(Some(store), format!("  {}", t.line(&short)));
        match ctx.backend.last_words(&crate::domain::ContainerId(t.id.clone()), 20).await {
            Ok(lines) if !lines.is_empty() => {
                p.step(Some(store), format!("what {short}.{} on {} said last:", t.slot, t.node));
                for l in lines {
                    p.step(Some(store), format!("  | {l}"));
                }
            }
            Ok(_) => p.step(Some(store), format!("{short}.{} on {} said nothing", t.slot, t.node)),
            Err(e) => p.step(Some(store), format!("what {short}.{} on {} said could not be read: {e}", t.slot, t.node)),
        }
    }
}

/// Go back after a failed gate: Swarm's own rollback while the spec is still this deploy's;
/// if Swarm is already rolling back, that; then every task of the old image running again.
async fn go_back(
    ctx: &Ctx,
    store: &Store,
    svc: &Service,
    image: &str,
    old: &str,
    cfg: &ServiceSettings,
    p: &mut Progress,
) -> Result<(), String> {
    p.step(Some(store), format!("going back to {old} with Swarm's rollback (rollback = previous)"));
    match retry(p, "rolling back", || ctx.backend.roll_back_spec(svc, image)).await {
        Ok(()) => {}
        Err(e) => {
            let r = look(ctx, svc, p).await.map_err(|e| e.to_string())?;
            if !r.rolling_back() && r.image != old {
                return Err(format!("Swarm's rollback was refused: {e}"));
            }
            p.step(Some(store), "Swarm is already going back by itself".to_owned());
        }
    }
    settle_back(ctx, store, svc, old, cfg, p).await
}

/// Wait until every task runs the old image again (bounded), saying each task's progress.
async fn settle_back(
    ctx: &Ctx,
    store: &Store,
    svc: &Service,
    old: &str,
    cfg: &ServiceSettings,
    p: &mut Progress,
) -> Result<(), String> {
    let short = ServiceKey::parse(&svc.key).service;
    let mut said = HashSet::new();
    let first = look(ctx, svc, p).await.map_err(|e| e.to_string())?;
    let limit = budget(&first, cfg);
    let t0 = Instant::now();
    loop {
        if let Some(why) = latched(store, &svc.key) {
            return Err(format!("{why} while it went back: the stop wins"));
        }
        let r = look(ctx, svc, p).await.map_err(|e| e.to_string())?;
        say_tasks(&r, &short, &mut said, store, p);
        if r.settled_on(old) {
            p.step(Some(store), format!("back on {old}: {} tasks running", r.count_on(old)));
            return Ok(());
        }
        if r.state == "rollback_paused" {
            return Err(format!(
                "Swarm paused its rollback: {} ({} tasks of {old} running)",
                r.message,
                r.count_on(old)
            ));
        }
        if t0.elapsed() > limit {
            return Err(format!("after {} s {} tasks of {old} run again", limit.as_secs(), r.count_on(old)));
        }
        tokio::time::sleep(LOOK).await;
    }
}
