//! The health gate of deploys and rollbacks: the engine's healthcheck reaches healthy (when the
//! instance has one) AND the configured HTTP URL answers 2xx, tried `tries` times `interval`
//! apart. An emergency stop or the operator's cancel ends it early.

use super::{Ctx, Progress, retry};
use crate::config::stack::ServiceSettings;
use crate::domain::{ContainerId, Health, RunState};
use crate::store::Store;
use tokio_util::sync::CancellationToken;

/// Why an instance did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stopped {
    /// The gate failed (or the operator cancelled): go back to what ran before.
    Unhealthy(String),
    /// Emergency stop: do not bring anything back up.
    Aborted(String),
}

/// The emergency stop of `key`, if one is on (from any process): it wins over everything.
pub(super) fn latched(store: &Store, key: &str) -> Option<String> {
    match store.kill_switch(key) {
        Ok(Some(k)) => Some(format!("emergency stop by {}: {}", k.by, k.reason)),
        _ => None,
    }
}

/// Why the operation must stop now, if it must: the service was emergency-stopped (checked
/// first: a stop wins over a cancel), or the operator cancelled.
pub(super) fn abort_reason(store: &Store, key: &str, cancel: &CancellationToken) -> Option<String> {
    latched(store, key).or_else(|| cancel.is_cancelled().then(|| "cancelled by the operator".into()))
}

pub(super) async fn gate(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    id: &ContainerId,
    cfg: &ServiceSettings,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), Stopped> {
    let (tries, interval) = (cfg.gate_tries, cfg.gate_interval);
    let client = crate::http::client();
    // The healthcheck's own budget (start_period + retries x (interval + timeout)): while the
    // engine still says "starting" inside it, the gate waits past its tries instead of guessing.
    let budget = ctx.backend.health_budget(id).await.ok().flatten();
    let began = tokio::time::Instant::now();
    let mut said_budget = false;
    let mut i = 0;
    loop {
        i += 1;
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => {}
        }
        // Emergency stop = leave the service down; cancel = go back to the old instance.
        if let Some(why) = latched(store, key) {
            return Err(Stopped::Aborted(why));
        }
        if cancel.is_cancelled() {
            return Err(Stopped::Unhealthy("cancelled by the operator".into()));
        }
        let now = retry(p, "reading the container's health", || ctx.backend.instance(id))
            .await
            .map_err(|e| Stopped::Unhealthy(e.to_string()))?;
        let (state, health, exit) = match &now {
            Some(c) => (c.state, c.health, c.exit_code),
            None => (RunState::Removing, Health::None, None),
        };
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
        let (http_ok, http) = match &cfg.health_url {
            // Not reachable from here (a TLS engine's server's loopback): the engine decides.
            Some(u) if let Some(why) = crate::http::unreachable(u) => {
                (true, format!("{} {why}", crate::http::shown(u)))
            }
            Some(u) => {
                let t0 = std::time::Instant::now();
                let (ok, d) = crate::http::probe_once(&client, u, cfg.probe_timeout).await;
                (ok, format!("{} {d} in {} ms", crate::http::shown(u), t0.elapsed().as_millis()))
            }
            None => (true, "no health URL configured".into()),
        };
        let engine = if health == Health::None { "no healthcheck" } else { health.as_str() };
        p.step(Some(store), format!("  try {i}/{tries}: engine {engine}, http {http}"));
        if engine_ok && http_ok {
            return Ok(());
        }
        if i >= tries {
            match budget {
                Some(b) if health == Health::Starting && began.elapsed() < b => {
                    if !said_budget {
                        p.step(
                            Some(store),
                            format!(
                                "  the healthcheck is still starting: waiting up to its own budget ({} s: start_period + retries x (interval + timeout))",
                                b.as_secs()
                            ),
                        );
                        said_budget = true;
                    }
                }
                _ => break,
            }
        }
    }
    let waited = if said_budget {
        format!(" and the healthcheck's {} s budget", budget.unwrap_or_default().as_secs())
    } else {
        String::new()
    };
    Err(Stopped::Unhealthy(format!("not healthy after {tries} tries {} s apart{waited}", interval.as_secs())))
}

/// Is the instance healthy right now (running, engine health fine, HTTP probe 2xx)? One look,
/// no tries: for recording the image that ran before the first gated deploy.
pub(super) async fn healthy_now(ctx: &Ctx, id: &ContainerId, cfg: &ServiceSettings) -> bool {
    let Ok(Some(c)) = ctx.backend.instance(id).await else { return false };
    if c.state != RunState::Running || !matches!(c.health, Health::Healthy | Health::None) {
        return false;
    }
    match &cfg.health_url {
        Some(u) if crate::http::unreachable(u).is_some() => true,
        Some(u) => crate::http::probe_once(&crate::http::client(), u, cfg.probe_timeout).await.0,
        None => true,
    }
}

/// Put what the failed instance said last into the transcript (health-check log, last log
/// lines), before it is removed: the History pane shows why the deploy went back.
pub(super) async fn record_last_words(ctx: &Ctx, store: &Store, id: &ContainerId, p: &mut Progress) {
    match ctx.backend.last_words(id, 20).await {
        Ok(lines) if lines.is_empty() => p.step(Some(store), "the failed container said nothing".to_owned()),
        Ok(lines) => {
            p.step(Some(store), "what the failed container said last:".to_owned());
            for l in lines {
                p.step(Some(store), format!("  | {l}"));
            }
        }
        Err(e) => p.step(Some(store), format!("its last words could not be read: {e}")),
    }
}
