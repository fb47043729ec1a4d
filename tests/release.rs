//! Release deploys (issue 13, part 5) against the real engine and the real docker-compose: two
//! services to one tag in depends_on order, the second failing its gate, both ending on their
//! previous images with one release row in the history; a good release, then
//! `rollback --release ID` putting both back as one operation; the refusals.

mod common;

use common::compose::{Compose, distinct_image};
use common::{KillOnDrop, Sd, Tmux, docker_ok, require_engine, wait_for};
use std::process::Stdio;
use std::time::Duration;

/// The bot depends on the api and is named first on the command line: the api must move first.
/// The api is start-first (its compose file says so), the bot stop-first (the default).
const STACK: &str = r#"version: "3.8"
services:
  bot:
    image: "sdt-rel-bot:1"
    network_mode: none
    stop_grace_period: 2s
    depends_on: [api]
    environment: {SIM_DEPENDS: ""}
  api:
    image: "sdt-rel-api:1"
    network_mode: none
    stop_grace_period: 2s
    environment: {SIM_DEPENDS: ""}
    deploy:
      update_config: {order: start-first, monitor: 2s}
"#;

fn image_of(container: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Config.Image}}", container]).trim().to_owned()
}

fn health_of(container: &str) -> String {
    docker_ok(&["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", container]).trim().to_owned()
}

fn rows_of(h: &[serde_json::Value], release: i64) -> Vec<(String, String, String)> {
    let mut rows: Vec<&serde_json::Value> = h.iter().filter(|r| r["release"] == release).collect();
    rows.sort_by_key(|r| r["id"].as_i64());
    rows.iter()
        .map(|r| {
            let svc = r["service"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_owned();
            (r["action"].as_str().unwrap_or("").to_owned(), svc, r["outcome"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

fn newest(h: &[serde_json::Value], action: &str) -> serde_json::Value {
    h.iter().filter(|r| r["action"] == action).max_by_key(|r| r["id"].as_i64()).cloned().expect(action)
}

fn tuples(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter().map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned())).collect()
}

#[test]
fn a_release_moves_services_in_dependency_order_and_moves_them_all_back_when_one_fails() {
    require_engine();
    distinct_image("fx-api-server:1", "sdt-rel-api:1");
    distinct_image("fx-trading-bot:1", "sdt-rel-bot:1");
    // Tag 2: a good api, a bot that never turns healthy.
    distinct_image("fx-api-server:2", "sdt-rel-api:2");
    distinct_image("fx-trading-bot:2-broken", "sdt-rel-bot:2");
    // Tag 3: both good.
    distinct_image("fx-api-server:2", "sdt-rel-api:3");
    distinct_image("fx-trading-bot:2", "sdt-rel-bot:3");
    let c = Compose::up("sdtrel", STACK, None);
    let (bot, api) = (c.container("bot"), c.container("api"));
    for x in [&bot, &api] {
        wait_for("healthy", Duration::from_secs(60), || (health_of(x) == "healthy").then_some(()));
    }
    let cfg = format!(
        "[services.\"{0}/bot\"]\nmonitor_secs = 2\ngate_tries = 30\n[services.\"{0}/api\"]\ngate_tries = 30\n",
        c.name
    );
    let sd = Sd::new("release", &cfg);
    let (bot_key, api_key) = (format!("{}/bot", c.name), format!("{}/api", c.name));

    // Refused before anything moves: read-only, a bad tag, an image that is not there.
    let (code, _, err) = sd.run(&["--read-only", "deploy", "--release", "2", &bot_key, &api_key, "--yes"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = sd.run(&["deploy", "--release", "2\u{1b}[31m", &bot_key, "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an image tag") && !err.contains('\u{1b}'), "{err}");
    let (code, _, err) = sd.run(&["deploy", "--release", "9", &bot_key, &api_key, "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was moved"), "{err}");
    assert!(sd.history().iter().all(|r| r["action"] != "release"), "a refusal records no release");

    // Tag 2: the api moves (first: the bot depends on it), the bot fails its gate, the api goes back.
    let (code, out, err) = sd.run(&["deploy", "--release", "2", &bot_key, &api_key, "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("in depends_on order: {api_key} -> sdt-rel-api:2, {bot_key} -> sdt-rel-bot:2")),
        "{out}"
    );
    assert!(out.contains("strategy: start-first"), "the api's own strategy: {out}");
    assert_eq!(image_of(&api), "sdt-rel-api:1", "the api is back on its previous image");
    assert_eq!(image_of(&bot), "sdt-rel-bot:1", "the bot is on its previous image");
    assert_eq!(health_of(&api), "healthy");
    let h = sd.history();
    let releases: Vec<&serde_json::Value> = h.iter().filter(|r| r["action"] == "release").collect();
    assert_eq!(releases.len(), 1, "one release row: {h:?}");
    let r2 = releases[0]["id"].as_i64().unwrap();
    assert_eq!(releases[0]["outcome"], "rolled_back", "{:?}", releases[0]);
    assert!(releases[0]["reason"].as_str().unwrap().contains("bot did not pass"), "{:?}", releases[0]);
    assert_eq!(
        rows_of(&h, r2),
        tuples(&[("deploy", "api", "succeeded"), ("deploy", "bot", "rolled_back"), ("rollback", "api", "succeeded")])
    );
    // Nothing of this release stays moved: nothing to undo.
    let (code, _, err) = sd.run(&["rollback", "--release", &r2.to_string(), "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing to roll back"), "{err}");

    // Tag 3, from the panel: mark both, deploy, one tag, confirm. Both move.
    let t = Tmux::start(
        "release",
        120,
        30,
        &format!(
            "{} --state-dir {} --config {} -p {}",
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.state.display(),
            sd.config.display(),
            c.name
        ),
    );
    t.wait("the services", |s| s.contains(" api ") && s.contains(" bot "));
    t.keys(&["g", "Space", "j", "Space"]);
    t.wait("both marked", |s| s.contains("+ 2 marked for a release") && s.contains("+ api") && s.contains("+ bot"));
    t.keys(&["d"]);
    t.wait("the tag prompt", |s| s.contains("tag>"));
    t.keys(&["3", "Enter"]);
    t.wait("the confirmation", |s| s.contains(&format!("release 3 of {api_key}, {bot_key}?")));
    t.keys(&["y"]);
    let done = format!("release 3 of {api_key}, {bot_key} succeeded");
    let screen = t.wait("the release's end", |s| s.contains(&done) || s.contains("FAILED"));
    assert!(screen.contains(&done), "{screen}");
    assert_eq!(image_of(&api), "sdt-rel-api:3");
    assert_eq!(image_of(&bot), "sdt-rel-bot:3");
    let h = sd.history();
    let r3 = newest(&h, "release");
    assert_eq!(r3["outcome"], "succeeded");
    let r3 = r3["id"].as_i64().unwrap();
    assert_eq!(rows_of(&h, r3), tuples(&[("deploy", "api", "succeeded"), ("deploy", "bot", "succeeded")]));
    // The History pane shows the release with its rows under it.
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["4"]);
    t.wait("the release and its rows", |s| s.contains(&format!("release #{r3}")) && s.contains("└ deploy"));
    t.keys(&["q"]);

    // Undo it as one operation: both back on the images they ran before, bot first.
    let (code, out, err) = sd.run(&["rollback", "--release", &r3.to_string(), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(image_of(&api), "sdt-rel-api:1");
    assert_eq!(image_of(&bot), "sdt-rel-bot:1");
    let h = sd.history();
    let undo = newest(&h, "release-rollback");
    assert_eq!(undo["outcome"], "succeeded", "{undo:?}");
    let undo = undo["id"].as_i64().unwrap();
    assert_eq!(rows_of(&h, undo), tuples(&[("rollback", "bot", "succeeded"), ("rollback", "api", "succeeded")]));
    // Again: the services moved since (they no longer run what the release deployed).
    let (code, _, err) = sd.run(&["rollback", "--release", &r3.to_string(), "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("moved since"), "{err}");
    // Not a release.
    let (code, _, err) = sd.run(&["rollback", "--release", &undo.to_string(), "--yes"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, verify) = sd.run(&["history", "--verify"]);
    assert_eq!(code, 0, "the audit chain holds the parent column: {verify}");
}

#[test]
fn an_emergency_stop_ends_a_release_where_it_is_and_rollback_release_puts_back_what_moved() {
    require_engine();
    distinct_image("fx-api-server:1", "sdt-rel-api:1");
    distinct_image("fx-trading-bot:1", "sdt-rel-bot:1");
    distinct_image("fx-api-server:2", "sdt-rel-api:3");
    distinct_image("fx-trading-bot:2", "sdt-rel-bot:3");
    let c = Compose::up("sdtrelstop", STACK, None);
    let (bot, api) = (c.container("bot"), c.container("api"));
    for x in [&bot, &api] {
        wait_for("healthy", Duration::from_secs(60), || (health_of(x) == "healthy").then_some(()));
    }
    // The api's monitor window is long: the stop lands while the release is on it.
    let cfg =
        format!("[services.\"{0}/api\"]\nmonitor_secs = 12\n[services.\"{0}/bot\"]\nkill_switch = true\n", c.name);
    let sd = Sd::new("relstop", &cfg);
    let (bot_key, api_key) = (format!("{}/bot", c.name), format!("{}/api", c.name));
    let release = KillOnDrop(Some(
        sd.cmd(&["deploy", "--release", "3", &bot_key, &api_key, "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the api's monitor window", Duration::from_secs(60), || {
        sd.history()
            .iter()
            .any(|r| {
                r["action"] == "deploy"
                    && r["service"] == api_key.as_str()
                    && r["outcome"] == "running"
                    && r["transcript"].as_str().unwrap_or("").contains("monitor window")
            })
            .then_some(())
    });
    let (code, out, err) = sd.run(&["stop", &bot_key, "--yes", "--reason", "incident"]);
    assert_eq!(code, 0, "the stop is not held back by the release's locks: {out}{err}");
    let o = release.wait_with_output();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("ends here, nothing else moves") && err.contains("rollback --release"), "{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false", "the stop holds");
    assert_eq!(image_of(&bot), "sdt-rel-bot:1", "the bot never moved");
    assert_eq!(image_of(&api), "sdt-rel-api:3", "the api moved and was left as it is");
    let h = sd.history();
    let rel = newest(&h, "release");
    assert_eq!(rel["outcome"], "interrupted", "{rel:?}");
    let rel = rel["id"].as_i64().unwrap();
    let rows = rows_of(&h, rel);
    assert_eq!(rows[0], ("deploy".to_owned(), "api".to_owned(), "succeeded".to_owned()), "{rows:?}");
    assert!(rows.iter().all(|r| r.1 != "bot" || r.2 == "interrupted"), "{rows:?}");

    // Afterwards the release is undone as one operation: only what it moved goes back.
    let (code, out, err) = sd.run(&["rollback", "--release", &rel.to_string(), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(image_of(&api), "sdt-rel-api:1");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false", "the stopped bot is not touched");
    let h = sd.history();
    let undo = newest(&h, "release-rollback")["id"].as_i64().unwrap();
    assert_eq!(rows_of(&h, undo), tuples(&[("rollback", "api", "succeeded")]));
}
