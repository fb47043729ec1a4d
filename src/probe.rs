//! HTTP health probes for services that have a `health_url` in the stack config. One task per
//! URL; each result is a [`Msg::Probe`]. Every request has a timeout.

use crate::config::Stack;
use crate::domain::ServiceKey;
use crate::msg::{Msg, ProbeResult};
use std::time::Duration;
use tokio::sync::mpsc;

/// Probe once.
pub async fn probe_once(client: &reqwest::Client, url: &str, timeout: Duration) -> (bool, String) {
    match client.get(url).timeout(timeout).send().await {
        Ok(r) => {
            let s = r.status();
            (s.is_success(), format!("HTTP {}", s.as_u16()))
        }
        Err(e) => (false, http_error(e, timeout)),
    }
}

/// Why an HTTP call failed, in the operator's words and without the URL (a webhook URL is a
/// secret; every other caller names its URL itself). Shared by probes, Prometheus, scraping
/// and webhooks.
pub fn http_error(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        "connection refused".to_owned()
    } else if e.is_decode() || e.is_body() {
        format!("malformed response ({})", e.without_url())
    } else {
        e.without_url().to_string()
    }
}

pub fn client() -> reqwest::Client {
    // Probes go to the operator's own services: never through a proxy.
    reqwest::Client::builder().no_proxy().build().unwrap_or_default()
}

/// Start one probe loop per configured URL.
pub fn spawn_all(stack: &Stack, tx: &mpsc::Sender<Msg>) {
    let client = client();
    for (name, svc) in &stack.config.services {
        let Some(url) = svc.health_url.as_ref().map(|u| u.get_ref().clone()) else { continue };
        let key = ServiceKey::parse(name);
        let every = Duration::from_secs(svc.probe_interval_secs.unwrap_or(5));
        let timeout = Duration::from_secs(svc.probe_timeout_secs.unwrap_or(2));
        let (client, tx) = (client.clone(), tx.clone());
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
