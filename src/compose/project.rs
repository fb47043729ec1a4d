//! A compose project read as compose reads it: the files named by the containers' labels,
//! merged in order (later files override, lists such as `ports` add up), YAML anchors and merge
//! keys applied, every string interpolated with the project's `.env` and the environment, and
//! profiles honoured. Only what stackdeck acts on is kept (image, container name, ports, network
//! mode, profiles, depends_on, healthcheck, `deploy.update_config` / `rollback_config`).

use super::interpolate::{Vars, interpolate, parse_dotenv};
use super::spec::{ServiceDef, service_def};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a project's files are, from its containers' labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub project: String,
    /// `com.docker.compose.project.config_files`, as written (comma-separated there).
    pub files: Vec<String>,
    /// `com.docker.compose.project.working_dir`.
    pub working_dir: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    /// The project directory (the working dir label): where `.env` is.
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// The `.env` file read, if there is one.
    pub env_file: Option<PathBuf>,
    pub services: BTreeMap<String, ServiceDef>,
    /// Things compose would warn about (unset variables), said once each.
    pub warnings: Vec<String>,
}

/// Find a file named by the label: absolute, or relative to the working dir, or (docker-compose
/// 1.x records `-f` paths relative to where it was run) its name in the working dir when the
/// working dir ends with the path's directory.
pub fn locate(file: &str, working_dir: &Path) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let joined = working_dir.join(p);
    if joined.exists() {
        return joined;
    }
    if let (Some(dir), Some(name)) = (p.parent(), p.file_name())
        && working_dir.ends_with(dir)
    {
        return working_dir.join(name);
    }
    joined
}

/// Read the project. `Err` names the file (and line, when the YAML parser gives one) and what
/// is wrong; the caller shows it as a warning on the project, never more.
pub fn load(src: &Source, process_env: &BTreeMap<String, String>) -> Result<Project, String> {
    let wd = PathBuf::from(&src.working_dir);
    let files: Vec<PathBuf> = if src.files.is_empty() {
        ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"]
            .iter()
            .map(|n| wd.join(n))
            .find(|p| p.exists())
            .into_iter()
            .collect()
    } else {
        src.files.iter().map(|f| locate(f, &wd)).collect()
    };
    if files.is_empty() {
        return Err(format!("no compose file named by the containers' labels, and none in {}", wd.display()));
    }
    let env_path = wd.join(".env");
    let dotenv = match std::fs::read_to_string(&env_path) {
        Ok(t) => parse_dotenv(&t).map_err(|e| format!("{}:{}: {}", env_path.display(), e.line, e.message))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => return Err(format!("{}: {e}", env_path.display())),
    };
    let env_file = (!dotenv.is_empty() || env_path.exists()).then_some(env_path);
    let vars = Vars { dotenv, process: process_env.clone() };
    let mut merged = Mapping::new();
    let mut raw_images: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    let mut unset: Vec<String> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| match e.location() {
            Some(l) => format!("{}:{}:{}: {e}", f.display(), l.line(), l.column()),
            None => format!("{}: {e}", f.display()),
        })?;
        doc.apply_merge().map_err(|e| format!("{}: {e}", f.display()))?;
        let services = match doc.get("services") {
            None | Some(Value::Null) => Mapping::new(),
            Some(Value::Mapping(m)) => m.clone(),
            Some(_) => return Err(format!("{}: 'services' is not a mapping", f.display())),
        };
        for (name, def) in services {
            let Some(name) = name.as_str().map(str::to_owned) else {
                return Err(format!("{}: a service name is not a string", f.display()));
            };
            if let Some(img) = def.get("image").and_then(Value::as_str) {
                raw_images.insert(name.clone(), (img.to_owned(), f.clone()));
            }
            let def =
                interpolate_all(def, &vars, &mut unset).map_err(|e| format!("{}: service {name}: {e}", f.display()))?;
            let key = Value::String(name);
            let combined = match merged.remove(&key) {
                Some(before) => merge(before, def),
                None => def,
            };
            merged.insert(key, combined);
        }
    }
    let profiles = active_profiles(&vars);
    let mut services = BTreeMap::new();
    for (name, def) in &merged {
        let name = name.as_str().unwrap_or_default().to_owned();
        let mut s = service_def(def).map_err(|e| format!("service {name}: {e}"))?;
        if let Some((template, file)) = raw_images.get(&name) {
            s.image_template = Some(template.clone());
            s.image_line = find_line(file, template).map(|l| (file.clone(), l));
        }
        s.active = s.profiles.is_empty() || s.profiles.iter().any(|p| profiles.iter().any(|q| q == p || q == "*"));
        services.insert(name, s);
    }
    unset.sort();
    unset.dedup();
    let warnings =
        unset.into_iter().map(|v| format!("the {v} variable is not set: compose uses a blank string")).collect();
    Ok(Project { name: src.project.clone(), dir: wd, files, env_file, services, warnings })
}

/// `COMPOSE_PROFILES` (comma-separated), as compose reads it from the environment or `.env`.
fn active_profiles(vars: &Vars) -> Vec<String> {
    vars.get("COMPOSE_PROFILES")
        .map(|s| s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn interpolate_all(v: Value, vars: &Vars, unset: &mut Vec<String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => {
            let i = interpolate(&s, vars)?;
            unset.extend(i.unset);
            Value::String(i.value)
        }
        Value::Sequence(seq) => {
            Value::Sequence(seq.into_iter().map(|x| interpolate_all(x, vars, unset)).collect::<Result<_, _>>()?)
        }
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, x) in m {
                out.insert(k, interpolate_all(x, vars, unset)?);
            }
            Value::Mapping(out)
        }
        other => other,
    })
}

/// Compose's merge of one service across files: mappings merge key by key, the lists that
/// compose adds up (ports, expose, volumes, ...) are concatenated, anything else is replaced.
fn merge(base: Value, over: Value) -> Value {
    const ADDED: &[&str] = &["ports", "expose", "volumes", "external_links", "dns", "dns_search", "tmpfs", "devices"];
    match (base, over) {
        (Value::Mapping(mut b), Value::Mapping(o)) => {
            for (k, v) in o {
                let added = k.as_str().is_some_and(|k| ADDED.contains(&k));
                let combined = match (b.remove(&k), v) {
                    (Some(Value::Sequence(mut x)), Value::Sequence(y)) if added => {
                        x.extend(y);
                        Value::Sequence(x)
                    }
                    (Some(old @ Value::Mapping(_)), new @ Value::Mapping(_)) => merge(old, new),
                    (_, new) => new,
                };
                b.insert(k, combined);
            }
            Value::Mapping(b)
        }
        (_, over) => over,
    }
}

/// The 1-based line of `file` whose `image:` holds `template`.
fn find_line(file: &Path, template: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with("image:") && t["image:".len()..].trim().trim_matches(['"', '\'']) == template
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn files_env_interpolation_merge_keys_and_profiles() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "docker-compose.yml",
            "version: '2.4'\nx-h: &h\n  network_mode: host\nservices:\n  api:\n    <<: *h\n    image: \"fx-api:${API_TAG:-1}\"\n    ports: ['8080:80']\n  tools:\n    image: bb:${NOPE}\n    profiles: [debug]\n",
        );
        write(
            d.path(),
            "override.yml",
            "services:\n  api:\n    ports: ['9090:90']\n    deploy:\n      update_config: {order: start-first, monitor: 20s}\n",
        );
        write(d.path(), ".env", "API_TAG=2\n");
        let src = Source {
            project: "p".into(),
            files: vec!["docker-compose.yml".into(), d.path().join("override.yml").display().to_string()],
            working_dir: d.path().display().to_string(),
        };
        let p = load(&src, &BTreeMap::new()).unwrap();
        let api = &p.services["api"];
        assert_eq!(api.image.as_deref(), Some("fx-api:2"));
        assert_eq!(api.image_template.as_deref(), Some("fx-api:${API_TAG:-1}"));
        assert_eq!(api.image_line.as_ref().map(|(_, l)| *l), Some(7));
        assert_eq!(api.network_mode.as_deref(), Some("host"));
        assert_eq!(api.ports.len(), 2);
        assert_eq!(api.update.order, Some(super::super::spec::Order::StartFirst));
        assert!(api.active);
        assert!(!p.services["tools"].active);
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let mut env = BTreeMap::new();
        env.insert("COMPOSE_PROFILES".to_owned(), "debug".to_owned());
        env.insert("API_TAG".to_owned(), "7".to_owned());
        let p = load(&src, &env).unwrap();
        assert!(p.services["tools"].active);
        assert_eq!(p.services["api"].image.as_deref(), Some("fx-api:7"));
    }

    #[test]
    fn unreadable_files_are_errors_naming_the_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "docker-compose.yml", "services:\n  api:\n    image: [unclosed\n");
        let src = Source { project: "p".into(), files: vec![], working_dir: d.path().display().to_string() };
        let e = load(&src, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("docker-compose.yml:"), "{e}");
        let src = Source { project: "p".into(), files: vec!["gone.yml".into()], working_dir: "/nonexistent".into() };
        assert!(load(&src, &BTreeMap::new()).unwrap_err().contains("gone.yml"));
        write(d.path(), "docker-compose.yml", "services:\n  api:\n    image: x:${T:?set T}\n");
        let src = Source { project: "p".into(), files: vec![], working_dir: d.path().display().to_string() };
        assert!(load(&src, &BTreeMap::new()).unwrap_err().contains("set T"));
    }

    #[test]
    fn a_relative_label_path_from_compose_1_is_found_in_the_working_dir() {
        let d = tempfile::tempdir().unwrap();
        let wd = d.path().join("tests/fixtures/compose");
        std::fs::create_dir_all(&wd).unwrap();
        write(&wd, "docker-compose.yml", "services: {}\n");
        assert_eq!(locate("tests/fixtures/compose/docker-compose.yml", &wd), wd.join("docker-compose.yml"));
    }
}
