//! A swarm service's rollout in the domain's words ([`Rollout`]): the spec's image, Swarm's update state and message, the update_config as the compose file writes
//! it, and the service's tasks with their nodes. Every text from the engine is made inert here.

use super::swarm::{Read, node_names};
use crate::domain::{Rollout, TaskLook};
use crate::logtext::inert;
use bollard::models::{Service, ServiceSpec, TaskState};
use std::time::Duration;

fn lower<T: std::fmt::Debug>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| format!("{v:?}").to_ascii_lowercase())
}

fn image_of(spec: Option<&ServiceSpec>) -> Option<String> {
    spec.and_then(|s| s.task_template.as_ref())
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.as_deref())
        .map(|i| inert(i).into_owned())
}

fn secs(ns: Option<i64>) -> String {
    let ns = ns.unwrap_or(0);
    if ns % 1_000_000_000 == 0 { format!("{}s", ns / 1_000_000_000) } else { format!("{}ms", ns / 1_000_000) }
}

/// The update_config in compose's words, and its monitor (Swarm's default 5 s).
fn policy(spec: Option<&ServiceSpec>) -> (String, Duration) {
    let Some(u) = spec.and_then(|s| s.update_config.as_ref()) else {
        return ("no update_config (Swarm's defaults: stop-first, parallelism 1, failure_action pause)".into(), {
            Duration::from_secs(5)
        });
    };
    let order = match lower(u.order).as_str() {
        "start_first" => "start-first".to_owned(),
        "" | "stop_first" => "stop-first".to_owned(),
        o => o.to_owned(),
    };
    let fail = match lower(u.failure_action).as_str() {
        "" => "pause".to_owned(),
        f => f.to_owned(),
    };
    let monitor_ns = u.monitor.filter(|m| *m > 0).unwrap_or(5_000_000_000);
    let text = format!(
        "order {order}, parallelism {}, delay {}, failure_action {fail}, monitor {}",
        u.parallelism.unwrap_or(1),
        secs(u.delay),
        secs(Some(monitor_ns))
    );
    (text, Duration::from_nanos(u64::try_from(monitor_ns).unwrap_or(5_000_000_000)))
}

/// The rollout of `svc`, with the tasks and nodes in `r` (read for this service).
pub(super) fn rollout(svc: &Service, r: &Read) -> Rollout {
    let nodes = node_names(&r.nodes);
    let spec = svc.spec.as_ref();
    let (policy, monitor) = policy(spec);
    let update = svc.update_status.as_ref();
    let status = svc.service_status.as_ref();
    let mut tasks: Vec<(String, TaskLook)> = r
        .tasks
        .iter()
        .map(|t| {
            let (node, node_ready) =
                t.node_id.as_ref().and_then(|n| nodes.get(n)).cloned().unwrap_or_else(|| ("(not placed)".into(), true));
            let st = t.status.as_ref();
            let image = t.spec.as_ref().and_then(|s| s.container_spec.as_ref()).and_then(|c| c.image.as_deref());
            let look = TaskLook {
                id: t.id.clone().unwrap_or_default(),
                slot: t.slot.map_or_else(|| node.clone(), |s| s.to_string()),
                node,
                node_ready,
                image: inert(image.unwrap_or("?")).into_owned(),
                state: lower(st.and_then(|s| s.state)),
                meant_to_run: t.desired_state == Some(TaskState::RUNNING),
                error: inert(st.and_then(|s| s.err.as_deref()).unwrap_or("")).into_owned(),
                exit: st.and_then(|s| s.container_status.as_ref()).and_then(|c| c.exit_code),
            };
            (st.and_then(|s| s.timestamp.clone()).unwrap_or_default(), look)
        })
        .collect();
    // Newest first (RFC 3339 timestamps of one clock sort as text).
    tasks.sort_by(|a, b| b.0.cmp(&a.0));
    Rollout {
        image: image_of(spec).unwrap_or_default(),
        state: lower(update.and_then(|u| u.state)),
        message: inert(update.and_then(|u| u.message.as_deref()).unwrap_or("")).into_owned(),
        // A replicated service: its spec's replicas (current at once); a global one: Swarm's count.
        desired: spec
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .map_or_else(|| status.and_then(|s| s.desired_tasks).unwrap_or(0), |n| u64::try_from(n).unwrap_or(0)),
        policy,
        monitor,
        tasks: tasks.into_iter().map(|(_, t)| t).collect(),
        down: {
            let mut d: Vec<String> = nodes.values().filter(|(_, ready)| !ready).map(|(h, _)| h.clone()).collect();
            d.sort();
            d
        },
    }
}
