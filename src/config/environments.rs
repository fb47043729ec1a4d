//! Environments (`[environments.NAME]`): one config file for staging and production. Each names
//! its engine (`host` or `context`) and its kind, and may carry any section of the stack file
//! (`[environments.prod.services."p/bot"]`, `[environments.prod.state]`, `[environments.prod.prometheus]`,
//! backup jobs...): those are merged over the file's own sections (tables key by key, other
//! values replaced) and the result is checked like a whole file, when the config is read.

use super::error::ConfigError;
use super::stack::Stack;

pub use super::schema::{EnvironmentConfig, Kind};

/// One environment, as the rest of stackdeck uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub kind: Kind,
    pub host: Option<String>,
    pub context: Option<String>,
    /// It names its own `[state] dir` (else it gets a dir of its own under the file's).
    pub overrides_state_dir: bool,
}

/// The line of `[environments.NAME` (or its first sub-table) in the file.
fn header(text: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let t = t.strip_prefix('[').map(str::trim_start);
        if let Some(rest) = t.and_then(|t| t.strip_prefix("environments.")) {
            let rest = rest.trim_start_matches('"');
            if rest.starts_with(name) && rest[name.len()..].starts_with(['.', ']', '"']) {
                return Some(offset..offset + line.trim_end().len());
            }
        }
        offset += line.len();
    }
    None
}

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Check every environment of the file (whichever is used): called once the file parsed.
pub fn check_all(file: &str, text: &str, stack: &Stack) -> Result<(), ConfigError> {
    for name in stack.config.environments.keys() {
        resolve(file, text, stack, name)?;
    }
    Ok(())
}

/// The stack as environment `name` sees it, and the environment. `Err` names the file, the
/// environment's line and the fix.
pub fn resolve(file: &str, text: &str, stack: &Stack, name: &str) -> Result<(Stack, Environment), ConfigError> {
    let known: Vec<&str> = stack.config.environments.keys().map(String::as_str).collect();
    let Some(env) = stack.config.environments.get(name) else {
        let fix = if known.is_empty() {
            "add an [environments.NAME] table to the config, or leave out --env".to_owned()
        } else {
            format!("use one of: {}", known.join(", "))
        };
        return Err(ConfigError::at(file, text, None, format!("no environment named '{name}'"), fix));
    };
    let at = header(text, name);
    let bad =
        |msg: String, fix: &str| ConfigError::at(file, text, at.clone(), format!("[environments.{name}] {msg}"), fix);
    if env.host.is_some() && env.context.is_some() {
        return Err(bad("names both host and context".into(), "keep one of them"));
    }
    if env.host.is_none() && env.context.is_none() {
        return Err(bad("names no engine".into(), "add host = \"ssh://user@server\" or context = \"NAME\""));
    }
    if env.overrides.contains_key("environments") {
        return Err(bad("holds environments of its own".into(), "move them to the top level"));
    }
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    doc.remove("environments");
    merge(&mut doc, &env.overrides);
    let merged = toml::to_string(&doc).map_err(|e| bad(format!("cannot be merged: {e}"), "check its tables"))?;
    let shown = format!("{file} [environments.{name}]");
    let resolved = Stack::parse(&shown, &merged).map_err(|e| ConfigError {
        file: file.to_owned(),
        position: at.as_ref().map(|r| super::error::line_col(text, r.start)),
        message: format!("[environments.{name}], merged over the file: {}", e.message),
        fix: e.fix,
    })?;
    let environment = Environment {
        name: name.to_owned(),
        kind: env.kind,
        host: env.host.clone(),
        context: env.context.clone(),
        overrides_state_dir: env.overrides.get("state").and_then(|s| s.get("dir")).is_some(),
    };
    Ok((resolved, environment))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[services."p/bot"]
kill_switch = true
health_url = "http://127.0.0.1:8080/health"

[environments.staging]
kind = "staging"
host = "ssh://deploy@staging"

[environments.prod]
kind = "production"
context = "prod-eu"

[environments.prod.services."p/bot"]
health_url = "http://127.0.0.1:9090/health"

[environments.prod.state]
url = "postgres://sd@db:5432/sd"
"#;

    #[test]
    fn an_environment_merges_its_sections_over_the_file() {
        let stack = Stack::parse("c.toml", FILE).unwrap();
        let (prod, env) = resolve("c.toml", FILE, &stack, "prod").unwrap();
        assert_eq!(env.kind, Kind::Production);
        assert_eq!(env.context.as_deref(), Some("prod-eu"));
        let bot = &prod.config.services["p/bot"];
        assert!(bot.kill_switch, "kept from the file");
        assert_eq!(bot.health_url.as_ref().map(|u| u.get_ref().as_str()), Some("http://127.0.0.1:9090/health"));
        assert_eq!(prod.config.state.url.as_deref(), Some("postgres://sd@db:5432/sd"));
        let (staging, _) = resolve("c.toml", FILE, &stack, "staging").unwrap();
        assert_eq!(
            staging.config.services["p/bot"].health_url.as_ref().map(|u| u.get_ref().as_str()),
            Some("http://127.0.0.1:8080/health")
        );
        assert!(staging.config.state.url.is_none());
    }

    #[test]
    fn mistakes_in_an_environment_are_errors_at_its_line() {
        let parse = |text: &str| Stack::parse("c.toml", text).and_then(|s| check_all("c.toml", text, &s));
        let e = parse(&FILE.replace("[environments.prod.state]\n", "[environments.prod.state]\ngate_triess = 3\n"))
            .unwrap_err();
        assert!(e.message.contains("environments.prod"), "{e}");
        let e = parse(&FILE.replace("context = \"prod-eu\"", "")).unwrap_err();
        assert!(e.message.contains("[environments.prod] names no engine"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(10), "{e}");
        let e = parse(&FILE.replace("kind = \"staging\"", "kind = \"stagign\"")).unwrap_err();
        assert!(e.to_string().contains("stagign"), "{e}");
        let stack = Stack::parse("c.toml", FILE).unwrap();
        let e = resolve("c.toml", FILE, &stack, "qa").unwrap_err();
        assert!(e.fix.contains("prod, staging"), "{e}");
    }
}
