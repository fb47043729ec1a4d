//! The inspect view of one container: what an operator checks before and after a deploy. Every
//! text is made inert and masked; environment values whose name says secret are hidden whole.

use super::{CALL_TIMEOUT, Endpoint, connect};
use crate::domain::{ContainerId, Inspected};
use crate::logtext::{Masker, clean};
use bollard::query_parameters::InspectContainerOptions;

/// Names whose values are never shown (the value may not match any pattern).
const SECRET_WORDS: [&str; 8] = ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH", "PRIVATE", "DSN"];

fn secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| up.contains(w))
}

/// `NAME=value` as shown: the value hidden for a secret-looking name, else masked.
pub fn env_line(line: &str, masker: &Masker) -> String {
    match line.split_once('=') {
        Some((k, v)) if secret_name(k) && !v.is_empty() => format!("{}=•••••• (hidden)", clean(k, masker)),
        _ => clean(line, masker),
    }
}

/// Read the container (and its image) and lay it out in sections.
pub async fn inspect(ep: &Endpoint, id: &ContainerId, masker: &Masker) -> Result<Inspected, String> {
    let (docker, _) = connect(ep).await.map_err(|e| e.to_string())?;
    let c = tokio::time::timeout(CALL_TIMEOUT, docker.inspect_container(&id.0, None::<InspectContainerOptions>))
        .await
        .map_err(|_| format!("no answer within {} s", CALL_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    let t = |s: &str| clean(s, masker);
    let cfg = c.config.clone().unwrap_or_default();
    let host = c.host_config.clone().unwrap_or_default();
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let image_ref = cfg.image.clone().unwrap_or_default();
    let mut image = vec![format!("{} ({})", t(&image_ref), t(c.image.as_deref().unwrap_or("?")))];
    if let Ok(Ok(img)) =
        tokio::time::timeout(CALL_TIMEOUT, docker.inspect_image(c.image.as_deref().unwrap_or(&image_ref))).await
    {
        image.push(format!("created {}", t(img.created.map(|d| d.to_string()).as_deref().unwrap_or("?"))));
        for d in img.repo_digests.unwrap_or_default() {
            image.push(format!("digest {}", t(&d)));
        }
    }
    sections.push(("image".into(), image));
    let state = c.state.clone().unwrap_or_default();
    let policy = host.restart_policy.as_ref().and_then(|p| p.name).map_or_else(|| "?".to_owned(), |n| n.to_string());
    sections.push((
        "state".into(),
        vec![
            format!(
                "{} since {}, restart policy {policy}, restarted {} times",
                state.status.map_or_else(|| "?".to_owned(), |s| s.to_string()),
                t(state.started_at.as_deref().unwrap_or("?")),
                c.restart_count.unwrap_or(0)
            ),
            format!("command {}", t(&cfg.cmd.unwrap_or_default().join(" "))),
        ],
    ));
    let mut health = Vec::new();
    if let Some(h) = cfg.healthcheck.as_ref() {
        let secs = |n: Option<i64>| n.map_or_else(|| "default".to_owned(), |v| format!("{} s", v / 1_000_000_000));
        health.push(format!(
            "test {} · every {} · timeout {} · retries {} · start period {}",
            t(&h.test.clone().unwrap_or_default().join(" ")),
            secs(h.interval),
            secs(h.timeout),
            h.retries.map_or_else(|| "default".to_owned(), |r| r.to_string()),
            secs(h.start_period)
        ));
    }
    if let Some(hs) = state.health.as_ref() {
        health.push(format!("now {}", hs.status.map_or_else(|| "?".to_owned(), |s| s.to_string())));
        for r in hs.log.clone().unwrap_or_default().iter().rev().take(3) {
            let out = r.output.as_deref().unwrap_or_default().lines().next().unwrap_or_default().to_owned();
            health.push(format!(
                "exit {} at {}: {}",
                r.exit_code.unwrap_or(-1),
                t(r.end.as_deref().unwrap_or("?")),
                t(&out)
            ));
        }
    }
    if health.is_empty() {
        health.push("no healthcheck".into());
    }
    sections.push(("health".into(), health));
    let env: Vec<String> = cfg.env.unwrap_or_default().iter().map(|l| env_line(l, masker)).collect();
    sections.push(("environment".into(), env));
    let mounts: Vec<String> = c
        .mounts
        .unwrap_or_default()
        .iter()
        .map(|m| {
            format!(
                "{} -> {}{}",
                t(m.source.as_deref().or(m.name.as_deref()).unwrap_or("?")),
                t(m.destination.as_deref().unwrap_or("?")),
                if m.rw == Some(false) { " (read-only)" } else { "" }
            )
        })
        .collect();
    sections.push(("mounts".into(), mounts));
    let mut ports: Vec<String> = Vec::new();
    for (inside, outs) in host.port_bindings.unwrap_or_default() {
        for o in outs.unwrap_or_default() {
            ports.push(format!(
                "{}:{} -> {}",
                t(o.host_ip.as_deref().unwrap_or("")),
                t(o.host_port.as_deref().unwrap_or("")),
                t(&inside)
            ));
        }
    }
    if host.network_mode.as_deref() == Some("host") {
        ports.push("host network (the container's ports are the machine's)".into());
    }
    sections.push(("ports".into(), ports));
    let mut labels: Vec<String> =
        cfg.labels.unwrap_or_default().iter().map(|(k, v)| format!("{}={}", t(k), t(v))).collect();
    labels.sort();
    sections.push(("labels".into(), labels));
    Ok(Inspected { container: t(c.name.as_deref().unwrap_or(&id.0).trim_start_matches('/')), sections })
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_looking_names_are_hidden_whole_and_others_masked() {
        let m = crate::logtext::Masker::default();
        assert_eq!(super::env_line("API_TOKEN=abc", &m), "API_TOKEN=•••••• (hidden)");
        assert_eq!(super::env_line("POSTGRES_PASSWORD=hunter2", &m), "POSTGRES_PASSWORD=•••••• (hidden)");
        assert_eq!(super::env_line("SIM_PORT=8080", &m), "SIM_PORT=8080");
        assert!(!super::env_line("NOTE=\u{1b}[2J", &m).contains('\u{1b}'));
    }
}
