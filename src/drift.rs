//! `stackdeck drift [--json]`: services whose running image differs from what their compose
//! file would run, which side is newer, and how to bring the file along (a `.env` pin, or the
//! exact line to change). Exit 0 when nothing drifts, 1 when something does (for scripts).

use crate::config::Stack;
use crate::domain::{Container, Drift, OpRecord, compare_drift};
use crate::engine::{self, Endpoint};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ProjectReport {
    pub project: String,
    pub files: Vec<String>,
    /// Why the files could not be read (then nothing else is known).
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub drift: Vec<DriftJson>,
}

#[derive(Debug, Serialize)]
pub struct DriftJson {
    #[serde(flatten)]
    pub drift: Drift,
    pub sentence: String,
    /// How to make the file name what runs.
    pub fix: String,
}

/// How to bring the file along: a pin when the image is written with one variable, else the
/// line to change.
pub fn fix(d: &Drift, view: &crate::domain::ComposeView) -> String {
    let svc = view.services.iter().find(|s| s.name == d.service);
    let at = d.line.as_deref().map_or_else(String::new, |l| format!(" at {l}"));
    match (svc.and_then(|s| s.pin_var.as_ref()), d.template.as_deref()) {
        (Some((var, _)), Some(t)) if let Some((_, v)) = crate::compose::interpolate::value_for(t, &d.running) => {
            format!(
                "stackdeck pin {}/{} (writes {var}={v} to {})",
                d.project,
                d.service,
                view.env_file.as_deref().unwrap_or(".env")
            )
        }
        _ => format!("change the line{at} to: image: {}", d.running),
    }
}

pub async fn collect(
    ep: &Endpoint,
    project: Option<&str>,
    stack: &Stack,
    state_dir: &Path,
) -> Result<Vec<ProjectReport>, String> {
    let (_, containers): (_, Vec<Container>) = engine::snapshot(ep, project).await?;
    if crate::domain::is_remote(&ep.host) {
        return Err(format!(
            "the engine is {}: its compose files are on that server, not here; run stackdeck drift there",
            ep.host
        ));
    }
    let history: Vec<OpRecord> =
        crate::store::Store::open(state_dir).and_then(|s| s.recent(500, None)).unwrap_or_default();
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let refs: Vec<&Container> = containers.iter().collect();
    let sources = crate::state::compose::sources(containers.iter());
    Ok(crate::compose::read_all(sources.iter().map(|(p, f)| (p.as_str(), f)), &env, &stack.masker)
        .into_iter()
        .map(|r| match r {
            Ok(view) => ProjectReport {
                drift: compare_drift(&view, &refs, &history)
                    .into_iter()
                    .map(|d| DriftJson { sentence: d.sentence(), fix: fix(&d, &view), drift: d })
                    .collect(),
                project: view.project,
                files: view.files,
                error: None,
                warnings: view.warnings,
            },
            Err((project, e)) => {
                ProjectReport { project, files: Vec::new(), error: Some(e), warnings: Vec::new(), drift: Vec::new() }
            }
        })
        .collect())
}

pub fn render_text(r: &[ProjectReport]) -> String {
    let mut out = String::new();
    for p in r {
        match &p.error {
            Some(e) => out.push_str(&format!("{}: compose files not readable: {e}\n", p.project)),
            None if p.drift.is_empty() => out.push_str(&format!("{}: no drift ({})\n", p.project, p.files.join(", "))),
            None => {
                for d in &p.drift {
                    out.push_str(&format!("{}/{}: {}\n    fix: {}\n", p.project, d.drift.service, d.sentence, d.fix));
                }
            }
        }
        for w in &p.warnings {
            out.push_str(&format!("{}: warning: {w}\n", p.project));
        }
    }
    if r.is_empty() {
        out.push_str("(no compose projects)\n");
    }
    out
}

/// What the panel's compose watcher is told: the projects behind the containers on screen.
pub type Sources = std::collections::BTreeSet<(String, crate::domain::ComposeFiles)>;

/// The panel's compose watcher: reads the projects in `sources` when they change and when their
/// files (or `.env`) change on disk (a few `stat` calls every few seconds), and reports them as
/// [`Msg::Compose`]. Ends when the panel drops the sender.
pub fn watch(
    mut sources: tokio::sync::watch::Receiver<Sources>,
    tx: tokio::sync::mpsc::Sender<crate::msg::Msg>,
    masker: crate::logtext::Masker,
) {
    tokio::spawn(async move {
        let mut last: Option<(Sources, Vec<Vec<Option<jiff::Timestamp>>>)> = None;
        loop {
            let now = sources.borrow_and_update().clone();
            let (m, n) = (masker.clone(), now.clone());
            let read = tokio::task::spawn_blocking(move || {
                let stamps: Vec<_> = n.iter().map(|(_, f)| crate::compose::stamps(f)).collect();
                (n, stamps)
            })
            .await;
            if let Ok(seen) = read
                && last.as_ref() != Some(&seen)
            {
                let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
                let srcs = seen.0.clone();
                let views = tokio::task::spawn_blocking(move || {
                    crate::compose::read_all(srcs.iter().map(|(p, f)| (p.as_str(), f)), &env, &m)
                })
                .await
                .unwrap_or_default();
                if tx.send(crate::msg::Msg::Compose(views)).await.is_err() {
                    return;
                }
                last = Some(seen);
            }
            tokio::select! {
                r = sources.changed() => if r.is_err() { return },
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
        }
    });
}

/// How often the watcher looks at the files' change times.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(3);
