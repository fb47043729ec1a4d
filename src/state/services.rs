//! The containers the engine reported, grouped project -> service, plus HTTP probe results and
//! the selection. Rows are derived from the containers whenever they change.

use crate::domain::{Container, ContainerId, GONE_PREFIX, Health, RunState, ServiceKey};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A group header: a compose project, or `None` for standalone containers.
    Project(Option<String>),
    Container(ContainerId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct ServicesState {
    pub containers: BTreeMap<ContainerId, Container>,
    pub probes: HashMap<ServiceKey, Probe>,
    /// Services the config hides.
    pub hidden: Vec<ServiceKey>,
    rows: Vec<Row>,
    pub selected: Option<ContainerId>,
    /// The service of the selection: when its container is replaced (a deploy), the selection
    /// moves to the new one instead of jumping to the top.
    selected_key: Option<ServiceKey>,
    /// True once the first snapshot arrived (before it, "loading" instead of "no containers").
    pub loaded: bool,
    /// Emergency-stopped services: one whose container is gone keeps a row of its own.
    latched: Vec<ServiceKey>,
    /// Services marked for a release (`project/service`).
    pub marked: std::collections::BTreeSet<String>,
    /// Counts the rebuilds of the rows (a cheap "did the containers change" for the app loop).
    pub generation: u64,
}

impl ServicesState {
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn selected(&self) -> Option<&Container> {
        self.selected.as_ref().and_then(|id| self.containers.get(id))
    }

    /// Health as shown: the engine's healthcheck combined with the HTTP probe, if configured.
    pub fn health(&self, c: &Container) -> Health {
        let probe = self.probes.get(&c.key).or_else(|| self.probes.get(&ServiceKey::new(None, &c.key.service)));
        match probe {
            Some(p) if c.state == RunState::Running => {
                c.health.worst(if p.ok { Health::Healthy } else { Health::Unhealthy })
            }
            _ => c.health,
        }
    }

    pub fn replace_all(&mut self, list: Vec<Container>) {
        self.containers = list.into_iter().map(|c| (c.id.clone(), c)).collect();
        self.loaded = true;
        self.rebuild();
    }

    pub fn upsert(&mut self, c: Container) {
        self.containers.insert(c.id.clone(), c);
        self.rebuild();
    }

    pub fn remove(&mut self, id: &ContainerId) {
        self.containers.remove(id);
        self.rebuild();
    }

    pub fn set_health(&mut self, id: &ContainerId, h: Health) -> bool {
        match self.containers.get_mut(id) {
            Some(c) if c.health != h => {
                c.health = h;
                true
            }
            _ => false,
        }
    }

    /// Containers in display order (the order of the rows).
    pub fn ordered(&self) -> impl Iterator<Item = &Container> {
        self.rows.iter().filter_map(|r| match r {
            Row::Container(id) => self.containers.get(id),
            Row::Project(_) => None,
        })
    }

    /// The emergency-stopped services (from the store).
    pub fn set_latched(&mut self, keys: Vec<ServiceKey>) {
        if self.latched != keys {
            self.latched = keys;
            self.rebuild();
        }
    }

    /// A latched service without any container keeps a row: "REMOVED", start recreates it.
    fn keep_gone_rows(&mut self) {
        self.containers.retain(|id, _| !id.0.starts_with(GONE_PREFIX));
        for key in &self.latched {
            if self.containers.values().any(|c| &c.key == key) {
                continue;
            }
            let id = ContainerId(format!("{GONE_PREFIX}{key}"));
            let row = Container {
                id: id.clone(),
                name: key.service.clone(),
                key: key.clone(),
                state: RunState::Gone,
                health: Health::None,
                image: "start recreates it".into(),
                image_id: String::new(),
                started_at: None,
                finished_at: None,
                restarts: 0,
                exit_code: None,
                memory_limit: 0,
                pid: None,
                compose: None,
            };
            self.containers.insert(id, row);
        }
    }

    fn rebuild(&mut self) {
        self.generation += 1;
        if self.loaded {
            self.keep_gone_rows();
        }
        let mut groups: BTreeMap<(bool, Option<&str>), Vec<&Container>> = BTreeMap::new();
        for c in self.containers.values() {
            if self.hidden.iter().any(|h| h == &c.key || (h.project.is_none() && h.service == c.key.service)) {
                continue;
            }
            // Compose projects first (alphabetically), standalone containers last.
            groups.entry((c.key.project.is_none(), c.key.project.as_deref())).or_default().push(c);
        }
        let mut rows = Vec::new();
        for ((_, project), mut cs) in groups {
            cs.sort_by(|a, b| a.key.service.cmp(&b.key.service).then(a.name.cmp(&b.name)));
            rows.push(Row::Project(project.map(str::to_owned)));
            rows.extend(cs.into_iter().map(|c| Row::Container(c.id.clone())));
        }
        self.rows = rows;
        let still_there = self.selected.as_ref().is_some_and(|s| self.rows.contains(&Row::Container(s.clone())));
        if !still_there {
            let same =
                self.selected_key.as_ref().and_then(|k| self.ordered().find(|c| &c.key == k).map(|c| c.id.clone()));
            let first = self.ordered().next().map(|c| c.id.clone());
            self.selected = same.or(first);
        }
        self.selected_key = self.selected.as_ref().and_then(|id| self.containers.get(id)).map(|c| c.key.clone());
    }

    /// Move the selection by `delta` containers (clamped).
    pub fn move_selection(&mut self, delta: isize) {
        let ids: Vec<&ContainerId> = self.ordered().map(|c| &c.id).collect();
        if ids.is_empty() {
            return;
        }
        let cur = self.selected.as_ref().and_then(|s| ids.iter().position(|i| *i == s)).unwrap_or(0);
        let next = (cur as isize + delta).clamp(0, ids.len() as isize - 1) as usize;
        self.selected = Some(ids[next].clone());
    }

    pub fn select_edge(&mut self, last: bool) {
        let c = if last { self.ordered().last() } else { self.ordered().next() };
        let id = c.map(|c| c.id.clone());
        self.selected = id;
    }
}
