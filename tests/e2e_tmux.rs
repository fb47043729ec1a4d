//! The real binary in tmux on the real engine, driven like a person: keys in, screen read back.

mod common;

use common::{Project, Tmux, child_stackdeck, docker_ok, require_engine, wait_for};
use std::time::Duration;

fn panel_cmd(project: &str, extra: &str) -> String {
    format!(
        "XDG_CONFIG_HOME=/nonexistent {} --project {project} {extra}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck")
    )
}

#[test]
fn panel_shows_services_health_and_live_masked_logs_at_80x24() {
    require_engine();
    let mut p = Project::new("e2e");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59204"], &["fx-trading-bot:1"]);
    let _api = p.run("api-server", &["-e", "SIM_PORT=58204"], &["fx-api-server:1"]);
    let t = Tmux::start("sd-e2e", 80, 24, &panel_cmd(&p.name, ""));

    let s = t.wait("both services healthy", |s| {
        s.contains("trading-bot") && s.contains("api-server") && s.matches("healthy").count() >= 2
    });
    assert!(s.contains("● connected"), "{s}");
    assert!(s.contains("? help") && s.contains("q quit"), "hints from the keymap: {s}");

    // Select the bot (second service) and open its logs: JSON lines shown compact, secrets masked.
    t.keys(&["j", "Enter"]);
    let s = t.wait("the bot's log lines", |s| s.contains(&format!("Logs {bot}")) && s.contains("trading_bot::"));
    assert!(!s.contains("sk_live_"), "a secret reached the screen:\n{s}");

    // Search: '/' opens the prompt, the query is typed, Enter runs it.
    t.keys(&["/"]);
    t.wait("the search prompt", |s| s.contains("search:"));
    t.keys(&["heartbeat", "Enter"]);
    t.wait("the search in the title", |s| s.contains("/heartbeat ("));

    // Flip the bot's /health to 503: the engine's healthcheck turns it unhealthy on screen.
    docker_ok(&["exec", &bot, "touch", "/run/sim/unhealthy"]);
    let s = t.wait("UNHEALTHY on screen", |s| s.contains("UNHEALTHY") && s.contains("✗"));
    assert!(s.contains("1 unhealthy"), "{s}");

    // The help at 80x24: one column, the focused pane (Logs) first, scrolled page by page to
    // its end, every description of the keymap whole on some page. Esc closes it.
    t.keys(&["?"]);
    t.wait("the help popup", |s| s.contains("[Logs pane (focused)]") && s.contains("? or esc closes"));
    // Each page read whole: a capture can land while a frame is half written.
    let mut s = t.settled();
    let mut text = String::new();
    loop {
        text.push_str(&common::help::help_text(&s));
        let (a, b, n) = common::help::help_range(&s).expect("the help's title");
        if b == n {
            break;
        }
        t.keys(&["PageDown"]);
        t.wait("the next page", |s| common::help::help_range(s).is_some_and(|r| r.0 > a));
        s = t.settled();
    }
    let km = stackdeck::config::Keymap::defaults();
    for (_, action, keys) in km.all() {
        assert!(keys.is_empty() || text.contains(action.help()), "not whole at 80x24: {:?}", action.help());
    }
    t.keys(&["Escape"]);
    t.wait("help closed", |s| !s.contains("? or esc closes"));
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
    assert!(!t.alternate_screen_on(), "the alternate screen was left on");
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    require_engine();
    let mut p = Project::new("signals");
    p.run("svc", &[], &["bb:1", "sleep", "600"]);
    for sig in ["TERM", "HUP"] {
        let t = Tmux::start(&format!("sd-sig{sig}"), 80, 24, &panel_cmd(&p.name, ""));
        t.wait("the panel", |s| s.contains("svc") && s.contains("connected"));
        assert!(t.alternate_screen_on());
        let pid = common::wait_for("the stackdeck process", std::time::Duration::from_secs(10), || {
            child_stackdeck(t.pane_pid())
        });
        assert!(
            std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap().success()
        );
        t.wait("exit after the signal", |s| s.contains("STACKDECK-EXIT=0"));
        assert!(!t.alternate_screen_on(), "SIG{sig} left the alternate screen on");
    }
}

#[test]
fn a_panel_whose_terminal_goes_away_exits_instead_of_spinning() {
    require_engine();
    let mut p = Project::new("hangup");
    p.run("svc", &[], &["bb:1", "sleep", "600"]);
    let t = Tmux::start("sd-hangup", 80, 24, &panel_cmd(&p.name, ""));
    t.wait("the panel", |s| s.contains("svc") && s.contains("connected"));
    let pid =
        common::wait_for("the stackdeck process", std::time::Duration::from_secs(10), || child_stackdeck(t.pane_pid()));
    // The terminal goes away under the panel (an ssh connection dropped, a tmux session killed):
    // poll(2) then says "hung up" and "readable" at once, and the panel must end, not loop.
    assert!(common::tmux().args(["kill-session", "-t", &t.session]).status().unwrap().success());
    common::wait_for("the panel gone with its terminal", std::time::Duration::from_secs(20), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

#[test]
fn read_only_shows_the_badge_and_a_tiny_terminal_still_works() {
    require_engine();
    let mut p = Project::new("ro");
    p.run("svc", &[], &["bb:1", "sleep", "600"]);
    let t = Tmux::start("sd-ro", 60, 12, &panel_cmd(&p.name, "--read-only --theme mono"));
    let s = t.wait("the panel", |s| s.contains("READ-ONLY") && s.contains("svc"));
    assert!(s.lines().count() <= 12, "{s}");
    // Resize while running: the panel redraws at the new size.
    assert!(
        common::tmux().args(["resize-window", "-t", &t.session, "-x", "100", "-y", "30"]).status().unwrap().success()
    );
    t.wait("a redraw at 100 columns", |s| s.lines().any(|l| l.chars().count() >= 99 && l.contains("Services")));
}

#[test]
fn a_panic_restores_the_terminal_before_the_report() {
    require_engine();
    let mut p = Project::new("panic");
    p.run("svc", &[], &["bb:1", "sleep", "600"]);
    // The seam exists only in debug builds (the test profile).
    let t = Tmux::start(
        "sd-panic",
        100,
        30,
        &format!("RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 STACKDECK_TEST_PANIC=1 {}", panel_cmd(&p.name, "")),
    );
    let s = t.wait("the panic report after exit", |s| s.contains("STACKDECK-EXIT="));
    assert!(!t.alternate_screen_on(), "a panic left the alternate screen on:\n{s}");
    assert!(s.contains("deliberate panic after a frame"), "the report is printed on the restored screen:\n{s}");
    assert!(!s.contains("STACKDECK-EXIT=0"), "a panic is not a clean exit:\n{s}");
}

#[test]
fn a_background_task_that_panics_takes_the_panel_down_cleanly() {
    require_engine();
    let mut p = Project::new("taskpanic");
    p.run("svc", &[], &["bb:1", "sleep", "600"]);
    // The seam exists only in debug builds (the test profile).
    let t = Tmux::start(
        "sd-taskpanic",
        100,
        30,
        &format!("RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 STACKDECK_TEST_TASK_PANIC=1 {}", panel_cmd(&p.name, "")),
    );
    let s = t.wait("the exit after the task's panic", |s| s.contains("STACKDECK-EXIT="));
    assert!(!t.alternate_screen_on(), "the alternate screen is still on:\n{s}");
    assert!(s.contains("deliberate panic in a background task"), "the reason is printed on the restored screen:\n{s}");
    assert!(s.contains("STACKDECK-EXIT=1"), "a failed task is not a clean exit:\n{s}");
}

#[test]
fn an_ambiguous_kill_switch_shows_in_the_header_and_x_stops_every_match() {
    require_engine();
    // A service name of this test only: concurrent tests' trading bots are never matched.
    const SVC: &str = "amb-kill-switch-bot";
    let mut a = Project::new("amb-a");
    let mut b = Project::new("amb-b");
    let bot_a = a.run(SVC, &[], &["bb:1", "sleep", "600"]);
    let bot_b = b.run(SVC, &[], &["bb:1", "sleep", "600"]);
    let dir = std::env::temp_dir().join(format!("sd-amb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, format!("[services.{SVC}]\nkill_switch = true\nstop_grace_secs = 1\n")).unwrap();
    // No --project: both projects are on screen (other tests' projects too: the service name is ours).
    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --config {} --state-dir {}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        cfg.display(),
        dir.join("state").display()
    );
    let t = Tmux::start("sd-amb", 200, 40, &cmd);
    let s = t.wait("the ambiguity in the header", |s| s.lines().next().is_some_and(|l| l.contains("ambiguous")));
    let header = s.lines().next().unwrap().to_owned();
    assert!(header.contains(&format!("kill switch '{SVC}' is ambiguous")), "{header}");
    t.keys(&["X"]);
    let s =
        t.wait("one confirmation naming both", |s| s.contains("go ahead") && s.contains(&format!("{}/{SVC}", b.name)));
    assert!(s.contains(&format!("{}/{SVC}", a.name)), "{s}");
    t.keys(&["y"]);
    t.wait("the stop done", |s| s.contains("[done]"));
    for c in [&bot_a, &bot_b] {
        assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", c]), "false", "{c}");
    }
}

#[test]
fn a_running_panel_holds_the_latch_against_docker_start() {
    require_engine();
    let mut p = Project::new("latch");
    let bot = p.run("trading-bot", &["--restart", "unless-stopped"], &["bb:1", "sleep", "600"]);
    let dir = std::env::temp_dir().join(format!("sd-latch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, format!("[services.\"{}/trading-bot\"]\nkill_switch = true\nstop_grace_secs = 1\n", p.name))
        .unwrap();
    let state = dir.join("state");
    let extra = format!("--config {} --state-dir {}", cfg.display(), state.display());
    let t = Tmux::start("sd-latch", 120, 30, &panel_cmd(&p.name, &extra));
    t.wait("the bot", |s| s.contains("trading-bot") && s.contains("running"));
    // The stop comes from another process (a colleague's CLI): the panel learns the latch from
    // the shared store.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--config", &cfg.display().to_string(), "--state-dir", &state.display().to_string()])
        .args(["stop", &format!("{}/trading-bot", p.name), "--yes", "--reason", "loss limit"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    t.wait("the STOPPED banner", |s| s.contains(" STOPPED"));
    // Someone starts it by hand: the panel stops it again and records it.
    docker_ok(&["start", &bot]);
    let history = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
            .args(["--state-dir", &state.display().to_string(), "history", "--json"])
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
    };
    let row = wait_for("the restart blocked and recorded", Duration::from_secs(30), || {
        history().into_iter().find(|r| r["action"] == "restart-blocked" && r["outcome"] == "succeeded")
    });
    assert!(row["transcript"].as_str().unwrap().contains("stopped again"), "{row}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    t.wait("the banner says the start was blocked", |s| s.contains("RESTART BLOCKED 1x, last"));
    // And again: every start is held.
    docker_ok(&["start", &bot]);
    wait_for("the second restart blocked", Duration::from_secs(30), || {
        (history().iter().filter(|r| r["action"] == "restart-blocked").count() == 2).then_some(())
    });
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
}

#[test]
fn the_stop_key_works_when_the_history_store_is_corrupt() {
    require_engine();
    let mut p = Project::new("xcorrupt");
    let bot = p.run("trading-bot", &["--restart", "unless-stopped"], &["bb:1", "sleep", "600"]);
    let dir = std::env::temp_dir().join(format!("sd-xcorrupt-{}", std::process::id()));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("history.sqlite"), b"garbage where the history was").unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, format!("[services.\"{}/trading-bot\"]\nkill_switch = true\nstop_grace_secs = 1\n", p.name))
        .unwrap();
    let extra = format!("--config {} --state-dir {}", cfg.display(), state.display());
    let t = Tmux::start("sd-xcorrupt", 120, 30, &panel_cmd(&p.name, &extra));
    t.wait("the bot", |s| s.contains("trading-bot") && s.contains("running"));
    t.keys(&["X"]);
    t.wait("one confirmation", |s| s.contains("go ahead"));
    t.keys(&["y"]);
    let s = t.wait("the stop done", |s| s.contains("[done]"));
    assert!(s.contains("fallback journal"), "the operator is told where the record went:\n{s}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    assert!(state.join("journal.jsonl").exists());
}

/// An operation waiting on a locked history store (SQLite's busy wait, 10 s) must not hold up
/// the emergency stop pressed meanwhile. Before each operation had a runtime of its own, the
/// deploy's wait held the panel's one worker, and the stop started only after the deploy had
/// given up (`database is locked`). Here the lock is released as soon as the stop is done, so
/// the deploy that was still waiting gets the store and is recorded; on the old code it had
/// failed unrecorded before the stop could begin. (The margin is the deploy's 10 s wait against
/// a stop of about 2 s: the stop's own store calls wait at most 1 s each, then journal.)
#[test]
fn the_stop_key_wins_over_an_operation_waiting_on_a_locked_store() {
    require_engine();
    let mut p = Project::new("xlocked");
    p.run("api", &[], &["bb:1", "sleep", "600"]);
    let bot = p.run("trading-bot", &["--restart", "unless-stopped"], &["bb:1", "sleep", "600"]);
    let dir = std::env::temp_dir().join(format!("sd-xlocked-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\npull = false\n[services.\"{}/trading-bot\"]\nkill_switch = true\nstop_grace_secs = 1\n",
            p.name
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let extra = format!("--config {} --state-dir {}", cfg.display(), state.display());
    let t = Tmux::start("sd-xlocked", 100, 30, &panel_cmd(&p.name, &extra));
    t.wait("both services", |s| s.contains("api") && s.contains("trading-bot") && s.matches("running").count() >= 2);
    // Another process holds the store's write lock (a sqlite3 shell left in a transaction).
    let lock = rusqlite::Connection::open(state.join("history.sqlite")).unwrap();
    lock.busy_timeout(Duration::from_secs(10)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    t.keys(&["d"]);
    t.wait("the picker", |s| s.contains("deploy to") && s.contains("api"));
    t.keys(&["bb:1"]);
    t.keys(&["Enter"]);
    t.wait("the confirmation", |s| s.contains("deploy bb:1 to"));
    t.keys(&["y"]);
    t.wait("the deploy running", |s| s.contains("[running]"));
    t.keys(&["X"]);
    t.wait("one confirmation", |s| s.contains("EMERGENCY STOP") && s.contains("go ahead"));
    t.keys(&["y"]);
    let s = t.wait("the stop done", |s| s.contains("[done]") && s.contains("EMERGENCY STOP"));
    assert!(s.contains("fallback journal"), "the locked store: the record went to the journal:\n{s}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    // The deploy was still waiting for the store, and now has it.
    common::wait_for("the deploy recorded", Duration::from_secs(60), || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
            .arg("--state-dir")
            .arg(&state)
            .args(["history", "--json"])
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .output()
            .ok()?;
        let h: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        h.iter().any(|r| r["action"] == "deploy").then_some(())
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_stop_key_from_the_logs_pane_stops_the_bot() {
    require_engine();
    let mut p = Project::new("xkey");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59217", "--restart", "unless-stopped"], &["fx-trading-bot:1"]);
    let dir = std::env::temp_dir().join(format!("sd-xkey-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, format!("[services.\"{}/trading-bot\"]\nkill_switch = true\n", p.name)).unwrap();
    let extra = format!("--config {} --state-dir {}", cfg.display(), dir.join("state").display());
    let t = Tmux::start("sd-xkey", 100, 30, &panel_cmd(&p.name, &extra));
    t.wait("the bot, healthy", |s| s.contains("trading-bot") && s.contains("healthy"));
    t.keys(&["2"]);
    t.wait("the logs pane", |s| s.contains(&format!("Logs {bot}")) && s.contains("X STOP"));
    t.keys(&["X"]);
    t.wait("one confirmation", |s| {
        s.contains(&format!("EMERGENCY STOP {}/trading-bot?", p.name)) && s.contains("go ahead")
    });
    t.keys(&["y"]);
    let s = t.wait("the stop done and the banner", |s| s.contains("[done]") && s.contains(" STOPPED"));
    // What was not done comes first in the banner (the reason follows; the record keeps it).
    assert!(s.contains("STOPPED | orders/positions unknown: check the exchange | by"), "{s}");
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}", &bot]),
        "false no"
    );
    let logs = String::from_utf8_lossy(&common::docker(&["logs", &bot]).stdout).into_owned();
    assert!(logs.contains("closing positions"), "a graceful stop first");
    // Starting it again clears the stop: the panel asks why, and records it. The stop's result
    // is still open: the prompt replaces it on screen (one popup at a time), the result waits.
    t.keys(&["1"]);
    t.keys(&["S"]);
    let s = t.wait("the reason prompt", |s| s.contains("is EMERGENCY-STOPPED") && s.contains("reason>"));
    assert!(!s.contains("[done]") && s.contains("1 more waiting"), "two popups on screen:\n{s}");
    t.keys(&["-l", "limits reset by risk"]);
    t.keys(&["Enter"]);
    t.wait("the start done", |s| s.contains("[done]") && !s.contains(" STOPPED"));
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "true");
    // Esc and the next key sent together read as alt-<key>: let the popup close first.
    t.keys(&["Escape"]);
    t.wait("the operation popup closed", |s| !s.contains("[done]"));
    t.keys(&["4"]);
    t.wait("the history pane: the stop, then the start", |s| {
        s.contains("stop ") && s.contains("start ") && s.matches("succeeded").count() == 2
    });
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--state-dir", &dir.join("state").display().to_string(), "history", "--json"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    let h: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((h[0]["action"].as_str(), h[0]["reason"].as_str()), (Some("start"), Some("limits reset by risk")));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_during_a_panel_deploy_lets_it_finish_and_record() {
    deploy_then_lose_the_terminal("phup", 59218, |t, pid| {
        assert!(std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
        t.wait("exit after the deploy finished", |s| s.contains("STACKDECK-EXIT="));
    });
}

/// An ssh connection that drops: the terminal itself goes away under a running deploy (writes
/// fail with EIO, and so does stderr). Restoring the terminal used to panic there, twice, and
/// the process aborted mid-deploy; the deploy must run to its end and be recorded.
#[test]
fn a_terminal_gone_during_a_panel_deploy_lets_it_finish_and_record() {
    deploy_then_lose_the_terminal("pgone", 59219, |t, pid| {
        assert!(common::tmux().args(["kill-session", "-t", &t.session]).status().unwrap().success());
        common::wait_for("the panel gone with its terminal", std::time::Duration::from_secs(120), || {
            (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
        });
    });
}

fn deploy_then_lose_the_terminal(name: &str, port: u16, lose: impl FnOnce(&Tmux, u32)) {
    require_engine();
    let mut p = Project::new(name);
    let bot =
        p.run("trading-bot", &["-e", &format!("SIM_PORT={port}"), "--health-timeout", "5s"], &["fx-trading-bot:1"]);
    let dir = std::env::temp_dir().join(format!("sd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[engine]\npull = false\n[services.\"{}/trading-bot\"]\nhealth_url = \"http://127.0.0.1:{port}/health\"\ngate_tries = 30\ngate_interval_secs = 1\nprobe_timeout_secs = 5\n",
            p.name
        ),
    )
    .unwrap();
    let state = dir.join("state");
    let extra = format!("--config {} --state-dir {}", cfg.display(), state.display());
    let t = Tmux::start(&format!("sd-{name}"), 100, 30, &panel_cmd(&p.name, &extra));
    t.wait("the bot, healthy", |s| s.contains("trading-bot") && s.contains("healthy"));
    t.keys(&["d"]);
    t.wait("the picker", |s| s.contains("deploy to") && s.contains("fx-trading-bot:"));
    t.keys(&["fx-trading-bot:1"]);
    t.keys(&["Enter"]);
    t.wait("the confirmation", |s| s.contains("deploy fx-trading-bot:1 to"));
    t.keys(&["y"]);
    t.wait("the deploy running", |s| s.contains("[running]") && s.contains("creating"));
    let pid =
        common::wait_for("the stackdeck process", std::time::Duration::from_secs(10), || child_stackdeck(t.pane_pid()));
    lose(&t, pid);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .arg("--state-dir")
        .arg(&state)
        .args(["history", "--json"])
        .output()
        .unwrap();
    let h: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let d = h.iter().find(|r| r["action"] == "deploy").expect("the deploy is recorded");
    // Ran to its end: succeeded, or (on a loaded machine whose simulator missed its health
    // timeout) rolled back - never interrupted, never half-done.
    assert!(d["outcome"] == "succeeded" || d["outcome"] == "rolled_back", "{d}");
    assert_no_half_deploy(&p.name, &bot);
    let _ = std::fs::remove_dir_all(dir);
}

/// No half-deployed service: exactly one container, under the service's name, running.
fn assert_no_half_deploy(project: &str, name: &str) {
    let names = docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert_eq!(names.lines().collect::<Vec<_>>(), vec![name], "a parked or extra container is left");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", name]), "true");
}

#[test]
fn the_inspect_view_hides_secret_environment_values() {
    require_engine();
    let mut p = Project::new("inspect");
    p.run(
        "api",
        &[
            "-e",
            "API_TOKEN=supersecret-123",
            "-e",
            "PLAIN_SETTING=visible-value",
            "--health-cmd",
            "true",
            "--health-interval",
            "2s",
        ],
        &["bb:1", "sleep", "600"],
    );
    let t = Tmux::start("sd-inspect", 120, 40, &panel_cmd(&p.name, "--read-only"));
    t.wait("the service", |s| s.contains("api") && s.contains("running"));
    t.keys(&["i"]);
    let s = t.wait("the inspect view", |s| {
        s.contains("API_TOKEN=•••••• (hidden)") && s.contains("PLAIN_SETTING=visible-value")
    });
    assert!(!s.contains("supersecret"), "{s}");
    assert!(s.contains("restart policy") && s.contains("test CMD-SHELL true"), "{s}");
    t.keys(&["Escape"]);
    t.wait("closed", |s| !s.contains("PLAIN_SETTING"));
}

#[test]
fn after_a_deploy_the_logs_pane_keeps_the_previous_containers_last_lines() {
    require_engine();
    let mut p = Project::new("carry");
    let port = 31475;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}"), "--health-timeout", "5s"], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (common::health_of(&bot) == "healthy").then_some(()));
    let t = Tmux::start("sd-carry", 120, 40, &panel_cmd(&p.name, ""));
    t.wait("the bot", |s| s.contains("bot") && s.contains("healthy"));
    t.keys(&["Enter"]);
    t.wait("its logs", |s| s.contains("Logs sdt-carry") && s.contains("trading_bot::"));
    let sd = common::Sd::new(
        "carry",
        &format!(
            "[services.\"{}/bot\"]\nhealth_url = \"http://127.0.0.1:{port}/health\"\ngate_tries = 20\ngate_interval_secs = 1\n",
            p.name
        ),
    );
    let (code, out, err) = sd.run(&["deploy", &format!("{}/bot", p.name), "fx-trading-bot:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    t.wait("the old lines above the new", |s| {
        s.contains("of this service ended: its last lines are above") && s.contains("1.5.0")
    });
}

#[test]
fn the_metrics_pane_reads_a_local_engines_containers_from_their_cgroup_files() {
    require_engine();
    let mut p = Project::new("e2ecg");
    let busy = p.run("busy", &[], &["bb:1", "sh", "-c", "while :; do :; done"]);
    let _idle = p.run("idle", &[], &["bb:1", "sleep", "600"]);
    let t = Tmux::start("sd-e2ecg", 80, 24, &panel_cmd(&p.name, ""));
    t.wait("both services", |s| s.contains("busy") && s.contains("idle") && s.contains("2/2 running"));
    t.keys(&["3"]);
    // The first service is the busy one: its CPU from two readings of its cgroup, and the stack
    // line counts both containers reporting.
    let s = t.wait("the busy loop's CPU from the cgroup files", |s| {
        s.contains(&format!("{busy} · last 120 s · from cgroup files"))
            && s.contains("stack 2/2 reporting")
            && s.lines().any(|l| {
                l.split("CPU ")
                    .nth(1)
                    .and_then(|r| r.split('%').next())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .is_some_and(|v| v > 50.0)
            })
    });
    assert!(!s.contains("from engine stats"), "{s}");
}

#[test]
fn the_panel_raises_its_open_files_limit_to_the_hard_one() {
    require_engine();
    let p = Project::new("e2enofile");
    // A stats stream per container is a socket each (a remote engine): 1000 containers need
    // more than a soft limit of 1024.
    let t = Tmux::start(
        "sd-e2enofile",
        80,
        24,
        &format!(
            "prlimit --nofile=256:8192 env XDG_CONFIG_HOME=/nonexistent {} --project {}; sleep 600",
            env!("CARGO_BIN_EXE_stackdeck"),
            p.name
        ),
    );
    t.wait("the panel", |s| s.contains("● connected"));
    let pid = wait_for("the panel's process", Duration::from_secs(10), || child_stackdeck(t.pane_pid()));
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(line.split_whitespace().collect::<Vec<_>>()[3..5], ["8192", "8192"], "{line}");
}
