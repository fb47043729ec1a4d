//! Docker Swarm as the panel shows it: the nodes, and per service its mode, replicas and update
//! state. A service's tasks are its instances (`Container`s named `service.slot@node`), so
//! the Services pane, the latch and the operations treat them as they treat containers.

use crate::domain::ServiceKey;

/// What the connected engine is in a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwarmRole {
    /// A manager: services, tasks and nodes are read here.
    Manager,
    /// A worker: its own containers only; the swarm is managed elsewhere.
    Worker,
}

/// One node of the swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmNode {
    pub hostname: String,
    /// `manager` (and `leader`) or `worker`.
    pub role: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, `disconnected` or `unknown`.
    pub state: String,
    pub engine: String,
    pub addr: String,
}

impl SwarmNode {
    pub fn is_ready(&self) -> bool {
        self.state == "ready"
    }
}

/// One swarm service, as its spec and status say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmService {
    /// The stack (`com.docker.stack.namespace`) and the name within it; no stack for a plain
    /// service.
    pub key: ServiceKey,
    /// `replicated` or `global`.
    pub mode: String,
    pub running: u64,
    pub desired: u64,
    /// The image as the spec names it (with its digest when the engine recorded one).
    pub image: String,
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed`, with the engine's message.
    pub update: Option<(String, String)>,
    /// Published ports: `8080:80/tcp (ingress)`.
    pub ports: Vec<String>,
}

impl SwarmService {
    /// One line for the Services pane's bottom border.
    pub fn sentence(&self) -> String {
        let mut s = format!("{} {}/{}", self.mode, self.running, self.desired);
        if let Some((state, msg)) = &self.update {
            s.push_str(&format!(" · update {state}"));
            if !msg.is_empty() {
                s.push_str(&format!(": {msg}"));
            }
        }
        if !self.ports.is_empty() {
            s.push_str(&format!(" · ports {}", self.ports.join(", ")));
        }
        s
    }
}

/// The swarm as the connected engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmView {
    pub role: SwarmRole,
    /// Empty on a worker (it cannot list them).
    pub nodes: Vec<SwarmNode>,
    pub services: Vec<SwarmService>,
}

impl SwarmView {
    /// The nodes that are not ready, by name.
    pub fn down(&self) -> Vec<&str> {
        self.nodes.iter().filter(|n| !n.is_ready()).map(|n| n.hostname.as_str()).collect()
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&SwarmService> {
        self.services.iter().find(|s| &s.key == key)
    }
}

/// A swarm service's name from its key: `stack_service` in a stack (what `docker stack deploy`
/// names it), else the service's own.
pub fn swarm_name(key: &ServiceKey) -> String {
    match &key.project {
        Some(p) => format!("{p}_{}", key.service),
        None => key.service.clone(),
    }
}

/// The placement constraint an emergency stop adds to a global service: no node has the
/// label, so no task runs; the service's own constraints stay as they were.
pub const STOPPED_CONSTRAINT: &str = "node.labels.stackdeck.emergency-stopped==true";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sentences() {
        assert_eq!(swarm_name(&ServiceKey::parse("trading/api-server")), "trading_api-server");
        assert_eq!(swarm_name(&ServiceKey::parse("plain")), "plain");
        let s = SwarmService {
            key: ServiceKey::parse("trading/api-server"),
            mode: "replicated".into(),
            running: 2,
            desired: 3,
            image: "fx-api-server:2".into(),
            update: Some(("updating".into(), "update in progress".into())),
            ports: vec!["58080:58080/tcp (host)".into()],
        };
        assert_eq!(s.sentence(), "replicated 2/3 · update updating: update in progress · ports 58080:58080/tcp (host)");
    }
}
