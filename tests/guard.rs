//! `stackdeck guard` against the real engine and real docker-compose: the latch held against
//! `docker-compose up -d` with only the guard running, and with a panel running beside it
//! (one record, one webhook); SIGHUP with a bad config; SIGTERM; one guard per state dir; a
//! scheduled backup with retention; /metrics read with the panel's own parser.

mod common;

use common::{HttpStub, Project, Sd, Tmux, docker_ok, require_engine, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A compose project of one bot on the host network.
struct Compose {
    name: String,
    file: std::path::PathBuf,
}

impl Compose {
    fn up(tag: &str, dir: &std::path::Path, port: u16) -> Compose {
        let name = format!("sdtg{tag}{}", std::process::id());
        let file = dir.join("docker-compose.yml");
        std::fs::write(
            &file,
            format!(
                "version: \"2.4\"\nservices:\n  bot:\n    image: fx-trading-bot:1\n    network_mode: host\n    restart: unless-stopped\n    environment:\n      SIM_PORT: \"{port}\"\n"
            ),
        )
        .unwrap();
        let c = Compose { name, file };
        c.run(&["up", "-d"]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let o = Command::new("docker-compose")
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn container(&self) -> String {
        format!("{}_bot_1", self.name)
    }

    fn key(&self) -> String {
        format!("{}/bot", self.name)
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(["down", "-v", "-t", "1"])
            .output();
    }
}

/// The guard as systemd would run it: its stdout is the log.
struct Guard {
    child: Option<Child>,
    log: std::path::PathBuf,
    metrics: String,
}

impl Guard {
    fn start(sd: &Sd, metrics: &str, hook: &str) -> Guard {
        let log = sd.state.parent().unwrap().join(format!("guard-{metrics}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = sd
            .cmd(&["guard", "--metrics", metrics])
            .env("SDT_HOOK", hook)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Guard { child: Some(child), log, metrics: metrics.to_owned() }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn metrics(&self) -> Option<String> {
        common::http_get(&self.metrics, "/metrics")
    }

    /// A metric's value, read with the parser the panel uses for /metrics.
    fn value(&self, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        let text = self.metrics()?;
        let mut db = stackdeck::observe::tsdb::Tsdb::new([name.to_owned()]);
        let t = 1_000;
        stackdeck::observe::scrape::ingest(&mut db, "guard", &text, t).expect("the guard's /metrics parse");
        db.series(name)
            .find(|(labels, _)| label.is_none_or(|(k, v)| labels.iter().any(|(a, b)| a == k && b == v)))
            .and_then(|(_, s)| s.at(t))
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args(["-s", sig, &pid]).status().unwrap().success());
    }

    fn wait(&mut self) -> i32 {
        self.child.take().unwrap().wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn config(key: &str, metrics: &str, extra: &str) -> String {
    format!(
        "[services.\"{key}\"]\nkill_switch = true\n[notify]\nwebhook_env = \"SDT_HOOK\"\n[guard]\nmetrics = \"{metrics}\"\n{extra}"
    )
}

/// The history, read with the state dir alone (the config may be broken on purpose).
fn blocked_rows(sd: &Sd) -> Vec<serde_json::Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .arg("--state-dir")
        .arg(&sd.state)
        .args(["history", "--json"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    rows.into_iter().filter(|r| r["action"] == "restart-blocked").collect()
}

fn blocked_hooks(hook: &HttpStub) -> usize {
    hook.bodies().iter().filter(|b| b.contains("restart blocked")).count()
}

#[test]
fn the_guard_alone_holds_the_latch_against_compose_up_and_posts_it_once() {
    require_engine();
    let hook = HttpStub::start(|_, _| (200, "ok".into()), Duration::ZERO);
    let sd = Sd::new("guard1", "");
    let dir = sd.state.parent().unwrap().to_path_buf();
    let compose = Compose::up("a", &dir, 31256);
    let metrics = "127.0.0.1:31262";
    std::fs::write(&sd.config, format!("[engine]\npull = false\n{}", config(&compose.key(), metrics, ""))).unwrap();
    let (code, out, err) = sd.run(&["stop", &compose.key(), "--yes", "--reason", "drawdown"]);
    assert_eq!(code, 0, "{out}{err}");
    let mut guard = Guard::start(&sd, metrics, &hook.url());
    wait_for("the guard knows the latch", Duration::from_secs(60), || {
        (guard.value("stackdeck_latched_services", None) == Some(1.0)
            && guard.value("stackdeck_engine_connected", None) == Some(1.0))
        .then_some(())
    });
    // The stack's own deploy job does this.
    compose.run(&["up", "-d"]);
    let row = wait_for("the restart blocked and recorded", Duration::from_secs(60), || {
        blocked_rows(&sd).into_iter().find(|r| r["outcome"] == "succeeded")
    });
    assert!(row["transcript"].as_str().unwrap().contains("stopped again"), "{row}");
    assert_eq!(row["audit"]["via"], "guard", "{row}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &compose.container()]), "false");
    wait_for("the webhook", Duration::from_secs(30), || (blocked_hooks(&hook) >= 1).then_some(()));
    wait_for("the counter", Duration::from_secs(30), || {
        (guard.value("stackdeck_restarts_blocked_total", Some(("service", &compose.key()))) == Some(1.0)).then_some(())
    });
    // The counter comes from the history row; the log line is written by the guard's own loop.
    let log = wait_for("the guard's log of the hold", Duration::from_secs(30), || {
        let log = guard.log();
        (log.contains("restart blocked") && log.contains("latched:")).then_some(log)
    });
    assert!(!log.contains('\u{1b}'), "no escape sequence in the log");
    // A second guard for the same state dir refuses to start.
    let second = sd.cmd(&["guard", "--metrics", "127.0.0.1:31263"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another guard runs"), "{second:?}");
    // SIGHUP with a broken config: the running config stays, and so does the hold.
    std::fs::write(&sd.config, "[services.x\nkill_switch = yes\n").unwrap();
    guard.signal("HUP");
    wait_for("the refused reload", Duration::from_secs(30), || {
        guard.log().contains("config NOT reloaded").then_some(())
    });
    assert_eq!(guard.value("stackdeck_config_reload_failures_total", None), Some(1.0));
    docker_ok(&["start", &compose.container()]);
    wait_for("the second restart blocked", Duration::from_secs(60), || {
        (blocked_rows(&sd).iter().filter(|r| r["outcome"] == "succeeded").count() == 2).then_some(())
    });
    guard.signal("TERM");
    assert_eq!(guard.wait(), 0, "{}", guard.log());
    assert!(guard.log().contains("guard stopped"));
    wait_for("the second webhook", Duration::from_secs(30), || (blocked_hooks(&hook) >= 2).then_some(()));
    assert_eq!(blocked_hooks(&hook), 2, "one webhook per blocked restart: {:?}", hook.bodies());
}

#[test]
fn a_panel_and_the_guard_together_hold_once_and_post_once() {
    require_engine();
    let hook = HttpStub::start(|_, _| (200, "ok".into()), Duration::ZERO);
    let sd = Sd::new("guard2", "");
    let dir = sd.state.parent().unwrap().to_path_buf();
    let compose = Compose::up("b", &dir, 31257);
    let metrics = "127.0.0.1:31264";
    std::fs::write(&sd.config, format!("[engine]\npull = false\n{}", config(&compose.key(), metrics, ""))).unwrap();
    let mut guard = Guard::start(&sd, metrics, &hook.url());
    let panel = Tmux::start(
        "sd-guardpanel",
        120,
        30,
        &format!(
            "SDT_HOOK={} XDG_CONFIG_HOME=/nonexistent {} --project {} --config {} --state-dir {}; sleep 600",
            hook.url(),
            env!("CARGO_BIN_EXE_stackdeck"),
            compose.name,
            sd.config.display(),
            sd.state.display()
        ),
    );
    panel.wait("the bot", |s| s.contains("bot") && s.contains("running"));
    let (code, out, err) = sd.run(&["stop", &compose.key(), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    panel.wait("the STOPPED banner", |s| s.contains(" STOPPED"));
    wait_for("the guard knows the latch", Duration::from_secs(60), || {
        (guard.value("stackdeck_latched_services", None) == Some(1.0)).then_some(())
    });
    compose.run(&["up", "-d"]);
    wait_for("the restart blocked", Duration::from_secs(60), || {
        blocked_rows(&sd).into_iter().find(|r| r["outcome"] == "succeeded")
    });
    wait_for("the webhook", Duration::from_secs(30), || (blocked_hooks(&hook) >= 1).then_some(()));
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &compose.container()]), "false");
    // Both have seen the start by now; end them and count.
    panel.keys(&["q"]);
    guard.signal("TERM");
    assert_eq!(guard.wait(), 0);
    let rows = blocked_rows(&sd);
    assert_eq!(rows.len(), 1, "one record for one start: {rows:?}");
    assert_eq!(blocked_hooks(&hook), 1, "one webhook for one start: {:?}", hook.bodies());
}

#[test]
fn the_guard_runs_the_scheduled_backup_and_applies_retention() {
    require_engine();
    let mut p = Project::new("gbackup");
    let _data = p.run("data", &[], &["bb:1", "sleep", "600"]);
    let sd = Sd::new("guard3", "");
    let metrics = "127.0.0.1:31265";
    let cfg = format!(
        "[engine]\npull = false\n[guard]\nmetrics = \"{metrics}\"\n[backup]\nkeep_count = 1\nschedule = \"* * * * *\"\n[[backup.jobs]]\nname = \"marker\"\nkind = \"exec\"\nservice = \"{}/data\"\ncommand = [\"echo\", \"scheduled\"]\nextension = \"txt\"\n",
        p.name
    );
    std::fs::write(&sd.config, cfg).unwrap();
    // One backup by hand first: retention (keep 1) removes it after the scheduled one.
    let (code, out, err) = sd.run(&["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    let first: Vec<serde_json::Value> = serde_json::from_str(&sd.run(&["backups", "--json"]).1).unwrap();
    assert_eq!(first.len(), 1);
    let mut guard = Guard::start(&sd, metrics, "");
    wait_for("the scheduled backup", Duration::from_secs(150), || {
        let list: Vec<serde_json::Value> = serde_json::from_str(&sd.run(&["backups", "--json"]).1).ok()?;
        (list.len() == 1 && list[0]["id"] != first[0]["id"]).then_some(())
    });
    // The listing changes when the file is gone; the guard logs the step just after: wait for it.
    wait_for("the retention line in the guard's log", Duration::from_secs(30), || {
        let log = guard.log();
        (log.contains("scheduled backup") && log.contains("retention removed")).then_some(())
    });
    wait_for("the backup metrics", Duration::from_secs(30), || {
        (guard.value("stackdeck_backup_last_result", Some(("job", "marker"))) == Some(1.0)).then_some(())
    });
    let last = guard.value("stackdeck_backup_last_success_timestamp_seconds", Some(("job", "marker"))).unwrap();
    assert!(last > 0.0);
    assert!(guard.value("stackdeck_backup_next_run_timestamp_seconds", None).unwrap() > last);
    guard.signal("TERM");
    assert_eq!(guard.wait(), 0);
}

#[test]
fn the_shipped_prometheus_rules_and_the_demo_config_are_valid() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/prometheus/stackdeck-guard.rules.yml");
    let o = Command::new("promtool").args(["check", "rules", rules]).output().expect("promtool (Debian's prometheus)");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.toml")).unwrap();
    let stack = stackdeck::config::Stack::parse("scripts/demo.toml", &demo).expect("the demo config parses");
    assert!(stack.config.backup.schedule.is_some());
    let bot = stackdeck::domain::ServiceKey::parse("trading-bot");
    assert!(stack.settings(&bot).halt.is_some(), "the demo bot has a halt hook");
}

#[test]
fn the_guard_evaluates_alerts_sends_their_webhooks_and_keeps_the_timeline_for_a_panel_opened_later() {
    require_engine();
    let hook = HttpStub::start(|_, _| (200, "ok".into()), Duration::ZERO);
    let mut p = Project::new("galert");
    let port = 31258;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}")], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (common::health_of(&bot) == "healthy").then_some(()));
    docker_ok(&["exec", &bot, "sh", "-c", "echo 7.25 > /run/sim/daily_loss_percent"]);
    let sd = Sd::new("guard4", "");
    let metrics = "127.0.0.1:31268";
    // The host's own alerts are off: a full disk or a busy CI machine would fire them too.
    let cfg = format!(
        "[engine]\npull = false\n[host]\nenabled = false\n[notify]\nwebhook_env = \"SDT_HOOK\"\n[guard]\nmetrics = \"{metrics}\"\n[scrape]\ninterval_secs = 1\n[[scrape.targets]]\nservice = \"{}/bot\"\nurl = \"http://127.0.0.1:{port}/metrics\"\n[[panels]]\ntitle = \"Daily loss\"\nlocal = \"trading_bot_daily_loss_percent\"\nunit = \"%\"\nwarn = 3\ncritical = 5\nalert = \"DailyLossExceeded\"\nservice = \"{}/bot\"\n",
        p.name, p.name
    );
    std::fs::write(&sd.config, cfg).unwrap();
    let mut guard = Guard::start(&sd, metrics, &hook.url());
    wait_for("the alert's webhook", Duration::from_secs(60), || {
        hook.bodies().into_iter().find(|b| b.contains("FIRING") && b.contains("DailyLossExceeded"))
    });
    wait_for("the evaluation in the metrics", Duration::from_secs(30), || {
        (guard.value("stackdeck_alerts_firing", None) >= Some(1.0)
            && guard.value("stackdeck_alert_evaluation_timestamp_seconds", None).is_some())
        .then_some(())
    });
    assert!(guard.log().contains("FIRING"), "{}", guard.log());
    // It resolves: the guard says so too.
    docker_ok(&["exec", &bot, "sh", "-c", "echo 1.0 > /run/sim/daily_loss_percent"]);
    wait_for("the resolved webhook", Duration::from_secs(60), || {
        hook.bodies().into_iter().find(|b| b.contains("RESOLVED") && b.contains("DailyLossExceeded"))
    });
    // The bot is killed while nobody watches; the guard keeps that too.
    let before_kill = docker_ok(&["info", "--format", "{{.SystemTime}}"]).trim().to_owned();
    docker_ok(&["kill", "-s", "KILL", &bot]);
    wait_for("the guard's rows kept", Duration::from_secs(30), || {
        // firing, resolved, the kill and the death.
        (guard.value("stackdeck_timeline_rows_written_total", None) >= Some(4.0)).then_some(())
    });
    assert_eq!(guard.value("stackdeck_timeline_rows_dropped_total", None), Some(0.0));
    guard.signal("TERM");
    assert_eq!(guard.wait(), 0);
    let firing = hook.bodies().iter().filter(|b| b.contains("FIRING")).count();
    assert_eq!(firing, 1, "one webhook per event: {:?}", hook.bodies());

    // The engine keeps only its last 256 events: 100 execs elsewhere (300 events) push the
    // kill out of its memory, as a stack's healthchecks do within a minute.
    let other = p.run_standalone("noise", &["bb:1", "sleep", "3600"]);
    for _ in 0..100 {
        docker_ok(&["exec", &other, "true"]);
    }
    let remembered = docker_ok(&[
        "events",
        "--since",
        &before_kill,
        "--until",
        docker_ok(&["info", "--format", "{{.SystemTime}}"]).trim(),
        "--filter",
        &format!("container={bot}"),
        "--format",
        "{{.Action}}",
    ]);
    assert!(!remembered.contains("die"), "the engine should have forgotten the kill by now: {remembered}");

    // A panel opened now shows the alert and the kill: read back from what the guard kept.
    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --state-dir {} --config {} --project {}; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        sd.state.display(),
        sd.config.display(),
        p.name
    );
    let t = Tmux::start("guardtimeline", 120, 40, &cmd);
    t.wait("the panel", |s| s.contains("bot"));
    t.keys(&["7"]);
    let screen = t.wait("the kept rows", |s| {
        s.contains("DailyLossExceeded firing")
            && s.contains("DailyLossExceeded resolved")
            && s.contains("was sent SIGKILL")
            && s.contains("exited with code 137")
    });
    let line = |w: &str| screen.lines().position(|l| l.contains(w)).unwrap();
    assert!(
        line("exited with code 137") < line("DailyLossExceeded resolved")
            && line("DailyLossExceeded resolved") < line("DailyLossExceeded firing"),
        "newest first: {screen}"
    );
    t.keys(&["q"]);
}

/// CPU time (user and system) the process has used so far, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) are counted from its ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest.split(' ').skip(11).take(2).map(|x| x.parse().unwrap()).collect();
    let tick = 100.0; // USER_HZ, the same on every Linux this runs on
    (f[0] + f[1]) as f64 / tick
}

/// A guard with nothing to do sleeps. It once spun a core: without a backup schedule its loop
/// waited on a closed channel, which answers at once, forever. A spinning loop uses most of a
/// core however busy the machine is; a sleeping guard, next to nothing.
#[test]
fn an_idle_guard_sleeps() {
    require_engine();
    let sd = Sd::new("guardidle", "[host]\nenabled = false\n");
    let metrics = "127.0.0.1:31273";
    let guard = Guard::start(&sd, metrics, "");
    wait_for("the guard's metrics", Duration::from_secs(30), || guard.value("stackdeck_engine_connected", None));
    let pid = guard.child.as_ref().unwrap().id();
    let before = cpu_secs(pid);
    std::thread::sleep(Duration::from_secs(5));
    let used = cpu_secs(pid) - before;
    assert!(used < 1.0, "an idle guard used {used:.2} s of CPU in 5 s:\n{}", guard.log());
}
