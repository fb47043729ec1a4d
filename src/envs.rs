//! Every environment's summary for the picker, read in the background from its own engine,
//! store and Prometheus, and reported as messages (one per environment, as each arrives).

use crate::config::Stack;
use crate::domain::{EngineCounts, EnvSummary, Health, RunState};
use crate::engine::Endpoint;
use crate::msg::Msg;
use crate::store::shared::Shared;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// One environment, resolved: what the panel would operate if it switched to it.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub kind: String,
    pub endpoint: Endpoint,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub shared: Option<Shared>,
    /// The one the panel operates: its HTTP endpoints go through its forwards (another
    /// environment's `127.0.0.1:9090` is not this one's).
    pub current: bool,
}

/// How long one source may take before it counts as unreachable.
const WAIT: Duration = Duration::from_secs(10);

/// Read every environment's summary, each in its own task.
pub fn spawn(targets: &[Target], tx: &mpsc::Sender<Msg>) {
    for t in targets.iter().cloned() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let s = summarize(t).await;
            let _ = tx.send(Msg::Environment(s)).await;
        });
    }
}

async fn summarize(t: Target) -> EnvSummary {
    let engine = async {
        match tokio::time::timeout(WAIT, crate::engine::snapshot(&t.endpoint, None)).await {
            Err(_) => Err(format!("{}: no answer within {} s", t.endpoint.host, WAIT.as_secs())),
            Ok(Err(e)) => Err(e),
            Ok(Ok((_, containers))) => {
                let shown: Vec<_> = containers.iter().filter(|c| !t.stack.settings(&c.key).hidden).collect();
                Ok(EngineCounts {
                    running: shown.iter().filter(|c| c.state == RunState::Running).count(),
                    total: shown.len(),
                    unhealthy: shown.iter().filter(|c| c.health == Health::Unhealthy).count(),
                })
            }
        }
    };
    let (dir, shared) = (t.state_dir.clone(), t.shared.clone());
    let latched = async move {
        let read = tokio::task::spawn_blocking(move || {
            crate::store::Store::open_with(&dir, shared.as_ref()).and_then(|s| s.kill_switches())
        });
        match read.await {
            Ok(Ok(list)) => Ok(list.into_iter().map(|k| k.service).collect()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        }
    };
    let prom = t.stack.config.prometheus.url.as_ref().map(|u| u.get_ref().clone());
    let current = t.current;
    let alerts = async move {
        let url = prom?;
        Some(firing(&url, current).await)
    };
    let (engine, latched, alerts) = tokio::join!(engine, latched, alerts);
    EnvSummary { name: t.name, kind: t.kind, engine: Some(engine), alerts, latched: Some(latched) }
}

/// How many alerts Prometheus says are firing.
async fn firing(base: &str, current: bool) -> Result<usize, String> {
    let url = format!("{}/api/v1/alerts", base.trim_end_matches('/'));
    let r = crate::http::client()
        .get(if current { crate::http::target(&url)? } else { url })
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|_| "not reachable from here".to_owned())?;
    let v: serde_json::Value = r.json().await.map_err(|e| format!("unreadable answer: {e}"))?;
    let list = v["data"]["alerts"].as_array().ok_or("unreadable answer")?;
    Ok(list.iter().filter(|a| a["state"] == "firing").count())
}
