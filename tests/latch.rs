//! The emergency stop that holds (issue 11), against the real engine through the real binary:
//! the halt hook before the signal (answer recorded, a hanging hook bounded by its limit), a
//! stop that survives `docker system prune -f` (start recreates the container under its name
//! and compose labels), and the audit chain checked after an edit with the sqlite3 CLI.

mod common;

use common::{PrivateEngine, Project, Sd, docker_ok, health_of, require_engine, wait_for};
use std::process::Command;
use std::time::Duration;

fn halt_cfg(project: &str, port: u16, extra: &str) -> String {
    format!(
        "[services.\"{project}/bot\"]\nkill_switch = true\nstop_grace_secs = 5\nhalt_url = \"http://127.0.0.1:{port}/halt\"\n{extra}"
    )
}

fn bot(p: &mut Project, port: u16, extra: &[&str]) -> String {
    let mut args = vec!["-e".to_owned(), format!("SIM_PORT={port}"), "--health-timeout".into(), "5s".into()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = p.run("bot", &a, &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&c) == "healthy").then_some(()));
    c
}

fn phases(sd: &Sd) -> serde_json::Value {
    let h = sd.history();
    let stop = h.iter().find(|r| r["action"] == "stop").expect("a stop row");
    stop["audit"]["phases"].clone()
}

#[test]
fn the_halt_hook_runs_before_the_stop_signal_and_its_answer_is_recorded() {
    require_engine();
    let mut p = Project::new("halt");
    let port = 31251;
    let c = bot(&mut p, port, &["-e", "SIM_HALT_TOKEN=tok-4711"]);
    let sd = Sd::new("halt", &halt_cfg(&p.name, port, "halt_headers_env = { Authorization = \"SDT_HALT_AUTH\" }\n"));
    let out = sd
        .cmd(&["stop", &format!("{}/bot", p.name), "--yes", "--reason", "loss limit"])
        .env("SDT_HALT_AUTH", "Bearer tok-4711")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("halt: HTTP 200 in") && text.contains("\"halted\":true"), "the answer is said: {text}");
    assert!(!text.contains("unknown to stackdeck"), "the hook said what it did: {text}");
    assert!(!text.contains("tok-4711"), "the token is never printed");
    // The bot heard the halt before the stop signal.
    let logs = String::from_utf8_lossy(&common::docker(&["logs", &c]).stdout).into_owned();
    let halt_at = logs.find("halt requested").expect("the bot was halted");
    let term_at = logs.find("received SIGTERM").expect("then stopped");
    assert!(halt_at < term_at, "{logs}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "false");
    let ph = phases(&sd);
    assert_eq!(ph["halt_ok"], true, "{ph}");
    assert!(ph["halt_ms"].as_u64().unwrap() <= ph["signal_ms"].as_u64().unwrap(), "halt, then signal: {ph}");
    assert!(ph["exited_ms"].as_u64().unwrap() <= ph["verified_ms"].as_u64().unwrap(), "{ph}");
    let h = sd.history();
    let transcript = h[0]["transcript"].as_str().unwrap();
    assert!(transcript.contains("halt: HTTP 200"), "recorded: {transcript}");
    assert!(h[0]["audit"]["container"].as_str().unwrap().len() >= 12, "{}", h[0]["audit"]);
    assert!(h[0]["audit"]["digest"].as_str().unwrap().starts_with("sha256:"), "{}", h[0]["audit"]);
    assert_eq!(h[0]["audit"]["via"], "cli");
}

#[test]
fn a_hook_that_hangs_or_fails_does_not_hold_the_stop_back() {
    require_engine();
    let mut p = Project::new("hang");
    let port = 31252;
    let c = bot(&mut p, port, &["-e", "SIM_HALT_TOKEN=tok"]);
    // The hook hangs for a minute; its limit is 1 s.
    docker_ok(&["exec", &c, "sh", "-c", "echo 60 > /run/sim/halt_delay"]);
    let sd = Sd::new(
        "hang",
        &halt_cfg(&p.name, port, "halt_timeout_secs = 1\nhalt_headers = { Authorization = \"Bearer tok\" }\n"),
    );
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("halt FAILED after") && out.contains("no answer within 1 s"), "{out}");
    assert!(out.contains("open orders and positions are unknown to stackdeck"), "says what was not done: {out}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "false");
    let ph = phases(&sd);
    assert_eq!(ph["halt_ok"], false);
    assert!(ph["halt_ms"].as_u64().unwrap() < 10_000, "bounded by the hook's limit, not the hang: {ph}");
    // A refused hook (no token) is recorded the same way, and the stop goes on.
    let _ = docker_ok(&["start", &c]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&c) == "healthy").then_some(()));
    let sd2 = Sd::new("hang2", &halt_cfg(&p.name, port, ""));
    let (code, out, _) = sd2.run(&["stop", &format!("{}/bot", p.name), "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("halt FAILED") && out.contains("HTTP 401"), "{out}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "false");
}

#[test]
fn a_halt_command_runs_inside_the_container() {
    require_engine();
    let mut p = Project::new("haltx");
    let port = 31253;
    let c = bot(&mut p, port, &[]);
    let sd = Sd::new(
        "haltx",
        &format!(
            "[services.\"{}/bot\"]\nkill_switch = true\nstop_grace_secs = 5\nhalt_exec = [\"sim-halt\"]\n",
            p.name
        ),
    );
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("halt: exit 0 in") && out.contains("cancelled_orders"), "{out}");
    let logs = String::from_utf8_lossy(&common::docker(&["logs", &c]).stdout).into_owned();
    assert!(logs.find("halt requested").unwrap() < logs.find("received SIGTERM").unwrap(), "{logs}");
}

fn compose_file(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let f = dir.join("docker-compose.yml");
    std::fs::write(
        &f,
        format!(
            "version: \"2.4\"\nservices:\n  bot:\n    image: fx-trading-bot:1\n    network_mode: host\n    restart: unless-stopped\n    environment:\n      SIM_PORT: \"{port}\"\n"
        ),
    )
    .unwrap();
    f
}

#[test]
fn a_pruned_stopped_bot_comes_back_on_start_under_its_name_and_compose_labels() {
    require_engine();
    // `docker system prune -f` removes every stopped container of an engine: a private one.
    let mut eng = PrivateEngine::new("prn");
    eng.start();
    eng.load(&["fx-trading-bot:1"]);
    let port = 31254;
    let mut sd = Sd::new("prune", "[services.bot]\nkill_switch = true\nstop_grace_secs = 5\n");
    sd.host = Some(eng.host());
    let dir = sd.state.parent().unwrap().to_path_buf();
    let file = compose_file(&dir, port);
    let compose = |args: &[&str]| {
        let o = Command::new("docker-compose")
            .env("DOCKER_HOST", eng.host())
            .arg("-p")
            .arg("prn")
            .arg("-f")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    compose(&["up", "-d"]);
    let name = eng.ok(&["ps", "-q", "--filter", "label=com.docker.compose.service=bot"]);
    let cname = eng.ok(&["inspect", "-f", "{{.Name}}", &name]).trim_start_matches('/').to_owned();
    let labels_before = eng.ok(&["inspect", "-f", "{{json .Config.Labels}}", &cname]);
    let (code, out, err) = sd.run(&["stop", "bot", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    eng.ok(&["system", "prune", "-f"]);
    assert!(eng.ok(&["ps", "-aq"]).is_empty(), "the prune removed the stopped bot");
    // Still known, still latched.
    let (code, out, err) = sd.run(&["start", "bot", "--yes"]);
    assert_eq!(code, 3, "clearing needs a reason: {out}{err}");
    let (code, out, err) = sd.run(&["start", "bot", "--yes", "--reason", "loss investigated"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("recreated") && out.contains(&cname), "{out}");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.State.Running}}", &cname]), "true");
    let labels_after = eng.ok(&["inspect", "-f", "{{json .Config.Labels}}", &cname]);
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&labels_before).unwrap(), serde_json::from_str(&labels_after).unwrap());
    for k in ["com.docker.compose.project", "com.docker.compose.service", "com.docker.compose.config-hash"] {
        assert_eq!(a[k], b[k], "label {k}");
    }
    assert_eq!(eng.ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &cname]), "unless-stopped");
    let ps = compose(&["ps"]);
    assert!(ps.contains(&cname) && ps.contains("Up"), "docker-compose lists it: {ps}");
}

#[test]
fn history_verify_names_the_row_edited_with_the_sqlite3_cli() {
    require_engine();
    let mut p = Project::new("audit");
    let c = p.run("bot", &[], &["bb:1", "sleep", "600"]);
    let sd = Sd::new("audit", &format!("[services.\"{}/bot\"]\nstop_grace_secs = 1\n", p.name));
    let target = format!("{}/bot", p.name);
    assert_eq!(sd.run(&["stop", &target, "--yes", "--reason", "drill"]).0, 0);
    assert_eq!(sd.run(&["start", &target, "--yes", "--reason", "drill over"]).0, 0);
    let (code, out, _) = sd.run(&["history", "--verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit chain intact"), "{out}");
    let db = sd.state.join("history.sqlite");
    let sqlite = |sql: &str| {
        let o = Command::new("sqlite3").arg(&db).arg(sql).output().expect("sqlite3 CLI");
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
    };
    // stackdeck's own rows refuse the edit...
    let (ok, why) = sqlite("UPDATE audit SET reason = 'routine' WHERE kind = 'begin' AND action = 'stop'");
    assert!(!ok && why.contains("append-only"), "{why}");
    // ...somebody who drops the guard first is still found out.
    let (ok, why) = sqlite(
        "DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'routine' WHERE kind = 'begin' AND action = 'stop'",
    );
    assert!(ok, "{why}");
    let seq = sqlite("SELECT seq FROM audit WHERE kind = 'begin' AND action = 'stop'").1.trim().to_owned();
    let (code, out, _) = sd.run(&["history", "--verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains(&format!("row {seq} ")) && out.contains("altered"), "{out}");
    let _ = c;
}

#[test]
fn a_hostile_halt_answer_is_shown_and_stored_inert_and_masked() {
    require_engine();
    let mut p = Project::new("halthostile");
    let c = p.run("bot", &[], &["bb:1", "sleep", "600"]);
    let stub = common::HttpStub::start(
        |_, _| (200, "\u{1b}[2J\u{1b}]0;pwned\u{7}cancelled 2 api_key=s3cr3t-value \u{202e}evil".into()),
        Duration::ZERO,
    );
    let sd = Sd::new(
        "halthostile",
        &format!(
            "[services.\"{}/bot\"]\nkill_switch = true\nstop_grace_secs = 1\nhalt_url = \"{}/halt\"\n",
            p.name,
            stub.url()
        ),
    );
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("halt: HTTP 200") && out.contains("cancelled 2"), "{out}");
    let stored: Vec<String> =
        sd.history().iter().map(|r| r["transcript"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(stored.iter().any(|t| t.contains("cancelled 2")), "recorded: {stored:?}");
    for text in std::iter::once(out.clone()).chain(stored) {
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'), "{text}");
        assert!(!text.contains("s3cr3t-value"), "masked: {text}");
    }
    assert_eq!(stub.requests.lock().unwrap()[0].0.split(' ').next(), Some("POST"));
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "false");
}
