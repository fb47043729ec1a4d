//! The mouse in the real panel, in tmux: a click on a row selects it (its logs follow), a click
//! on a pane focuses it, the wheel scrolls the logs; reporting is clicks and wheel only (no
//! motion), it is off after quitting, and `[ui] mouse = false` leaves the terminal's own.
//! The events are the SGR bytes a terminal sends, typed into the pane.

mod common;

use common::{Project, Tmux, require_engine};

fn sgr(button: u8, col: usize, row: usize) -> String {
    format!("\u{1b}[<{button};{};{}M", col + 1, row + 1)
}

fn flag(t: &Tmux, name: &str) -> String {
    let o = common::tmux().args(["display-message", "-p", "-t", &t.session, &format!("#{{{name}}}")]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn panel(test: &str, project: &str, config: &str) -> (Tmux, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sd-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --project {project} --config {} --state-dir {}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        dir.join("config.toml").display(),
        dir.join("state").display()
    );
    (Tmux::start(&format!("sd-{test}"), 80, 24, &cmd), dir)
}

#[test]
fn clicks_select_and_focus_and_the_wheel_scrolls_the_logs() {
    require_engine();
    let mut p = Project::new("mouse");
    for s in ["alpha", "beta", "gamma"] {
        let script = format!("i=0; while true; do echo {s} line $i; i=$((i+1)); usleep 100000; done");
        p.run(s, &[], &["bb:1", "sh", "-c", &script]);
    }
    let (t, dir) = panel("mouse", &p.name, "");
    let s = t.wait("the services", |s| s.contains("alpha") && s.contains("gamma") && s.contains("Logs"));
    assert_eq!(flag(&t, "mouse_standard_flag"), "1", "clicks reported");
    assert_eq!(flag(&t, "mouse_sgr_flag"), "1");
    assert_eq!(flag(&t, "mouse_all_flag"), "0", "no motion reported: a moving pointer wakes nothing");
    assert_eq!(flag(&t, "mouse_button_flag"), "0", "no drags reported");
    // Click gamma's row: it is selected and its logs follow.
    let y = s.lines().position(|l| l.contains("gamma") && l.contains("running")).unwrap();
    t.keys(&["-l", &sgr(0, 10, y)]);
    t.wait("gamma's logs", |s| s.contains("gamma line"));
    // A click in the Logs pane focuses it (its border turns thick); the wheel there pauses it.
    let s = t.screen();
    let logs_y = s.lines().position(|l| l.contains("Logs")).unwrap() + 2;
    t.keys(&["-l", &sgr(0, 10, logs_y)]);
    t.wait("the logs focused", |s| s.contains("┏ Logs"));
    t.keys(&["-l", &sgr(64, 10, logs_y)]);
    t.wait("scrolled up, paused", |s| s.contains("[PAUSED]"));
    t.keys(&["-l", &sgr(65, 10, logs_y)]);
    t.keys(&["-l", &sgr(65, 10, logs_y)]);
    t.wait("back at the newest line, following", |s| s.contains("[LIVE]"));
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
    assert_eq!(flag(&t, "mouse_any_flag"), "0", "mouse reporting is off again after quitting");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mouse_off_in_the_config_leaves_the_terminal_its_selection() {
    require_engine();
    let mut p = Project::new("nomouse");
    p.run("solo", &[], &["bb:1", "sleep", "600"]);
    let (t, dir) = panel("nomouse", &p.name, "[ui]\nmouse = false\n");
    t.wait("the service", |s| s.contains("solo"));
    assert_eq!(flag(&t, "mouse_any_flag"), "0", "no mouse reporting at all");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
    // A wrong type is an error naming the file and line, before the terminal is touched.
    std::fs::write(dir.join("bad.toml"), "[ui]\nmouse = \"yes\"\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--config", &dir.join("bad.toml").display().to_string(), "status"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml") && err.contains(":2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
