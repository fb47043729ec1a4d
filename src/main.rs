use clap::Parser;
use stackdeck::cli::{Cli, Command};
use stackdeck::config::{self, ConfigError, Keymap, Stack, Theme};
use stackdeck::engine::endpoint;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
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

fn run(cli: Cli) -> Result<ExitCode, Fail> {
    // Every file is read and validated before anything else happens (and before raw mode).
    let stack = match config::read_optional(cli.config.as_deref(), "config.toml")? {
        Some((name, text)) => Stack::parse(&name, &text)?,
        None => Stack::default(),
    };
    let user_keys = config::read_optional(cli.keybindings.as_deref(), "keybindings.toml")?;
    let keymap = Keymap::load(user_keys.as_ref().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::load(cli.theme.as_deref().unwrap_or("default"), no_color)?;
    let env = endpoint::Env::from_process();
    let mut ep = endpoint::resolve_with_context(
        cli.context.as_deref(),
        cli.host.as_deref(),
        stack.config.engine.host.as_deref(),
        &env,
    )
    .map_err(|m| ConfigError {
        file: "docker context".into(),
        position: None,
        message: m,
        fix: "set DOCKER_HOST or --host, or repair the context with `docker context ls`".into(),
    })?;

    ep.ssh_config = stack.config.engine.ssh_config.clone();
    if ep.host.starts_with("ssh://") {
        // The stack's health URLs and Prometheus listen on the server: reach them through the
        // same ssh connection.
        let origins: Vec<(String, u16)> =
            stack.http_endpoints().iter().filter_map(|u| stackdeck::http::origin(u)).collect();
        stackdeck::http::set_routes(stackdeck::engine::ssh::forward(&origins));
    }
    let state_dir = stackdeck::opcli::state_dir(cli.state_dir.clone(), &stack);
    if let Some(url) = &stack.config.state.url {
        // Checked when the config was read; a failure here is the same error.
        let shared = stackdeck::store::shared::Shared::parse(url, stack.config.state.password_env.as_deref()).map_err(
            |fix| ConfigError { file: "[state] url".into(), position: None, message: "not usable".into(), fix },
        )?;
        stackdeck::store::shared::configure(Some(shared));
    }
    // Every audit row says through what it was made, and against which engine.
    let via = match cli.command {
        None => "panel",
        Some(Command::Guard { .. }) => "guard",
        Some(_) => "cli",
    };
    stackdeck::store::origin::set(via, &ep.host);
    let op = |req, yes| {
        let setup = stackdeck::opcli::Setup {
            endpoint: ep.clone(),
            stack: stack.clone(),
            state_dir: state_dir.clone(),
            read_only: cli.read_only,
            project: cli.project.clone(),
            local_state: cli.local_state,
        };
        Ok(stackdeck::opcli::run(req, yes, setup))
    };
    use stackdeck::domain::OpRequest;
    match cli.command {
        Some(Command::Stop { ref services, yes, ref reason }) => {
            op(OpRequest::Stop { targets: services.clone(), reason: reason.clone() }, yes)
        }
        Some(Command::Start { ref service, yes, ref reason }) => {
            op(OpRequest::Start { target: service.clone(), reason: reason.clone() }, yes)
        }
        Some(Command::Deploy { ref service, ref image, yes }) => {
            op(OpRequest::Deploy { target: service.clone(), image: image.clone() }, yes)
        }
        Some(Command::Rollback { ref service, yes }) => op(OpRequest::Rollback { target: service.clone() }, yes),
        Some(Command::Recover { ref service, yes }) => op(OpRequest::Recover { target: service.clone() }, yes),
        Some(Command::Backup { ref jobs }) => op(OpRequest::Backup { jobs: jobs.clone() }, true),
        Some(Command::Backups { json }) => Ok(stackdeck::opcli::backups(&state_dir, &stack, json)),
        Some(Command::Restore { ref backup, ref job, yes }) => {
            op(OpRequest::Restore { backup: backup.clone(), job: job.clone() }, yes)
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
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            rt.block_on(stackdeck::app::run(stackdeck::app::Setup {
                endpoint: ep,
                keymap,
                theme,
                stack,
                read_only: cli.read_only,
                project: cli.project,
                state_dir,
                local_state: cli.local_state,
            }))?;
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
