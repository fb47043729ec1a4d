//! The first [`Backend`]: the containers of one engine (local or remote), grouped into services
//! by their compose labels, standalone containers by name. Still the only place bollard is used
//! for mutating calls: the operations in `crate::ops` see domain types and the seam only.

use super::images::{keep_repo, repo_of};
use super::{CALL_TIMEOUT, Endpoint, classify, connect, convert, project_filter};
use crate::backend::{Backend, ExecOutput, Halt, Report, ResolveError, Retired, Service};
use crate::domain::{
    Container, ContainerId, EngineError, NEXT_SUFFIX, PARKED_SUFFIX, RestartPolicy, RunState, short_image_id,
};
use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Tags kept per service so rollback targets survive `docker system prune -f`.
const KEEP_TAGS: usize = 3;

use super::ENGINE_STOP_TIMEOUT;

/// The containers of one engine.
#[derive(Debug, Clone)]
pub struct ContainerBackend {
    pub(super) docker: Docker,
    host: String,
}

fn timeout_err() -> bollard::errors::Error {
    bollard::errors::Error::RequestTimeoutError
}

/// A 304 ("already so") is not a failure for start and stop.
fn not_modified(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 304, .. })
}

impl ContainerBackend {
    pub async fn connect(ep: &Endpoint) -> Result<ContainerBackend, EngineError> {
        let (docker, _) = connect(ep).await?;
        Ok(ContainerBackend { docker, host: ep.host.clone() })
    }

    pub(super) fn err(&self, e: &bollard::errors::Error) -> EngineError {
        classify(&self.host, e)
    }

    pub(super) async fn call<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(r) => r.map_err(|e| self.err(&e)),
            Err(_) => Err(self.err(&timeout_err())),
        }
    }

    async fn list(&self, filters: HashMap<String, Vec<String>>) -> Result<Vec<Container>, EngineError> {
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.call(self.docker.list_containers(Some(opts))).await?;
        let mut out = Vec::new();
        for s in list {
            if let Some(id) = s.id
                && let Some(c) = self.instance(&ContainerId(id)).await?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub(super) async fn inspect_raw(&self, id: &ContainerId) -> Result<Option<ContainerInspectResponse>, EngineError> {
        match self.call(self.docker.inspect_container(&id.0, None::<InspectContainerOptions>)).await {
            Ok(i) => Ok(Some(i)),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stop: the container's stop signal, `grace` seconds, then SIGKILL (the engine does this).
    pub(super) async fn stop(&self, id: &ContainerId, grace: u32) -> Result<(), EngineError> {
        let opts = StopContainerOptionsBuilder::default().t(i32::try_from(grace).unwrap_or(i32::MAX)).build();
        let limit = Duration::from_secs(u64::from(grace)) + CALL_TIMEOUT;
        match tokio::time::timeout(limit, self.docker.stop_container(&id.0, Some(opts))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if not_modified(&e) => Ok(()),
            Ok(Err(e)) => Err(self.err(&e)),
            Err(_) => {
                Err(EngineError::Timeout(format!("the engine did not confirm the stop within {} s", limit.as_secs())))
            }
        }
    }

    async fn kill(&self, id: &ContainerId) -> Result<(), EngineError> {
        let opts = KillContainerOptionsBuilder::default().signal("SIGKILL").build();
        match self.call(self.docker.kill_container(&id.0, Some(opts))).await {
            // 409 from kill: the container is not running, which is what was wanted.
            Err(EngineError::Conflict(_) | EngineError::NotRunning(_)) => Ok(()),
            r => r,
        }
    }

    pub(super) async fn start(&self, id: &ContainerId) -> Result<(), EngineError> {
        match tokio::time::timeout(CALL_TIMEOUT, self.docker.start_container(&id.0, None::<StartContainerOptions>))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if not_modified(&e) => Ok(()),
            Ok(Err(e)) => Err(self.err(&e)),
            Err(_) => Err(self.err(&timeout_err())),
        }
    }

    async fn policy_of(&self, id: &ContainerId) -> Result<RestartPolicy, EngineError> {
        let ins = self
            .inspect_raw(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("container {} is gone", id.short())))?;
        let p = ins.host_config.and_then(|h| h.restart_policy).unwrap_or_default();
        Ok(match p.name.unwrap_or(RestartPolicyNameEnum::EMPTY) {
            RestartPolicyNameEnum::ALWAYS => RestartPolicy::Always,
            RestartPolicyNameEnum::UNLESS_STOPPED => RestartPolicy::UnlessStopped,
            RestartPolicyNameEnum::ON_FAILURE => {
                RestartPolicy::OnFailure(p.maximum_retry_count.filter(|n| *n > 0).and_then(|n| u32::try_from(n).ok()))
            }
            RestartPolicyNameEnum::NO | RestartPolicyNameEnum::EMPTY => RestartPolicy::No,
        })
    }

    async fn set_policy(&self, id: &ContainerId, policy: RestartPolicy) -> Result<(), EngineError> {
        let (name, max) = match policy {
            RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
            RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
            RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
            RestartPolicy::OnFailure(n) => (RestartPolicyNameEnum::ON_FAILURE, n.map(i64::from)),
            // A Swarm service's (kept when its engine was a manager): a container has none of it.
            RestartPolicy::Replicas(_) | RestartPolicy::GlobalService => {
                return Err(EngineError::Refused(format!(
                    "{policy} is a Swarm service's, not a container's: is this engine still the swarm's manager?"
                )));
            }
        };
        let body = ContainerUpdateBody {
            restart_policy: Some(bollard::models::RestartPolicy { name: Some(name), maximum_retry_count: max }),
            ..Default::default()
        };
        self.call(self.docker.update_container(&id.0, body)).await
    }

    /// The container's own grace (StopTimeout), else the engine's default.
    async fn own_grace(&self, id: &ContainerId) -> u32 {
        match self.inspect_raw(id).await {
            Ok(Some(ins)) => ins
                .config
                .and_then(|c| c.stop_timeout)
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(ENGINE_STOP_TIMEOUT),
            _ => ENGINE_STOP_TIMEOUT,
        }
    }

    pub(super) async fn rename(&self, id: &ContainerId, name: &str) -> Result<(), EngineError> {
        self.call(self.docker.rename_container(&id.0, RenameContainerOptionsBuilder::default().name(name).build()))
            .await
    }

    pub(super) async fn remove(&self, id: &ContainerId) -> Result<(), EngineError> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.call(self.docker.remove_container(&id.0, Some(opts))).await {
            Err(EngineError::NotFound(_)) => Ok(()),
            r => r,
        }
    }

    async fn tag(&self, image: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
        let opts = TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
        self.call(self.docker.tag_image(image, Some(opts))).await
    }

    /// Remove one tag (never the image while another tag or a container uses it).
    async fn untag(&self, reference: &str) -> Result<(), EngineError> {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default().noprune(true).build();
        self.call(self.docker.remove_image(reference, Some(opts), None)).await.map(|_| ())
    }

    /// The name a retired container is kept under while its replacement is gated.
    fn parked_name(name: &str) -> String {
        format!("{name}{PARKED_SUFFIX}")
    }
}

#[async_trait]
impl Backend for ContainerBackend {
    fn endpoint(&self) -> &str {
        &self.host
    }

    async fn resolve(&self, target: &str, project: Option<&str>) -> Result<Service, ResolveError> {
        let (proj, svc) = match target.split_once('/') {
            Some((p, s)) => (Some(p), s),
            None => (project, target),
        };
        // Label filters compare exactly; so does everything below.
        let mut filters = project_filter(proj);
        filters.entry("label".into()).or_default().push(format!("{}={svc}", convert::LABEL_SERVICE));
        let list = self.list(filters).await.map_err(ResolveError::Engine)?;
        let mut by_key: HashMap<String, Vec<Container>> = HashMap::new();
        // Keys are inert and masked (engine/convert.rs): compare with the target made so too.
        let (proj, svc) = (proj.map(convert::label), convert::label(svc));
        for c in list
            .into_iter()
            .filter(|c| c.key.service == svc && (proj.is_none() || c.key.project.as_deref() == proj.as_deref()))
        {
            by_key.entry(c.key.to_string()).or_default().push(c);
        }
        match by_key.len() {
            1 => {
                let (key, instances) = by_key.into_iter().next().expect("one entry");
                Ok(Service { key, instances })
            }
            0 => {
                // A standalone container by name. The engine's name filter is a regular
                // expression, so it only narrows the list: the name must be equal.
                let mut f = HashMap::new();
                f.insert("name".to_owned(), vec![target.to_owned()]);
                let list = self.list(f).await.map_err(ResolveError::Engine)?;
                let instances: Vec<Container> =
                    list.into_iter().filter(|c| c.name == crate::logtext::inert(target)).collect();
                if instances.is_empty() {
                    Err(ResolveError::NotFound(target.to_owned()))
                } else {
                    Ok(Service { key: target.to_owned(), instances })
                }
            }
            _ => {
                let mut c: Vec<String> = by_key.into_keys().collect();
                c.sort();
                Err(ResolveError::Ambiguous(target.to_owned(), c))
            }
        }
    }

    async fn instance(&self, id: &ContainerId) -> Result<Option<Container>, EngineError> {
        Ok(self.inspect_raw(id).await?.and_then(convert::container))
    }

    async fn restart_policy(&self, service: &Service) -> Result<RestartPolicy, EngineError> {
        match service.instances.first() {
            Some(c) => self.policy_of(&c.id).await,
            None => Ok(RestartPolicy::No),
        }
    }

    async fn halt(&self, service: &Service, grace: Option<u32>, report: &mut dyn Report) -> Result<Halt, EngineError> {
        let began = std::time::Instant::now();
        let mut longest = 0;
        let mut stops = Vec::new();
        for c in &service.instances {
            self.set_policy(&c.id, RestartPolicy::No).await?;
            let g = match grace {
                Some(g) => g,
                None => self.own_grace(&c.id).await,
            };
            longest = longest.max(g);
            if matches!(c.state, RunState::Running | RunState::Restarting | RunState::Paused) {
                report.line(format!("stopping {} (grace {g} s)", c.name));
                let id = c.id.clone();
                stops.push(async move { (id.clone(), self.stop(&id, g).await) });
            }
        }
        let signalled = began.elapsed();
        for (id, r) in futures::future::join_all(stops).await {
            if let Err(e) = r {
                report.line(format!("stop of {} reported: {e}; sending SIGKILL", id.short()));
                self.kill(&id).await?;
            }
        }
        let exited = began.elapsed();
        // Only the engine's word counts.
        for c in &service.instances {
            let Some(now) = self.instance(&c.id).await? else { continue };
            if matches!(now.state, RunState::Running | RunState::Restarting | RunState::Paused) {
                self.kill(&c.id).await?;
                if let Some(after) = self.instance(&c.id).await?
                    && matches!(after.state, RunState::Running | RunState::Restarting)
                {
                    return Err(EngineError::Refused(format!(
                        "{} is still {} after SIGKILL",
                        c.name,
                        after.state.as_str()
                    )));
                }
            }
        }
        Ok(Halt { grace: longest, signalled, exited, verified: began.elapsed() })
    }

    async fn recipe(&self, instance: &Container) -> Result<Retired, EngineError> {
        let (name, grace, body) = self.spec(&instance.id).await?;
        let config = serde_json::to_value(&body)
            .map_err(|e| EngineError::Refused(format!("cannot keep the configuration of {name}: {e}")))?;
        Ok(Retired { id: instance.id.clone(), name, grace, config })
    }

    async fn resume(
        &self,
        service: &Service,
        policy: Option<RestartPolicy>,
        report: &mut dyn Report,
    ) -> Result<(), EngineError> {
        for c in &service.instances {
            if let Some(p) = policy {
                self.set_policy(&c.id, p).await?;
            }
            report.line(format!("starting {}", c.name));
            self.start(&c.id).await?;
        }
        Ok(())
    }

    async fn retire(&self, old: &Container, grace: Option<u32>) -> Result<Retired, EngineError> {
        let (name, own, body) = self.spec(&old.id).await?;
        let grace = grace.unwrap_or(own);
        self.stop(&old.id, grace).await?;
        self.rename(&old.id, &Self::parked_name(&name)).await?;
        let config = serde_json::to_value(&body)
            .map_err(|e| EngineError::Refused(format!("cannot keep the configuration of {name}: {e}")))?;
        Ok(Retired { id: old.id.clone(), name, grace, config })
    }

    async fn launch(&self, retired: &Retired, image: &str) -> Result<ContainerId, EngineError> {
        let mut body: ContainerCreateBody = serde_json::from_value(retired.config.clone()).map_err(|e| {
            EngineError::Refused(format!("the kept configuration of {} is unusable: {e}", retired.name))
        })?;
        body.image = Some(image.to_owned());
        self.create_started(&retired.name, body).await
    }

    async fn start_first_blockers(&self, instance: &Container) -> Result<Vec<String>, EngineError> {
        let ins = self.inspect_raw(&instance.id).await?.ok_or_else(|| EngineError::NotFound(instance.name.clone()))?;
        Ok(super::beside::blockers(&ins))
    }

    async fn launch_beside(&self, old: &Container, image: &str) -> Result<(Retired, ContainerId), EngineError> {
        let (name, grace, mut body) = self.spec(&old.id).await?;
        let config = serde_json::to_value(&body)
            .map_err(|e| EngineError::Refused(format!("cannot keep the configuration of {name}: {e}")))?;
        body.image = Some(image.to_owned());
        // No service alias while it is gated: the service's name must not lead to it yet.
        body.networking_config = super::beside::without_aliases(body.networking_config.take());
        let id = self.create_started(&format!("{name}{NEXT_SUFFIX}"), body).await?;
        Ok((Retired { id: old.id.clone(), name, grace, config }, id))
    }

    async fn last_words(&self, id: &ContainerId, lines: usize) -> Result<Vec<String>, EngineError> {
        self.evidence(id, lines).await
    }

    async fn admit(&self, new: &ContainerId, old: &Retired) -> Result<(), EngineError> {
        let body: ContainerCreateBody = serde_json::from_value(old.config.clone())
            .map_err(|e| EngineError::Refused(format!("the kept configuration of {} is unusable: {e}", old.name)))?;
        self.join_with_aliases(new, body.networking_config).await
    }

    async fn promote(&self, new: &ContainerId, name: &str) -> Result<(), EngineError> {
        self.rename(new, name).await
    }

    fn address_settle(&self) -> Duration {
        // The engine hands a freed address to the next container at once (measured on Docker
        // 20.10: the gated container of a deploy right after took the removed one's address,
        // and a proxy's connect retried 1 s later reached it).
        Duration::from_secs(3)
    }

    async fn health_budget(&self, id: &ContainerId) -> Result<Option<Duration>, EngineError> {
        Ok(self.inspect_raw(id).await?.and_then(|ins| super::beside::health_budget(&ins)))
    }

    async fn discard(&self, id: &ContainerId, grace: u32) -> Result<(), EngineError> {
        let _ = self.stop(id, grace).await;
        self.remove(id).await
    }

    async fn reinstate(&self, retired: &Retired, start: bool) -> Result<(), EngineError> {
        if !start {
            self.set_policy(&retired.id, RestartPolicy::No).await?;
        }
        self.rename(&retired.id, &retired.name).await?;
        if start {
            self.start(&retired.id).await?;
        }
        Ok(())
    }

    async fn commit(&self, retired: &Retired) -> Result<(), EngineError> {
        self.remove(&retired.id).await
    }

    async fn leftovers(&self, service: &Service) -> Result<Vec<Retired>, EngineError> {
        let mut out = Vec::new();
        for c in service.instances.iter().filter(|c| c.is_parked()) {
            let (parked, grace, body) = self.spec(&c.id).await?;
            let name = parked.strip_suffix(PARKED_SUFFIX).unwrap_or(&parked).to_owned();
            let config = serde_json::to_value(&body)
                .map_err(|e| EngineError::Refused(format!("cannot keep the configuration of {name}: {e}")))?;
            out.push(Retired { id: c.id.clone(), name, grace, config });
        }
        Ok(out)
    }

    async fn image_id(&self, reference: &str) -> Result<Option<String>, EngineError> {
        match self.call(self.docker.inspect_image(reference)).await {
            Ok(i) => Ok(i.id),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn pull(&self, reference: &str, limit: Duration) -> Result<(), EngineError> {
        let opts = CreateImageOptionsBuilder::default().from_image(reference).build();
        let mut s = self.docker.create_image(Some(opts), None, None).boxed();
        let work = async {
            while let Some(item) = s.next().await {
                item.map_err(|e| self.err(&e))?;
            }
            Ok::<(), EngineError>(())
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| EngineError::Timeout(format!("no answer from the registry within {} s", limit.as_secs())))?
    }

    async fn keep_image(&self, service: &str, image_id: &str) -> Result<String, EngineError> {
        let repo = keep_repo(service);
        self.tag(image_id, &repo, short_image_id(image_id)).await?;
        if let Ok(tags) = self.local_tags(&format!("{repo}:x")).await {
            for old in tags.iter().filter(|t| repo_of(t) == repo).skip(KEEP_TAGS) {
                let _ = self.untag(old).await;
            }
        }
        Ok(self.kept_reference(service, image_id))
    }

    fn kept_reference(&self, service: &str, image_id: &str) -> String {
        format!("{}:{}", keep_repo(service), short_image_id(image_id))
    }

    async fn local_tags(&self, reference: &str) -> Result<Vec<String>, EngineError> {
        // A container created from an image id: find the repository through the image's tags.
        let owned;
        let repo = if reference.starts_with("sha256:") {
            let img = self.call(self.docker.inspect_image(reference)).await?;
            owned = img
                .repo_tags
                .unwrap_or_default()
                .into_iter()
                .find(|t| !t.starts_with("stackdeck-keep/"))
                .map(|t| repo_of(&t).to_owned())
                .ok_or_else(|| EngineError::NotFound("the running image has no tag: type a reference".to_owned()))?;
            owned.as_str()
        } else {
            repo_of(reference)
        };
        let mut f = HashMap::new();
        f.insert("reference".to_owned(), vec![format!("{repo}:*")]);
        let opts = ListImagesOptionsBuilder::default().filters(&f).build();
        let mut list = self.call(self.docker.list_images(Some(opts))).await?;
        list.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(list.into_iter().flat_map(|i| i.repo_tags.into_iter()).filter(|t| repo_of(t) == repo).collect())
    }

    async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[String],
        stdin: Option<mpsc::Receiver<Bytes>>,
        stdout: Option<mpsc::Sender<Bytes>>,
        limit: Duration,
    ) -> Result<ExecOutput, EngineError> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        use bollard::models::ExecConfig;
        use tokio::io::AsyncWriteExt;
        let config = ExecConfig {
            cmd: Some(cmd.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin.is_some()),
            ..Default::default()
        };
        let created = match self.call(self.docker.create_exec(&id.0, config)).await {
            // 409 from exec create: the container is not running.
            Err(EngineError::Conflict(m)) => return Err(EngineError::NotRunning(m)),
            r => r?,
        };
        let started = self.call(self.docker.start_exec(&created.id, Some(StartExecOptions::default()))).await?;
        let StartExecResults::Attached { mut output, mut input } = started else {
            return Err(EngineError::Refused("the engine detached the exec".into()));
        };
        let what = cmd.first().cloned().unwrap_or_default();
        let work = async {
            let feed = async {
                if let Some(mut rx) = stdin {
                    while let Some(chunk) = rx.recv().await {
                        input
                            .write_all(&chunk)
                            .await
                            .map_err(|e| EngineError::Refused(format!("writing to {what}: {e}")))?;
                    }
                }
                // EOF for the process's stdin.
                let _ = input.shutdown().await;
                Ok::<(), EngineError>(())
            };
            let drain = async {
                let mut err_tail = Vec::new();
                while let Some(item) = output.next().await {
                    match item.map_err(|e| self.err(&e))? {
                        bollard::container::LogOutput::StdOut { message }
                        | bollard::container::LogOutput::Console { message } => {
                            if let Some(tx) = &stdout {
                                tx.send(message)
                                    .await
                                    .map_err(|_| EngineError::Refused("the writer stopped".to_owned()))?;
                            }
                        }
                        bollard::container::LogOutput::StdErr { message } => {
                            err_tail.extend_from_slice(&message);
                            if err_tail.len() > 4096 {
                                err_tail.drain(..err_tail.len() - 4096);
                            }
                        }
                        bollard::container::LogOutput::StdIn { .. } => {}
                    }
                }
                Ok::<Vec<u8>, EngineError>(err_tail)
            };
            let (fed, drained) = tokio::join!(feed, drain);
            fed?;
            drained
        };
        let err_tail = tokio::time::timeout(limit, work).await.map_err(|_| {
            EngineError::Timeout(format!("{} did not finish within {} s", cmd.join(" "), limit.as_secs()))
        })??;
        let ins = self.call(self.docker.inspect_exec(&created.id)).await?;
        let stderr = String::from_utf8_lossy(&err_tail).trim().to_owned();
        Ok(ExecOutput { exit_code: ins.exit_code.unwrap_or(-1), stderr })
    }

    fn copy_out<'a>(&'a self, id: &'a ContainerId, path: &'a str) -> BoxStream<'a, Result<Bytes, EngineError>> {
        let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path(path).build();
        self.docker.download_from_container(&id.0, Some(opts)).map(move |r| r.map_err(|e| self.err(&e))).boxed()
    }
}
