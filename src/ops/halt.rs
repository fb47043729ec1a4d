//! The halt hook: the first layer of an emergency stop. Before the stop signal, the service is
//! told to stand down (cancel its resting orders, flatten) by an HTTP request or a command run
//! in its container, within the hook's own time limit. Its answer is recorded and shown; a
//! failure or a timeout is recorded too, and the stop goes on regardless.

use super::Ctx;
use crate::backend::Service;
use crate::config::stack::{HaltAction, HaltHook};
use crate::domain::RunState;
use std::time::{Duration, Instant};

/// What the hook did, in one line, and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halted {
    pub ok: bool,
    /// `halt: HTTP 200 in 35 ms: {"cancelled":3}` / `halt: no answer within 3 s`.
    pub line: String,
    pub elapsed: Duration,
}

/// The longest answer kept of a hook (the record, the banner, the webhook).
const ANSWER_MAX: usize = 300;

pub(super) async fn run(ctx: &Ctx, svc: &Service, hook: &HaltHook) -> Halted {
    let started = Instant::now();
    let limit = hook.timeout;
    let result = match tokio::time::timeout(limit, call(ctx, svc, hook)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s: stopping anyway", limit.as_secs())),
    };
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis();
    let clip = |s: &str| {
        let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut t: String = one_line.chars().take(ANSWER_MAX).collect();
        if one_line.chars().count() > ANSWER_MAX {
            t.push('…');
        }
        crate::logtext::clean(&t, &ctx.stack.masker)
    };
    match result {
        Ok((status, answer)) if answer.trim().is_empty() => {
            Halted { ok: true, line: format!("halt: {status} in {ms} ms"), elapsed }
        }
        Ok((status, answer)) => {
            Halted { ok: true, line: format!("halt: {status} in {ms} ms: {}", clip(&answer)), elapsed }
        }
        Err(e) => Halted { ok: false, line: format!("halt FAILED after {ms} ms: {}", clip(&e)), elapsed },
    }
}

/// `Ok((status, answer))` when the hook says it did its part (2xx, exit 0).
async fn call(ctx: &Ctx, svc: &Service, hook: &HaltHook) -> Result<(String, String), String> {
    match &hook.action {
        HaltAction::Http { url, method, headers, headers_env } => {
            let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
            let to = crate::http::target(url)?;
            let mut req = crate::http::client().request(method, to).timeout(hook.timeout);
            for (name, value) in headers {
                req = req.header(name, value);
            }
            for (name, var) in headers_env {
                let value = std::env::var(var)
                    .map_err(|_| format!("the environment variable {var} (header {name}) is not set"))?;
                req = req.header(name, value);
            }
            let shown = crate::http::shown(url);
            let resp =
                req.send().await.map_err(|e| format!("{shown}: {}", crate::http::http_error(e, hook.timeout)))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if status.is_success() {
                Ok((format!("HTTP {}", status.as_u16()), body))
            } else {
                Err(format!("{shown} answered HTTP {}: {body}", status.as_u16()))
            }
        }
        HaltAction::Exec(cmd) => {
            let Some(c) = svc.instances.iter().find(|c| c.state == RunState::Running) else {
                return Err("no running container to run the hook in".into());
            };
            let (ran, out) = super::exec_output(ctx, &c.id, cmd, hook.timeout).await.map_err(|e| e.to_string())?;
            if ran.exit_code == 0 {
                Ok((format!("exit 0 in {}", c.name), out))
            } else {
                Err(format!("exit {} in {}: {}{}", ran.exit_code, c.name, out, ran.stderr))
            }
        }
    }
}
