//! `stackdeck status`: a one-shot snapshot for scripts and for sessions without a TTY.

use crate::config::Stack;
use crate::domain::EngineInfo;
use crate::domain::{Container, Health, RunState};
use crate::engine::{self, Endpoint};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    pub engine: EngineJson,
    pub services: Vec<ServiceJson>,
}

#[derive(Debug, Serialize)]
pub struct EngineJson {
    pub host: String,
    pub source: String,
    pub api_version: String,
    pub server_version: String,
}

#[derive(Debug, Serialize)]
pub struct ServiceJson {
    pub project: Option<String>,
    pub service: String,
    pub container: String,
    pub state: RunState,
    pub health: Health,
    pub image: String,
    pub image_id: String,
    pub started_at: Option<String>,
    pub restarts: i64,
    /// The HTTP probe's answer, when the config names a health URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
}

/// Build the report (probing configured health URLs once, concurrently).
pub async fn collect(ep: &Endpoint, project: Option<&str>, stack: &Stack) -> Result<Report, String> {
    let (info, mut containers): (EngineInfo, Vec<Container>) = engine::snapshot(ep, project).await?;
    containers.retain(|c| !stack.settings(&c.key).hidden);
    containers.sort_by(|a, b| {
        (a.key.project.is_none(), &a.key.project, &a.key.service, &a.name).cmp(&(
            b.key.project.is_none(),
            &b.key.project,
            &b.key.service,
            &b.name,
        ))
    });
    let client = crate::http::client();
    let probes = futures::future::join_all(containers.iter().map(|c| {
        let s = stack.settings(&c.key);
        let (url, timeout) = (s.health_url, s.probe_timeout);
        let client = client.clone();
        let running = c.state == RunState::Running;
        async move {
            match url {
                // Not reachable from here: said, and the engine's health counts.
                Some(u) if running && let Some(why) = crate::http::unreachable(&u) => Some((true, why)),
                Some(u) if running => Some(crate::http::probe_once(&client, &u, timeout).await),
                _ => None,
            }
        }
    }))
    .await;
    let services = containers
        .into_iter()
        .zip(probes)
        .map(|(c, probe)| {
            let health = match &probe {
                Some((ok, _)) => c.health.worst(if *ok { Health::Healthy } else { Health::Unhealthy }),
                None => c.health,
            };
            ServiceJson {
                project: c.key.project.clone(),
                service: c.key.service.clone(),
                container: c.name,
                state: c.state,
                health,
                image: c.image,
                image_id: c.image_id,
                started_at: c.started_at.map(|t| t.to_string()),
                restarts: c.restarts,
                probe: probe.map(|(_, d)| d),
            }
        })
        .collect();
    Ok(Report {
        engine: EngineJson {
            host: info.host,
            source: info.source,
            api_version: info.api_version,
            server_version: info.server_version,
        },
        services,
    })
}

/// Plain-text table.
pub fn render_text(r: &Report) -> String {
    let mut out = format!("engine {} (API {}, {})\n", r.engine.host, r.engine.api_version, r.engine.server_version);
    let key = |s: &ServiceJson| match &s.project {
        Some(p) => format!("{p}/{}", s.service),
        None => s.service.clone(),
    };
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for s in &r.services {
        *count.entry(key(s)).or_default() += 1;
    }
    let rows: Vec<[String; 6]> = r
        .services
        .iter()
        .map(|s| {
            let k = key(s);
            // A service with several containers: each row names its container.
            let svc = if count[&k] > 1 { format!("{k} ({})", s.container) } else { k };
            let short = crate::domain::short_image_id(&s.image_id);
            [
                svc,
                s.state.as_str().to_owned(),
                s.health.as_str().to_owned(),
                s.restarts.to_string(),
                s.image.clone(),
                short.to_owned(),
            ]
        })
        .collect();
    let header = ["SERVICE", "STATE", "HEALTH", "RESTARTS", "IMAGE", "IMAGE ID"].map(str::to_owned);
    let mut w = [0usize; 6];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (i, cell) in row.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if r.services.is_empty() {
        out.push_str("(no containers)\n");
    }
    for s in r.services.iter().filter(|s| s.container.ends_with(crate::domain::PARKED_SUFFIX)) {
        out.push_str(&format!(
            "note: an interrupted deploy left {} aside: `stackdeck recover {}` puts it back and gates it\n",
            s.container,
            key(s)
        ));
    }
    out
}
