//! The supervisor's session with a swarm manager: the tasks of every service as the panel's
//! instances, and the swarm (nodes, services) beside them. Read again at once on a service or
//! node event (a node going down is one) or a task container's event on the connected node,
//! and every couple of seconds for the tasks and nodes (a task changing state on another node
//! is no event on the manager); the services and the local health only on their events and
//! every 20 s. After a service event, that service's tasks alone are read every few
//! milliseconds for a while (`swarm_watch`), so its new tasks show as soon as Swarm makes them. On a local socket the answers of the tasks, nodes and services are compared, as
//! bytes, with the last ones and parsed only when they differ; what is worked out from them is
//! sent only when it changed. So an idle swarm keeps the panel idle.

use super::raw_get::LastAnswer;
use super::session::{SessionEnd, Wants, apply_cmd};
use super::swarm::{
    LastAnswers, Read, instances, local_health, services, services_if_changed, tasks_and_nodes,
    tasks_and_nodes_if_changed, view,
};
use super::swarm_watch::{Watch, replace_tasks_of};
use super::{Command, Endpoint, Options, describe, logs};
use crate::domain::{Container, SwarmRole, SwarmView};
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often the tasks are read while nothing else says that they changed.
const TASK_POLL: Duration = Duration::from_secs(2);
/// After a service event that names no service (the engine's events name it, so this is a
/// fallback for the watch), the tasks are read at once, then again after each of these gaps (the
/// orchestrator makes the tasks moments after the event, and the scheduler places them a few
/// tens of milliseconds later), then every TASK_POLL again: reads at 10, 30, 70, 150, 300, 600
/// and 1200 ms. Cheap: an answer that did not change is not parsed.
const FOLLOW_UPS: [Duration; 7] = [
    Duration::from_millis(10),
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(150),
    Duration::from_millis(300),
    Duration::from_millis(600),
];
/// How often the services and the connected node's task containers (for their health) are
/// listed when no event said that one changed.
const SLOW_POLL: Duration = Duration::from_secs(20);
/// The events that make the manager be read again: a service or node changing, and a task
/// container of the connected node starting, dying or changing health. Not the exec events
/// every healthcheck makes.
const EVENTS: [&str; 6] = ["create", "update", "remove", "start", "die", "health_status"];

/// What a turn of the feed's loop reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The tasks and nodes, and the services and local health when they are due.
    Everything,
    /// The services (and the local health when due): the tasks are being watched.
    Services,
    /// Nothing: a quick read of the watched services' tasks just ran.
    Nothing,
}

pub(super) async fn run(
    docker: &Docker,
    ep: &Endpoint,
    opts: &Options,
    tx: &mpsc::Sender<Msg>,
    cmds: &mut mpsc::UnboundedReceiver<Command>,
    wants: &mut Wants,
    local: super::Local<'_>,
) -> SessionEnd {
    let project = opts.project.as_deref();
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    filters.insert("type".into(), vec!["service".into(), "node".into(), "container".into()]);
    filters.insert("event".into(), EVENTS.iter().map(|e| (*e).to_owned()).collect());
    let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build())).boxed();
    super::happenings::start_catch_up(docker, opts, tx);
    let mut tick = tokio::time::interval(TASK_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(Vec<Container>, SwarmView)> = None;
    let mut log_stream = None;
    // Set when the followed row changed: the stream starts after the next read, which says which
    // service the selected task belongs to.
    let mut refollow = true;
    let follow_logs = |wants: &Wants, tasks: &[bollard::models::Task], log_stream: &mut Option<CancellationToken>| {
        if let Some(t) = log_stream.take() {
            t.cancel();
        }
        // A task row shows its service's merged logs, each line prefixed with the task's slot
        // and node (bounded, sanitized and masked as a container's).
        let Some(f) = wants.follow.as_ref() else { return };
        let service =
            tasks.iter().find(|t| t.id.as_deref() == Some(f.id.0.as_str())).and_then(|t| t.service_id.clone());
        // (A project's merged logs are not offered on a manager: a task row is merged already.)
        let source = service.map_or(logs::Source::Container, logs::Source::Service);
        let f = logs::Follow { source, ..f.clone() };
        let socket = local.socket.map(std::path::Path::to_path_buf);
        *log_stream = Some(logs::spawn(docker.clone(), socket, f, opts.masker.clone(), tx.clone()));
    };
    // The tasks and nodes are read every time (on a local socket, parsed only when their answer
    // changed); the services and the local health when an event says they changed, or every
    // SLOW_POLL.
    let mut r = Read::default();
    let (mut answers, mut last_services) = (LastAnswers::default(), LastAnswer::default());
    let mut follow_ups: &[Duration] = &[];
    let (mut svcs_read, mut health_read): (Option<tokio::time::Instant>, Option<tokio::time::Instant>) = (None, None);
    let mut watch = Watch::default();
    // What the next turn reads, and whether a quick read of the watched services changed
    // their tasks.
    let (mut next, mut watched) = (Next::Everything, false);
    loop {
        let read = async {
            let this = std::mem::replace(&mut next, Next::Everything);
            if this == Next::Nothing {
                return Ok(std::mem::take(&mut watched));
            }
            // All at once: on the way to the first frame each is a round trip to the manager.
            let want_svcs = svcs_read.is_none_or(|t| t.elapsed() >= SLOW_POLL);
            let want_health = health_read.is_none_or(|t| t.elapsed() >= SLOW_POLL);
            let (svcs, health, fresh) = tokio::try_join!(
                // Outer `None`: not asked; inner `None`: the same answer as last time.
                async {
                    match (want_svcs, local.socket) {
                        (false, _) => Ok(None),
                        (true, Some(sock)) => services_if_changed(sock, &mut last_services).await.map(Some),
                        (true, None) => services(docker).await.map(|s| Some(Some(s))),
                    }
                },
                async { if want_health { local_health(docker).await.map(Some) } else { Ok(None) } },
                async {
                    match local.socket {
                        _ if this == Next::Services => Ok((None, None)),
                        Some(sock) => tasks_and_nodes_if_changed(sock, &mut answers).await,
                        None => tasks_and_nodes(docker, None, true).await.map(|(t, n)| (Some(t), Some(n))),
                    }
                },
            )?;
            let now = tokio::time::Instant::now();
            let mut changed = false;
            if let Some(asked) = svcs {
                svcs_read = Some(now);
                if let Some(s) = asked {
                    (r.services, changed) = (s, true);
                }
            }
            if let Some(h) = health {
                (r.local_health, health_read, changed) = (h, Some(now), true);
            }
            let (tasks, nodes) = fresh;
            if let Some(t) = tasks {
                (r.tasks, changed) = (t, true);
            }
            if let Some(n) = nodes {
                (r.nodes, changed) = (n, true);
            }
            if let Some((gap, rest)) = follow_ups.split_first() {
                tick.reset_after(*gap);
                follow_ups = rest;
            }
            Ok::<_, bollard::errors::Error>(changed)
        };
        match tokio::time::timeout(super::CALL_TIMEOUT, read).await {
            // The same answers as last time: nothing to work out or send.
            Ok(Ok(false)) if !refollow => {}
            Ok(Ok(_)) => {
                if std::mem::take(&mut refollow) {
                    follow_logs(wants, &r.tasks, &mut log_stream);
                }
                let now = (instances(&r, None, project), view(&r, SwarmRole::Manager, project));
                if last.as_ref() != Some(&now) {
                    if tx.send(Msg::Engine(EngineEvent::Snapshot(now.0.clone()))).await.is_err()
                        || tx.send(Msg::Swarm(Some(now.1.clone()))).await.is_err()
                    {
                        return SessionEnd::Quit;
                    }
                    last = Some(now);
                }
            }
            Ok(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
            Err(_) => return SessionEnd::Lost(format!("the swarm manager at {} did not answer in time", ep.host)),
        }
        let due = watch.due();
        tokio::select! {
            ev = events.next() => match ev {
                None => return SessionEnd::Lost("the engine closed the events stream".into()),
                Some(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
                // A container of this node: its health is read again with the tasks.
                Some(Ok(ev)) => {
                    // This node's containers, for the timeline (tasks elsewhere are not seen).
                    if let Some(h) = super::happenings::happening(&ev, &opts.masker)
                        && tx.send(Msg::Engine(EngineEvent::Happened(vec![h]))).await.is_err()
                    {
                        return SessionEnd::Quit;
                    }
                    match ev.typ {
                    Some(bollard::models::EventMessageTypeEnum::CONTAINER) => health_read = None,
                    // A service changed: its tasks are made by the orchestrator moments after
                    // the event. The swarm is read now, then that service's tasks are watched
                    // closely for a while (reads of the whole swarm in between would hold the
                    // watch up for their length), or, were the event to name no service, the
                    // whole swarm is read a few times shortly after.
                    Some(bollard::models::EventMessageTypeEnum::SERVICE) => {
                        svcs_read = None;
                        let removed = ev.action.as_deref() == Some("remove");
                        match ev.actor.and_then(|a| a.id) {
                            // Gone: no more watching (the engine would answer 404), and the
                            // whole swarm is read now.
                            Some(id) if removed => watch.stop(&id),
                            // Its tasks are watched, so only the services are read now (the
                            // tasks of all, 100 KB and more, would hold the watch up).
                            Some(id) => {
                                watch.start(id, tokio::time::Instant::now());
                                next = Next::Services;
                            }
                            None => follow_ups = &FOLLOW_UPS,
                        }
                    }
                    _ => {}
                    }
                }
            },
            _ = tick.tick() => {}
            // The services that just changed: their tasks replace those of the last read at
            // once; the whole swarm is read at the next tick.
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                next = Next::Nothing;
                match tokio::time::timeout(super::CALL_TIMEOUT, watch.read(docker, local.socket)).await {
                    Ok(Ok(None)) => {}
                    Ok(Ok(Some((services, fresh)))) => {
                        replace_tasks_of(&mut r.tasks, &services, fresh);
                        watched = true;
                    }
                    // A watched service was removed before its event came: the watch ends and
                    // the whole swarm is read.
                    Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
                        watch = Watch::default();
                        next = Next::Everything;
                    }
                    Ok(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
                    Err(_) => return SessionEnd::Lost(format!("the swarm manager at {} did not answer in time", ep.host)),
                }
            }
            c = cmds.recv() => {
                let Some(c) = c else { return SessionEnd::Quit };
                if apply_cmd(c, wants) {
                    refollow = true;
                }
            }
        }
    }
}
