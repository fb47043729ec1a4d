//! The team's shared store on a real PostgreSQL server (started here): two stackdeck processes
//! with state dirs of their own (two operators' machines) share one history, one audit chain,
//! the deploy locks and the kill-switch latches; the emergency stop never waits for it.

mod common;

use common::{KillOnDrop, Postgres, Project, Sd, docker_ok, health_of, require_engine, wait_for};
use std::process::Stdio;
use std::time::Duration;

fn cfg(project: &str, port: u16, url: &str) -> String {
    format!(
        "[state]\nurl = \"{url}\"\npassword_env = \"SD_TEAM_PW\"\n\n[services.\"{project}/bot\"]\nhealth_url = \"http://127.0.0.1:{port}/health\"\ngate_tries = 60\ngate_interval_secs = 1\nstop_grace_secs = 5\nprobe_timeout_secs = 5\nkill_switch = true\n"
    )
}

/// Run with the store's password in the configured variable.
fn run(sd: &Sd, pw: &str, args: &[&str]) -> (i32, String, String) {
    let o = sd.cmd(args).env("SD_TEAM_PW", pw).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn history(sd: &Sd, pw: &str) -> Vec<serde_json::Value> {
    let (code, out, err) = run(sd, pw, &["history", "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn two_operators_share_one_history_one_lock_and_one_latch_and_the_stop_never_waits_for_the_store() {
    require_engine();
    let mut pg = Postgres::start("team", 31471);
    let pw = pg.password.clone();
    let mut p = Project::new("team");
    let port = 31472;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}"), "--health-timeout", "5s"], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    let config = cfg(&p.name, port, &pg.url());
    let (alice, bob) = (Sd::new("team-a", &config), Sd::new("team-b", &config));
    let svc = format!("{}/bot", p.name);

    // A wrong password is said as the server says it, naming the store (and never the password).
    let (code, _, err) = run(&alice, "not-the-password", &["history"]);
    assert_ne!(code, 0);
    assert!(err.contains("password authentication failed") && err.contains(&pg.url()), "{err}");

    // Alice deploys a broken tag with a long gate: she holds the lock meanwhile.
    let first = KillOnDrop(Some(
        alice
            .cmd(&["deploy", &svc, "fx-trading-bot:2-broken", "--yes"])
            .env("SD_TEAM_PW", &pw)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("alice's gate, as bob sees it", Duration::from_secs(60), || {
        history(&bob, &pw)
            .iter()
            .any(|r| {
                r["action"] == "deploy"
                    && r["outcome"] == "running"
                    && r["transcript"].as_str().unwrap_or("").contains("try 1/")
            })
            .then_some(())
    });
    // Bob, with a state dir of his own, is refused with who holds the lock.
    let (code, _, err) = run(&bob, &pw, &["rollback", &svc, "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is locked: deploy by") && err.contains(&format!("pid {}", first.id())), "{err}");

    // kill -9 of the holder: the server ends its session and the lock with it; alice's record
    // is marked interrupted, and bob can recover what her deploy left behind.
    drop(first);
    let (code, out, err) = run(&bob, &pw, &["recover", &svc, "--yes"]);
    assert_eq!(code, 0, "the lock ended with its holder: {out}{err}");
    // Bob's emergency stop.
    let (code, out, err) = run(&bob, &pw, &["stop", &svc, "--yes", "--reason", "team drill"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");

    // One history for both, one chain, one latch.
    let (a, b) = (history(&alice, &pw), history(&bob, &pw));
    assert_eq!(a, b, "both operators read the same records");
    assert!(a.iter().any(|r| r["action"] == "stop" && r["reason"] == "team drill"), "{a:?}");
    assert!(a.iter().any(|r| r["action"] == "deploy" && r["outcome"] == "interrupted"), "{a:?}");
    assert!(a.iter().any(|r| r["action"] == "recover" && r["outcome"] == "succeeded"), "{a:?}");
    for sd in [&alice, &bob] {
        let (code, out, err) = run(sd, &pw, &["history", "--verify"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("intact"), "{out}");
    }
    let (code, _, err) = run(&alice, &pw, &["start", &svc, "--yes"]);
    assert_eq!(code, 3, "bob's latch holds for alice: {err}");
    assert!(err.contains("team drill"), "{err}");

    // The audit is append-only on the server too.
    let (ok, out) = pg.psql("UPDATE audit SET reason = 'nothing happened' WHERE kind = 'begin'");
    assert!(!ok && out.contains("append-only"), "{out}");
    let (ok, out) = pg.psql("DELETE FROM audit");
    assert!(!ok && out.contains("append-only"), "{out}");

    // The store goes away: the emergency stop does not wait for it. Its record goes to the
    // fallback journal and reaches the shared history when the store is back.
    pg.stop();
    let (code, out, err) = run(&alice, &pw, &["start", &svc, "--yes", "--reason", "store down"]);
    assert_ne!(code, 0, "a start needs the store: {out}{err}");
    docker_ok(&["start", &bot]);
    let (code, out, err) = run(&alice, &pw, &["stop", &svc, "--yes", "--reason", "while the store is down"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    pg.resume();
    let h = history(&alice, &pw);
    assert!(h.iter().any(|r| r["action"] == "stop" && r["reason"] == "while the store is down"), "{h:?}");
    assert_eq!(history(&bob, &pw), h, "bob sees the journaled stop too");
}

/// The guard on the server keeps the timeline in the team's store; an operator's panel on
/// another machine (its own state dir) reads it back, inert and masked even when somebody
/// wrote the row by hand.
#[test]
fn the_guards_timeline_on_the_team_store_reaches_another_operators_panel_inert_and_masked() {
    require_engine();
    let pg = Postgres::start("teamtl", 31481);
    let pw = pg.password.clone();
    let mut p = Project::new("teamtl");
    let port = 31483;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}")], &["fx-trading-bot:1"]);
    let metrics = "127.0.0.1:31482";
    let config = format!("{}[guard]\nmetrics = \"{metrics}\"\n", cfg(&p.name, port, &pg.url()));
    let (server, laptop) = (Sd::new("teamtl-server", &config), Sd::new("teamtl-laptop", &config));
    // Killed before the guard starts: its read-back of what the engine remembers, on
    // connecting, keeps it (as after a restart or a reload of the guard).
    docker_ok(&["kill", "-s", "KILL", &bot]);
    let log = server.state.parent().unwrap().join("guard.log");
    let out = std::fs::File::create(&log).unwrap();
    let _guard = KillOnDrop(Some(
        server
            .cmd(&["guard"])
            .env("SD_TEAM_PW", &pw)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, rows) = pg.psql("SELECT kind || ' ' || what FROM happening ORDER BY at_ns");
        if ok && rows.contains("kill was sent SIGKILL") && rows.contains("died exited with code 137") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the kill is not in the team's store: {rows}\nthe guard's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A row the engine never had, written by hand, with a secret and a terminal title escape.
    let at_ns = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        - 600_000_000_000) as i64;
    let (ok, out) = pg.psql(&format!(
        "INSERT INTO happening VALUES ({at_ns}, 'by-hand', 'oom', '{}/bot', 'bot', E'hand \\033]2;pwned\\007 token=sk_live_handwritten99', 'bad', NULL)",
        p.name
    ));
    assert!(ok, "{out}");

    let cmd = format!(
        "SD_TEAM_PW={pw} XDG_CONFIG_HOME=/nonexistent {} --state-dir {} --config {} --project {}; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        laptop.state.display(),
        laptop.config.display(),
        p.name
    );
    let t = common::Tmux::start("teamtl", 120, 30, &cmd);
    t.wait("the panel", |s| s.contains("bot"));
    t.keys(&["7"]);
    let screen = t.wait("the rows from the team's store", |s| {
        s.contains("was sent SIGKILL") && s.contains("exited with code 137") && s.contains("hand ")
    });
    assert!(!screen.contains("sk_live_handwritten99"), "masked: {screen}");
    assert!(screen.contains("pwned"), "the escape is shown inert, not obeyed: {screen}");
    t.keys(&["q"]);
}
