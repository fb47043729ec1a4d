//! Drift: a running service whose image differs from what its compose file would run (the next
//! `docker-compose up -d` would silently undo a stackdeck deploy, or apply an edit nobody has
//! deployed yet). The compose files are read elsewhere (`compose`); this is the comparison and
//! its words, shared by the panel and `stackdeck drift`.

use super::{Container, OpRecord, Outcome};
use jiff::Timestamp;
use serde::Serialize;

/// What a compose project says about its services, texts already inert and masked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ComposeView {
    pub project: String,
    pub files: Vec<String>,
    /// The project's `.env`, when there is one.
    pub env_file: Option<String>,
    pub services: Vec<ComposeService>,
    /// Compose's own warnings (unset variables).
    pub warnings: Vec<String>,
    /// When the newest of the files (and `.env`) was last changed.
    pub changed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ComposeService {
    pub name: String,
    /// What `docker-compose up` would run.
    pub image: Option<String>,
    /// As written (`fx-api-server:${API_TAG:-1}`).
    pub template: Option<String>,
    /// `file:line` of the `image:` line.
    pub line: Option<String>,
    /// For an image written with exactly one variable: the variable and its value in `.env`
    /// now (`None`: not in `.env`). A deploy can pin the new tag there.
    pub pin_var: Option<(String, Option<String>)>,
    /// Off when the service's profiles are not active.
    pub active: bool,
}

/// Which side moved last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Newer {
    /// stackdeck deployed (or rolled back) what runs; the file still names the old image.
    Deployed { at: Timestamp, by: String, action: String },
    /// The file changed after the container was created: an edit not applied yet.
    File { at: Timestamp },
    /// Neither is known to be newer.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub project: String,
    pub service: String,
    pub running: String,
    pub file: String,
    pub template: Option<String>,
    pub line: Option<String>,
    pub newer: Newer,
}

impl Drift {
    /// One sentence: which side is newer and what each says.
    pub fn sentence(&self) -> String {
        match &self.newer {
            Newer::Deployed { at, action, .. } => format!(
                "{action} by stackdeck {}: runs {}, the file still says {}",
                at.strftime("%Y-%m-%d %H:%M"),
                self.running,
                self.file
            ),
            Newer::File { at } => format!(
                "the file changed {} to {}: not applied, {} still runs",
                at.strftime("%Y-%m-%d %H:%M"),
                self.file,
                self.running
            ),
            Newer::Unknown => format!("runs {}, the file says {}", self.running, self.file),
        }
    }
}

/// Compare what runs with what the file says. `history` is newest first (as the store gives it).
pub fn compare(view: &ComposeView, containers: &[&Container], history: &[OpRecord]) -> Vec<Drift> {
    let mut out = Vec::new();
    for s in view.services.iter().filter(|s| s.active) {
        let Some(file) = &s.image else { continue };
        let running: Vec<&&Container> = containers
            .iter()
            .filter(|c| {
                c.key.project.as_deref() == Some(view.project.as_str()) && c.key.service == s.name && !c.is_leftover()
            })
            .collect();
        let Some(c) = running.iter().max_by_key(|c| c.started_at) else { continue };
        if same_image(&c.image, file) {
            continue;
        }
        let key = c.key.to_string();
        let deployed = history.iter().find(|r| {
            r.service == key
                && r.outcome == Outcome::Succeeded
                && matches!(r.action.as_str(), "deploy" | "rollback")
                && r.to_image_id.as_deref() == Some(c.image_id.as_str())
        });
        let newer = match (deployed, view.changed_at) {
            (Some(r), changed) if changed.is_none_or(|t| t <= r.finished_at.unwrap_or(r.started_at)) => {
                Newer::Deployed {
                    at: r.finished_at.unwrap_or(r.started_at),
                    by: r.actor.clone(),
                    action: r.action.clone(),
                }
            }
            (_, Some(t)) if c.started_at.is_some_and(|s| t > s) => Newer::File { at: t },
            _ => Newer::Unknown,
        };
        out.push(Drift {
            project: view.project.clone(),
            service: s.name.clone(),
            running: c.image.clone(),
            file: file.clone(),
            template: s.template.clone(),
            line: s.line.clone(),
            newer,
        });
    }
    out
}

/// `redis` and `redis:latest` name the same image; so do `docker.io/library/redis` and `redis`.
fn same_image(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        let s = s.strip_prefix("library/").unwrap_or(s);
        let last = s.rsplit('/').next().unwrap_or(s);
        if last.contains(':') || s.contains('@') { s.to_owned() } else { format!("{s}:latest") }
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContainerId, Health, RunState, ServiceKey};

    fn container(image: &str, id: &str, started: &str) -> Container {
        Container {
            id: ContainerId("c1".into()),
            name: "p_api_1".into(),
            key: ServiceKey::new(Some("p"), "api"),
            state: RunState::Running,
            health: Health::Healthy,
            image: image.into(),
            image_id: id.into(),
            started_at: Some(started.parse().unwrap()),
            finished_at: None,
            restarts: 0,
            exit_code: None,
            memory_limit: 0,
            pid: None,
            compose: None,
        }
    }

    fn view(image: &str, changed: &str) -> ComposeView {
        ComposeView {
            project: "p".into(),
            services: vec![ComposeService {
                name: "api".into(),
                image: Some(image.into()),
                active: true,
                ..Default::default()
            }],
            changed_at: Some(changed.parse().unwrap()),
            ..Default::default()
        }
    }

    fn deploy(to_id: &str, at: &str) -> OpRecord {
        OpRecord {
            id: 1,
            action: "deploy".into(),
            service: "p/api".into(),
            from_image: None,
            to_image: Some("fx-api:2".into()),
            from_image_id: None,
            to_image_id: Some(to_id.into()),
            actor: "ops@box".into(),
            started_at: at.parse().unwrap(),
            finished_at: Some(at.parse().unwrap()),
            outcome: Outcome::Succeeded,
            reason: None,
            parent: None,
        }
    }

    #[test]
    fn which_side_is_newer() {
        let c = container("fx-api:2", "sha256:b", "2026-11-23T14:02:00Z");
        let v = view("fx-api:1", "2026-11-01T00:00:00Z");
        let d = compare(&v, &[&c], &[deploy("sha256:b", "2026-11-23T14:02:30Z")]);
        assert_eq!(d.len(), 1);
        assert!(matches!(d[0].newer, Newer::Deployed { .. }));
        assert_eq!(
            d[0].sentence(),
            "deploy by stackdeck 2026-11-23 14:02: runs fx-api:2, the file still says fx-api:1"
        );
        let v = view("fx-api:3", "2026-11-24T09:00:00Z");
        let d = compare(&v, &[&c], &[deploy("sha256:b", "2026-11-23T14:02:30Z")]);
        assert!(matches!(d[0].newer, Newer::File { .. }), "{:?}", d[0]);
        assert!(compare(&view("fx-api:2", "2026-11-01T00:00:00Z"), &[&c], &[]).is_empty());
        let c = container("redis", "sha256:r", "2026-11-23T14:02:00Z");
        assert!(
            compare(
                &ComposeView {
                    services: vec![ComposeService {
                        name: "api".into(),
                        image: Some("docker.io/library/redis:latest".into()),
                        active: true,
                        ..Default::default()
                    }],
                    project: "p".into(),
                    ..Default::default()
                },
                &[&c],
                &[]
            )
            .is_empty()
        );
    }
}
