//! The supervisor's session with a swarm manager: the tasks of every service as the panel's
//! instances, and the swarm (nodes, services) beside them. Read again at once on a service or
//! node event (a node going down is one), and every couple of seconds for the tasks (a task
//! changing state on another node is no event on the manager). Sent only when something
//! changed, so an idle swarm keeps the panel idle.

use super::session::{SessionEnd, Wants, apply_cmd};
use super::swarm::{instances, read, view};
use super::{Command, Endpoint, Options, describe, logs};
use crate::domain::{Container, SwarmRole, SwarmView};
use crate::msg::{EngineEvent, Msg};
use bollard::Docker;
use bollard::query_parameters::EventsOptionsBuilder;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the tasks are read while nothing else says that they changed.
const TASK_POLL: Duration = Duration::from_secs(2);

pub(super) async fn run(
    docker: &Docker,
    ep: &Endpoint,
    opts: &Options,
    tx: &mpsc::Sender<Msg>,
    cmds: &mut mpsc::UnboundedReceiver<Command>,
    wants: &mut Wants,
) -> SessionEnd {
    let project = opts.project.as_deref();
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    filters.insert("type".into(), vec!["service".into(), "node".into()]);
    let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build())).boxed();
    let mut tick = tokio::time::interval(TASK_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<(Vec<Container>, SwarmView)> = None;
    let mut log_stream = None;
    let follow_logs = |wants: &Wants, log_stream: &mut Option<tokio_util::sync::CancellationToken>| {
        if let Some(t) = log_stream.take() {
            t.cancel();
        }
        // The selected task's logs, through the manager from whichever node runs it (bounded,
        // sanitized and masked as a container's).
        if let Some(f) = wants.follow.as_ref() {
            let f = logs::Follow { task: true, ..f.clone() };
            *log_stream = Some(logs::spawn(docker.clone(), f, opts.masker.clone(), tx.clone()));
        }
    };
    follow_logs(wants, &mut log_stream);
    loop {
        match tokio::time::timeout(super::CALL_TIMEOUT, read(docker, None)).await {
            Ok(Ok(r)) => {
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
        tokio::select! {
            ev = events.next() => match ev {
                None => return SessionEnd::Lost("the engine closed the events stream".into()),
                Some(Err(e)) => return SessionEnd::Lost(describe(&ep.host, &e)),
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {}
            c = cmds.recv() => {
                let Some(c) = c else { return SessionEnd::Quit };
                if apply_cmd(c, wants) {
                    follow_logs(wants, &mut log_stream);
                }
            }
        }
    }
}
