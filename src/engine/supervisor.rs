//! The supervisor: connect -> snapshot -> (events | resync | commands) until the engine fails,
//! then report it, back off, and start over. Owns the stats and log stream tasks.

use super::session::{SessionEnd, Wants, apply_cmd};
use super::{
    CALL_TIMEOUT, Command, Endpoint, Local, Options, cgroup_stats, convert, describe, logs, project_filter, stats,
};
use crate::domain::{Container, ContainerId, Health, RunState};
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::query_parameters::{EventsOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// Container events that change what the panel shows (`health_status` matches
/// `health_status: healthy` etc. on the engine side).
const WATCHED_EVENTS: &[&str] = &[
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "update",
    "oom",
    "health_status",
];

pub(super) async fn run(
    ep: Endpoint,
    opts: Options,
    tx: mpsc::Sender<Msg>,
    mut cmds: mpsc::UnboundedReceiver<Command>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut wants = Wants::default();
    loop {
        let reason = match attempt(&ep, &opts, &tx, &mut cmds, &mut wants, &mut backoff).await {
            SessionEnd::Quit => return,
            SessionEnd::Lost(reason) => reason,
        };
        tracing::warn!("engine unreachable: {reason}; retrying in {} s", backoff.as_secs());
        let ev = EngineEvent::Unreachable { reason, retry_in_secs: backoff.as_secs() };
        if tx.send(Msg::Engine(ev)).await.is_err() {
            return;
        }
        // Wait out the backoff, still taking commands (the selection may change meanwhile).
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                c = cmds.recv() => match c {
                    None => return,
                    Some(c) => {
                        apply_cmd(c, &mut wants);
                    }
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connect once and run a session until it ends; `backoff` starts over once the engine answered.
async fn attempt(
    ep: &Endpoint,
    opts: &Options,
    tx: &mpsc::Sender<Msg>,
    cmds: &mut mpsc::UnboundedReceiver<Command>,
    wants: &mut Wants,
    backoff: &mut Duration,
) -> SessionEnd {
    let client = match super::client(ep).await {
        Ok(c) => c,
        Err(e) => return SessionEnd::Lost(e.to_string()),
    };
    let docker = client.docker.clone();
    // A plain engine's list is on screen before the engine's slow first answers come.
    let (greeted, shown) = tokio::join!(super::greet(ep, client), show_early(&docker, opts.project.as_deref(), tx));
    let super::Connection { docker, info, role, events_since, socket } = match greeted {
        Ok(c) => c,
        Err(e) => return SessionEnd::Lost(e.to_string()),
    };
    *backoff = Duration::from_secs(1);
    tracing::info!("connected to engine {} (API {}, {})", info.host, info.api_version, info.server_version);
    if tx.send(Msg::Engine(EngineEvent::Connected(info))).await.is_err() {
        return SessionEnd::Quit;
    }
    // A swarm manager is read as a swarm (services, tasks, nodes); a worker as an engine, with a
    // word that the swarm is managed elsewhere.
    let view = role.map(|r| crate::domain::SwarmView { role: r, nodes: vec![], services: vec![] });
    if tx.send(Msg::Swarm(view)).await.is_err() {
        return SessionEnd::Quit;
    }
    if role == Some(crate::domain::SwarmRole::Manager) {
        // (Its first snapshot replaces a list shown early, were the early probe wrong.)
        let local = Local { socket: socket.as_deref(), events_since: None, first_list: None };
        super::swarm_session::run(&docker, ep, opts, tx, cmds, wants, local).await
    } else {
        let local = Local { socket: socket.as_deref(), events_since: events_since.as_deref(), first_list: shown };
        session(&docker, ep, opts, tx, cmds, wants, local).await
    }
}

/// The container list, sent as the first frame's while the engine's first answers are awaited,
/// unless the engine is a swarm manager (`GET /swarm` answers only on one; its panel shows the
/// swarm, not this list). The ids shown, if it was sent.
async fn show_early(docker: &Docker, project: Option<&str>, tx: &mpsc::Sender<Msg>) -> Option<Vec<ContainerId>> {
    let (list, manager) =
        tokio::join!(list_summaries(docker, project), tokio::time::timeout(CALL_TIMEOUT, docker.inspect_swarm()));
    if matches!(manager, Ok(Ok(_))) {
        return None;
    }
    let list = list.ok()?;
    show_list(&list, tx).await
}

/// Put the list on screen as it is (names, states and health); the ids shown, or `None` when
/// the panel is gone.
async fn show_list(list: &[bollard::models::ContainerSummary], tx: &mpsc::Sender<Msg>) -> Option<Vec<ContainerId>> {
    let first: Vec<Container> = list.iter().filter_map(convert::container_from_summary).collect();
    let ids = first.iter().map(|c| c.id.clone()).collect();
    tx.send(Msg::Engine(EngineEvent::Snapshot(first))).await.ok()?;
    Some(ids)
}

struct Streams {
    stats: HashMap<ContainerId, CancellationToken>,
    logs: Option<CancellationToken>,
    /// An engine on a local socket: stats read from the cgroup files where they provably are
    /// the container's ([`cgroup_stats`]); `None` for any other engine.
    local: Option<cgroup_stats::Sampler>,
    /// The engine's pid of each running container, from its latest inspect.
    pids: HashMap<ContainerId, u32>,
}

impl Streams {
    fn new(ep: &Endpoint, tx: &mpsc::Sender<Msg>) -> Streams {
        let local = ep.host.starts_with("unix://").then(|| cgroup_stats::Sampler::spawn(tx.clone()));
        Streams { stats: HashMap::new(), logs: None, local, pids: HashMap::new() }
    }

    /// Keep the container's pid. A new one (it restarted between two looks) ends the stats
    /// source of the old process, so the next sync starts one for the new.
    fn saw(&mut self, c: &Container) {
        let pid = c.pid.filter(|_| c.state == RunState::Running);
        let before = match pid {
            Some(p) => self.pids.insert(c.id.clone(), p),
            None => self.pids.remove(&c.id),
        };
        if before.is_some()
            && before != pid
            && let Some(t) = self.stats.remove(&c.id)
        {
            t.cancel();
        }
    }

    fn forget(&mut self, id: &ContainerId) {
        self.pids.remove(id);
        if let Some(t) = self.stats.remove(id) {
            t.cancel();
        }
    }

    fn stop_all(&mut self) {
        for (_, t) in self.stats.drain() {
            t.cancel();
        }
        if let Some(t) = self.logs.take() {
            t.cancel();
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        self.stop_all();
    }
}

async fn session(
    docker: &Docker,
    ep: &Endpoint,
    opts: &Options,
    tx: &mpsc::Sender<Msg>,
    cmds: &mut mpsc::UnboundedReceiver<Command>,
    wants: &mut Wants,
    local: Local<'_>,
) -> SessionEnd {
    let Local { socket, events_since, first_list } = local;
    let project = opts.project.as_deref();
    let mut streams = Streams::new(ep, tx);
    // Events from before the list (the engine's clock at connect, less two seconds), so
    // nothing that happens while the list and the inspects are read is missed: the request
    // itself goes out only when the stream is first polled, after them. What is replayed twice
    // is an inspect more, and the timeline drops rows it already has.
    let mut filters = project_filter(project);
    filters.insert("type".into(), vec!["container".into()]);
    // Only what changes the panel. Healthchecks alone produce three exec_* events per check per
    // container; filtering them on the engine side keeps an idle panel idle.
    filters.insert("event".into(), WATCHED_EVENTS.iter().map(|e| (*e).to_owned()).collect());
    let mut since = EventsOptionsBuilder::default().filters(&filters);
    if let Some(t) = events_since {
        since = since.since(t);
    }
    let containers = docker.events(Some(since.build()));
    // Image pulls, for the timeline (a project's label filter would hide them: their own stream).
    let mut pulls = HashMap::new();
    pulls.insert("type".to_owned(), vec!["image".to_owned()]);
    pulls.insert("event".to_owned(), vec!["pull".to_owned()]);
    let pulls = docker.events(Some(EventsOptionsBuilder::default().filters(&pulls).build()));
    let mut events = futures::stream::select(containers, pulls).boxed();
    super::happenings::start_catch_up(docker, opts, tx);

    let mut known: HashMap<ContainerId, (RunState, Health)> = HashMap::new();
    // The first frame from the list alone (one call, names, states and health), then the same
    // containers inspected: with 100 containers on a busy engine the inspects took seconds.
    let ids = match first_list {
        // Already on screen.
        Some(ids) => ids,
        None => match list_summaries(docker, project).await {
            Ok(list) => match show_list(&list, tx).await {
                Some(ids) => ids,
                None => return SessionEnd::Quit,
            },
            Err(e) => return SessionEnd::Lost(describe(&ep.host, &e)),
        },
    };
    match inspect_all(docker, &ids).await {
        Ok(list) => {
            for c in &list {
                known.insert(c.id.clone(), (c.state, c.health));
                streams.saw(c);
                sync_stats(docker, tx, &mut streams, &c.id, c.state, wants.stats);
            }
            if tx.send(Msg::Engine(EngineEvent::Snapshot(list))).await.is_err() {
                return SessionEnd::Quit;
            }
        }
        Err(e) => return SessionEnd::Lost(describe(&ep.host, &e)),
    }
    // No log stream yet: on `Connected` the app asks again, with `since` = its newest line, so a
    // reconnect resumes the view without duplicating lines.
    let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + opts.resync, opts.resync);
    resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.next() => {
                let ev = match ev {
                    None => return SessionEnd::Lost("the engine closed the events stream".into()),
                    Some(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
                    Some(Ok(ev)) => ev,
                };
                if let Some(h) = super::happenings::happening(&ev, &opts.masker)
                    && tx.send(Msg::Engine(EngineEvent::Happened(vec![h]))).await.is_err()
                {
                    return SessionEnd::Quit;
                }
                if ev.typ == Some(bollard::models::EventMessageTypeEnum::IMAGE) {
                    continue; // a pull: news for the timeline only
                }
                let action = ev.action.unwrap_or_default();
                let Some(id) = ev.actor.and_then(|a| a.id).map(ContainerId) else { continue };
                if action.starts_with("exec_") || action.starts_with("attach") || action == "resize" || action == "top" || action == "export" || action == "archive-path" || action == "extract-to-dir" {
                    continue; // healthcheck execs and the like: nothing visible changes
                }
                if let Some(h) = action.strip_prefix("health_status: ") {
                    let health = Health::parse(h.trim());
                    if let Some(k) = known.get_mut(&id) { k.1 = health; }
                    if tx.send(Msg::Engine(EngineEvent::Health(id, health))).await.is_err() { return SessionEnd::Quit; }
                    continue;
                }
                if action == "destroy" {
                    known.remove(&id);
                    streams.forget(&id);
                    if tx.send(Msg::Engine(EngineEvent::Removed(id))).await.is_err() { return SessionEnd::Quit; }
                    continue;
                }
                match inspect(docker, &id).await {
                    Ok(Some(c)) => {
                        known.insert(c.id.clone(), (c.state, c.health));
                        streams.saw(&c);
                        sync_stats(docker, tx, &mut streams, &c.id, c.state, wants.stats);
                        if tx.send(Msg::Engine(EngineEvent::Upsert(c))).await.is_err() { return SessionEnd::Quit; }
                    }
                    Ok(None) => {}
                    Err(e) => return SessionEnd::Lost(describe(&ep.host, &e)),
                }
            }
            _ = resync.tick() => {
                match resync_changed(docker, project, &mut known).await {
                    Ok(changes) => {
                        for ch in changes {
                            let ev = match ch {
                                Change::Upsert(c) => {
                                    streams.saw(&c);
                                    sync_stats(docker, tx, &mut streams, &c.id, c.state, wants.stats);
                                    EngineEvent::Upsert(c)
                                }
                                Change::Removed(id) => {
                                    streams.forget(&id);
                                    EngineEvent::Removed(id)
                                }
                            };
                            if tx.send(Msg::Engine(ev)).await.is_err() { return SessionEnd::Quit; }
                        }
                    }
                    Err(e) => return SessionEnd::Lost(describe(&ep.host, &e)),
                }
            }
            c = cmds.recv() => {
                let Some(c) = c else { return SessionEnd::Quit };
                if !apply_cmd(c, wants) {
                    for (id, (state, _)) in &known {
                        sync_stats(docker, tx, &mut streams, id, *state, wants.stats);
                    }
                    continue;
                }
                if let Some(t) = streams.logs.take() { t.cancel(); }
                if let Some(f) = wants.follow.as_ref() {
                    let socket = socket.map(Path::to_path_buf);
                    streams.logs = Some(logs::spawn(docker.clone(), socket, f.clone(), opts.masker.clone(), tx.clone()));
                }
            }
        }
    }
}

/// Keep exactly one stats source per running container while stats are wanted, none otherwise:
/// its cgroup files when the engine is local and they are provably its own, else the engine's
/// stream.
fn sync_stats(
    docker: &Docker,
    tx: &mpsc::Sender<Msg>,
    streams: &mut Streams,
    id: &ContainerId,
    state: RunState,
    wanted: bool,
) {
    let want = wanted && state == RunState::Running;
    match (want, streams.stats.contains_key(id)) {
        (true, false) => {
            let local = streams.local.as_ref().zip(streams.pids.get(id)).and_then(|(sampler, pid)| {
                let files = cgroup_stats::locate(std::path::Path::new("/"), *pid, &id.0)?;
                Some(sampler.watch(id.clone(), files))
            });
            let token = local.unwrap_or_else(|| stats::spawn(docker.clone(), id.clone(), tx.clone()));
            streams.stats.insert(id.clone(), token);
        }
        (false, true) => {
            if let Some(t) = streams.stats.remove(id) {
                t.cancel();
            }
        }
        _ => {}
    }
}

enum Change {
    Upsert(Container),
    Removed(ContainerId),
}

/// A cheap list; inspect only what changed state or health (or is new).
async fn resync_changed(
    docker: &Docker,
    project: Option<&str>,
    known: &mut HashMap<ContainerId, (RunState, Health)>,
) -> Result<Vec<Change>, bollard::errors::Error> {
    let list = list_summaries(docker, project).await?;
    let mut seen = std::collections::HashSet::new();
    let mut changes = Vec::new();
    for s in &list {
        let Some((id, state, health)) = convert::summary_fingerprint(s) else { continue };
        seen.insert(id.clone());
        if known.get(&id) != Some(&(state, health))
            && let Some(c) = inspect(docker, &id).await?
        {
            known.insert(id, (c.state, c.health));
            changes.push(Change::Upsert(c));
        }
    }
    let gone: Vec<ContainerId> = known.keys().filter(|id| !seen.contains(*id)).cloned().collect();
    for id in gone {
        known.remove(&id);
        changes.push(Change::Removed(id));
    }
    Ok(changes)
}

async fn list_summaries(
    docker: &Docker,
    project: Option<&str>,
) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
    let opts = ListContainersOptionsBuilder::default().all(true).filters(&project_filter(project)).build();
    match tokio::time::timeout(CALL_TIMEOUT, docker.list_containers(Some(opts))).await {
        Ok(r) => r,
        Err(_) => Err(bollard::errors::Error::RequestTimeoutError),
    }
}

/// Every container (running or not), inspected.
pub(super) async fn list_all(docker: &Docker, project: Option<&str>) -> Result<Vec<Container>, bollard::errors::Error> {
    let list = list_summaries(docker, project).await?;
    let ids: Vec<ContainerId> = list.into_iter().filter_map(|s| s.id.map(ContainerId)).collect();
    inspect_all(docker, &ids).await
}

/// Inspect these containers, a few at a time (sequentially, 10 containers took most of the
/// start-up), without flooding the engine; the ones already gone are left out.
async fn inspect_all(docker: &Docker, ids: &[ContainerId]) -> Result<Vec<Container>, bollard::errors::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(8) {
        let mut batch = Vec::with_capacity(chunk.len());
        for id in chunk {
            batch.push(inspect(docker, id));
        }
        for c in futures::future::join_all(batch).await {
            if let Some(c) = c? {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Inspect one container; `None` when it is already gone.
async fn inspect(docker: &Docker, id: &ContainerId) -> Result<Option<Container>, bollard::errors::Error> {
    let r = tokio::time::timeout(CALL_TIMEOUT, docker.inspect_container(&id.0, None::<InspectContainerOptions>)).await;
    match r {
        Err(_) => Err(bollard::errors::Error::RequestTimeoutError),
        Ok(Ok(ins)) => Ok(convert::container(ins)),
        Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(None),
        Ok(Err(e)) => Err(e),
    }
}
