//! The second [`Backend`]: the services of a Docker Swarm, through a manager. Swarm does the
//! scheduling; stackdeck drives it. A halt (the emergency stop) scales a replicated service to 0
//! or closes a global one's placement with a constraint no node meets (its own constraints
//! stay), then waits until no task of it is alive on any node: that is the verification.
//! `resume` sets the replicas (or the placement) back. Images, exec and copy go to the
//! manager's own engine, for the tasks that run on it; a task on another node is said, never
//! skipped. Replacing containers one by one is not how a swarm deploys: those calls are refused
//! (a deploy on Swarm is a service update, not built yet).

use super::containers::ContainerBackend;
use super::swarm::{Read, image_parts, instances, is_live, key_of, read};
use crate::backend::{Backend, ExecOutput, Halt, Report, ResolveError, Retired, Service};
use crate::domain::{
    Container, ContainerId, EngineError, RestartPolicy, Rollout, STOPPED_CONSTRAINT, ServiceKey, swarm_name,
};
use async_trait::async_trait;
use bollard::models::{ServiceSpec, TaskSpecPlacement};
use bollard::query_parameters::{InspectServiceOptions, UpdateServiceOptionsBuilder};
use bytes::Bytes;
use futures::stream::BoxStream;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a halt waits, past the tasks' own grace, for the last task to end.
const VERIFY_MARGIN: Duration = Duration::from_secs(30);
/// How long `resume` waits for the replicas to run again before it says how far it got.
const RESUME_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct SwarmBackend {
    local: ContainerBackend,
}

fn refused_on_swarm(what: &str) -> EngineError {
    EngineError::Refused(format!(
        "{what} replaces containers one by one; on Swarm a deploy is a service update, which stackdeck does not do yet (docker service update --image)"
    ))
}

impl SwarmBackend {
    pub fn new(local: ContainerBackend) -> SwarmBackend {
        SwarmBackend { local }
    }

    async fn read(&self, service: Option<&str>) -> Result<Read, EngineError> {
        self.local.call(read(&self.local.docker, service)).await
    }

    async fn inspect(&self, name: &str) -> Result<bollard::models::Service, EngineError> {
        self.local.call(self.local.docker.inspect_service(name, None::<InspectServiceOptions>)).await
    }

    /// Change a service's spec: read it with its version, change it, write it back (again when
    /// someone else's update came in between).
    async fn update_spec(&self, name: &str, change: impl Fn(&mut ServiceSpec)) -> Result<(), EngineError> {
        let mut last = None;
        for _ in 0..3 {
            let svc = self.inspect(name).await?;
            let version = svc.version.and_then(|v| v.index).unwrap_or(0);
            let mut spec = svc.spec.unwrap_or_default();
            change(&mut spec);
            let opts =
                UpdateServiceOptionsBuilder::default().version(i32::try_from(version).unwrap_or(i32::MAX)).build();
            match self.local.call(self.local.docker.update_service(name, spec, opts, None)).await {
                Ok(_) => return Ok(()),
                Err(e) if e.to_string().contains("out of sequence") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Conflict(format!("{name}: the spec kept changing"))))
    }

    /// The grace Swarm gives each task (its `stop_grace_period`, default 10 s).
    fn grace_of(svc: &bollard::models::Service) -> u32 {
        svc.spec
            .as_ref()
            .and_then(|s| s.task_template.as_ref())
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.stop_grace_period)
            .map_or(10, |ns| u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX))
    }

    fn is_global(svc: &bollard::models::Service) -> bool {
        svc.spec.as_ref().and_then(|s| s.mode.as_ref()).is_some_and(|m| m.global.is_some())
    }

    fn replicas(svc: &bollard::models::Service) -> u64 {
        svc.spec
            .as_ref()
            .and_then(|s| s.mode.as_ref())
            .and_then(|m| m.replicated.as_ref())
            .and_then(|r| r.replicas)
            .map_or(1, |n| u64::try_from(n).unwrap_or(0))
    }

    /// The container of a task that runs on this manager's own node, for exec and copy. A task
    /// elsewhere is refused with its node named.
    async fn local_container(&self, id: &ContainerId) -> Result<ContainerId, EngineError> {
        let info = self.local.call(self.local.docker.info()).await?;
        let here = info.swarm.and_then(|s| s.node_id).unwrap_or_default();
        let r = self.read(None).await?;
        let Some(t) = r.tasks.iter().find(|t| t.id.as_deref() == Some(id.0.as_str())) else {
            // Not a task: a container of this engine's own (a plain container on the manager).
            return Ok(id.clone());
        };
        let node = t.node_id.clone().unwrap_or_default();
        if node != here {
            let host = r
                .nodes
                .iter()
                .find(|n| n.id.as_deref() == Some(node.as_str()))
                .and_then(|n| n.description.as_ref())
                .and_then(|d| d.hostname.clone())
                .unwrap_or(node);
            return Err(EngineError::Refused(format!(
                "the task runs on node {}, and stackdeck is connected to the manager only: connect to that node's engine to reach its container",
                crate::logtext::inert(&host)
            )));
        }
        t.status
            .as_ref()
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.clone())
            .map(ContainerId)
            .ok_or_else(|| EngineError::NotRunning(format!("task {} has no container yet", id.short())))
    }
}

#[async_trait]
impl Backend for SwarmBackend {
    fn endpoint(&self) -> &str {
        self.local.endpoint()
    }

    fn orchestrated(&self) -> bool {
        true
    }

    async fn resolve(&self, target: &str, project: Option<&str>) -> Result<Service, ResolveError> {
        let r = self.read(None).await.map_err(ResolveError::Engine)?;
        let keys: Vec<ServiceKey> =
            r.services.iter().map(key_of).filter(|k| project.is_none_or(|p| k.project.as_deref() == Some(p))).collect();
        let exact: Vec<&ServiceKey> =
            keys.iter().filter(|k| k.to_string() == target || swarm_name(k) == target).collect();
        let found: Vec<&ServiceKey> =
            if exact.is_empty() { keys.iter().filter(|k| k.service == target).collect() } else { exact };
        let key = match found.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(ResolveError::NotFound(target.to_owned())),
            many => {
                return Err(ResolveError::Ambiguous(target.to_owned(), many.iter().map(ToString::to_string).collect()));
            }
        };
        Ok(Service { key: key.to_string(), instances: instances(&r, Some(&key), None) })
    }

    async fn instance(&self, id: &ContainerId) -> Result<Option<Container>, EngineError> {
        let r = self.read(None).await?;
        Ok(instances(&r, None, None).into_iter().find(|c| &c.id == id))
    }

    async fn restart_policy(&self, service: &Service) -> Result<RestartPolicy, EngineError> {
        let svc = self.inspect(&swarm_name(&ServiceKey::parse(&service.key))).await?;
        Ok(if Self::is_global(&svc) {
            RestartPolicy::GlobalService
        } else {
            RestartPolicy::Replicas(Self::replicas(&svc))
        })
    }

    async fn halt(&self, service: &Service, grace: Option<u32>, report: &mut dyn Report) -> Result<Halt, EngineError> {
        let t0 = Instant::now();
        let name = swarm_name(&ServiceKey::parse(&service.key));
        let svc = self.inspect(&name).await?;
        let own = Self::grace_of(&svc);
        if grace.is_some_and(|g| g != own) {
            report.line(format!("on Swarm each task gets the service's own stop_grace_period: {own} s"));
        }
        if Self::is_global(&svc) {
            self.update_spec(&name, |s| {
                let p = s
                    .task_template
                    .get_or_insert_with(Default::default)
                    .placement
                    .get_or_insert_with(TaskSpecPlacement::default);
                let c = p.constraints.get_or_insert_with(Vec::new);
                if !c.iter().any(|x| x == STOPPED_CONSTRAINT) {
                    c.push(STOPPED_CONSTRAINT.to_owned());
                }
            })
            .await?;
            report.line(format!(
                "{name} (global): placement closed ({STOPPED_CONSTRAINT}); its own constraints are kept"
            ));
        } else {
            let was = Self::replicas(&svc);
            self.update_spec(&name, |s| {
                if let Some(r) = s.mode.get_or_insert_with(Default::default).replicated.as_mut() {
                    r.replicas = Some(0);
                }
            })
            .await?;
            report.line(format!("{name}: scaled to 0 (was {was})"));
        }
        let signalled = t0.elapsed();
        // Verified when no task of the service is alive on any node.
        let deadline = Duration::from_secs(u64::from(own)) + VERIFY_MARGIN;
        loop {
            let r = self.read(Some(&name)).await?;
            let nodes: std::collections::HashMap<String, (String, String)> = r
                .nodes
                .iter()
                .filter_map(|n| {
                    let host = n.description.as_ref().and_then(|d| d.hostname.clone()).unwrap_or_default();
                    let state = format!("{:?}", n.status.as_ref().and_then(|s| s.state)?).to_ascii_lowercase();
                    Some((n.id.clone()?, (host, state)))
                })
                .collect();
            let live: Vec<String> = r
                .tasks
                .iter()
                .filter(|t| is_live(t.status.as_ref().and_then(|s| s.state)))
                .map(|t| {
                    let (host, state) = t.node_id.as_ref().and_then(|n| nodes.get(n)).cloned().unwrap_or_default();
                    let node = if state == "ready" { host } else { format!("{host}, which is {state}") };
                    format!("task {} on {node}", t.slot.map_or_else(String::new, |s| s.to_string()))
                })
                .collect();
            if live.is_empty() {
                let at = t0.elapsed();
                report.line(format!("{name}: no task of it runs on any node ({:.1} s)", at.as_secs_f64()));
                return Ok(Halt { grace: own, signalled, exited: at, verified: at });
            }
            if t0.elapsed() > deadline {
                return Err(EngineError::Timeout(format!(
                    "{name} was told to stop, but after {} s these are not confirmed stopped: {}",
                    deadline.as_secs(),
                    crate::logtext::inert(&live.join("; "))
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn recipe(&self, _instance: &Container) -> Result<Retired, EngineError> {
        Err(EngineError::Refused("on Swarm the service's spec is how its tasks are made again".into()))
    }

    async fn resume(
        &self,
        service: &Service,
        policy: Option<RestartPolicy>,
        report: &mut dyn Report,
    ) -> Result<(), EngineError> {
        let name = swarm_name(&ServiceKey::parse(&service.key));
        match policy {
            // Scaled to 0 before the stop: that is the state to go back to, and said.
            Some(RestartPolicy::Replicas(0)) => {
                report.line(format!(
                    "{name} had 0 replicas when it was stopped: it stays at 0 (docker service scale {name}=N runs it)"
                ));
                return Ok(());
            }
            Some(RestartPolicy::Replicas(n)) => {
                self.update_spec(&name, |s| {
                    if let Some(r) = s.mode.get_or_insert_with(Default::default).replicated.as_mut() {
                        r.replicas = Some(i64::try_from(n).unwrap_or(i64::MAX));
                    }
                })
                .await?;
                report.line(format!("{name}: scaled back to {n}"));
            }
            Some(RestartPolicy::GlobalService) => {
                self.update_spec(&name, |s| {
                    if let Some(c) =
                        s.task_template.as_mut().and_then(|t| t.placement.as_mut()).and_then(|p| p.constraints.as_mut())
                    {
                        c.retain(|x| x != STOPPED_CONSTRAINT);
                    }
                })
                .await?;
                report.line(format!("{name} (global): placement open again"));
            }
            _ => {
                let svc = self.inspect(&name).await?;
                if !Self::is_global(&svc) && Self::replicas(&svc) == 0 {
                    return Err(EngineError::Refused(format!(
                        "{name} has 0 replicas and no stop recorded how many it had: docker service scale {name}=N"
                    )));
                }
                return Ok(());
            }
        }
        // Said, not waited on for ever: Swarm schedules; the panel shows the tasks coming up.
        let t0 = Instant::now();
        loop {
            // Counted from the tasks (a service's inspect carries no task counts).
            let r = self.rollout(service).await?;
            let running = r.tasks.iter().filter(|t| t.meant_to_run && t.state == "running").count() as u64;
            let desired = r.desired;
            if desired > 0 && running >= desired {
                report.line(format!("{name}: {running}/{desired} tasks running"));
                return Ok(());
            }
            if t0.elapsed() > RESUME_WAIT {
                report.line(format!(
                    "{name}: {running}/{desired} tasks running after {} s; Swarm goes on scheduling them",
                    RESUME_WAIT.as_secs()
                ));
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn retire(&self, _old: &Container, _grace: Option<u32>) -> Result<Retired, EngineError> {
        Err(refused_on_swarm("a deploy"))
    }

    async fn launch(&self, _retired: &Retired, _image: &str) -> Result<ContainerId, EngineError> {
        Err(refused_on_swarm("a deploy"))
    }

    async fn start_first_blockers(&self, _instance: &Container) -> Result<Vec<String>, EngineError> {
        Ok(vec![])
    }

    async fn launch_beside(&self, _old: &Container, _image: &str) -> Result<(Retired, ContainerId), EngineError> {
        Err(refused_on_swarm("a start-first deploy"))
    }

    async fn last_words(&self, id: &ContainerId, lines: usize) -> Result<Vec<String>, EngineError> {
        match self.local_container(id).await {
            Ok(c) => self.local.last_words(&c, lines).await,
            // A task on another node: its log through the manager (its health-check log stays
            // on its node).
            Err(_) => Ok(self.local.task_words(id, lines).await),
        }
    }

    async fn admit(&self, _new: &ContainerId, _old: &Retired) -> Result<(), EngineError> {
        Err(refused_on_swarm("a start-first deploy"))
    }

    async fn promote(&self, _new: &ContainerId, _name: &str) -> Result<(), EngineError> {
        Err(refused_on_swarm("a start-first deploy"))
    }

    async fn health_budget(&self, _id: &ContainerId) -> Result<Option<Duration>, EngineError> {
        Ok(None)
    }

    async fn discard(&self, _id: &ContainerId, _grace: u32) -> Result<(), EngineError> {
        Err(refused_on_swarm("a deploy"))
    }

    async fn reinstate(&self, _retired: &Retired, _start: bool) -> Result<(), EngineError> {
        Err(refused_on_swarm("a deploy"))
    }

    async fn commit(&self, _retired: &Retired) -> Result<(), EngineError> {
        Err(refused_on_swarm("a deploy"))
    }

    async fn leftovers(&self, _service: &Service) -> Result<Vec<Retired>, EngineError> {
        Ok(vec![])
    }

    async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        self.local.image_id(image_parts(reference).0.as_str()).await
    }

    async fn pull(&self, reference: &str, limit: Duration) -> Result<(), EngineError> {
        self.local.pull(reference, limit).await
    }

    async fn keep_image(&self, service: &str, image_id: &str) -> Result<String, EngineError> {
        self.local.keep_image(service, image_id).await
    }

    fn kept_reference(&self, service: &str, image_id: &str) -> String {
        self.local.kept_reference(service, image_id)
    }

    async fn local_tags(&self, reference: &str) -> Result<Vec<String>, EngineError> {
        self.local.local_tags(reference).await
    }

    async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[String],
        stdin: Option<mpsc::Receiver<Bytes>>,
        stdout: Option<mpsc::Sender<Bytes>>,
        limit: Duration,
    ) -> Result<ExecOutput, EngineError> {
        let c = self.local_container(id).await?;
        self.local.exec(&c, cmd, stdin, stdout, limit).await
    }

    async fn exec_target(&self, service: &Service) -> Result<ContainerId, EngineError> {
        let info = self.local.call(self.local.docker.info()).await?;
        let here = info.name.clone().unwrap_or_default();
        let running: Vec<&Container> =
            service.instances.iter().filter(|c| c.state == crate::domain::RunState::Running).collect();
        // A task's instance name ends with its node: `api-server.2@sdsw1`.
        if let Some(c) = running.iter().find(|c| c.name.rsplit_once('@').is_some_and(|(_, n)| n == here)) {
            return Ok(c.id.clone());
        }
        if running.is_empty() {
            return Err(EngineError::NotRunning(format!("{} has no running task", service.key)));
        }
        let nodes: Vec<&str> = running.iter().filter_map(|c| c.name.rsplit_once('@').map(|(_, n)| n)).collect();
        Err(EngineError::Refused(format!(
            "{}: its running tasks are on {}, and stackdeck runs a command only in a task on the node it is connected to ({}): connect to that node's engine (--host), or place a task on this node",
            service.key,
            nodes.join(", "),
            crate::logtext::inert(&here)
        )))
    }

    async fn rollout(&self, service: &Service) -> Result<Rollout, EngineError> {
        let name = swarm_name(&ServiceKey::parse(&service.key));
        let r = self.read(Some(&name)).await?;
        let svc = r
            .services
            .iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name.as_str()))
            .ok_or_else(|| EngineError::NotFound(format!("service {name}")))?;
        Ok(super::swarm_rollout::rollout(svc, &r))
    }

    async fn update_image(&self, service: &Service, image: &str) -> Result<(), EngineError> {
        let name = swarm_name(&ServiceKey::parse(&service.key));
        self.update_spec(&name, |s| {
            let c = s
                .task_template
                .get_or_insert_with(Default::default)
                .container_spec
                .get_or_insert_with(Default::default);
            c.image = Some(image.to_owned());
        })
        .await
    }

    async fn roll_back_spec(&self, service: &Service, from: &str) -> Result<(), EngineError> {
        let name = swarm_name(&ServiceKey::parse(&service.key));
        let svc = self.inspect(&name).await?;
        let now = svc
            .spec
            .as_ref()
            .and_then(|s| s.task_template.as_ref())
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        if now != from {
            return Err(EngineError::Conflict(format!(
                "{name} runs {} now, not {}: not rolled back",
                crate::logtext::inert(&now),
                crate::logtext::inert(from)
            )));
        }
        // The version read with that spec: a change in between makes the engine refuse this.
        let version = svc.version.and_then(|v| v.index).unwrap_or(0);
        let opts = UpdateServiceOptionsBuilder::default()
            .version(i32::try_from(version).unwrap_or(i32::MAX))
            .rollback("previous")
            .build();
        let spec = svc.spec.unwrap_or_default();
        self.local.call(self.local.docker.update_service(&name, spec, opts, None)).await.map(|_| ())
    }

    fn copy_out<'a>(&'a self, id: &'a ContainerId, path: &'a str) -> BoxStream<'a, Result<Bytes, EngineError>> {
        use futures::StreamExt;
        futures::stream::once(async move { self.local_container(id).await })
            .flat_map(move |r| match r {
                Ok(c) => {
                    let opts =
                        bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path(path).build();
                    self.local
                        .docker
                        .download_from_container(&c.0, Some(opts))
                        .map(move |r| r.map_err(|e| self.local.err(&e)))
                        .boxed()
                }
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }
}
