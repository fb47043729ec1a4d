//! What the compose files say (read by a background watcher, `drift::watch`) and the drift
//! between that and what runs, per service, kept current as containers, files and history
//! change.

use crate::domain::{ComposeFiles, ComposeView, Container, ContainerId, Drift, OpRecord, ServiceKey, compare_drift};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct ComposeState {
    pub views: Vec<ComposeView>,
    /// Projects whose files could not be read, and why (a warning on the project row).
    pub errors: BTreeMap<String, String>,
    pub drift: HashMap<ServiceKey, Drift>,
}

/// The compose projects behind `containers` (what the watcher reads).
pub fn sources<'a>(containers: impl Iterator<Item = &'a Container>) -> BTreeSet<(String, ComposeFiles)> {
    containers.filter_map(|c| Some((c.key.project.clone()?, c.compose.clone()?))).collect()
}

impl ComposeState {
    pub fn set(&mut self, read: Vec<Result<ComposeView, (String, String)>>) -> bool {
        let mut views = Vec::new();
        let mut errors = BTreeMap::new();
        for r in read {
            match r {
                Ok(v) => views.push(v),
                Err((p, e)) => {
                    errors.insert(p, e);
                }
            }
        }
        let changed = views != self.views || errors != self.errors;
        self.views = views;
        self.errors = errors;
        changed
    }

    /// Compare again; true when the drift changed.
    pub fn refresh(&mut self, containers: &BTreeMap<ContainerId, Container>, history: &[OpRecord]) -> bool {
        let all: Vec<&Container> = containers.values().collect();
        let drift: HashMap<ServiceKey, Drift> = self
            .views
            .iter()
            .flat_map(|v| compare_drift(v, &all, history))
            .map(|d| (ServiceKey::new(Some(&d.project), &d.service), d))
            .collect();
        let changed = drift != self.drift;
        self.drift = drift;
        changed
    }
}
