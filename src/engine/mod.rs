//! The only module that talks to the Docker engine (and the only one that imports bollard).
//!
//! [`spawn`] starts a supervisor task that connects, lists, follows the events stream with a
//! slow periodic resync, keeps one stats stream per running container and at most one log
//! stream, and reports everything as [`Msg`]s. Engine trouble is reported as
//! `EngineEvent::Unreachable` and retried with backoff; it never turns into an empty list.

pub mod actions;
mod convert;
pub mod endpoint;
mod logs;
mod stats;
mod supervisor;

pub use endpoint::Endpoint;

use crate::domain::{Container, ContainerId};
use crate::logtext::Masker;
use crate::msg::{EngineInfo, Msg};
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Timeout for single API calls (list, inspect, version). Streams have none.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    /// Limit to one compose project.
    pub project: Option<String>,
    pub resync: Duration,
    pub masker: Masker,
}

/// Commands from the app to the supervisor.
#[derive(Debug)]
pub enum Command {
    FollowLogs {
        container: ContainerId,
        generation: u64,
        tail: u32,
        since: Option<String>,
    },
    StopLogs,
    /// Stream stats of every running container (true) or of none (false).
    Stats(bool),
}

/// The app's handle on the engine side. Dropping it stops the supervisor.
#[derive(Debug, Clone)]
pub struct Handle {
    cmd: mpsc::UnboundedSender<Command>,
}

impl Handle {
    pub fn send(&self, c: Command) {
        // The supervisor only goes away when the app does.
        let _ = self.cmd.send(c);
    }
}

pub fn spawn(endpoint: Endpoint, opts: Options, tx: mpsc::Sender<Msg>) -> Handle {
    let (cmd, rx) = mpsc::unbounded_channel();
    tokio::spawn(supervisor::run(endpoint, opts, tx, rx));
    Handle { cmd }
}

/// Connect, negotiate the API version, and say who answered.
pub(crate) async fn connect(ep: &Endpoint) -> Result<(Docker, EngineInfo), String> {
    let docker = Docker::connect_with_host(&ep.host).map_err(|e| describe(&ep.host, &e))?;
    let docker = tokio::time::timeout(CALL_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| format!("engine at {} did not answer within {} s", ep.host, CALL_TIMEOUT.as_secs()))?
        .map_err(|e| describe(&ep.host, &e))?;
    let v = tokio::time::timeout(CALL_TIMEOUT, docker.version())
        .await
        .map_err(|_| format!("engine at {} did not answer within {} s", ep.host, CALL_TIMEOUT.as_secs()))?
        .map_err(|e| describe(&ep.host, &e))?;
    let info = EngineInfo {
        host: ep.host.clone(),
        source: ep.source.clone(),
        api_version: v.api_version.unwrap_or_else(|| "?".into()),
        server_version: v.version.unwrap_or_else(|| "?".into()),
    };
    Ok((docker, info))
}

fn describe(host: &str, e: &bollard::errors::Error) -> String {
    let s = e.to_string().trim().replace('\n', " ");
    if s.contains("No such file") || s.contains("os error 2") || s.contains("Socket not found") {
        format!("no engine socket at {host}")
    } else if s.contains("Connection refused") || s.contains("os error 111") {
        format!("engine at {host} refused the connection")
    } else if s.contains("Permission denied") || s.contains("os error 13") {
        format!(
            "permission denied on {host} (the engine socket is root-equivalent: run as a member of the docker group or root)"
        )
    } else if s.contains("Unsupported URI") || s.contains("unsupported") {
        format!("unsupported engine address {host} (use unix:///path, tcp://host:port or https://host:port)")
    } else {
        format!("engine at {host}: {s}")
    }
}

/// One-shot snapshot for `stackdeck status`: connect, list every container, inspect each.
pub async fn snapshot(ep: &Endpoint, project: Option<&str>) -> Result<(EngineInfo, Vec<Container>), String> {
    let (docker, info) = connect(ep).await?;
    let containers = supervisor::list_all(&docker, project).await.map_err(|e| describe(&ep.host, &e))?;
    Ok((info, containers))
}

fn project_filter(project: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    if let Some(p) = project {
        f.insert("label".to_owned(), vec![format!("{}={p}", convert::LABEL_PROJECT)]);
    }
    f
}
