//! After the health gate: the monitor window and the smoke checks. A new instance that is
//! healthy once and then restarts, exits or turns unhealthy inside the window fails, as does a
//! smoke check (a command on the host, or in the new container) that exits non-zero or takes
//! longer than its timeout. What was seen goes to the operation's transcript (the evidence).

use super::gate::{Stopped, abort_reason};
use super::{Ctx, Progress};
use crate::config::stack::ServiceSettings;
use crate::domain::{ContainerId, Health, RunState};
use crate::store::Store;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the window looks at the instance.
const LOOK: Duration = Duration::from_millis(500);

/// The whole gate of a new instance: health (tries, probe, the healthcheck's own budget), then
/// the monitor window, then the smoke checks.
pub(super) async fn full_gate(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    id: &ContainerId,
    cfg: &ServiceSettings,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), Stopped> {
    super::gate::gate(ctx, store, key, id, cfg, p, cancel).await?;
    if !cfg.monitor.is_zero() {
        window(ctx, store, key, id, cfg.monitor, p, cancel).await?;
    }
    for (i, cmd) in cfg.smoke.iter().enumerate() {
        smoke(ctx, store, id, cmd, i + 1, cfg.smoke_timeout, p).await?;
    }
    Ok(())
}

async fn window(
    ctx: &Ctx,
    store: &Store,
    key: &str,
    id: &ContainerId,
    length: Duration,
    p: &mut Progress,
    cancel: &CancellationToken,
) -> Result<(), Stopped> {
    p.step(Some(store), format!("healthy; watching it for {} s (monitor window)", length.as_secs()));
    let start = tokio::time::Instant::now();
    let first = ctx.backend.instance(id).await.ok().flatten().map(|c| c.restarts);
    while start.elapsed() < length {
        tokio::select! {
            () = tokio::time::sleep(LOOK) => {}
            () = cancel.cancelled() => {}
        }
        if let Some(why) = abort_reason(store, key, cancel) {
            return Err(if cancel.is_cancelled() && !why.starts_with("emergency") {
                Stopped::Unhealthy(why)
            } else {
                Stopped::Aborted(why)
            });
        }
        let at = start.elapsed().as_secs_f64();
        // A failed look (the engine busy) is not a failure of the instance: look again.
        let Ok(now) = ctx.backend.instance(id).await else { continue };
        let why = match now {
            None => Some("the container was removed".to_owned()),
            Some(c) if c.state != RunState::Running => Some(format!(
                "the container {} (exit code {})",
                c.state.as_str(),
                c.exit_code.map_or("?".into(), |e| e.to_string())
            )),
            Some(c) if c.health == Health::Unhealthy => Some("the engine's healthcheck turned unhealthy".into()),
            Some(c) if first.is_some_and(|r| c.restarts > r) => {
                Some(format!("the container restarted ({} restarts)", c.restarts))
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            let why = format!("{why} {at:.1} s into the {} s monitor window", length.as_secs());
            p.step(Some(store), format!("  monitor: {why}"));
            return Err(Stopped::Unhealthy(why));
        }
    }
    p.step(Some(store), format!("  monitor: stayed up and healthy for {} s", length.as_secs()));
    Ok(())
}

async fn smoke(
    ctx: &Ctx,
    store: &Store,
    id: &ContainerId,
    check: &crate::config::stack::Smoke,
    n: usize,
    limit: Duration,
    p: &mut Progress,
) -> Result<(), Stopped> {
    use crate::config::stack::Smoke;
    let t0 = std::time::Instant::now();
    let (what, result) = match check {
        Smoke::Host(line) => (format!("on the host: {line}"), host(line, limit).await),
        Smoke::Exec(argv) => {
            let r = match super::exec_output(ctx, id, argv, limit).await {
                Ok((ran, out)) if ran.exit_code == 0 => Ok(out),
                Ok((ran, out)) => {
                    Err(format!("exit code {}: {}{}", ran.exit_code, out.trim_end(), ran.stderr.trim_end()))
                }
                Err(e) => Err(e.to_string()),
            };
            (format!("in the container: {}", argv.join(" ")), r)
        }
    };
    let ms = t0.elapsed().as_millis();
    match result {
        Ok(out) => {
            let out = last_line(&out);
            p.step(Some(store), format!("  smoke {n} ({what}): passed in {ms} ms{out}"));
            Ok(())
        }
        Err(why) => {
            p.step(Some(store), format!("  smoke {n} ({what}): FAILED after {ms} ms: {why}"));
            Err(Stopped::Unhealthy(format!("smoke check {n} failed ({what}): {}", first_line(&why))))
        }
    }
}

/// A host command through `sh -c`, killed at `limit`: its output (Ok on exit 0).
async fn host(line: &str, limit: Duration) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .args(["-c", line])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(limit, child).await {
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
        Ok(Err(e)) => Err(format!("cannot run it: {e}")),
        Ok(Ok(o)) => {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            if o.status.success() {
                Ok(text)
            } else {
                Err(format!("exit code {}: {}", o.status.code().map_or("?".into(), |c| c.to_string()), text.trim_end()))
            }
        }
    }
}

fn last_line(out: &str) -> String {
    out.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim())).unwrap_or_default()
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(200).collect()
}
