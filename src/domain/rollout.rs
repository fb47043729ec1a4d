//! A service update on an orchestrator (Swarm), as one look at it shows: the image the spec
//! names, the orchestrator's own update state and message, and the tasks with their nodes.
//! stackdeck's Swarm gate reads these looks one after another; everything here is plain data
//! (the engine made every text inert before it got here).

use std::collections::HashSet;
use std::time::Duration;

/// One task of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLook {
    pub id: String,
    /// `3` for a replicated service's slot, the node for a global one.
    pub slot: String,
    pub node: String,
    /// The node answers the manager (a task on a node that is down cannot be seen).
    pub node_ready: bool,
    pub image: String,
    /// The task's state: `new`, `pending`, `assigned`, `preparing`, `starting`, `running`,
    /// `complete`, `shutdown`, `failed`, `rejected`, …
    pub state: String,
    /// The orchestrator wants it running.
    pub meant_to_run: bool,
    /// The task's error (why it failed or was rejected).
    pub error: String,
    pub exit: Option<i64>,
}

impl TaskLook {
    pub fn running(&self) -> bool {
        self.state == "running" && self.node_ready
    }

    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "rejected") || (self.state == "shutdown" && !self.error.is_empty())
    }

    /// `api-server.2 on sdsw3: running` (with the error when there is one).
    pub fn line(&self, service: &str) -> String {
        let node = if self.node_ready { self.node.clone() } else { format!("{} (node down)", self.node) };
        let mut s = format!("{service}.{} on {node}: {} ({})", self.slot, self.state, self.image);
        if !self.error.is_empty() {
            s.push_str(&format!(": {}", self.error));
        }
        if let Some(c) = self.exit.filter(|c| *c != 0) {
            s.push_str(&format!(", exit code {c}"));
        }
        s
    }
}

/// A service's rollout now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    /// The image the spec names now.
    pub image: String,
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed`; empty when the service was never updated.
    pub state: String,
    pub message: String,
    /// How many tasks the service should run.
    pub desired: u64,
    /// Its update_config in the compose file's words (`order start-first, parallelism 1, …`).
    pub policy: String,
    /// The update_config's monitor.
    pub monitor: Duration,
    /// Tasks meant to run, and the ones that ended (newest first), as the manager lists them.
    pub tasks: Vec<TaskLook>,
    /// The nodes of the swarm that are not ready, by name.
    pub down: Vec<String>,
}

impl Rollout {
    /// The slots (nodes, for a global service) with a task of `image` running on a ready node.
    /// A slot counts once: Swarm may briefly run two tasks for one slot (one moved away from a
    /// node that went down, one of the update).
    fn slots_on(&self, image: &str) -> usize {
        let slots: HashSet<&str> = self
            .tasks
            .iter()
            .filter(|t| t.meant_to_run && t.image == image && t.running())
            .map(|t| t.slot.as_str())
            .collect();
        slots.len()
    }

    /// Every task meant to run runs `image`, and every slot has one running on a ready node.
    pub fn settled_on(&self, image: &str) -> bool {
        self.desired > 0
            && self.slots_on(image) as u64 >= self.desired
            && self.tasks.iter().filter(|t| t.meant_to_run).all(|t| t.image == image)
    }

    /// Slots with a running task of `image`, out of those desired: `2/3`.
    pub fn count_on(&self, image: &str) -> String {
        format!("{}/{}", self.slots_on(image), self.desired)
    }

    /// The orchestrator went back by itself (its own failure_action: rollback).
    pub fn rolling_back(&self) -> bool {
        self.state.starts_with("rollback")
    }

    /// Tasks of `image` that failed and were not there before the update (`known`).
    pub fn new_failures<'a>(
        &'a self,
        image: &'a str,
        known: &'a HashSet<String>,
    ) -> impl Iterator<Item = &'a TaskLook> {
        self.tasks.iter().filter(move |t| t.image == image && t.failed() && !known.contains(&t.id))
    }

    /// The ids of every task listed now.
    pub fn ids(&self) -> HashSet<String> {
        self.tasks.iter().map(|t| t.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, image: &str, state: &str, meant: bool) -> TaskLook {
        TaskLook {
            id: id.into(),
            slot: id.into(),
            node: "sdsw2".into(),
            node_ready: true,
            image: image.into(),
            state: state.into(),
            meant_to_run: meant,
            ..TaskLook::default()
        }
    }

    #[test]
    fn settled_only_when_every_task_meant_to_run_runs_the_image() {
        let mut r = Rollout {
            image: "api:2".into(),
            desired: 2,
            tasks: vec![task("1", "api:2", "running", true), task("2", "api:1", "running", true)],
            ..Rollout::default()
        };
        assert!(!r.settled_on("api:2"));
        assert_eq!(r.count_on("api:2"), "1/2");
        r.tasks[1] = task("2", "api:2", "starting", true);
        assert!(!r.settled_on("api:2"), "starting is not running");
        r.tasks[1].state = "running".into();
        r.tasks.push(task("3", "api:1", "shutdown", false));
        assert!(r.settled_on("api:2"));
        r.tasks[0].node_ready = false;
        assert!(!r.settled_on("api:2"), "a task on a node that is down is not seen running");
        r.tasks.push(task("1", "api:2", "running", true));
        r.tasks.push(task("1", "api:2", "running", true));
        assert_eq!(r.count_on("api:2"), "2/2", "two tasks of one slot count once");
        assert!(!Rollout::default().settled_on(""), "nothing desired is not a rollout that settled");
    }

    #[test]
    fn failures_are_the_new_tasks_of_the_image_that_failed() {
        let r = Rollout {
            tasks: vec![
                task("a", "api:2", "failed", false),
                task("b", "api:2", "rejected", false),
                task("c", "api:1", "failed", false),
                task("d", "api:2", "shutdown", false),
            ],
            ..Rollout::default()
        };
        let known: HashSet<String> = ["b".to_owned()].into();
        let ids: Vec<&str> = r.new_failures("api:2", &known).map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        let mut t = task("x", "api:2", "failed", false);
        t.error = "task: non-zero exit (1)".into();
        t.exit = Some(1);
        assert_eq!(t.line("api-server"), "api-server.x on sdsw2: failed (api:2): task: non-zero exit (1), exit code 1");
    }
}
