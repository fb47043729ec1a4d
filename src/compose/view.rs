//! A loaded project as the rest of stackdeck sees it ([`ComposeView`]): every text from the
//! files made inert and masked, the `file:line` of each image, the newest change time, and for
//! an image written with one variable the variable and its current `.env` value (for a pin).

use super::interpolate::{parse_dotenv, references};
use super::project::Project;
use crate::domain::{ComposeFiles, ComposeService, ComposeView};
use crate::logtext::{Masker, clean};
use std::path::Path;

impl super::project::Source {
    pub fn of(project: &str, files: &ComposeFiles) -> Self {
        Self { project: project.to_owned(), files: files.files.clone(), working_dir: files.working_dir.clone() }
    }
}

fn mtime(p: &Path) -> Option<jiff::Timestamp> {
    let t = std::fs::metadata(p).ok()?.modified().ok()?;
    jiff::Timestamp::try_from(t).ok()
}

/// When the newest of `paths` changed (what a watcher compares to notice an edit).
pub fn changed_at<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Option<jiff::Timestamp> {
    paths.into_iter().filter_map(mtime).max()
}

pub fn view(p: &Project, masker: &Masker) -> ComposeView {
    let c = |s: &str| clean(s, masker);
    let dotenv = p
        .env_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| parse_dotenv(&t).ok())
        .unwrap_or_default();
    let services = p
        .services
        .iter()
        .map(|(name, s)| {
            let var = s.image_template.as_deref().map(references).filter(|r| r.len() == 1).map(|r| r[0].clone());
            ComposeService {
                name: c(name),
                image: s.image.as_deref().map(c),
                template: s.image_template.as_deref().map(c),
                line: s.image_line.as_ref().map(|(f, l)| c(&format!("{}:{l}", f.display()))),
                pin_var: var.map(|v| {
                    let now = dotenv.get(&v).map(|x| c(x));
                    (c(&v), now)
                }),
                active: s.active,
            }
        })
        .collect();
    let paths: Vec<&Path> = p.files.iter().map(|f| f.as_path()).chain(p.env_file.as_deref()).collect();
    ComposeView {
        project: c(&p.name),
        files: p.files.iter().map(|f| c(&f.display().to_string())).collect(),
        env_file: p.env_file.as_ref().map(|f| c(&f.display().to_string())),
        services,
        warnings: p.warnings.iter().map(|w| c(w)).collect(),
        changed_at: changed_at(paths),
    }
}

/// The compose projects named by `sources` (project name and the labels' files), each read
/// and turned into a view, or the reason it could not be (a warning on that project, never more).
pub fn read_all<'a>(
    sources: impl IntoIterator<Item = (&'a str, &'a ComposeFiles)>,
    env: &std::collections::BTreeMap<String, String>,
    masker: &Masker,
) -> Vec<Result<ComposeView, (String, String)>> {
    let sources: std::collections::BTreeSet<super::project::Source> =
        sources.into_iter().map(|(p, f)| super::project::Source::of(p, f)).collect();
    sources
        .into_iter()
        .map(|src| match super::project::load(&src, env) {
            Ok(p) => Ok(view(&p, masker)),
            Err(e) => Err((clean(&src.project, masker), clean(&e, masker))),
        })
        .collect()
}

/// The change times of a project's files and `.env` (what the watcher compares).
pub fn stamps(files: &ComposeFiles) -> Vec<Option<jiff::Timestamp>> {
    let wd = Path::new(&files.working_dir);
    files.files.iter().map(|f| super::project::locate(f, wd)).chain([wd.join(".env")]).map(|p| mtime(&p)).collect()
}
