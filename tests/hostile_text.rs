//! Hostile bytes in every text that comes from outside stackdeck (compose labels, command
//! output, engine errors) reach no output raw: `status`, `status --json`, the progress and
//! outcome of operations, `history`, `history --json`, `backups`, the backup manifest. Secrets in
//! command output are masked wherever it is printed or stored. One rule (`logtext::inert`,
//! then the masker) for all of them; each output is checked here on the real engine.

mod common;

use common::{HttpStub, Project, Tmux, docker_ok, require_engine};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A compose service name that would set the terminal title, clear the screen, reverse the
/// text direction and forge a history line if it reached a terminal raw.
const HOSTILE: &str =
    "bot\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}x\n  99  2026-01-01 00:00:00  stop     forged       succeeded";

fn assert_inert(what: &str, text: &str) {
    for (i, c) in text.char_indices() {
        let bad = matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "{what}: raw {c:?} at byte {i}: {text:?}");
    }
    for line in text.lines() {
        assert!(!line.trim_start().starts_with("99  2026-01-01"), "{what}: a forged line: {text}");
    }
}

fn sd(state: &std::path::Path, config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    sd_env(state, config, args, &[])
}

fn sd_env(
    state: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .envs(env.iter().copied())
        .arg("--state-dir")
        .arg(state)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn hostile_labels_and_command_output_are_inert_and_masked_in_every_output() {
    require_engine();
    let mut p = Project::new("hostile");
    let (lp, ls) = (format!("com.docker.compose.project={}", p.name), format!("com.docker.compose.service={HOSTILE}"));
    let bot = p.run_standalone("bot", &["--label", &lp, "--label", &ls, "bb:1", "sleep", "600"]);
    let dir = std::env::temp_dir().join(format!("sd-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let config = dir.join("config.toml");
    // A backup job whose command fails with secrets and escape sequences on stderr.
    let script = "printf 'FATAL \\033]0;owned\\007 key sk_live_abcdefgh12345678 password=hunter2 \\342\\200\\256\\n' >&2; exit 3";
    std::fs::write(
        &config,
        format!(
            "[engine]\npull = false\n[notify]\nwebhook_env = \"SD_HOSTILE_WEBHOOK\"\ntries = 1\n[services.\"{}/{HOSTILE_ESCAPED}\"]\nstop_grace_secs = 1\n[backup]\ndir = \"{}\"\n[[backup.jobs]]\nname = \"leaky\"\nkind = \"exec\"\nservice = \"{}/{HOSTILE_ESCAPED}\"\ncommand = [\"sh\", \"-c\", \"{}\"]\n",
            p.name,
            dir.join("backups").display(),
            p.name,
            script.replace('\\', "\\\\").replace('"', "\\\""),
            HOSTILE_ESCAPED = toml_escape(HOSTILE)
        ),
    )
    .unwrap();

    // The panel draws it inert: the tmux pane's title is untouched, the borders intact.
    let t = Tmux::start(
        "sd-hostile",
        120,
        30,
        &format!(
            "XDG_CONFIG_HOME=/nonexistent {} --state-dir {} --config {} --project {}; sleep 600",
            env!("CARGO_BIN_EXE_stackdeck"),
            state.display(),
            config.display(),
            p.name
        ),
    );
    let screen = t.wait("the hostile service, inert", |s| s.contains("bot␛]0;pwned␇"));
    assert_inert("panel", &screen);
    let title = String::from_utf8_lossy(
        &common::tmux().args(["display", "-p", "-t", &t.session, "#{pane_title}"]).output().unwrap().stdout,
    )
    .into_owned();
    assert!(!title.contains("pwned"), "the terminal title was changed: {title}");
    assert!(screen.lines().filter(|l| l.starts_with('┏') || l.starts_with('┌')).count() >= 2, "{screen}");
    drop(t);

    let (code, out, err) = sd(&state, &config, &["--project", &p.name, "status"]);
    assert_eq!(code, 0, "{err}");
    assert_inert("status", &out);
    assert!(out.contains("bot␛]0;pwned␇"), "shown, inert: {out}");
    let (code, out, _) = sd(&state, &config, &["--project", &p.name, "status", "--json"]);
    assert_eq!(code, 0);
    assert_inert("status --json", &serde_json::from_str::<serde_json::Value>(&out).unwrap().to_string());
    assert_inert("status --json (raw)", &out);

    // The backup fails: its stderr is inert and masked in the output, the history, the manifest.
    let hook = HttpStub::start(|_, _| (200, "ok".into()), Duration::ZERO);
    let (code, out, err) = sd_env(&state, &config, &["backup"], &[("SD_HOSTILE_WEBHOOK", &hook.url())]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("webhook notified"), "{out}");
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let sent: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = sent["text"].as_str().unwrap();
    assert_inert("webhook", text);
    assert!(
        text.contains("FAILED") && !text.contains("sk_live_abcdefgh12345678") && !text.contains("hunter2"),
        "{text}"
    );
    for (what, text) in [("backup stdout", &out), ("backup stderr", &err)] {
        assert_inert(what, text);
        assert!(!text.contains("sk_live_abcdefgh12345678") && !text.contains("hunter2"), "{what}: {text}");
    }
    assert!(err.contains("sk_live_****") || err.contains("****"), "{err}");
    let manifests: Vec<_> = std::fs::read_dir(dir.join("backups")).unwrap().collect();
    assert_eq!(manifests.len(), 1);
    let manifest = std::fs::read_to_string(manifests[0].as_ref().unwrap().path().join("manifest.json")).unwrap();
    assert!(!manifest.contains("sk_live_abcdefgh12345678") && !manifest.contains("hunter2"), "{manifest}");
    assert_inert("manifest.json", &serde_json::from_str::<serde_json::Value>(&manifest).unwrap().to_string());
    let (code, out, _) = sd(&state, &config, &["backups"]);
    assert_eq!(code, 0);
    assert_inert("backups", &out);

    // The hostile service can still be stopped by its name; everything said about it is inert.
    let target = format!("{}/{HOSTILE}", p.name);
    let (code, out, err) = sd(&state, &config, &["stop", &target, "--yes", "--reason", "why\u{1b}[2J\u{202e}"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_inert("stop stdout", &out);
    assert_inert("stop stderr", &err);
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");

    let (code, out, _) = sd(&state, &config, &["history"]);
    assert_eq!(code, 0);
    assert_inert("history", &out);
    assert!(!out.contains("hunter2"), "{out}");
    let (code, out, _) = sd(&state, &config, &["history", "--json"]);
    assert_eq!(code, 0);
    assert_inert("history --json", &serde_json::from_str::<serde_json::Value>(&out).unwrap().to_string());
    assert!(!out.contains("sk_live_abcdefgh12345678") && !out.contains("hunter2"), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

fn toml_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o
}
