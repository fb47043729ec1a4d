//! bollard API structs -> stackdeck's domain types. The only place that knows their shape.

use crate::domain::{ComposeFiles, Container, ContainerId, Health, RunState, ServiceKey, StatsFrom, StatsSample};
use crate::logtext::inert;
use bollard::models::{ContainerInspectResponse, ContainerStatsResponse, ContainerSummary};

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";

/// A label's value as stackdeck names it: inert, and masked by the built-in patterns (a compose
/// label can hold `token=...` as well as escapes, and a service's name goes everywhere).
pub(super) fn label(v: &str) -> String {
    crate::logtext::clean_builtin(v)
}

fn ts(s: Option<&str>) -> Option<jiff::Timestamp> {
    let s = s?;
    // The engine uses 0001-01-01T00:00:00Z for "never".
    if s.starts_with("0001-") {
        return None;
    }
    s.parse().ok()
}

/// Every text of a container that the panel, the CLI, the history and webhooks show is made
/// inert here, at the boundary (compose labels can hold any bytes; names and references are
/// checked by the engine but not for what a terminal does with them).
pub fn container(ins: ContainerInspectResponse) -> Option<Container> {
    let config = ins.config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let st = ins.state.unwrap_or_default();
    let state = st.status.map_or(RunState::Unknown, |s| RunState::parse(s.as_ref()));
    let health = st.health.and_then(|h| h.status).map_or(Health::None, |h| Health::parse(h.as_ref()));
    let name = ins.name.as_deref().unwrap_or_default();
    let image = (config.image.as_deref().unwrap_or_default(), ins.image.as_deref().unwrap_or_default());
    let mut c = described(&ins.id?, name, &labels, (state, health), image);
    c.started_at = ts(st.started_at.as_deref());
    c.finished_at = ts(st.finished_at.as_deref());
    c.restarts = ins.restart_count.unwrap_or(0);
    c.exit_code = st.exit_code;
    c.memory_limit = ins.host_config.and_then(|h| h.memory).unwrap_or(0).max(0) as u64;
    c.pid = st.pid.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0);
    Some(c)
}

/// A container as its list entry describes it: enough for a first frame (name, service, state,
/// health, image), without what only an inspect says (start and finish times, restarts, memory
/// limit); the inspect that follows replaces it. The same boundary rules as [`container`].
pub fn container_from_summary(s: &ContainerSummary) -> Option<Container> {
    let (id, state, health) = summary_fingerprint(s)?;
    let name = s.names.as_ref().and_then(|n| n.first()).map(String::as_str).unwrap_or_default();
    let empty = std::collections::HashMap::new();
    let labels = s.labels.as_ref().unwrap_or(&empty);
    let image = (s.image.as_deref().unwrap_or_default(), s.image_id.as_deref().unwrap_or_default());
    let mut c = described(&id.0, name, labels, (state, health), image);
    // "Exited (137) 5 seconds ago"
    c.exit_code = s
        .status
        .as_deref()
        .and_then(|t| t.strip_prefix("Exited ("))
        .and_then(|t| t.split_once(')'))
        .and_then(|(code, _)| code.parse().ok());
    Some(c)
}

/// What the list and the inspect both say of a container, inert; the rest left empty.
fn described(
    id: &str,
    name: &str,
    labels: &std::collections::HashMap<String, String>,
    (state, health): (RunState, Health),
    (image, image_id): (&str, &str),
) -> Container {
    let name = inert(name.trim_start_matches('/')).into_owned();
    let key = match (labels.get(LABEL_PROJECT), labels.get(LABEL_SERVICE)) {
        (Some(p), Some(s)) => ServiceKey::new(Some(&label(p)), &label(s)),
        _ => ServiceKey::new(None, &name),
    };
    Container {
        id: ContainerId(inert(id).into_owned()),
        name,
        key,
        state,
        health,
        image: inert(image).into_owned(),
        image_id: inert(image_id).into_owned(),
        started_at: None,
        finished_at: None,
        restarts: 0,
        exit_code: None,
        memory_limit: 0,
        pid: None,
        compose: compose_files(labels),
    }
}

pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";

/// Paths stay as the labels hold them (they are read from, never shown without `inert`).
fn compose_files(labels: &std::collections::HashMap<String, String>) -> Option<ComposeFiles> {
    let working_dir = labels.get(LABEL_WORKING_DIR)?.clone();
    let files = labels
        .get(LABEL_CONFIG_FILES)
        .map(|f| f.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Some(ComposeFiles { files, working_dir })
}

/// What a list entry says, cheaply, to decide whether a full inspect is needed.
pub fn summary_fingerprint(s: &ContainerSummary) -> Option<(ContainerId, RunState, Health)> {
    let id = ContainerId(s.id.clone()?);
    let state = s.state.map_or(RunState::Unknown, |st| RunState::parse(st.as_ref()));
    let status = s.status.as_deref().unwrap_or("");
    // API < 1.52 has no health field in lists; the status text carries it: "Up 5 s (healthy)".
    let health = if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::None
    };
    Some((id, state, health))
}

/// Reduce a stats response to what the panel shows (docker CLI formulas).
pub fn stats(s: &ContainerStatsResponse) -> Option<StatsSample> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref();
    let total = cpu.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0);
    let pre_total = pre.and_then(|p| p.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0);
    let sys = cpu.system_cpu_usage.unwrap_or(0);
    let pre_sys = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
    let online = cpu
        .online_cpus
        .map(u64::from)
        .or_else(|| cpu.cpu_usage.as_ref().and_then(|u| u.percpu_usage.as_ref()).map(|v| v.len() as u64))
        .unwrap_or(1)
        .max(1);
    let cpu_delta = total.saturating_sub(pre_total) as f64;
    let sys_delta = sys.saturating_sub(pre_sys) as f64;
    let cpu_percent = if sys_delta > 0.0 && pre_sys > 0 { cpu_delta / sys_delta * online as f64 * 100.0 } else { 0.0 };

    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let cache = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| st.get("inactive_file").or_else(|| st.get("total_inactive_file")).or_else(|| st.get("cache")))
        .copied()
        .unwrap_or(0);
    let (mut rx, mut tx) = (0, 0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.rx_bytes.unwrap_or(0);
        tx += n.tx_bytes.unwrap_or(0);
    }
    let (mut br, mut bw) = (0, 0);
    for e in s.blkio_stats.iter().flat_map(|b| b.io_service_bytes_recursive.iter().flatten()) {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => br += e.value.unwrap_or(0),
            Some("write") => bw += e.value.unwrap_or(0),
            _ => {}
        }
    }
    Some(StatsSample {
        cpu_percent,
        mem_bytes: usage.saturating_sub(cache),
        mem_limit: mem.and_then(|m| m.limit).unwrap_or(0),
        net_rx: rx,
        net_tx: tx,
        blk_read: br,
        blk_write: bw,
        from: StatsFrom::Engine,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_entry_is_a_first_frame_inert_with_health_and_exit_code() {
        let labels = [(LABEL_PROJECT, "p"), (LABEL_SERVICE, "bot\u{1b}]0;x\u{7}")];
        let s = ContainerSummary {
            id: Some("abc".into()),
            names: Some(vec!["/p_bot\u{1b}[2J_1".into()]),
            image: Some("img:1".into()),
            state: Some(bollard::models::ContainerSummaryStateEnum::EXITED),
            status: Some("Exited (137) 5 seconds ago".into()),
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..Default::default()
        };
        let c = container_from_summary(&s).unwrap();
        assert_eq!((c.state, c.exit_code, c.started_at), (RunState::Exited, Some(137), None));
        assert!(!c.name.contains('\u{1b}') && !c.key.service.contains('\u{1b}'), "{c:?}");
        let up = ContainerSummary {
            status: Some("Up 3 minutes (unhealthy)".into()),
            state: Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
            ..s
        };
        let c = container_from_summary(&up).unwrap();
        assert_eq!((c.state, c.health, c.exit_code), (RunState::Running, Health::Unhealthy, None));
    }
}
