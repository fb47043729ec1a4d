//! Fault test: a private Docker engine is stopped and started again under a running panel.
//! The panel must show the outage as a state (keeping the last known list, marked stale) and
//! reconnect by itself. Needs root and dockerd (the README's test command provides both).

mod common;

use common::{PrivateEngine, Tmux, require_engine};

#[test]
fn engine_stop_and_restart_under_a_running_panel() {
    require_engine();
    let mut eng = PrivateEngine::new("f");
    eng.start();
    eng.load(&["bb:1"]);
    let run = eng.docker(&[
        "run",
        "-d",
        "--name",
        "sdfault-keeper",
        "--network",
        "host",
        "--restart",
        "always",
        "--label",
        "com.docker.compose.project=sdfault",
        "--label",
        "com.docker.compose.service=keeper",
        "bb:1",
        "sleep",
        "3600",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --host {}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        eng.host()
    );
    let t = Tmux::start("sd-fault", 100, 30, &cmd);
    t.wait("the keeper service, connected", |s| {
        s.contains("keeper") && s.contains("● connected") && s.contains("running")
    });

    eng.stop();
    let s = t.wait("the outage shown as a state", |s| s.contains("UNREACHABLE") && s.contains("STALE"));
    assert!(s.contains("keeper"), "the last known list stays on screen, not an empty one:\n{s}");
    assert!(!s.contains("STACKDECK-EXIT"), "the panel must not exit:\n{s}");

    eng.start();
    let s =
        t.wait("reconnected by itself", |s| s.contains("● connected") && !s.contains("STALE") && s.contains("keeper"));
    assert!(s.contains("running"), "{s}");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
}
