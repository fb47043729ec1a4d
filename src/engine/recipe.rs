//! How to create a container again: its own configuration, less what the old image supplied
//! (so the new image's defaults apply) and less what the engine picks by itself, with its
//! networks and aliases; and creating one from such a recipe.

use super::containers::ContainerBackend;
use crate::domain::{ContainerId, EngineError};
use bollard::models::{ContainerCreateBody, HostConfig, NetworkConnectRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use std::collections::HashMap;

use super::ENGINE_STOP_TIMEOUT;

impl ContainerBackend {
    /// How to recreate this container: its own configuration with the old image's defaults
    /// taken out, so a new image's defaults (ENV, CMD, labels, healthcheck) apply.
    pub(super) async fn spec(&self, id: &ContainerId) -> Result<(String, u32, ContainerCreateBody), EngineError> {
        let ins = self
            .inspect_raw(id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("container {} is gone", id.short())))?;
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
            networking_config: super::beside::endpoints(&ins),
            ..Default::default()
        };
        let grace = cfg.stop_timeout.and_then(|t| u32::try_from(t).ok()).unwrap_or(ENGINE_STOP_TIMEOUT);
        Ok((name, grace, body))
    }

    /// Create a container named `name` from a recipe `body`, connect it to the networks the
    /// engine does not take at create, and start it. Removed again if any step fails.
    pub(super) async fn create_started(
        &self,
        name: &str,
        mut body: ContainerCreateBody,
    ) -> Result<ContainerId, EngineError> {
        let mode = body.host_config.as_ref().and_then(|h| h.network_mode.clone());
        let (first, rest) = super::beside::split_endpoints(body.networking_config.take(), mode.as_deref());
        body.networking_config = first;
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self.call(self.docker.create_container(Some(opts), body)).await?;
        let id = ContainerId(created.id);
        let connected = async {
            for (net, ep) in rest {
                let req = NetworkConnectRequest { container: id.0.clone(), endpoint_config: Some(ep) };
                self.call(self.docker.connect_network(&net, req)).await?;
            }
            self.start(&id).await
        };
        if let Err(e) = connected.await {
            let _ = self.remove(&id).await;
            return Err(e);
        }
        Ok(id)
    }

    /// Give a running container the aliases of `cfg` on each network that has some: the
    /// engine takes aliases only when it connects, so it leaves and joins again (no request
    /// reaches it by those names before, and its own address may change).
    pub(super) async fn join_with_aliases(
        &self,
        id: &ContainerId,
        cfg: Option<bollard::models::NetworkingConfig>,
    ) -> Result<(), EngineError> {
        let Some(endpoints) = cfg.and_then(|c| c.endpoints_config) else { return Ok(()) };
        for (net, ep) in endpoints.into_iter().filter(|(_, e)| e.aliases.as_ref().is_some_and(|a| !a.is_empty())) {
            let leave = bollard::models::NetworkDisconnectRequest { container: id.0.clone(), force: Some(false) };
            self.call(self.docker.disconnect_network(&net, leave)).await?;
            let join = NetworkConnectRequest { container: id.0.clone(), endpoint_config: Some(ep) };
            self.call(self.docker.connect_network(&net, join)).await?;
        }
        Ok(())
    }
}
