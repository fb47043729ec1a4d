//! The seam between the operations and an engine. Operations (`ops`) ask a [`Backend`] for what
//! they need in terms of *services*: resolve one, read its instances' state and health, halt it
//! (stop with grace, verified) and resume it, replace an instance with a new image keeping its
//! configuration, keep an image from pruning, exec in an instance and copy a file out of it.
//!
//! The containers of a local or remote engine (compose projects and standalone containers) are
//! the first backend (`engine::ContainerBackend`). A Swarm backend fits the same calls: its halt
//! scales to zero, its replace is a service update. Tests of the operations' decisions use an
//! in-memory backend (`ops::memory`, test builds only).
//!
//! This module sits just above `domain` and never names `ops`, `engine`, `store` or `ui`.

use crate::domain::{Container, ContainerId, EngineError, RestartPolicy, Rollout, RunState};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::fmt;
use std::time::Duration;
use tokio::sync::mpsc;

/// A service as the operations see it: its key (`project/service`, or the container name of a
/// standalone container) and its instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub key: String,
    pub instances: Vec<Container>,
}

/// Why a target did not name exactly one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NotFound(String),
    Ambiguous(String, Vec<String>),
    Engine(EngineError),
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound(s) => write!(f, "no service or container named '{s}'"),
            ResolveError::Ambiguous(s, c) => {
                write!(f, "'{s}' is ambiguous: it matches {}; name one as project/service", c.join(", "))
            }
            ResolveError::Engine(e) => write!(f, "{e}"),
        }
    }
}

/// An instance taken out of service by a replace: stopped and kept aside (under another name)
/// until the new one passes its gate. `config` is the engine's own description of how to
/// create it again; the operations never read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Retired {
    pub id: ContainerId,
    /// The name the instance had, and that its replacement takes.
    pub name: String,
    /// Seconds between the stop signal and SIGKILL.
    pub grace: u32,
    pub config: serde_json::Value,
}

/// How a halt went: the longest grace used, and when (from the call's start) the stop signal
/// went out, the instances had exited, and the engine confirmed that nothing runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Halt {
    pub grace: u32,
    pub signalled: Duration,
    pub exited: Duration,
    pub verified: Duration,
}

/// Where a backend reports what it does while a call runs (the operation's progress).
pub trait Report: Send {
    fn line(&mut self, line: String);
}

/// Output of a command run in an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// The end of its stderr (at most a few KiB).
    pub stderr: String,
}

#[async_trait]
pub trait Backend: Send + Sync + fmt::Debug {
    /// The engine's address, for messages and records.
    fn endpoint(&self) -> &str;

    /// An orchestrator runs the instances (Swarm): a halt changes the service (replicas,
    /// placement), not each container, and nothing is kept to recreate an instance by hand.
    fn orchestrated(&self) -> bool {
        false
    }

    /// `service` (unique across projects), `project/service`, or a container name, matched
    /// exactly (never as a pattern).
    async fn resolve(&self, target: &str, project: Option<&str>) -> Result<Service, ResolveError>;

    /// One instance as the engine sees it now; `None` when it is gone.
    async fn instance(&self, id: &ContainerId) -> Result<Option<Container>, EngineError>;

    /// The restart policy the service's instances have now (what `resume` restores).
    async fn restart_policy(&self, service: &Service) -> Result<RestartPolicy, EngineError>;

    /// Stop every instance so that nothing brings it back by itself: restart policy "no", the
    /// stop signal, `grace` seconds (default: the instance's own), SIGKILL, and the engine's
    /// word that nothing runs.
    async fn halt(&self, service: &Service, grace: Option<u32>, report: &mut dyn Report) -> Result<Halt, EngineError>;

    /// How to create `instance` again as it is now (its name, grace and configuration),
    /// touching nothing: kept by an emergency stop so that `start` can recreate an instance
    /// that was removed meanwhile (a prune, an `rm`) with [`Backend::launch`].
    async fn recipe(&self, instance: &Container) -> Result<Retired, EngineError>;

    /// Start every instance again, with `policy` restored when given.
    async fn resume(
        &self,
        service: &Service,
        policy: Option<RestartPolicy>,
        report: &mut dyn Report,
    ) -> Result<(), EngineError>;

    /// Take `old` out of service for a replace: stop it (grace as for `halt`) and keep it aside.
    async fn retire(&self, old: &Container, grace: Option<u32>) -> Result<Retired, EngineError>;

    /// A new instance with the retired one's configuration and another image, started.
    async fn launch(&self, retired: &Retired, image: &str) -> Result<ContainerId, EngineError>;

    /// What makes a start-first replace of `instance` impossible (published host ports, host
    /// networking, a fixed address), each with what to change. Empty: nothing does.
    async fn start_first_blockers(&self, instance: &Container) -> Result<Vec<String>, EngineError>;

    /// Start-first: a new instance beside `old` (its configuration and networks, another image,
    /// a temporary name), started; `old` is untouched. Returns `old`'s recipe and the new id.
    async fn launch_beside(&self, old: &Container, image: &str) -> Result<(Retired, ContainerId), EngineError>;

    /// What an instance said last: the end of its health-check log, then its last `lines` log
    /// lines (raw: the caller makes them inert and masks them).
    async fn last_words(&self, id: &ContainerId, lines: usize) -> Result<Vec<String>, EngineError>;

    /// A start-first instance passed its gate: give it the service's network aliases (it had
    /// none while gated, so the service's name never led to it), as `old` has them.
    async fn admit(&self, new: &ContainerId, old: &Retired) -> Result<(), EngineError>;

    /// Give a start-first instance the service's name (once the old instance is gone).
    async fn promote(&self, new: &ContainerId, name: &str) -> Result<(), EngineError>;

    /// After a start-first replace removed the old instance: how long its network address,
    /// free again, may still be the target of a connection that looked the name up just
    /// before (a proxy's connect in flight). The deploy holds the service that long, so that
    /// stackdeck's next deploy does not give the address to an instance still being gated.
    fn address_settle(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// How long the instance's own healthcheck may take to reach a verdict (start period, then
    /// retries x (interval + timeout)); `None` without a healthcheck.
    async fn health_budget(&self, id: &ContainerId) -> Result<Option<Duration>, EngineError>;

    /// Stop and remove an instance that did not pass (or was aborted).
    async fn discard(&self, id: &ContainerId, grace: u32) -> Result<(), EngineError>;

    /// Put a retired instance back in service under its name; `start` it, or leave it stopped
    /// with restart policy "no" (an emergency stop wants the service down).
    async fn reinstate(&self, retired: &Retired, start: bool) -> Result<(), EngineError>;

    /// The replacement passed: remove the retired instance for good.
    async fn commit(&self, retired: &Retired) -> Result<(), EngineError>;

    /// Instances of `service` that an interrupted replace left aside (stopped, under another
    /// name), ready to be reinstated.
    async fn leftovers(&self, service: &Service) -> Result<Vec<Retired>, EngineError>;

    /// The image id a reference names on the engine, if any.
    async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError>;

    /// Pull a reference, giving up after `limit`.
    async fn pull(&self, reference: &str, limit: Duration) -> Result<(), EngineError>;

    /// Keep `image_id` from being pruned as a rollback target of `service` (the newest few
    /// per service). Returns the reference that keeps it.
    async fn keep_image(&self, service: &str, image_id: &str) -> Result<String, EngineError>;

    /// The reference that keeps `image_id` for `service`, whether or not it exists yet.
    fn kept_reference(&self, service: &str, image_id: &str) -> String;

    /// Local tags of the repository of `reference`, newest image first.
    async fn local_tags(&self, reference: &str) -> Result<Vec<String>, EngineError>;

    /// Run `cmd` in an instance. Stdout chunks go to `stdout` (back-pressure: the process waits
    /// for the reader); `stdin` chunks are fed to the process, then its stdin is closed.
    async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[String],
        stdin: Option<mpsc::Receiver<Bytes>>,
        stdout: Option<mpsc::Sender<Bytes>>,
        limit: Duration,
    ) -> Result<ExecOutput, EngineError>;

    /// A tar stream of `path` in an instance.
    fn copy_out<'a>(&'a self, id: &'a ContainerId, path: &'a str) -> BoxStream<'a, Result<Bytes, EngineError>>;

    /// The instance a command runs in (a backup's exec or copy): a running one. On Swarm, a
    /// running task on the connected node, else refused naming the nodes its tasks run on.
    async fn exec_target(&self, service: &Service) -> Result<ContainerId, EngineError> {
        service
            .instances
            .iter()
            .find(|c| c.state == RunState::Running)
            .map(|c| c.id.clone())
            .ok_or_else(|| EngineError::NotRunning(format!("{} is not running", service.key)))
    }

    /// An orchestrated service's rollout now: its spec's image, the orchestrator's update
    /// state, its tasks by node.
    async fn rollout(&self, service: &Service) -> Result<Rollout, EngineError> {
        Err(not_orchestrated(&service.key))
    }

    /// An orchestrated deploy: the service's spec gets `image`; the orchestrator replaces the
    /// tasks with the service's own update_config.
    async fn update_image(&self, service: &Service, image: &str) -> Result<(), EngineError> {
        let _ = image;
        Err(not_orchestrated(&service.key))
    }

    /// The orchestrator's own rollback to the spec before the last update, only while the spec
    /// still names `from` (an update or rollback by anyone else in between: `Conflict`).
    async fn roll_back_spec(&self, service: &Service, from: &str) -> Result<(), EngineError> {
        let _ = from;
        Err(not_orchestrated(&service.key))
    }
}

fn not_orchestrated(key: &str) -> EngineError {
    EngineError::Refused(format!("{key} is not run by an orchestrator"))
}
