//! The tasks of one Swarm service that a merged log view follows: listed through the manager,
//! each named `.slot@node` (or `@node` for a global service's task), new ones reported once.

use crate::logtext::inert;
use bollard::Docker;
use bollard::query_parameters::{ListNodesOptions, ListTasksOptionsBuilder};
use std::collections::{HashMap, HashSet};

pub(super) struct ServiceTasks {
    service: String,
    seen: HashSet<String>,
    hosts: HashMap<String, String>,
}

impl ServiceTasks {
    pub(super) fn new(service: String) -> Self {
        ServiceTasks { service, seen: HashSet::new(), hosts: HashMap::new() }
    }

    /// The tasks meant to run that were not reported before, with their labels. A manager that
    /// does not answer gives none this time (the view says nothing new until it does).
    pub(super) async fn new_tasks(&mut self, docker: &Docker) -> Vec<(String, String)> {
        let mut f: HashMap<&str, Vec<&str>> = HashMap::new();
        f.insert("service", vec![self.service.as_str()]);
        f.insert("desired-state", vec!["running"]);
        let list = docker.list_tasks(Some(ListTasksOptionsBuilder::default().filters(&f).build()));
        let Ok(Ok(tasks)) = tokio::time::timeout(super::CALL_TIMEOUT, list).await else { return Vec::new() };
        let mut out = Vec::new();
        for t in tasks {
            let Some(id) = t.id.clone() else { continue };
            if self.seen.contains(&id) {
                continue;
            }
            let host = match t.node_id.as_deref() {
                Some(n) => self.host(docker, n).await,
                // Not placed yet: it is followed once it is.
                None => continue,
            };
            self.seen.insert(id.clone());
            let label = match t.slot {
                Some(s) => format!(".{s}@{host}"),
                None => format!("@{host}"),
            };
            out.push((id, label));
        }
        out
    }

    async fn host(&mut self, docker: &Docker, node: &str) -> String {
        if !self.hosts.contains_key(node) {
            let list = docker.list_nodes(None::<ListNodesOptions>);
            if let Ok(Ok(nodes)) = tokio::time::timeout(super::CALL_TIMEOUT, list).await {
                for n in nodes {
                    let (Some(id), Some(h)) = (n.id, n.description.and_then(|d| d.hostname)) else { continue };
                    self.hosts.insert(id, inert(&h).into_owned());
                }
            }
        }
        self.hosts.get(node).cloned().unwrap_or_else(|| inert(&node.chars().take(12).collect::<String>()).into_owned())
    }
}
