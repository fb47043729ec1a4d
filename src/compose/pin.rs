//! Pinning a deployed tag in the project's `.env`, so the next `docker-compose up -d` keeps
//! what stackdeck deployed: planned (shown as a diff and confirmed by the caller), then written
//! atomically (a temporary file in the same directory, synced, renamed over `.env`). An image
//! written without a variable cannot be pinned: the plan says the exact line to change instead.

use super::interpolate::{parse_dotenv, references, value_for};
use super::project::Project;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPlan {
    pub env_file: PathBuf,
    pub var: String,
    /// The line now (1-based number and text), if the variable is in `.env`.
    pub old_line: Option<(usize, String)>,
    pub new_line: String,
    /// The whole file now ("" when there is none): the write refuses if it changed meanwhile.
    pub before: String,
}

impl PinPlan {
    /// The change as a unified diff.
    pub fn diff(&self) -> String {
        let f = self.env_file.display();
        match &self.old_line {
            Some((n, old)) => format!("--- {f}\n+++ {f}\n@@ -{n} +{n} @@\n-{old}\n+{}\n", self.new_line),
            None => format!("--- {f}\n+++ {f}\n@@ appended @@\n+{}\n", self.new_line),
        }
    }
}

/// What to change so the file names `running`. `Err` says what cannot be pinned and the exact
/// line to change by hand.
pub fn plan(p: &Project, service: &str, running: &str) -> Result<PinPlan, String> {
    let def = p.services.get(service).ok_or_else(|| format!("the compose file has no service {service}"))?;
    let template = def.image_template.as_deref().ok_or_else(|| format!("{service} has no image: in the file"))?;
    let at = def.image_line.as_ref().map_or_else(String::new, |(f, l)| format!(" at {}:{l}", f.display()));
    if !running.chars().all(|c| c.is_ascii_alphanumeric() || "._:/@-".contains(c)) {
        return Err(format!("'{running}' is not an image reference that can be written to .env"));
    }
    let by_hand = || format!("change the line{at} to: image: {running}");
    let refs = references(template);
    let (var, value) = match refs.len() {
        0 => return Err(format!("the image is written as {template}, without a variable: {}", by_hand())),
        1 => value_for(template, running)
            .ok_or_else(|| format!("{template} cannot read {running} by setting {} alone: {}", refs[0], by_hand()))?,
        _ => return Err(format!("{template} uses {} variables: {}", refs.len(), by_hand())),
    };
    let env_file = p.dir.join(".env");
    let before = match std::fs::read_to_string(&env_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", env_file.display())),
    };
    parse_dotenv(&before).map_err(|e| format!("{}:{}: {}", env_file.display(), e.line, e.message))?;
    let old_line = before.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start();
        let t = t.strip_prefix("export ").unwrap_or(t);
        t.split_once('=').filter(|(k, _)| k.trim() == var).map(|_| (i + 1, l.to_owned()))
    });
    Ok(PinPlan { env_file, new_line: format!("{var}={value}"), var, old_line, before })
}

/// Write the plan. Refuses when `.env` changed since the plan was made.
pub fn write(plan: &PinPlan) -> Result<(), String> {
    let f = &plan.env_file;
    let now = match std::fs::read_to_string(f) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", f.display())),
    };
    if now != plan.before {
        return Err(format!("{} changed since the diff was shown: nothing written; look again", f.display()));
    }
    let mut lines: Vec<String> = now.lines().map(str::to_owned).collect();
    match plan.old_line {
        Some((n, _)) => lines[n - 1].clone_from(&plan.new_line),
        None => lines.push(plan.new_line.clone()),
    }
    let text = lines.join("\n") + "\n";
    atomic_write(f, text.as_bytes()).map_err(|e| format!("{}: {e} (the old file is unchanged)", f.display()))
}

fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".env.stackdeck-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(m.permissions())?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::project::{Source, load};

    fn project(dir: &Path, compose: &str, env: Option<&str>) -> Project {
        std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
        if let Some(e) = env {
            std::fs::write(dir.join(".env"), e).unwrap();
        }
        let src = Source { project: "p".into(), files: vec![], working_dir: dir.display().to_string() };
        load(&src, &Default::default()).unwrap()
    }

    #[test]
    fn a_pin_replaces_the_line_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let p = project(
            d.path(),
            "services:\n  api:\n    image: fx-api:${API_TAG:-1}\n",
            Some("# tags\nAPI_TAG=1\nOTHER=x\n"),
        );
        let plan = plan(&p, "api", "fx-api:2").unwrap();
        assert_eq!(plan.old_line, Some((2, "API_TAG=1".into())));
        assert!(plan.diff().contains("-API_TAG=1\n+API_TAG=2"), "{}", plan.diff());
        write(&plan).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join(".env")).unwrap(), "# tags\nAPI_TAG=2\nOTHER=x\n");
        let p = load(
            &Source { project: "p".into(), files: vec![], working_dir: d.path().display().to_string() },
            &Default::default(),
        )
        .unwrap();
        assert_eq!(p.services["api"].image.as_deref(), Some("fx-api:2"));
        // Stale plan: refused.
        assert!(write(&plan).unwrap_err().contains("changed since"));
    }

    #[test]
    fn no_env_file_yet_and_images_that_cannot_be_pinned() {
        let d = tempfile::tempdir().unwrap();
        let p =
            project(d.path(), "services:\n  api:\n    image: fx-api:${API_TAG:-1}\n  db:\n    image: pg:15\n", None);
        let plan1 = plan(&p, "api", "fx-api:2").unwrap();
        assert_eq!(plan1.old_line, None);
        write(&plan1).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join(".env")).unwrap(), "API_TAG=2\n");
        let e = plan(&p, "db", "pg:16").unwrap_err();
        assert!(e.contains("docker-compose.yml:5") && e.contains("image: pg:16"), "{e}");
        assert!(plan(&p, "api", "other:2").unwrap_err().contains("change the line"));
        assert!(plan(&p, "api", "fx-api:2\nEVIL=1").is_err());
    }
}
