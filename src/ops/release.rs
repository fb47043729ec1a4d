//! Release deploys: several services to one tag, in `depends_on` order, each with its own
//! strategy and gate, as one operation with one history row and a child row per service. When
//! one of them does not pass, those already moved go back to their previous images in reverse
//! order. `rollback --release ID` undoes a release the same way.
//!
//! On a Swarm manager each service moves by its own gated service update (`swarm_deploy`).
//!
//! Every service of the release is locked for the whole of it, and checked before anything
//! moves (one container, not emergency-stopped, the image there, start-first possible or
//! stop-first accepted). An emergency stop of one of them ends the release where it is: nothing
//! else moves, nothing goes back (the stop wins; `rollback --release` is there afterwards).

use super::deploy::{Kind, Plan, To, one, refuse_latched, refuse_remote_unshared, single};
use super::{Ctx, Progress};
use crate::domain::{Container, Done, OpError, Outcome, short_image_id};
use crate::store::{NewOp, Store, lock::ServiceLock};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// One service of a release: where it is and where it goes.
struct Move {
    old: Container,
    to: To,
}

/// `stackdeck deploy --release TAG SERVICE...`
pub(super) async fn release(
    ctx: &Ctx,
    targets: &[String],
    tag: &str,
    stop_first: bool,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("release")?;
    refuse_remote_unshared(ctx, "release")?;
    crate::domain::check_tag(tag).map_err(OpError::Usage)?;
    if targets.is_empty() {
        return Err(OpError::Usage("a release names one or more services".into()));
    }
    let mut olds: Vec<Container> = Vec::new();
    for t in targets {
        let svc = ctx.backend.resolve(t, ctx.project()).await?;
        let old = current(ctx, &svc, "a release").await?;
        if !olds.iter().any(|o| o.key == old.key) {
            olds.push(old);
        }
    }
    let keys: Vec<String> = olds.iter().map(|c| c.key.to_string()).collect();
    let order = crate::domain::dependency_order(&keys, &depends_on(ctx, &olds, p)).map_err(OpError::Usage)?;
    let mut moves = Vec::new();
    for key in &order {
        let Some(old) = olds.iter().find(|c| &c.key.to_string() == key) else { continue };
        let image = crate::domain::retag(&old.image, tag).ok_or_else(|| {
            OpError::Usage(format!(
                "{key} runs the image {} by id, which names no repository to put the tag {tag} on: deploy it on its own",
                old.image
            ))
        })?;
        if !ctx.stack.pull() && ctx.backend.image_id(&image).await?.is_none() {
            return Err(OpError::Usage(format!(
                "image {image} for {key} is not on this host (and [engine] pull = false): nothing was moved"
            )));
        }
        moves.push(Move { old: old.clone(), to: To::Image(image) });
    }
    let _locks = lock_all(ctx, &order, "release")?;
    let store = ctx.store()?;
    preflight(ctx, &store, &moves, Kind::Deploy, stop_first).await?;
    let parent = store
        .begin(&NewOp {
            action: "release".into(),
            service: order.join(", "),
            to_image: Some(tag.to_owned()),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(parent);
    let plan: Vec<String> = moves.iter().map(|m| format!("{} -> {}", m.old.key, target_text(&m.to))).collect();
    p.step(Some(&store), format!("release {tag} (release #{parent}), in depends_on order: {}", plan.join(", ")));
    apply(ctx, &store, parent, &format!("release {tag}"), moves, Kind::Deploy, stop_first, p, cancel).await
}

/// `stackdeck rollback --release ID`: every service the release moved goes back to the image
/// it ran before, in reverse order, as one operation.
pub(super) async fn undo(ctx: &Ctx, id: i64, p: &mut Progress, cancel: &CancellationToken) -> Result<Done, OpError> {
    ctx.refuse_if_read_only("roll back a release")?;
    refuse_remote_unshared(ctx, "roll back a release")?;
    let store = ctx.store()?;
    let rec = store.get(id).map_err(OpError::Failed)?.ok_or_else(|| OpError::Usage(format!("no record {id}")))?;
    if rec.action != "release" {
        return Err(OpError::Usage(format!(
            "record {id} is a {}, not a release (stackdeck history lists them)",
            rec.action
        )));
    }
    let children = store.children(id).map_err(OpError::Failed)?;
    // What the release moved and left moved: its succeeded deploys, less those it rolled back.
    let mut stays: Vec<crate::domain::OpRecord> = Vec::new();
    for c in &children {
        match (c.action.as_str(), c.outcome) {
            ("deploy", Outcome::Succeeded) => stays.push(c.clone()),
            ("rollback", Outcome::Succeeded) => stays.retain(|s| s.service != c.service),
            _ => {}
        }
    }
    // A deploy of the release that never ended (a kill) may have left a container aside: that
    // is `recover`'s, said here.
    let cut: Vec<String> = children
        .iter()
        .filter(|c| c.outcome == Outcome::Interrupted || c.outcome == Outcome::Running)
        .map(|c| format!("{0}'s deploy was interrupted: stackdeck recover {0} sorts out what it left", c.service))
        .collect();
    if stays.is_empty() {
        let also = if cut.is_empty() { String::new() } else { format!("; {}", cut.join("; ")) };
        return Err(OpError::Usage(format!(
            "release #{id} left nothing moved (it {}): nothing to roll back{also}",
            rec.outcome.as_str().replace('_', " ")
        )));
    }
    for c in &cut {
        p.step(None, c.clone());
    }
    stays.reverse();
    let mut moves = Vec::new();
    let mut keys = Vec::new();
    for c in &stays {
        let svc = ctx.backend.resolve(&c.service, None).await?;
        let now = current(ctx, &svc, "a release rollback").await?;
        let (Some(from), Some(from_id)) = (c.from_image.clone(), c.from_image_id.clone()) else {
            return Err(OpError::Failed(format!("record {} does not say what {} ran before", c.id, c.service)));
        };
        if c.to_image_id.as_deref() != Some(now.image_id.as_str()) {
            return Err(OpError::Refused(format!(
                "{} runs {} ({}) now, not what release #{id} deployed ({}): it moved since; roll it back on its own",
                c.service,
                now.image,
                short_image_id(&now.image_id),
                c.to_image.as_deref().unwrap_or("?")
            )));
        }
        keys.push(c.service.clone());
        moves.push(Move { old: now, to: To::Exact { reference: from, id: from_id } });
    }
    let _locks = lock_all(ctx, &keys, "release rollback")?;
    preflight(ctx, &store, &moves, Kind::Rollback, true).await?;
    let parent = store
        .begin(&NewOp {
            action: "release-rollback".into(),
            service: keys.join(", "),
            to_image: rec.to_image.clone(),
            reason: Some(format!("undo release #{id}")),
            ..NewOp::default()
        })
        .map_err(OpError::Failed)?;
    p.record = Some(parent);
    let plan: Vec<String> = moves.iter().map(|m| format!("{} -> {}", m.old.key, target_text(&m.to))).collect();
    p.step(Some(&store), format!("roll back release #{id} (record #{parent}), in reverse order: {}", plan.join(", ")));
    apply(ctx, &store, parent, &format!("rollback of release #{id}"), moves, Kind::Rollback, true, p, cancel).await
}

fn target_text(to: &To) -> String {
    match to {
        To::Image(r) => r.clone(),
        To::Exact { reference, id } => format!("{reference} ({})", short_image_id(id)),
        To::LastGood => "its last good image".into(),
    }
}

/// Each service's lock, for the whole operation; refused naming the first one held elsewhere.
fn lock_all(ctx: &Ctx, keys: &[String], what: &str) -> Result<Vec<ServiceLock>, OpError> {
    keys.iter().map(|k| ServiceLock::try_take(&ctx.state_dir, k, what).map_err(OpError::Refused)).collect()
}

/// Before anything moves: no service emergency-stopped, and each one's strategy possible (a
/// start-first deploy that cannot be done refuses the whole release, unless stop-first is
/// accepted).
async fn preflight(ctx: &Ctx, store: &Store, moves: &[Move], kind: Kind, stop_first: bool) -> Result<(), OpError> {
    let mut quiet = Progress::new(None, ctx.stack.masker.clone());
    for m in moves {
        let key = m.old.key.to_string();
        refuse_latched(store, &key)?;
        if ctx.backend.orchestrated() {
            // Swarm updates the tasks by the service's own update_config: no strategy to check.
            continue;
        }
        let cfg = ctx.stack.settings(&m.old.key);
        super::strategy::resolve(ctx, &m.old, &cfg, kind == Kind::Rollback, stop_first, store, &mut quiet)
            .await
            .map_err(|e| match e {
                OpError::Refused(r) => OpError::Refused(format!(
                    "{r} (nothing was moved; with a release: stackdeck deploy --release TAG --stop-first ...)"
                )),
                other => other,
            })?;
    }
    Ok(())
}

/// Each service's `depends_on`, from its compose file (this machine's engine only: a remote
/// engine's files are on the server, and the order given is kept; on Swarm too).
fn depends_on(ctx: &Ctx, olds: &[Container], p: &mut Progress) -> BTreeMap<String, Vec<String>> {
    let mut deps = BTreeMap::new();
    if ctx.backend.orchestrated() {
        p.step(None, "on Swarm the order given is kept (Swarm ignores a stack file's depends_on)".to_owned());
        return deps;
    }
    if crate::domain::is_remote(ctx.backend.endpoint()) {
        p.step(
            None,
            "the engine is remote: its compose files are on the server, so the order given is kept".to_owned(),
        );
        return deps;
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut seen = std::collections::BTreeSet::new();
    for c in olds {
        let (Some(project), Some(files)) = (c.key.project.as_deref(), c.compose.as_ref()) else { continue };
        if !seen.insert(project.to_owned()) {
            continue;
        }
        match crate::compose::load(&crate::compose::Source::of(project, files), &env) {
            Ok(proj) => {
                for (name, def) in proj.services {
                    let d = def.depends_on.iter().map(|d| format!("{project}/{d}")).collect();
                    deps.insert(format!("{project}/{name}"), d);
                }
            }
            Err(e) => p.step(None, format!("compose file of {project} not readable ({e}): its order is the one given")),
        }
    }
    deps
}

/// Move each service in turn; when one does not pass, move back those already moved, newest
/// first. The parent record is finished on every path.
#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &Ctx,
    store: &Store,
    parent: i64,
    what: &str,
    moves: Vec<Move>,
    kind: Kind,
    stop_first: bool,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    let total = moves.len();
    let mut moved: Vec<Container> = Vec::new();
    let mut rest = moves.into_iter();
    while let Some(m) = rest.next() {
        let key = m.old.key.to_string();
        let ended = move_one(ctx, store, parent, kind, &m.old, m.to, stop_first, p, cancel).await;
        p.record = Some(parent);
        let e = match ended {
            Ok(_) => {
                moved.push(m.old);
                p.step(Some(store), format!("{what}: {key} done ({} of {total})", moved.len()));
                continue;
            }
            Err(e) => e,
        };
        let left: Vec<String> = rest.map(|m| m.old.key.to_string()).collect();
        let moved_keys: Vec<String> = moved.iter().map(|c| c.key.to_string()).collect();
        let stopped =
            std::iter::once(&key).chain(&moved_keys).chain(&left).find_map(|k| super::gate::latched(store, k));
        if let Some(stop) = stopped {
            let why = format!(
                "{stop}: {what} ends here, nothing else moves; moved and left as they are: {}; not moved: {}",
                list(&moved_keys),
                list(&std::iter::once(key.clone()).chain(left).collect::<Vec<_>>())
            );
            p.step(Some(store), why.clone());
            let _ = store.finish(parent, Outcome::Interrupted, Some(&why), None);
            let hint = if kind == Kind::Deploy && !moved.is_empty() {
                format!(" (stackdeck rollback --release {parent} puts them back)")
            } else {
                String::new()
            };
            return Err(OpError::Failed(format!("{why}{hint}")));
        }
        let cause = format!("{key} did not pass: {e}");
        if moved.is_empty() {
            let _ = store.finish(parent, Outcome::RolledBack, Some(&cause), None);
            return Err(OpError::Failed(format!("{what} rolled back: {cause}; nothing else had moved")));
        }
        p.step(Some(store), format!("{cause}; moving back {} in reverse order", list(&moved_keys)));
        let failures = revert(ctx, store, parent, &moved, p).await;
        p.record = Some(parent);
        return if failures.is_empty() {
            let why = format!("{cause}; moved back: {}", list(&moved_keys));
            let _ = store.finish(parent, Outcome::RolledBack, Some(&why), None);
            p.step(Some(store), format!("{what} rolled back: every service is on its previous image"));
            Err(OpError::Failed(format!("{what} rolled back: {why}")))
        } else {
            let why = format!("{cause}; NOT moved back: {}", failures.join("; "));
            let _ = store.finish(parent, Outcome::Failed, Some(&why), None);
            p.step(Some(store), format!("FAILED: {why}"));
            Err(OpError::Failed(format!("{what} failed: {why}")))
        };
    }
    let summary = format!("{what} of {} succeeded", list(&moved.iter().map(|c| c.key.to_string()).collect::<Vec<_>>()));
    p.step(Some(store), summary.clone());
    if let Err(e) = store.finish(parent, Outcome::Succeeded, None, None) {
        p.step(None, format!("WARNING: {e}"));
    }
    Ok(Done { outcome: Outcome::Succeeded, summary })
}

/// Move `moved` (each as it was before) back, newest first, each through its own gate. The
/// operator's cancel asked for this: it is not cancelled. Returns what could not go back.
async fn revert(ctx: &Ctx, store: &Store, parent: i64, moved: &[Container], p: &mut Progress) -> Vec<String> {
    let mut failures = Vec::new();
    for before in moved.iter().rev() {
        let key = before.key.to_string();
        let now = match ctx.backend.resolve(&key, None).await {
            Ok(svc) => current(ctx, &svc, "a rollback").await,
            Err(e) => Err(OpError::from(e)),
        };
        let now = match now {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{key}: {e}"));
                continue;
            }
        };
        if let Err(e) = refuse_latched(store, &key) {
            failures.push(format!("{key}: {e}"));
            continue;
        }
        let to = To::Exact { reference: before.image.clone(), id: before.image_id.clone() };
        let cancel = CancellationToken::new();
        if let Err(e) = move_one(ctx, store, parent, Kind::Rollback, &now, to, true, p, &cancel).await {
            failures.push(format!("{key}: {e}"));
        }
    }
    failures
}

/// Where a service is now, as one instance: a compose service's one container, or for a Swarm
/// service its spec's image (and that image's id on the manager) on its first task.
async fn current(ctx: &Ctx, svc: &crate::backend::Service, what: &str) -> Result<Container, OpError> {
    if !ctx.backend.orchestrated() {
        return single(svc, what);
    }
    let first = svc
        .instances
        .first()
        .ok_or_else(|| OpError::Usage(format!("{} has no task meant to run: start it before {what}", svc.key)))?;
    let image = ctx.backend.rollout(svc).await?.image;
    let image_id = ctx.backend.image_id(&image).await?.ok_or_else(|| {
        OpError::Failed(format!("{}'s image {image} is not on the manager: its image id is not known", svc.key))
    })?;
    Ok(Container { image, image_id, ..first.clone() })
}

/// One service of a release moved to `to`: a compose deploy of its container, or a gated
/// service update on Swarm. Its lock is the release's.
#[allow(clippy::too_many_arguments)]
async fn move_one(
    ctx: &Ctx,
    store: &Store,
    parent: i64,
    kind: Kind,
    old: &Container,
    to: To,
    stop_first: bool,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<Done, OpError> {
    let key = old.key.to_string();
    if ctx.backend.orchestrated() {
        let svc = ctx.backend.resolve(&key, None).await?;
        return super::swarm_deploy::one(ctx, store, kind, &svc, &to, Some(parent), p, cancel).await;
    }
    let plan = Plan { kind, key, old: old.clone(), to, stop_first_ok: stop_first, parent: Some(parent) };
    one(ctx, store, plan, p, cancel).await
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() { "none".into() } else { keys.join(", ") }
}
