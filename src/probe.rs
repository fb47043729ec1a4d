//! HTTP health probes for services that have a `health_url` in the stack config. One task per
//! URL; each result is a [`Msg::Probe`]. Every request has a timeout.

use crate::config::Stack;
use crate::domain::ServiceKey;
use crate::http::{LazyClient, probe_once};
use crate::msg::{Msg, ProbeResult};
use tokio::sync::mpsc;

/// Start one probe loop per configured URL.
pub fn spawn_all(stack: &Stack, tx: &mpsc::Sender<Msg>) {
    // Built on the first probe, in its task: not on the way to the first frame, and not at all
    // without a health_url.
    let client = LazyClient;
    for name in stack.config.services.keys() {
        let key = ServiceKey::parse(name);
        let s = stack.settings(&key);
        let Some(url) = s.health_url else { continue };
        // On the loopback of an engine's machine that is not this one: said once, and the
        // engine's own health counts (a probe that always fails would call it unhealthy).
        if let Some(why) = crate::http::unreachable(&url) {
            let detail = format!("{}: {why}; the engine's health counts", crate::http::shown(&url));
            // `ok` here means "takes nothing away from the engine's health".
            let _ = tx.try_send(Msg::Probe(ProbeResult { key, ok: true, detail }));
            continue;
        }
        let (every, timeout) = (s.probe_interval, s.probe_timeout);
        let (client, tx) = (client, tx.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (ok, detail) = probe_once(&client, &url, timeout).await;
                if tx.send(Msg::Probe(ProbeResult { key: key.clone(), ok, detail })).await.is_err() {
                    return;
                }
            }
        });
    }
}
