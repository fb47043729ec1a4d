//! The binary with a state dir and config of its own, as the operation tests drive it.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The binary with its own state dir and config.
pub struct Sd {
    pub state: PathBuf,
    pub config: PathBuf,
    pub host: Option<String>,
}

impl Sd {
    pub fn new(tag: &str, config: &str) -> Sd {
        let dir = std::env::temp_dir().join(format!("sd-ops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, format!("[engine]\npull = false\n{config}")).unwrap();
        Sd { state: dir.join("state"), config: cfg, host: None }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stackdeck"));
        c.arg("--state-dir").arg(&self.state).arg("--config").arg(&self.config);
        if let Some(h) = &self.host {
            c.args(["--host", h]);
        }
        c.args(args).stdin(Stdio::null()).env("XDG_CONFIG_HOME", "/nonexistent");
        c
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        let (code, out, err) = self.run(&["history", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }
}
