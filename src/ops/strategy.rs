//! How a deploy replaces a service's container, in the compose specification's words:
//! `deploy.update_config` (or `rollback_config` for a rollback) from the service's compose file,
//! overridden per service by the stackdeck config (`order`, `failure_action`, `monitor_secs`).
//! Kill-switch services are always stop-first. A start-first deploy is checked first for what
//! makes it impossible, and refused with the blocker named unless the operator confirmed
//! stop-first.

use super::{Ctx, Progress};
use crate::compose::{FailureAction, Order, ServiceDef};
use crate::config::stack::ServiceSettings;
use crate::domain::{Container, OpError};
use std::time::Duration;

/// The longest monitor window (monitor_secs has the same range).
const MAX_MONITOR: Duration = Duration::from_secs(3_600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Strategy {
    pub order: Order,
    /// Rollback or Pause (compose's `continue` is taken as rollback: one container has no
    /// "rest of the update" to continue with).
    pub failure_action: FailureAction,
    pub monitor: Duration,
}

/// The service's definition in its compose file, when the engine is this machine's and the
/// file can be read (a file that cannot is said, and the config and defaults apply).
fn compose_def(ctx: &Ctx, c: &Container, store: &crate::store::Store, p: &mut Progress) -> Option<ServiceDef> {
    let (project, files) = (c.key.project.as_deref()?, c.compose.as_ref()?);
    if crate::domain::is_remote(ctx.backend.endpoint()) {
        return None;
    }
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    match crate::compose::load(&crate::compose::Source::of(project, files), &env) {
        Ok(mut proj) => proj.services.remove(&c.key.service),
        Err(e) => {
            p.step(Some(store), format!("compose file not readable ({e}): the stackdeck config and defaults apply"));
            None
        }
    }
}

pub(super) async fn resolve(
    ctx: &Ctx,
    old: &Container,
    cfg: &ServiceSettings,
    rollback: bool,
    stop_first_ok: bool,
    store: &crate::store::Store,
    p: &mut Progress,
) -> Result<Strategy, OpError> {
    let def = compose_def(ctx, old, store, p);
    let file = def.as_ref().map(|d| {
        let uc = if rollback { &d.rollback } else { &d.update };
        (uc.order, uc.failure_action, uc.monitor)
    });
    let (file_order, file_action, file_monitor) = file.unwrap_or((None, None, None));
    let field = if rollback { "rollback_config" } else { "update_config" };
    let (mut order, mut from) = match (cfg.order, file_order) {
        (Some(o), _) => (o, "the stackdeck config".to_owned()),
        (None, Some(o)) => (o, format!("the compose file's deploy.{field}")),
        (None, None) => (Order::StopFirst, "the default".to_owned()),
    };
    if cfg.kill_switch && order == Order::StartFirst {
        order = Order::StopFirst;
        from = "a kill-switch service is always stop-first: two instances would both trade".to_owned();
    }
    let failure_action = match cfg.failure_action.or(file_action).unwrap_or(FailureAction::Rollback) {
        FailureAction::Continue => FailureAction::Rollback,
        a => a,
    };
    let monitor = if cfg.monitor_set { cfg.monitor } else { file_monitor.unwrap_or(cfg.monitor) };
    // The same range as monitor_secs: a window of days is a typo, not a gate.
    if !cfg.monitor_set && monitor > MAX_MONITOR {
        return Err(OpError::Usage(format!(
            "the compose file's deploy.{field}.monitor for {} is {} s, out of range (0 to {} s): fix it there, or set monitor_secs for the service in the stackdeck config",
            old.key,
            monitor.as_secs(),
            MAX_MONITOR.as_secs()
        )));
    }
    if order == Order::StartFirst {
        let mut blockers = ctx.backend.start_first_blockers(old).await?;
        if let Some(name) = def.as_ref().and_then(|d| d.container_name.as_deref()) {
            blockers.push(format!(
                "it has a fixed container_name ({}): two containers cannot share it (drop container_name)",
                crate::logtext::inert(name)
            ));
        }
        if !blockers.is_empty() {
            let why = blockers.join("; ");
            if !stop_first_ok {
                return Err(OpError::Refused(format!(
                    "{}: {} {why}. Change that, or deploy stop-first (the service is down while the new container starts): stackdeck deploy --stop-first, or confirm stop-first in the panel",
                    old.key,
                    crate::domain::START_FIRST_BLOCKED,
                )));
            }
            p.step(Some(store), format!("start-first is not possible ({why}): stop-first, as the operator confirmed"));
            order = Order::StopFirst;
            from = "the operator's confirmation".to_owned();
        }
    }
    p.step(
        Some(store),
        format!(
            "strategy: {} ({from}), on failure {}, monitor {} s",
            order.as_str(),
            failure_action.as_str(),
            monitor.as_secs()
        ),
    );
    Ok(Strategy { order, failure_action, monitor })
}

/// How a replace ended when it did not succeed.
pub(super) enum SwapError {
    RolledBack(String),
    /// The gate failed and the failure action is pause: left as it is for the operator.
    Paused(String),
    Interrupted(String),
    Failed(String),
}
