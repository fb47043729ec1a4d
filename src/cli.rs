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
    /// Engine address (unix:///path, tcp://host:port). Default: DOCKER_HOST, docker context, socket.
    #[arg(long, short = 'H', global = true, value_name = "URL")]
    pub host: Option<String>,
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
    /// Print the effective key bindings (defaults merged with your overrides).
    Keys {
        /// As a Markdown table (the README's key table is this output).
        #[arg(long)]
        markdown: bool,
    },
}
