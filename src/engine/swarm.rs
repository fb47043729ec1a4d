//! Docker Swarm, read through a manager's API: services, their tasks and the nodes, turned into
//! the domain's words. A task is an instance (`Container` named `service.slot@node`, its id the
//! task's id), so the Services pane, the latch and the operations see a swarm service as they
//! see a compose service. Every text from the engine is made inert here.

use super::raw_get::LastAnswer;
use crate::domain::{
    Container, ContainerId, Health, RunState, ServiceKey, SwarmNode, SwarmRole, SwarmService, SwarmView,
};
use crate::logtext::inert;
use bollard::Docker;
use bollard::models::{LocalNodeState, Node, Service, Task, TaskState};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNodesOptions, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
};
use std::collections::HashMap;

/// The label `docker stack deploy` puts on a stack's services.
pub(super) const LABEL_STACK: &str = "com.docker.stack.namespace";
/// The label Swarm puts on a task's container: the task's id.
const LABEL_TASK: &str = "com.docker.swarm.task.id";

/// What the engine is in a swarm (`None`: not in one).
pub(super) async fn role(docker: &Docker) -> Result<Option<SwarmRole>, bollard::errors::Error> {
    Ok(role_of(&docker.info().await?))
}

/// What an engine's `/info` says it is in a swarm.
pub(super) fn role_of(info: &bollard::models::SystemInfo) -> Option<SwarmRole> {
    let s = info.swarm.as_ref()?;
    if s.local_node_state != Some(LocalNodeState::ACTIVE) {
        return None;
    }
    Some(if s.control_available == Some(true) { SwarmRole::Manager } else { SwarmRole::Worker })
}

/// Everything a manager says of the swarm, limited to one stack when `project` is given.
#[derive(Debug, Default)]
pub(super) struct Read {
    pub services: Vec<Service>,
    pub tasks: Vec<Task>,
    pub nodes: Vec<Node>,
    /// The health of the tasks whose containers run on the connected node, by task id (the
    /// other nodes' containers are not visible through the manager).
    pub local_health: HashMap<String, Health>,
}

pub(super) async fn read(docker: &Docker, service: Option<&str>) -> Result<Read, bollard::errors::Error> {
    let mut r = read_cluster(docker, service).await?;
    r.local_health = local_health(docker).await?;
    Ok(r)
}

/// Services, tasks and nodes, without the connected node's container health.
pub(super) async fn read_cluster(docker: &Docker, service: Option<&str>) -> Result<Read, bollard::errors::Error> {
    let services = services(docker).await?;
    let (tasks, nodes) = tasks_and_nodes(docker, service, false).await?;
    Ok(Read { services, tasks, nodes, local_health: HashMap::new() })
}

/// Every service, with its status (running and desired task counts).
pub(super) async fn services(docker: &Docker) -> Result<Vec<Service>, bollard::errors::Error> {
    docker.list_services(Some(ListServicesOptionsBuilder::default().status(true).build())).await
}

/// The tasks (of one service, or all; only those meant to run when `meant_to_run`) and the
/// nodes. Swarm keeps a few ended tasks per slot: the panel's feed, which shows only the tasks
/// meant to run, leaves them out of every 2 s read.
pub(super) async fn tasks_and_nodes(
    docker: &Docker,
    service: Option<&str>,
    meant_to_run: bool,
) -> Result<(Vec<Task>, Vec<Node>), bollard::errors::Error> {
    let f = task_filters(service.as_slice(), meant_to_run);
    tokio::try_join!(
        docker.list_tasks(Some(ListTasksOptionsBuilder::default().filters(&f).build())),
        docker.list_nodes(None::<ListNodesOptions>)
    )
}

/// The filters of a task list: those services' tasks (all when none is named), and only the
/// tasks meant to run.
pub(super) fn task_filters(services: &[&str], meant_to_run: bool) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    if !services.is_empty() {
        f.insert("service".to_owned(), services.iter().map(|s| (*s).to_owned()).collect());
    }
    if meant_to_run {
        f.insert("desired-state".to_owned(), vec!["running".to_owned()]);
    }
    f
}

/// The last answers of the feed's read of the tasks meant to run and the nodes, as the engine
/// sent them.
#[derive(Debug, Default)]
pub(super) struct LastAnswers {
    tasks: LastAnswer,
    nodes: LastAnswer,
}

impl LastAnswers {
    /// Parse the next tasks answer even when its bytes are the same as the last one's: the
    /// feed's tasks were changed by something else (the close watch) in between.
    pub(super) fn forget_tasks(&mut self) {
        self.tasks = LastAnswer::default();
    }
}

/// [`tasks_and_nodes`] for the feed on an engine at a local socket: each read as bytes, and
/// parsed only when it differs from its last answer (`None`: the same, byte for byte).
pub(super) async fn tasks_and_nodes_if_changed(
    socket: &std::path::Path,
    last: &mut LastAnswers,
) -> Result<(Option<Vec<Task>>, Option<Vec<Node>>), bollard::errors::Error> {
    // No API version in the path, like bollard's own requests (`engine::connect`): the engine
    // answers at its own.
    let path = format!("/tasks?filters={}", super::raw_get::filters(&task_filters(&[], true)));
    let LastAnswers { tasks, nodes } = last;
    tokio::try_join!(tasks.get_if_changed(socket, &path), nodes.get_if_changed(socket, "/nodes"))
}

/// [`services`] for the feed on an engine at a local socket: read as bytes, and parsed only
/// when it differs from the last answer (`None`: the same, byte for byte). An idle swarm's
/// services answer does not change (their task counts included).
pub(super) async fn services_if_changed(
    socket: &std::path::Path,
    last: &mut LastAnswer,
) -> Result<Option<Vec<Service>>, bollard::errors::Error> {
    last.get_if_changed(socket, "/services?status=true").await
}

/// The health of the task containers on the connected node, by task id.
pub(super) async fn local_health(docker: &Docker) -> Result<HashMap<String, Health>, bollard::errors::Error> {
    let mut local = HashMap::new();
    local.insert("label".to_owned(), vec![LABEL_TASK.to_owned()]);
    let here =
        docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&local).build())).await?;
    Ok(here
        .iter()
        .filter_map(|c| {
            let task = c.labels.as_ref()?.get(LABEL_TASK)?.clone();
            let (_, _, health) = super::convert::summary_fingerprint(c)?;
            Some((task, health))
        })
        .collect())
}

/// A service's key: its stack and its name within it, or its name alone.
pub(super) fn key_of(s: &Service) -> ServiceKey {
    let spec = s.spec.as_ref();
    let name = spec.and_then(|s| s.name.as_deref()).unwrap_or("?");
    match spec.and_then(|s| s.labels.as_ref()).and_then(|l| l.get(LABEL_STACK)) {
        Some(stack) => {
            let short = name.strip_prefix(&format!("{stack}_")).unwrap_or(name);
            ServiceKey::new(Some(&super::convert::label(stack)), &super::convert::label(short))
        }
        None => ServiceKey::new(None, &inert(name)),
    }
}

fn lower<T: std::fmt::Debug>(v: Option<T>) -> String {
    v.map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}").to_ascii_lowercase())
}

/// Still on its way up or running: what an emergency stop waits for to end.
pub(super) fn is_live(state: Option<TaskState>) -> bool {
    !matches!(
        state,
        Some(
            TaskState::COMPLETE
                | TaskState::SHUTDOWN
                | TaskState::FAILED
                | TaskState::REJECTED
                | TaskState::REMOVE
                | TaskState::ORPHANED
        ) | None
    )
}

fn run_state(state: Option<TaskState>) -> RunState {
    match state {
        Some(TaskState::RUNNING) => RunState::Running,
        Some(TaskState::COMPLETE | TaskState::SHUTDOWN) => RunState::Exited,
        Some(TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED | TaskState::REMOVE) => RunState::Dead,
        None => RunState::Unknown,
        Some(_) => RunState::Created,
    }
}

pub(super) fn node_names(nodes: &[Node]) -> HashMap<String, (String, bool)> {
    nodes
        .iter()
        .filter_map(|n| {
            let id = n.id.clone()?;
            let host = n.description.as_ref().and_then(|d| d.hostname.as_deref()).unwrap_or("?");
            let ready = lower(n.status.as_ref().and_then(|s| s.state)) == "ready";
            Some((id, (inert(host).into_owned(), ready)))
        })
        .collect()
}

/// The image a spec names, split into the reference shown and the digest (when recorded).
pub(super) fn image_parts(image: &str) -> (String, String) {
    match image.split_once('@') {
        Some((r, d)) => (inert(r).into_owned(), inert(d).into_owned()),
        None => (inert(image).into_owned(), String::new()),
    }
}

/// The tasks that are meant to run (desired state running), as instances. A task on a node
/// that is not ready cannot be seen: its state is unknown, not "running".
pub(super) fn instances(r: &Read, only: Option<&ServiceKey>, project: Option<&str>) -> Vec<Container> {
    let keys: HashMap<String, ServiceKey> =
        r.services.iter().filter_map(|s| Some((s.id.clone()?, key_of(s)))).collect();
    let nodes = node_names(&r.nodes);
    let mut out = Vec::new();
    for t in &r.tasks {
        if t.desired_state != Some(TaskState::RUNNING) {
            continue;
        }
        let Some(key) = t.service_id.as_ref().and_then(|id| keys.get(id)) else { continue };
        if only.is_some_and(|o| o != key) || project.is_some_and(|p| key.project.as_deref() != Some(p)) {
            continue;
        }
        let status = t.status.as_ref();
        let (host, ready) = t.node_id.as_ref().and_then(|n| nodes.get(n)).cloned().unwrap_or(("?".into(), false));
        let mut state = run_state(status.and_then(|s| s.state));
        if !ready && t.node_id.is_some() {
            state = RunState::Unknown;
        }
        let name = match t.slot {
            Some(slot) => format!("{}.{slot}@{host}", key.service),
            None => format!("{}@{host}", key.service),
        };
        let image = t.spec.as_ref().and_then(|s| s.container_spec.as_ref()).and_then(|c| c.image.as_deref());
        let (image, digest) = image_parts(image.unwrap_or("?"));
        let at = status.and_then(|s| s.timestamp.as_deref()).and_then(|t| t.parse::<jiff::Timestamp>().ok());
        out.push(Container {
            id: ContainerId(t.id.clone().unwrap_or_default()),
            name,
            key: key.clone(),
            state,
            health: t.id.as_ref().and_then(|id| r.local_health.get(id)).copied().unwrap_or(Health::None),
            image,
            image_id: digest,
            started_at: if state == RunState::Running { at } else { None },
            finished_at: if state == RunState::Running { None } else { at },
            restarts: 0,
            exit_code: status.and_then(|s| s.container_status.as_ref()).and_then(|c| c.exit_code),
            memory_limit: 0,
            pid: None,
            compose: None,
        });
    }
    out.sort_by(|a, b| (&a.key, &a.name).cmp(&(&b.key, &b.name)));
    out
}

/// The swarm for the panel: nodes, and per service its mode, replicas, update state, ports and
/// the latest task error.
pub(super) fn view(r: &Read, role: SwarmRole, project: Option<&str>) -> SwarmView {
    let nodes = r
        .nodes
        .iter()
        .map(|n| {
            let spec = n.spec.as_ref();
            let leader = n.manager_status.as_ref().and_then(|m| m.leader) == Some(true);
            let role = lower(spec.and_then(|s| s.role));
            SwarmNode {
                hostname: inert(n.description.as_ref().and_then(|d| d.hostname.as_deref()).unwrap_or("?")).into_owned(),
                role: if leader { format!("{role} (leader)") } else { role },
                availability: lower(spec.and_then(|s| s.availability)),
                state: lower(n.status.as_ref().and_then(|s| s.state)),
                engine: inert(
                    n.description
                        .as_ref()
                        .and_then(|d| d.engine.as_ref())
                        .and_then(|e| e.engine_version.as_deref())
                        .unwrap_or("?"),
                )
                .into_owned(),
                addr: inert(n.status.as_ref().and_then(|s| s.addr.as_deref()).unwrap_or("")).into_owned(),
            }
        })
        .collect();
    let services = r
        .services
        .iter()
        .filter(|s| project.is_none_or(|p| key_of(s).project.as_deref() == Some(p)))
        .map(|s| {
            let spec = s.spec.as_ref();
            let mode = spec.and_then(|s| s.mode.as_ref());
            let global = mode.is_some_and(|m| m.global.is_some());
            let status = s.service_status.as_ref();
            let image = spec
                .and_then(|s| s.task_template.as_ref())
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.image.as_deref());
            let update = s.update_status.as_ref().and_then(|u| {
                let st = lower(u.state).replace("rollback_", "rollback ");
                (st != "empty" && st != "unknown").then(|| (st, inert(u.message.as_deref().unwrap_or("")).into_owned()))
            });
            let ports = s
                .endpoint
                .as_ref()
                .and_then(|e| e.ports.as_ref())
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}:{}/{} ({})",
                                p.published_port.unwrap_or(0),
                                p.target_port.unwrap_or(0),
                                lower(p.protocol),
                                lower(p.publish_mode)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            SwarmService {
                key: key_of(s),
                mode: if global { "global".into() } else { "replicated".into() },
                // Counted from the tasks read with it (the services may be read less often).
                running: r
                    .tasks
                    .iter()
                    .filter(|t| {
                        t.service_id.is_some()
                            && t.service_id == s.id
                            && t.desired_state == Some(TaskState::RUNNING)
                            && t.status.as_ref().and_then(|st| st.state) == Some(TaskState::RUNNING)
                    })
                    .count() as u64,
                desired: status.and_then(|s| s.desired_tasks).unwrap_or(0),
                image: inert(image.unwrap_or("?")).into_owned(),
                update,
                ports,
            }
        })
        .collect();
    SwarmView { role, nodes, services }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_answer_is_parsed_only_when_its_bytes_changed() {
        let one = r#"[{"ID":"a","Spec":{"Name":"trading_bot"},"ServiceStatus":{"RunningTasks":1,"DesiredTasks":1}}]"#;
        let two = r#"[{"ID":"a","Spec":{"Name":"trading_bot"},"ServiceStatus":{"RunningTasks":0,"DesiredTasks":1}}]"#;
        let (_dir, sock, engine) = super::super::raw_get::fake_engine(vec![one, one, two]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut last = LastAnswer::default();
        let running = |s: &[Service]| s[0].service_status.as_ref().and_then(|st| st.running_tasks);
        let first = rt.block_on(services_if_changed(&sock, &mut last)).unwrap().expect("the first answer is new");
        assert_eq!(running(&first), Some(1));
        assert!(rt.block_on(services_if_changed(&sock, &mut last)).unwrap().is_none(), "the same bytes: not parsed");
        let third = rt.block_on(services_if_changed(&sock, &mut last)).unwrap().expect("a changed answer");
        assert_eq!(running(&third), Some(0));
        let asked = engine.join().unwrap();
        assert!(asked.iter().all(|l| l == "GET /services?status=true HTTP/1.1"), "{asked:?}");
    }
}
