//! `stackdeck logs`: what services logged between two moments, read once (not followed) from
//! every container of each, merged by the engine's timestamps. Every line goes through the same
//! sanitizing and masking as the panel's; at most `limit` lines are kept (the newest), and how
//! many more there were is said.

use super::logs::{Assembler, labelled};
use super::{Endpoint, connect, describe, supervisor, swarm};
use crate::domain::Container;
use crate::logtext::{LogLine, Masker};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures::StreamExt;

/// One line and where it comes from.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// `project/service` (or the service name outside a project).
    pub service: String,
    pub container: String,
    pub line: LogLine,
}

/// The lines, oldest first, and how many older ones were left out over `limit`.
#[derive(Debug, Default)]
pub struct Range {
    pub lines: Vec<Sourced>,
    pub left_out: usize,
}

/// Does `target` name this container's service: `service`, `project/service`, or the
/// container's name?
fn named(c: &Container, target: &str) -> bool {
    c.key.service == target || c.key.to_string() == target || c.name == target
}

/// Read the logs of the services named (every one when `targets` is empty) between `since` and
/// `until` (unix seconds; the engine's filter is whole seconds).
pub async fn read(
    ep: &Endpoint,
    project: Option<&str>,
    targets: &[String],
    since: Option<i64>,
    until: Option<i64>,
    masker: &Masker,
    limit: usize,
) -> Result<Range, String> {
    let (docker, _) = connect(ep).await.map_err(|e| e.to_string())?;
    if swarm::role(&docker).await.ok().flatten() == Some(crate::domain::SwarmRole::Manager) {
        return Err("this engine is a Swarm manager: a service's merged logs are in the panel (select a task \
                    row); `docker service logs` reads them from a script"
            .into());
    }
    let all = supervisor::list_all(&docker, project).await.map_err(|e| describe(&ep.host, &e))?;
    let unknown: Vec<&String> = targets.iter().filter(|t| !all.iter().any(|c| named(c, t))).collect();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|t| crate::logtext::clean(t, masker)).collect();
        return Err(format!("no container of {} on {}", names.join(", "), ep.host));
    }
    let chosen: Vec<&Container> =
        all.iter().filter(|c| targets.is_empty() || targets.iter().any(|t| named(c, t))).collect();
    let mut lines: Vec<Sourced> = Vec::new();
    let mut left_out = 0;
    for c in chosen {
        let mut b = LogsOptionsBuilder::default().follow(false).stdout(true).stderr(true).timestamps(true);
        if let Some(s) = since {
            b = b.since(i32::try_from(s).unwrap_or(i32::MAX));
        }
        if let Some(u) = until {
            b = b.until(i32::try_from(u).unwrap_or(i32::MAX));
        }
        let mut stream = docker.logs(&c.id.0, Some(b.build()));
        let (mut out, mut err) = (Assembler::default(), Assembler::default());
        let mut got: Vec<LogLine> = Vec::new();
        while let Some(item) = stream.next().await {
            let (bytes, stderr) = match item.map_err(|e| describe(&ep.host, &e))? {
                LogOutput::StdErr { message } => (message, true),
                LogOutput::StdOut { message } | LogOutput::Console { message } => (message, false),
                LogOutput::StdIn { .. } => continue,
            };
            let a = if stderr { &mut err } else { &mut out };
            a.push(&bytes, |raw, cut| got.push(labelled(raw, cut, stderr, masker, None)));
            // Bounded while reading: the newest `limit` of this container are enough.
            if got.len() > 2 * limit.max(1) {
                let over = got.len() - limit;
                got.drain(..over);
                left_out += over;
            }
        }
        out.finish(|raw, cut| got.push(labelled(raw, cut, false, masker, None)));
        err.finish(|raw, cut| got.push(labelled(raw, cut, true, masker, None)));
        let service = c.key.to_string();
        lines.extend(got.into_iter().map(|line| Sourced { service: service.clone(), container: c.name.clone(), line }));
    }
    // By the engine's timestamp (RFC 3339 in UTC with nanoseconds: parsed, not compared as text).
    lines.sort_by_cached_key(|s| s.line.stamp().and_then(|t| t.parse::<jiff::Timestamp>().ok()));
    let over = lines.len().saturating_sub(limit);
    lines.drain(..over);
    Ok(Range { lines, left_out: left_out + over })
}
