//! Command-line interface.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "stackdeck", version, about = "A terminal control panel for Docker/compose stacks", long_about = None)]
pub struct Cli {
    /// Remove every mutating action (shown as a READ-ONLY badge).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Stack config file (default: $XDG_CONFIG_HOME/stackdeck/config.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Theme: default, light, high-contrast, mono, or a path to a theme file.
    #[arg(long, global = true, value_name = "NAME|FILE", env = "STACKDECK_THEME")]
    pub theme: Option<String>,
    /// Key binding overrides (default: $XDG_CONFIG_HOME/stackdeck/keybindings.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub keybindings: Option<PathBuf>,
    /// Engine address (unix:///path, tcp://host:port, ssh://[user@]host[:port][/socket]).
    /// Default: DOCKER_HOST, docker context, socket.
    #[arg(long, short = 'H', global = true, value_name = "URL")]
    pub host: Option<String>,
    /// A docker context by name (`docker context ls`): its engine and its TLS material. Wins
    /// over --host and DOCKER_HOST, as for the docker CLI.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Where history, audit and locks live (default: [state] dir in the config, else
    /// $XDG_DATA_HOME/stackdeck).
    #[arg(long, global = true, value_name = "DIR", env = "STACKDECK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Deploy and roll back on a remote engine with this machine's history and locks (other
    /// operators of that engine will not see them). Without it, those are refused remotely.
    #[arg(long, global = true)]
    pub local_state: bool,
    /// The environment to operate (`[environments.NAME]` in the config): its engine, kind and
    /// settings. The panel switches between them with a key.
    #[arg(long, global = true, value_name = "NAME", env = "STACKDECK_ENV")]
    pub env: Option<String>,
    /// Show only this compose project.
    #[arg(long, short = 'p', global = true, value_name = "NAME")]
    pub project: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a snapshot of every service and exit (for scripts and for sessions without a TTY).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Emergency stop: stop signal, grace, SIGKILL; restart policy "no" until `start`.
    Stop {
        /// One or more: `service` (unique across projects), `project/service`, or a container
        /// name. All are stopped at once.
        #[arg(required = true)]
        services: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Why (shown in the panel's banner and recorded).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start a stopped service again and restore its restart policy. Clearing an emergency
    /// stop takes a reason.
    Start {
        service: String,
        #[arg(long)]
        yes: bool,
        /// Why the service may run again (required when it was emergency-stopped; recorded).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Recreate a service with another image, health-gated; rolled back automatically if
    /// unhealthy. With --release TAG: several services to one tag, in depends_on order, each
    /// gated; one failure moves back those already moved, in reverse order.
    #[command(
        override_usage = "stackdeck deploy [OPTIONS] SERVICE IMAGE\n       stackdeck deploy [OPTIONS] --release TAG SERVICE..."
    )]
    Deploy {
        /// SERVICE IMAGE (an image reference, tag or digest), or with --release the services.
        #[arg(required = true, value_name = "SERVICE IMAGE | SERVICE...")]
        args: Vec<String>,
        /// Deploy every service named to this tag (each keeps its own repository), as one
        /// release: one history row with a row per service; `rollback --release ID` undoes it.
        #[arg(long, value_name = "TAG")]
        release: Option<String>,
        #[arg(long)]
        yes: bool,
        /// After a successful deploy, pin the new tag in the compose project's .env (the diff is
        /// shown, and confirmed unless --yes), so `docker-compose up -d` keeps it.
        #[arg(long, conflicts_with = "release")]
        pin: bool,
        /// When a start-first deploy is not possible (published host ports, host networking, a
        /// fixed container_name), deploy stop-first instead: the service is down while the new
        /// container starts. Without it such a deploy is refused with the reason.
        #[arg(long)]
        stop_first: bool,
    },
    /// Services whose running image differs from what their compose file would run, which
    /// side is newer, and the fix. Exit 1 when something drifts.
    Drift {
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a service's running container (default: sh), attached to this terminal
    /// (a real PTY when it is one; resizes follow). Audited; the service's name is typed to
    /// confirm in a production environment (unless --yes); refused with --read-only. Exits with
    /// the command's exit code.
    Exec {
        service: String,
        #[arg(long)]
        yes: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Write the running image's tag to the compose project's .env (diff shown, confirmed,
    /// written atomically, recorded), so the next `docker-compose up -d` keeps it.
    Pin {
        service: String,
        #[arg(long)]
        yes: bool,
    },
    /// After an interrupted deploy: remove the never-gated replacement, put the previous
    /// container back under its name and gate it.
    Recover {
        service: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Redeploy the last image that passed a health gate for the service; with --release ID,
    /// put every service a release moved back on its previous image, as one operation.
    Rollback {
        #[arg(required_unless_present = "release", conflicts_with = "release")]
        service: Option<String>,
        /// The release's id (its row in `stackdeck history`).
        #[arg(long, value_name = "ID")]
        release: Option<i64>,
        #[arg(long)]
        yes: bool,
    },
    /// Run the backup jobs from the config (all, or those named), verify them, apply retention.
    Backup {
        /// Job names (default: every job).
        jobs: Vec<String>,
    },
    /// List backups with size, age and status.
    Backups {
        #[arg(long)]
        json: bool,
    },
    /// Restore a verified PostgreSQL dump into the running database (typed confirmation).
    Restore {
        /// Backup id (see `stackdeck backups`).
        backup: String,
        /// The dump job's name.
        job: String,
        #[arg(long)]
        yes: bool,
    },
    /// What services logged between two moments, merged by the engine's timestamps: every
    /// container of each service named (of every service when none is), read once, inert and
    /// masked as in the panel. `TIME SERVICE | TEXT` lines, or JSON lines with --json.
    Logs {
        /// `service`, `project/service` or a container's name.
        services: Vec<String>,
        /// From: 10m, 2h, 1d back from now; 03:12 today; 2026-11-30 03:12; or RFC 3339.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Until (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long)]
        json: bool,
        /// Keep at most this many lines (the newest); how many more there were is said.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        limit: u32,
    },
    /// Operations history (newest first).
    History {
        #[arg(long)]
        json: bool,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Check the audit chain instead: every row as written, none removed. Names the first
        /// row that is not; exit 1 then.
        #[arg(long)]
        verify: bool,
    },
    /// Run headless: enforce emergency-stop latches, evaluate alerts and send their webhooks,
    /// run the scheduled backups, serve metrics on a loopback address. One per server; logs
    /// to stdout; SIGHUP reloads the config, SIGTERM ends it.
    Guard {
        /// Where /metrics is served (a loopback address:port; default [guard] metrics, else
        /// 127.0.0.1:9464).
        #[arg(long)]
        metrics: Option<String>,
    },
    /// Print the effective key bindings (defaults merged with your overrides).
    Keys {
        /// As a Markdown table (the README's key table is this output).
        #[arg(long)]
        markdown: bool,
    },
}
