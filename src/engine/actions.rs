//! Mutating engine calls for the operations (stop, start, deploy, rollback). Still the only
//! place bollard is used: the operations in `crate::ops` see domain types and [`Spec`]s.

use super::{CALL_TIMEOUT, Endpoint, connect, convert, describe, project_filter};
use crate::domain::{Container, ContainerId, Health, RunState};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerUpdateBody, HostConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder, TagImageOptionsBuilder,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// A handle for mutating calls.
#[derive(Debug, Clone)]
pub struct Actions {
    docker: Docker,
    host: String,
}

/// How to recreate a container: its own configuration with the old image's defaults taken out,
/// so a new image's defaults (ENV, CMD, labels, healthcheck) apply.
#[derive(Debug, Clone)]
pub struct Spec {
    body: ContainerCreateBody,
    pub name: String,
    /// Seconds the engine waits after the stop signal before SIGKILL (the container's own
    /// StopTimeout, else 10 as the engine does).
    pub stop_timeout: u32,
}

/// A failure to name a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NotFound(String),
    Ambiguous(String, Vec<String>),
    Engine(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::NotFound(s) => write!(f, "no service or container named '{s}'"),
            ResolveError::Ambiguous(s, c) => {
                write!(f, "'{s}' is ambiguous: it matches {}; name one as project/service", c.join(", "))
            }
            ResolveError::Engine(e) => f.write_str(e),
        }
    }
}

fn timeout_err() -> bollard::errors::Error {
    bollard::errors::Error::RequestTimeoutError
}

impl Actions {
    pub async fn connect(ep: &Endpoint) -> Result<Actions, String> {
        let (docker, _) = connect(ep).await?;
        Ok(Actions { docker, host: ep.host.clone() })
    }

    fn err(&self, e: &bollard::errors::Error) -> String {
        describe(&self.host, e)
    }

    async fn call<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(r) => r.map_err(|e| self.err(&e)),
            Err(_) => Err(self.err(&timeout_err())),
        }
    }

    /// `service` (unique across projects), `project/service`, or a container name. Returns the
    /// key as `project/service` (or the container name) and its containers.
    pub async fn resolve(&self, target: &str, project: Option<&str>) -> Result<(String, Vec<Container>), ResolveError> {
        let (proj, svc) = match target.split_once('/') {
            Some((p, s)) => (Some(p), s),
            None => (project, target),
        };
        let mut filters = project_filter(proj);
        filters.entry("label".into()).or_default().push(format!("{}={svc}", convert::LABEL_SERVICE));
        let list = self.list(filters).await.map_err(ResolveError::Engine)?;
        let mut by_key: HashMap<String, Vec<Container>> = HashMap::new();
        for c in list {
            by_key.entry(c.key.to_string()).or_default().push(c);
        }
        match by_key.len() {
            1 => Ok(by_key.into_iter().next().expect("one entry")),
            0 => {
                // A standalone container by name?
                let mut f = HashMap::new();
                f.insert("name".to_owned(), vec![format!("^/{target}$")]);
                let list = self.list(f).await.map_err(ResolveError::Engine)?;
                if list.is_empty() {
                    Err(ResolveError::NotFound(target.to_owned()))
                } else {
                    Ok((target.to_owned(), list))
                }
            }
            _ => {
                let mut c: Vec<String> = by_key.into_keys().collect();
                c.sort();
                Err(ResolveError::Ambiguous(target.to_owned(), c))
            }
        }
    }

    async fn list(&self, filters: HashMap<String, Vec<String>>) -> Result<Vec<Container>, String> {
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.call(self.docker.list_containers(Some(opts))).await?;
        let mut out = Vec::new();
        for s in list {
            if let Some(id) = s.id
                && let Some(c) = self.inspect(&ContainerId(id)).await?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn inspect_raw(&self, id: &ContainerId) -> Result<Option<ContainerInspectResponse>, String> {
        match tokio::time::timeout(CALL_TIMEOUT, self.docker.inspect_container(&id.0, None::<InspectContainerOptions>))
            .await
        {
            Err(_) => Err(self.err(&timeout_err())),
            Ok(Ok(i)) => Ok(Some(i)),
            Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(None),
            Ok(Err(e)) => Err(self.err(&e)),
        }
    }

    pub async fn inspect(&self, id: &ContainerId) -> Result<Option<Container>, String> {
        Ok(self.inspect_raw(id).await?.and_then(convert::container))
    }

    /// State, health and exit code, for the health gate.
    pub async fn health(&self, id: &ContainerId) -> Result<(RunState, Health, Option<i64>), String> {
        match self.inspect(id).await? {
            Some(c) => Ok((c.state, c.health, c.exit_code)),
            None => Ok((RunState::Removing, Health::None, None)),
        }
    }

    /// Stop: the container's stop signal, `grace` seconds, then SIGKILL (the engine does this).
    pub async fn stop(&self, id: &ContainerId, grace: u32) -> Result<(), String> {
        let opts = StopContainerOptionsBuilder::default().t(i32::try_from(grace).unwrap_or(i32::MAX)).build();
        let limit = Duration::from_secs(u64::from(grace)) + CALL_TIMEOUT;
        match tokio::time::timeout(limit, self.docker.stop_container(&id.0, Some(opts))).await {
            Ok(Ok(())) => Ok(()),
            // 304: already stopped.
            Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. })) => Ok(()),
            Ok(Err(e)) => Err(self.err(&e)),
            Err(_) => Err(format!("the engine did not confirm the stop within {} s", limit.as_secs())),
        }
    }

    pub async fn kill(&self, id: &ContainerId) -> Result<(), String> {
        let opts = KillContainerOptionsBuilder::default().signal("SIGKILL").build();
        match self.call(self.docker.kill_container(&id.0, Some(opts))).await {
            Err(e) if e.contains("is not running") => Ok(()),
            r => r,
        }
    }

    pub async fn start(&self, id: &ContainerId) -> Result<(), String> {
        match tokio::time::timeout(CALL_TIMEOUT, self.docker.start_container(&id.0, None::<StartContainerOptions>))
            .await
        {
            Ok(Ok(())) | Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. })) => Ok(()),
            Ok(Err(e)) => Err(self.err(&e)),
            Err(_) => Err(self.err(&timeout_err())),
        }
    }

    /// The restart policy as text: "no", "always", "unless-stopped", "on-failure:3".
    pub async fn restart_policy(&self, id: &ContainerId) -> Result<String, String> {
        let ins = self.inspect_raw(id).await?.ok_or_else(|| format!("container {} is gone", id.short()))?;
        let p = ins.host_config.and_then(|h| h.restart_policy).unwrap_or_default();
        let name = p.name.map(|n| n.to_string()).filter(|n| !n.is_empty()).unwrap_or_else(|| "no".into());
        Ok(match (name.as_str(), p.maximum_retry_count) {
            ("on-failure", Some(n)) if n > 0 => format!("on-failure:{n}"),
            _ => name,
        })
    }

    pub async fn set_restart_policy(&self, id: &ContainerId, policy: &str) -> Result<(), String> {
        let (name, max) = match policy.split_once(':') {
            Some((n, m)) => (n, m.parse::<i64>().ok()),
            None => (policy, None),
        };
        let name = match name {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        };
        let body = ContainerUpdateBody {
            restart_policy: Some(RestartPolicy { name: Some(name), maximum_retry_count: max }),
            ..Default::default()
        };
        self.call(self.docker.update_container(&id.0, body)).await
    }

    /// How to recreate this container (see [`Spec`]).
    pub async fn spec(&self, id: &ContainerId) -> Result<Spec, String> {
        let ins = self.inspect_raw(id).await?.ok_or_else(|| format!("container {} is gone", id.short()))?;
        let name = ins.name.clone().unwrap_or_default().trim_start_matches('/').to_owned();
        let cfg = ins.config.clone().unwrap_or_default();
        let old_image = match ins.image.as_deref() {
            Some(img) => self.call(self.docker.inspect_image(img)).await.ok().and_then(|i| i.config),
            None => None,
        };
        let img = old_image.unwrap_or_default();
        let same = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| a.is_some() && a == b;
        let env: Option<Vec<String>> = cfg.env.clone().map(|e| {
            let defaults = img.env.clone().unwrap_or_default();
            e.into_iter().filter(|v| !defaults.contains(v)).collect()
        });
        let labels = cfg.labels.clone().map(|l| {
            let defaults = img.labels.clone().unwrap_or_default();
            l.into_iter().filter(|(k, v)| defaults.get(k) != Some(v)).collect::<HashMap<_, _>>()
        });
        // The generated hostname is the old container's id: never carry it over.
        let hostname = cfg.hostname.clone().filter(|h| !ins.id.as_deref().unwrap_or("").starts_with(h.as_str()));
        let mut host_config: HostConfig = ins.host_config.clone().unwrap_or_default();
        // Let the engine pick these again.
        host_config.container_id_file = None;
        let body = ContainerCreateBody {
            hostname,
            domainname: cfg.domainname.clone(),
            user: cfg.user.clone().filter(|u| Some(u) != img.user.as_ref()),
            attach_stdin: cfg.attach_stdin,
            attach_stdout: cfg.attach_stdout,
            attach_stderr: cfg.attach_stderr,
            tty: cfg.tty,
            open_stdin: cfg.open_stdin,
            stdin_once: cfg.stdin_once,
            env,
            cmd: if same(&cfg.cmd, &img.cmd) { None } else { cfg.cmd.clone() },
            healthcheck: if cfg.healthcheck.is_some() && cfg.healthcheck == img.healthcheck {
                None
            } else {
                cfg.healthcheck.clone()
            },
            entrypoint: if same(&cfg.entrypoint, &img.entrypoint) { None } else { cfg.entrypoint.clone() },
            working_dir: cfg.working_dir.clone().filter(|w| Some(w) != img.working_dir.as_ref() && !w.is_empty()),
            labels,
            stop_signal: cfg.stop_signal.clone().filter(|s| Some(s) != img.stop_signal.as_ref()),
            stop_timeout: cfg.stop_timeout,
            host_config: Some(host_config),
            ..Default::default()
        };
        Ok(Spec { body, name, stop_timeout: u32::try_from(cfg.stop_timeout.unwrap_or(10)).unwrap_or(10) })
    }

    /// Create a container from a spec with another image, under `name`.
    pub async fn create(&self, spec: &Spec, image: &str, name: &str) -> Result<ContainerId, String> {
        let mut body = spec.body.clone();
        body.image = Some(image.to_owned());
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        let r = self.call(self.docker.create_container(Some(opts), body)).await?;
        Ok(ContainerId(r.id))
    }

    pub async fn rename(&self, id: &ContainerId, name: &str) -> Result<(), String> {
        self.call(self.docker.rename_container(&id.0, RenameContainerOptionsBuilder::default().name(name).build()))
            .await
    }

    pub async fn remove(&self, id: &ContainerId) -> Result<(), String> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.call(self.docker.remove_container(&id.0, Some(opts))).await {
            Err(e) if e.contains("No such container") || e.contains("404") => Ok(()),
            r => r,
        }
    }

    /// The image id a reference names locally, if any.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, String> {
        match tokio::time::timeout(CALL_TIMEOUT, self.docker.inspect_image(reference)).await {
            Ok(Ok(i)) => Ok(i.id),
            Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(None),
            Ok(Err(e)) => Err(self.err(&e)),
            Err(_) => Err(self.err(&timeout_err())),
        }
    }

    /// Try to pull; Err with the engine's reason when no registry answers.
    pub async fn pull(&self, reference: &str, limit: Duration) -> Result<(), String> {
        let opts = CreateImageOptionsBuilder::default().from_image(reference).build();
        let mut s = self.docker.create_image(Some(opts), None, None).boxed();
        let work = async {
            while let Some(item) = s.next().await {
                item.map_err(|e| self.err(&e))?;
            }
            Ok::<(), String>(())
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| format!("no answer from the registry within {} s", limit.as_secs()))?
    }

    pub async fn tag(&self, image: &str, repo: &str, tag: &str) -> Result<(), String> {
        let opts = TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
        self.call(self.docker.tag_image(image, Some(opts))).await
    }

    /// Remove one tag (never the image while another tag or a container uses it).
    pub async fn untag(&self, reference: &str) -> Result<(), String> {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default().noprune(true).build();
        self.call(self.docker.remove_image(reference, Some(opts), None)).await.map(|_| ())
    }

    /// Local tags of the repository of `reference`, newest image first.
    pub async fn local_tags(&self, reference: &str) -> Result<Vec<String>, String> {
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
                .ok_or_else(|| "the running image has no tag: type a reference".to_owned())?;
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
}

impl Actions {
    /// Run `cmd` in the container. Stdout chunks go to `out` (back-pressure: the process waits
    /// for the disk); `stdin` chunks are fed to the process and then stdin is closed. Returns
    /// the exit code and the end of stderr.
    pub async fn exec(
        &self,
        id: &ContainerId,
        cmd: &[String],
        stdin: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
        out: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
        limit: Duration,
    ) -> Result<(i64, String), String> {
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
        let created = self.call(self.docker.create_exec(&id.0, config)).await?;
        let started = self.call(self.docker.start_exec(&created.id, Some(StartExecOptions::default()))).await?;
        let StartExecResults::Attached { mut output, mut input } = started else {
            return Err("the engine detached the exec".into());
        };
        let work = async {
            let feed = async {
                if let Some(mut rx) = stdin {
                    while let Some(chunk) = rx.recv().await {
                        input.write_all(&chunk).await.map_err(|e| format!("writing to {}: {e}", cmd.join(" ")))?;
                    }
                }
                // EOF for the process's stdin.
                let _ = input.shutdown().await;
                Ok::<(), String>(())
            };
            let drain = async {
                let mut err_tail = Vec::new();
                while let Some(item) = output.next().await {
                    match item.map_err(|e| self.err(&e))? {
                        bollard::container::LogOutput::StdOut { message }
                        | bollard::container::LogOutput::Console { message } => {
                            if let Some(tx) = &out {
                                tx.send(message).await.map_err(|_| "the writer stopped".to_owned())?;
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
                Ok::<Vec<u8>, String>(err_tail)
            };
            let (fed, drained) = tokio::join!(feed, drain);
            fed?;
            drained
        };
        let err_tail = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| format!("{} did not finish within {} s", cmd.join(" "), limit.as_secs()))??;
        let ins = self.call(self.docker.inspect_exec(&created.id)).await?;
        let stderr = String::from_utf8_lossy(&err_tail).trim().to_owned();
        Ok((ins.exit_code.unwrap_or(-1), stderr))
    }

    /// A tar stream of `path` in the container (the engine's archive API).
    pub fn download(
        &self,
        id: &ContainerId,
        path: &str,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, String>> + '_ {
        let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path(path).build();
        self.docker.download_from_container(&id.0, Some(opts)).map(|r| r.map_err(|e| describe(&self.host, &e)))
    }
}

/// `registry:5000/team/app:tag` -> `registry:5000/team/app`; digests are cut too.
pub fn repo_of(reference: &str) -> &str {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::repo_of;

    #[test]
    fn repositories() {
        assert_eq!(repo_of("fx-trading-bot:2"), "fx-trading-bot");
        assert_eq!(repo_of("registry:5000/team/app:1.2"), "registry:5000/team/app");
        assert_eq!(repo_of("registry:5000/team/app"), "registry:5000/team/app");
        assert_eq!(repo_of("app@sha256:abc"), "app");
    }
}
