//! Everything a user configures: key bindings, themes, the stack file. Raw TOML becomes
//! validated types here, before the terminal enters raw mode; errors are [`ConfigError`]s.

pub mod defaults;
pub mod environments;
pub mod error;
pub mod help;
pub mod keys;
pub mod observe;
mod ranges;
pub mod schema;
pub mod stack;
pub mod theme;

pub use error::ConfigError;
pub use keys::{Action, KeyChord, Keymap, Mode};
pub use stack::Stack;
pub use theme::{Slot, Theme};

use std::path::PathBuf;

/// stackdeck's XDG config dir (`$XDG_CONFIG_HOME/stackdeck`, usually `~/.config/stackdeck`).
pub fn config_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "stackdeck").map(|d| d.config_dir().to_path_buf())
}

/// Read an explicitly named file (must exist) or the default file in the config dir (may be
/// absent). Returns `(display name, contents)`.
pub fn read_optional(
    explicit: Option<&std::path::Path>,
    default_name: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    let (path, must_exist) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match config_dir() {
            Some(d) => (d.join(default_name), false),
            None => return Ok(None),
        },
    };
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some((shown, t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(None),
        Err(e) => Err(ConfigError::unreadable(&shown, &e)),
    }
}
