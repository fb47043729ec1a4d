//! Which engine to talk to, with the docker CLI's own precedence:
//! `--context` > `--host` > `DOCKER_HOST` > `DOCKER_CONTEXT` > the current context in the docker
//! config > `[engine] host` > the default socket. A context brings its TLS material
//! (`contexts/tls/<sha256(name)>/docker/`); `DOCKER_TLS_VERIFY` with `DOCKER_CERT_PATH` (default
//! `~/.docker`) gives a tcp:// engine its client certificate. (Plain file reads; no engine I/O.)

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///…`, `tcp://…`, `http://…`, `https://…`, `ssh://[user@]host[:port][/socket]`.
    pub host: String,
    /// Where the address came from, shown in the status bar.
    pub source: String,
    /// For `ssh://` engines: an ssh_config file to use instead of the user's.
    pub ssh_config: Option<PathBuf>,
    /// TLS: a directory with `ca.pem`, `cert.pem` and `key.pem`.
    pub tls: Option<PathBuf>,
    /// A docker context with `SkipTLSVerify`: TLS without checking the engine's certificate
    /// (the status line says so on every frame).
    pub skip_tls_verify: bool,
}

/// The environment the resolution reads, injectable for tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub docker_tls_verify: bool,
    pub docker_cert_path: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        Env {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker"))),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0"),
            docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
        }
    }
}

/// Resolve the endpoint: `context` is `--context`, `flag` is `--host`; `config_host` is
/// `[engine] host` from the stack file.
pub fn resolve_with_context(
    context: Option<&str>,
    flag: Option<&str>,
    config_host: Option<&str>,
    env: &Env,
) -> Result<Endpoint, String> {
    if let Some(name) = context {
        if name == "default" {
            return Ok(Endpoint {
                host: DEFAULT_HOST.into(),
                source: "--context default".into(),
                ssh_config: None,
                tls: None,
                skip_tls_verify: false,
            });
        }
        let dir = env.docker_config.as_ref().ok_or("no docker config dir to look up the context in")?;
        let (host, tls, skip) = context_endpoint(dir, name)?;
        let source = shown_source(format!("--context {name}"), skip);
        return Ok(Endpoint { host, source, ssh_config: None, tls, skip_tls_verify: skip });
    }
    resolve(flag, config_host, env)
}

/// `tcp://127.0.0.1:2376` and the like: an engine address on this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    let rest = host.split_once("://").map_or(host, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    let h = rest.rsplit_once(':').map_or(rest, |(h, _)| h).trim_matches(['[', ']']);
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Resolve the endpoint without `--context` (see [`resolve_with_context`]).
pub fn resolve(flag: Option<&str>, config_host: Option<&str>, env: &Env) -> Result<Endpoint, String> {
    let env_tls = |host: &str| {
        (env.docker_tls_verify && (host.starts_with("tcp://") || host.starts_with("https://")))
            .then(|| env.docker_cert_path.clone().or_else(|| env.docker_config.clone()))
            .flatten()
    };
    if let Some(h) = flag {
        return Ok(Endpoint {
            host: h.to_owned(),
            source: "--host".into(),
            ssh_config: None,
            tls: env_tls(h),
            skip_tls_verify: false,
        });
    }
    if let Some(h) = &env.docker_host {
        return Ok(Endpoint {
            host: h.clone(),
            source: "DOCKER_HOST".into(),
            ssh_config: None,
            tls: env_tls(h),
            skip_tls_verify: false,
        });
    }
    let context = env.docker_context.clone().map(|c| (c, "DOCKER_CONTEXT")).or_else(|| {
        let cfg = env.docker_config.as_ref()?.join("config.json");
        let text = std::fs::read_to_string(cfg).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("currentContext")?.as_str().filter(|s| !s.is_empty()).map(|s| (s.to_owned(), "docker context"))
    });
    if let Some((name, how)) = context
        && name != "default"
    {
        let dir = env.docker_config.as_ref().ok_or("no docker config dir to look up the context in")?;
        let (host, tls, skip) = context_endpoint(dir, &name)?;
        let source = shown_source(format!("{how} {name}"), skip);
        return Ok(Endpoint { host, source, ssh_config: None, tls, skip_tls_verify: skip });
    }
    if let Some(h) = config_host {
        return Ok(Endpoint {
            host: h.to_owned(),
            source: "config".into(),
            ssh_config: None,
            tls: None,
            skip_tls_verify: false,
        });
    }
    Ok(Endpoint {
        host: DEFAULT_HOST.into(),
        source: "default".into(),
        ssh_config: None,
        tls: None,
        skip_tls_verify: false,
    })
}

/// A context's engine address and, when it has them, its TLS files.
/// A source that says, on every frame, that the engine's certificate is not checked.
fn shown_source(source: String, skip: bool) -> String {
    if skip { format!("{source} (TLS NOT VERIFIED)") } else { source }
}

fn context_endpoint(config_dir: &Path, name: &str) -> Result<(String, Option<PathBuf>, bool), String> {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let (host, skip) = context_host(config_dir, name, &hex)?;
    let tls = config_dir.join("contexts").join("tls").join(&hex).join("docker");
    // Without verification a context may carry only a client certificate (no CA).
    let tls = (tls.join("ca.pem").exists() || (skip && tls.join("cert.pem").exists())).then_some(tls);
    Ok((host, tls, skip))
}

fn context_host(config_dir: &Path, name: &str, hex: &str) -> Result<(String, bool), String> {
    let meta = config_dir.join("contexts").join("meta").join(hex).join("meta.json");
    let text = std::fs::read_to_string(&meta)
        .map_err(|e| format!("docker context '{name}': cannot read {}: {e}", meta.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("docker context '{name}': {}: {e}", meta.display()))?;
    let host = v
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("docker context '{name}' has no docker endpoint in {}", meta.display()))?;
    let skip = v.pointer("/Endpoints/docker/SkipTLSVerify").and_then(serde_json::Value::as_bool) == Some(true);
    Ok((host, skip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_engines_are_this_machine() {
        assert!(is_loopback("tcp://127.0.0.1:2376"));
        assert!(is_loopback("https://localhost:2376"));
        assert!(is_loopback("tcp://[::1]:2376"));
        assert!(!is_loopback("tcp://10.0.0.5:2376"));
        assert!(!is_loopback("tcp://prod.example:2376"));
    }

    #[test]
    fn precedence() {
        let env = Env { docker_host: Some("tcp://127.0.0.1:2375".into()), ..Env::default() };
        assert_eq!(resolve(Some("unix:///x.sock"), None, &env).unwrap().source, "--host");
        assert_eq!(resolve(None, None, &env).unwrap().host, "tcp://127.0.0.1:2375");
        assert_eq!(resolve(None, None, &Env::default()).unwrap().host, DEFAULT_HOST);
        assert_eq!(resolve(None, Some("unix:///cfg.sock"), &Env::default()).unwrap().source, "config");
    }

    #[test]
    fn a_context_that_skips_tls_verification_says_so() {
        let dir = std::env::temp_dir().join(format!("sd-ctx-skip-{}", std::process::id()));
        let name = "lax";
        let hex: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let meta = dir.join("contexts/meta").join(hex);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"lax","Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376","SkipTLSVerify":true}}}"#,
        )
        .unwrap();
        let env = Env { docker_config: Some(dir.clone()), ..Env::default() };
        let ep = resolve_with_context(Some("lax"), None, None, &env).unwrap();
        assert!(ep.skip_tls_verify);
        assert_eq!(ep.source, "--context lax (TLS NOT VERIFIED)");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn docker_context_from_config_json() {
        let dir = std::env::temp_dir().join(format!("sd-ctx-{}", std::process::id()));
        let name = "remote";
        let hex: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let meta = dir.join("contexts/meta").join(hex);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"unix:///ctx.sock"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
        let env = Env { docker_config: Some(dir.clone()), ..Env::default() };
        let ep = resolve(None, None, &env).unwrap();
        assert_eq!(ep.host, "unix:///ctx.sock");
        assert_eq!(ep.source, "docker context remote");
        // DOCKER_CONTEXT=default means the default socket even when config.json names another.
        let env2 = Env { docker_context: Some("default".into()), ..env };
        assert_eq!(resolve(None, None, &env2).unwrap().host, DEFAULT_HOST);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_context_flag_wins_and_brings_its_tls_files() {
        let dir = std::env::temp_dir().join(format!("sd-ctx2-{}", std::process::id()));
        let name = "prod-eu";
        let hex: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::create_dir_all(dir.join("contexts/meta").join(&hex)).unwrap();
        std::fs::write(
            dir.join("contexts/meta").join(&hex).join("meta.json"),
            r#"{"Name":"prod-eu","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376"}}}"#,
        )
        .unwrap();
        let tls = dir.join("contexts/tls").join(&hex).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let env =
            Env { docker_config: Some(dir.clone()), docker_host: Some("unix:///other.sock".into()), ..Env::default() };
        let ep = resolve_with_context(Some("prod-eu"), Some("unix:///flag.sock"), None, &env).unwrap();
        assert_eq!((ep.host.as_str(), ep.source.as_str()), ("tcp://10.0.0.5:2376", "--context prod-eu"));
        assert_eq!(ep.tls.as_deref(), Some(tls.as_path()));
        assert!(resolve_with_context(Some("nope"), None, None, &env).unwrap_err().contains("docker context 'nope'"));
        // DOCKER_TLS_VERIFY with DOCKER_CERT_PATH gives a tcp:// engine its certificates.
        let env = Env {
            docker_host: Some("tcp://10.0.0.5:2376".into()),
            docker_tls_verify: true,
            docker_cert_path: Some("/certs".into()),
            ..Env::default()
        };
        assert_eq!(resolve(None, None, &env).unwrap().tls.as_deref(), Some(Path::new("/certs")));
        std::fs::remove_dir_all(dir).ok();
    }
}
