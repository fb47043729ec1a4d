//! The supervisor's session with a swarm manager: the tasks of every service as the panel's
//! instances, and the swarm (nodes, services) beside them. Read again at once on a service or
//! node event (a node going down is one) or a task container's event on the connected node,
//! and every couple of seconds for the tasks and nodes (a task changing state on another node
//! is no event on the manager); the services and the local health only on their events and
//! every 20 s. After a service event, that service's tasks alone are read every few
//! milliseconds for a while by a task of their own beside the feed (`swarm_watch`), so its new
//! tasks show as soon as Swarm makes them, even while a read of the whole swarm is on its way.
//! On a local socket the answers of the tasks, nodes and services are compared, as
//! bytes, with the last ones and parsed only when they differ; what is worked out from them is
//! sent only when it changed. So an idle swarm keeps the panel idle.

use super::raw_get::LastAnswer;
use super::session::{SessionEnd, Wants, apply_cmd};
use super::swarm::{
    LastAnswers, Read, instances, local_health, services, services_if_changed, tasks_and_nodes,
    tasks_and_nodes_if_changed, view,
};
use super::swarm_watch::{self, News, Order, replace_tasks_of};
use super::{Command, Endpoint, Options, describe, logs};
use crate::domain::{Container, SwarmRole, SwarmView};
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::Path;
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
    /// Nothing: the watch's news just changed the tasks.
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
    // The close watch, beside the feed: its last answer (the watched services and their tasks)
    // stands in for those services' tasks in every read of the whole swarm until it ends.
    let (orders, mut news) = swarm_watch::spawn(docker.clone(), local.socket.map(Path::to_path_buf), ep.host.clone());
    let mut held: Held = None;
    // What the next turn reads.
    let mut next = Next::Everything;
    loop {
        let this = std::mem::replace(&mut next, Next::Everything);
        let want_svcs = this != Next::Nothing && svcs_read.is_none_or(|t| t.elapsed() >= SLOW_POLL);
        let want_health = this != Next::Nothing && health_read.is_none_or(|t| t.elapsed() >= SLOW_POLL);
        let want_tasks = this == Next::Everything;
        // All at once: on the way to the first frame each is a round trip to the manager.
        let read = async {
            tokio::try_join!(
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
                        _ if !want_tasks => Ok((None, None)),
                        Some(sock) => tasks_and_nodes_if_changed(sock, &mut answers).await,
                        None => tasks_and_nodes(docker, None, true).await.map(|(t, n)| (Some(t), Some(n))),
                    }
                },
            )
        };
        // While the whole swarm is read, the watch's news is shown at once.
        let mut forget = false;
        let got = {
            let read = tokio::time::timeout(super::CALL_TIMEOUT, read);
            tokio::pin!(read);
            loop {
                tokio::select! {
                    biased;
                    got = &mut read => break got,
                    n = news.recv() => match heed(n, &mut held, &mut r.tasks, &mut forget) {
                        Err(why) => return SessionEnd::Lost(why),
                        Ok(false) => {}
                        Ok(true) => {
                            if !publish(&r, project, &mut last, tx).await {
                                return SessionEnd::Quit;
                            }
                        }
                    },
                }
            }
        };
        if std::mem::take(&mut forget) {
            answers.forget_tasks();
        }
        let changed = match got {
            Ok(Ok((svcs, health, (tasks, nodes)))) => {
                let now = tokio::time::Instant::now();
                // Nothing to read: the watch's news changed the tasks.
                let mut changed = this == Next::Nothing;
                if let Some(asked) = svcs {
                    svcs_read = Some(now);
                    if let Some(s) = asked {
                        (r.services, changed) = (s, true);
                    }
                }
                if let Some(h) = health {
                    (r.local_health, health_read, changed) = (h, Some(now), true);
                }
                if let Some(t) = tasks {
                    (r.tasks, changed) = (t, true);
                    // The watched services' tasks: the watch's answer, which is newer.
                    if let Some((services, fresh)) = &held {
                        replace_tasks_of(&mut r.tasks, services, fresh.clone());
                    }
                }
                if let Some(n) = nodes {
                    (r.nodes, changed) = (n, true);
                }
                if want_tasks && let Some((gap, rest)) = follow_ups.split_first() {
                    tick.reset_after(*gap);
                    follow_ups = rest;
                }
                changed
            }
            Ok(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
            Err(_) => return SessionEnd::Lost(format!("the swarm manager at {} did not answer in time", ep.host)),
        };
        // The same answers as last time: nothing to work out or send.
        if changed || refollow {
            if std::mem::take(&mut refollow) {
                follow_logs(wants, &r.tasks, &mut log_stream);
            }
            if !publish(&r, project, &mut last, tx).await {
                return SessionEnd::Quit;
            }
        }
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
                    // the event. The services are read now and that service's tasks are watched
                    // closely for a while, beside the feed; were the event to name no
                    // service, the whole swarm is read now and a few times shortly after.
                    Some(bollard::models::EventMessageTypeEnum::SERVICE) => {
                        svcs_read = None;
                        let removed = ev.action.as_deref() == Some("remove");
                        match ev.actor.and_then(|a| a.id) {
                            // Gone: no more watching (the engine would answer 404), and the
                            // whole swarm is read now, parsed even if its bytes are the same.
                            Some(id) if removed => {
                                held = None;
                                answers.forget_tasks();
                                if orders.send(Order::Stop(id)).is_err() {
                                    return SessionEnd::Lost("the watch on the swarm's services stopped".into());
                                }
                            }
                            // Its tasks are watched, so only the services are read now (the
                            // tasks of all, 100 KB and more, come at the next tick).
                            Some(id) => {
                                if orders.send(Order::Start(id)).is_err() {
                                    return SessionEnd::Lost("the watch on the swarm's services stopped".into());
                                }
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
            n = news.recv() => {
                let mut forget = false;
                match heed(n, &mut held, &mut r.tasks, &mut forget) {
                    Err(why) => return SessionEnd::Lost(why),
                    Ok(true) => next = Next::Nothing,
                    // The watch ended or lost a service: the whole swarm is read now.
                    Ok(false) => {}
                }
                if forget {
                    answers.forget_tasks();
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

/// The close watch's last answer: the services it watches and their tasks meant to run.
type Held = Option<(Vec<String>, Vec<bollard::models::Task>)>;

/// Take in the watch's news: `Ok(true)` when the feed's tasks changed, `Err` when the session
/// is lost. `forget` is set when the next read of the whole swarm must be parsed even if its
/// bytes did not change (the tasks of a service the watch no longer covers came from the watch).
fn heed(
    n: Option<News>,
    held: &mut Held,
    tasks: &mut Vec<bollard::models::Task>,
    forget: &mut bool,
) -> Result<bool, String> {
    match n {
        None => Err("the watch on the swarm's services stopped".into()),
        Some(News::Lost(why)) => Err(why),
        Some(News::Gone) => {
            (*held, *forget) = (None, true);
            Ok(false)
        }
        Some(News::Tasks(services, fresh)) => {
            let before = held.take().map(|(s, _)| s).unwrap_or_default();
            *forget |= before.iter().any(|s| !services.contains(s));
            if services.is_empty() {
                return Ok(false);
            }
            replace_tasks_of(tasks, &services, fresh.clone());
            *held = Some((services, fresh));
            Ok(true)
        }
    }
}

/// Work out the instances and the swarm view from the last read and send them if they changed
/// since the last time (`false`: the panel is gone).
async fn publish(
    r: &Read,
    project: Option<&str>,
    last: &mut Option<(Vec<Container>, SwarmView)>,
    tx: &mpsc::Sender<Msg>,
) -> bool {
    let now = (instances(r, None, project), view(r, SwarmRole::Manager, project));
    if last.as_ref() == Some(&now) {
        return true;
    }
    if tx.send(Msg::Engine(EngineEvent::Snapshot(now.0.clone()))).await.is_err()
        || tx.send(Msg::Swarm(Some(now.1.clone()))).await.is_err()
    {
        return false;
    }
    *last = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::Task;

    fn task(id: &str, service: &str) -> Task {
        Task { id: Some(id.into()), service_id: Some(service.into()), ..Task::default() }
    }

    fn ids(tasks: &[Task]) -> Vec<&str> {
        tasks.iter().filter_map(|t| t.id.as_deref()).collect()
    }

    #[test]
    fn the_watch_news_stands_in_for_its_services_until_it_ends() {
        let (mut held, mut forget) = (None, false);
        let mut tasks = vec![task("1", "a"), task("2", "b")];
        let news = News::Tasks(vec!["a".into()], vec![task("3", "a")]);
        assert_eq!(heed(Some(news), &mut held, &mut tasks, &mut forget), Ok(true));
        assert_eq!(ids(&tasks), ["2", "3"]);
        assert!(!forget);
        assert_eq!(held.as_ref().map(|(s, t)| (s.len(), t.len())), Some((1, 1)), "held for the next whole reads");
        // The watch now covers b alone: a's tasks came from the watch, so the next whole read is
        // parsed even if its bytes did not change.
        let news = News::Tasks(vec!["b".into()], vec![task("4", "b")]);
        assert_eq!(heed(Some(news), &mut held, &mut tasks, &mut forget), Ok(true));
        assert_eq!(ids(&tasks), ["3", "4"]);
        assert!(forget, "a left the watch");
        forget = false;
        // The watch ended.
        assert_eq!(heed(Some(News::Tasks(vec![], vec![])), &mut held, &mut tasks, &mut forget), Ok(false));
        assert!(held.is_none() && forget);
        forget = false;
        held = Some((vec!["a".into()], vec![]));
        assert_eq!(heed(Some(News::Gone), &mut held, &mut tasks, &mut forget), Ok(false));
        assert!(held.is_none() && forget, "a service gone: the whole swarm is parsed again");
        assert_eq!(heed(Some(News::Lost("x".into())), &mut held, &mut tasks, &mut forget), Err("x".into()));
        assert!(heed(None, &mut held, &mut tasks, &mut forget).is_err(), "a watch that stopped loses the session");
    }
}
