use clap::Parser;
use stackdeck::cli::{Cli, Command};
use stackdeck::config::{self, ConfigError, Keymap, Stack, Theme};
use stackdeck::engine::endpoint;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    raise_open_files_limit();
    let cli = Cli::parse();
    // Two one-off costs paid beside the start-up (config, history, terminal, engine) instead of
    // in front of the first frame. The panel's log pane (tui-logger) stamps each record with
    // jiff's `Zoned::now()`, and the first stamp makes jiff list the whole zoneinfo tree to
    // look the machine's zone up by name (about 600 entries, 9-10 ms: strace showed it between
    // the engine's first answers and the first list, on the task that logs "connected").
    // Then the masking patterns' ASCII forms, before the first text to be masked. Nothing to
    // report: each is there, or its first user waits for it.
    std::thread::spawn(|| {
        drop(jiff::tz::TimeZone::system());
        stackdeck::logtext::gate::warm();
    });
    match run(cli) {
        Ok(code) => code,
        Err(Fail::Config(e)) => {
            eprintln!("stackdeck: configuration error\n{e}");
            ExitCode::from(2)
        }
        Err(Fail::Other(e)) => {
            eprintln!("stackdeck: {e:?}");
            ExitCode::from(1)
        }
    }
}

/// The soft limit on open files up to the hard one. An engine that is not on this machine
/// streams stats over one socket per running container while the Metrics pane is on screen:
/// at 1000 containers a soft limit of 1024 would fail the panel's other calls with EMFILE.
/// (The Go runtime does the same for the docker CLI.) Nothing to say when it cannot.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

enum Fail {
    Config(ConfigError),
    Other(color_eyre::Report),
}

impl From<ConfigError> for Fail {
    fn from(e: ConfigError) -> Self {
        Fail::Config(e)
    }
}

impl From<color_eyre::Report> for Fail {
    fn from(e: color_eyre::Report) -> Self {
        Fail::Other(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Other(e.into())
    }
}

/// Everything one environment (or the plain config) needs, resolved.
struct Prepared {
    stack: Stack,
    environment: Option<config::environments::Environment>,
    ep: endpoint::Endpoint,
    state_dir: std::path::PathBuf,
    shared: Option<stackdeck::store::shared::Shared>,
}

/// Make `p` the one this process operates: its shared store, its HTTP forwards (over ssh),
/// and what every audit row says of where it came from.
fn activate(p: &Prepared, via: &str) {
    if p.ep.host.starts_with("ssh://") {
        // The stack's health URLs and Prometheus listen on the server: reach them through the
        // same ssh connection.
        let origins: Vec<(String, u16)> =
            p.stack.http_endpoints().iter().filter_map(|u| stackdeck::http::origin(u)).collect();
        stackdeck::http::set_routes(stackdeck::engine::ssh::forward(&origins));
    } else {
        stackdeck::http::set_routes(std::collections::HashMap::new());
    }
    // A TLS/tcp engine on another machine: the stack's loopback URLs are that machine's.
    let elsewhere = stackdeck::domain::is_remote(&p.ep.host)
        && !p.ep.host.starts_with("ssh://")
        && !endpoint::is_loopback(&p.ep.host);
    stackdeck::http::set_elsewhere(elsewhere);
    stackdeck::store::shared::configure(p.shared.clone());
    stackdeck::store::origin::set(via, &p.ep.host);
    stackdeck::store::origin::set_environment(p.environment.as_ref().map(|e| e.name.clone()));
}

impl Prepared {
    fn badge(&self) -> Option<stackdeck::domain::EnvBadge> {
        self.environment
            .as_ref()
            .map(|e| stackdeck::domain::EnvBadge { name: e.name.clone(), kind: e.kind.name().into() })
    }
}

/// Resolve the stack, engine and state for `env` (or the file without environments).
fn prepare(cli: &Cli, base: &Stack, source: Option<&(String, String)>, env: Option<&str>) -> Result<Prepared, Fail> {
    let (stack, environment) = match (env, source) {
        (Some(name), Some((file, text))) => {
            let (s, e) = config::environments::resolve(file, text, base, name)?;
            (s, Some(e))
        }
        (Some(name), None) => {
            return Err(ConfigError {
                file: "--env".into(),
                position: None,
                message: format!("no config file, so no environment named '{name}'"),
                fix: "give --config FILE with [environments.NAME] tables, or leave out --env".into(),
            }
            .into());
        }
        (None, _) => (base.clone(), None),
    };
    let (mut host, mut context) = (cli.host.clone(), cli.context.clone());
    if let Some(e) = &environment {
        if host.is_some() || context.is_some() {
            return Err(ConfigError {
                file: "--env".into(),
                position: None,
                message: format!("environment '{}' names its own engine", e.name),
                fix: "leave out --host/--context, or leave out --env".into(),
            }
            .into());
        }
        host.clone_from(&e.host);
        context.clone_from(&e.context);
    }
    let env_vars = endpoint::Env::from_process();
    let mut ep = endpoint::resolve_with_context(
        context.as_deref(),
        host.as_deref(),
        stack.config.engine.host.as_deref(),
        &env_vars,
    )
    .map_err(|m| ConfigError {
        file: "docker context".into(),
        position: None,
        message: m,
        fix: "set DOCKER_HOST or --host, or repair the context with `docker context ls`".into(),
    })?;
    if let Some(e) = &environment {
        ep.source = match &e.context {
            Some(c) => format!("env {} · context {c}", e.name),
            None => format!("env {}", e.name),
        };
    }
    ep.ssh_config = stack.config.engine.ssh_config.clone();
    // Environments keep their histories apart (a rollback must never pick staging's image for
    // production): each gets its own dir under the state dir (--state-dir included), unless it
    // names one.
    let mut state_dir = stackdeck::opcli::state_dir(cli.state_dir.clone(), &stack);
    if let Some(e) = &environment
        && !e.overrides_state_dir
    {
        state_dir = state_dir.join("environments").join(&e.name);
    }
    let shared = match &stack.config.state.url {
        // Checked when the config was read; a failure here is the same error.
        Some(url) => {
            Some(stackdeck::store::shared::Shared::parse(url, stack.config.state.password_env.as_deref()).map_err(
                |fix| ConfigError { file: "[state] url".into(), position: None, message: "not usable".into(), fix },
            )?)
        }
        None => None,
    };
    Ok(Prepared { stack, environment, ep, state_dir, shared })
}

fn run(cli: Cli) -> Result<ExitCode, Fail> {
    // Every file is read and validated before anything else happens (and before raw mode).
    let source = config::read_optional(cli.config.as_deref(), "config.toml")?;
    let base = match &source {
        Some((name, text)) => {
            let s = Stack::parse(name, text)?;
            config::environments::check_all(name, text, &s)?;
            s
        }
        None => Stack::default(),
    };
    let user_keys = config::read_optional(cli.keybindings.as_deref(), "keybindings.toml")?;
    let keymap = Keymap::load(user_keys.as_ref().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::load(cli.theme.as_deref().unwrap_or("default"), no_color)?;
    let prepared = prepare(&cli, &base, source.as_ref(), cli.env.as_deref())?;
    // Every audit row says through what it was made, and against which engine.
    let via = match cli.command {
        None => "panel",
        Some(Command::Guard { .. }) => "guard",
        Some(_) => "cli",
    };
    activate(&prepared, via);
    let (stack, ep, state_dir) = (prepared.stack.clone(), prepared.ep.clone(), prepared.state_dir.clone());
    let setup = || stackdeck::opcli::Setup {
        endpoint: ep.clone(),
        stack: stack.clone(),
        state_dir: state_dir.clone(),
        read_only: cli.read_only,
        project: cli.project.clone(),
        local_state: cli.local_state,
    };
    let op = |req, yes| -> Result<ExitCode, Fail> { Ok(stackdeck::opcli::run(req, yes, setup())) };
    use stackdeck::domain::OpRequest;
    match cli.command {
        Some(Command::Stop { ref services, yes, ref reason }) => {
            op(OpRequest::Stop { targets: services.clone(), reason: reason.clone() }, yes)
        }
        Some(Command::Start { ref service, yes, ref reason }) => {
            op(OpRequest::Start { target: service.clone(), reason: reason.clone() }, yes)
        }
        Some(Command::Deploy { ref args, release: Some(ref tag), yes, stop_first, .. }) => {
            op(OpRequest::Release { targets: args.clone(), tag: tag.clone(), stop_first }, yes)
        }
        Some(Command::Deploy { ref args, release: None, yes, pin, stop_first }) => {
            let [service, image] = args.as_slice() else {
                eprintln!("stackdeck: deploy takes SERVICE IMAGE (or --release TAG SERVICE...)");
                return Ok(ExitCode::from(2));
            };
            let req = OpRequest::Deploy { target: service.clone(), image: image.clone(), stop_first };
            let code = op(req, yes)?;
            if !pin || code != ExitCode::SUCCESS {
                return Ok(code);
            }
            Ok(stackdeck::opcli::pin(service, yes, setup()))
        }
        Some(Command::Pin { ref service, yes }) => Ok(stackdeck::opcli::pin(service, yes, setup())),
        Some(Command::Exec { ref service, yes, ref cmd }) => {
            let production = prepared.environment.as_ref().is_some_and(|e| e.kind == config::schema::Kind::Production);
            Ok(stackdeck::opcli::exec(service, cmd.clone(), yes, production, &setup()))
        }
        Some(Command::Drift { json }) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            match rt.block_on(stackdeck::drift::collect(&ep, cli.project.as_deref(), &stack, &state_dir)) {
                Ok(report) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Fail::Other(e.into()))?);
                    } else {
                        print!("{}", stackdeck::drift::render_text(&report));
                    }
                    let drifts = report.iter().any(|p| !p.drift.is_empty());
                    Ok(if drifts { ExitCode::from(1) } else { ExitCode::SUCCESS })
                }
                Err(reason) => {
                    eprintln!("stackdeck: {}", stackdeck::logtext::inert(&reason));
                    Ok(ExitCode::from(2))
                }
            }
        }
        Some(Command::Rollback { release: Some(id), yes, .. }) => op(OpRequest::UndoRelease { id }, yes),
        Some(Command::Rollback { ref service, yes, .. }) => {
            op(OpRequest::Rollback { target: service.clone().unwrap_or_default() }, yes)
        }
        Some(Command::Recover { ref service, yes }) => op(OpRequest::Recover { target: service.clone() }, yes),
        Some(Command::Backup { ref jobs }) => op(OpRequest::Backup { jobs: jobs.clone() }, true),
        Some(Command::Backups { json }) => Ok(stackdeck::opcli::backups(&state_dir, &stack, json)),
        Some(Command::Restore { ref backup, ref job, yes }) => {
            op(OpRequest::Restore { backup: backup.clone(), job: job.clone() }, yes)
        }
        Some(Command::Logs { ref services, ref since, ref until, json, limit }) => {
            let args = stackdeck::logcli::Args {
                services,
                since: since.as_deref(),
                until: until.as_deref(),
                json,
                limit: limit as usize,
            };
            Ok(stackdeck::logcli::run(&ep, cli.project.as_deref(), &stack.masker, &args))
        }
        Some(Command::History { verify: true, .. }) => Ok(stackdeck::opcli::verify(&state_dir)),
        Some(Command::History { json, ref service, limit, verify: false }) => {
            Ok(stackdeck::opcli::history(&state_dir, json, service.as_deref(), limit))
        }
        Some(Command::Guard { ref metrics }) => {
            let metrics = match metrics.as_deref().map(config::stack::metrics_addr).transpose() {
                Ok(m) => m,
                Err(e) => {
                    return Err(ConfigError {
                        file: "--metrics".into(),
                        position: None,
                        message: e,
                        fix: "give a loopback address and port, e.g. --metrics 127.0.0.1:9464".into(),
                    }
                    .into());
                }
            };
            stackdeck::guard::init_logging();
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            let setup = stackdeck::guard::Setup {
                endpoint: ep.clone(),
                stack: stack.clone(),
                config: cli.config.clone(),
                state_dir: state_dir.clone(),
                project: cli.project.clone(),
                read_only: cli.read_only,
                metrics,
            };
            match rt.block_on(stackdeck::guard::run(setup)) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("stackdeck guard: {}", stackdeck::logtext::inert(&e));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Some(Command::Keys { markdown }) => {
            print!("{}", key_table(&keymap, markdown));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { json }) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            match rt.block_on(stackdeck::status::collect(&ep, cli.project.as_deref(), &stack)) {
                Ok(report) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Fail::Other(e.into()))?);
                    } else {
                        print!("{}", stackdeck::status::render_text(&report));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    eprintln!("stackdeck: engine unreachable: {reason}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        None => {
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                eprintln!(
                    "stackdeck: the panel needs an interactive terminal (stdin and stdout must be a TTY).\n\
                     Over SSH use `ssh -t host stackdeck`; for scripts and pipes use `stackdeck status` (or `status --json`)."
                );
                return Ok(ExitCode::from(2));
            }
            color_eyre::install()?;
            init_logging();
            // The panel's tasks share the main thread, which also draws and reads keys (the
            // panel's own loop is the `block_on` below): they wait on I/O, and a 20 k lines/s log
            // flood costs the log path a few percent of one core. What blocks runs elsewhere:
            // each operation on a thread and runtime of its own (`runner::on_own_runtime`: the
            // store's busy wait), file reads that could hang on the blocking pool, the history
            // poller and the keys on threads of their own. A worker thread would add a glibc
            // arena (0.2 MB resident here), and RSS is a budget (issue 15, `docs/benchmarks.md`).
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut current = prepared;
            loop {
                let name = current.environment.as_ref().map(|e| e.name.clone());
                let mut targets = Vec::new();
                for n in base.config.environments.keys() {
                    let p = prepare(&cli, &base, source.as_ref(), Some(n))?;
                    targets.push(stackdeck::envs::Target {
                        name: n.clone(),
                        kind: p.environment.as_ref().map_or("", |e| e.kind.name()).to_owned(),
                        endpoint: p.ep,
                        stack: p.stack,
                        state_dir: p.state_dir,
                        shared: p.shared,
                        current: name.as_ref() == Some(n),
                    });
                }
                let next = rt.block_on(stackdeck::app::run(stackdeck::app::Setup {
                    endpoint: current.ep.clone(),
                    keymap: keymap.clone(),
                    theme: theme.clone(),
                    stack: current.stack.clone(),
                    read_only: cli.read_only,
                    project: cli.project.clone(),
                    state_dir: current.state_dir.clone(),
                    local_state: cli.local_state,
                    environment: current.badge(),
                    environments: targets,
                }))?;
                let Some(next) = next else { break };
                current = prepare(&cli, &base, source.as_ref(), Some(&next))?;
                activate(&current, "panel");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// stackdeck's own log goes to the panel-log pane (never to the terminal under the TUI).
fn init_logging() {
    use tracing_subscriber::prelude::*;
    tui_logger::set_default_level(tui_logger::LevelFilter::Info);
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::registry().with(filter).with(tui_logger::TuiTracingSubscriberLayer).try_init();
}

fn key_table(keymap: &Keymap, markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("| where | keys | action | what it does |\n|---|---|---|---|\n");
    }
    for (mode, action, keys) in keymap.all() {
        let k = if keys.is_empty() {
            "(unbound)".to_owned()
        } else {
            keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" ")
        };
        if markdown {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                mode.name(),
                k.replace('|', "\\|"),
                action.name(),
                action.help()
            ));
        } else {
            out.push_str(&format!(
                "{:<9} {:<24} {:<18} {}\n",
                mode.name(),
                k.replace('`', ""),
                action.name(),
                action.help()
            ));
        }
    }
    out
}
