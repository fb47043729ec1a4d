//! Compose-aware operations (issue 13) against the real engine and the real docker-compose:
//! drift after a deploy, shown in the panel and by `stackdeck drift`; the `.env` pin, after
//! which `docker-compose up -d` keeps the deployed tag; an unreadable compose file is a warning
//! on its project, never a crash; start-first behind a proxy with a probe loop that sees no
//! failed request; the start-first preflight.

mod common;

use common::compose::{Compose, distinct_image};
use common::{Sd, Tmux, docker_ok, require_engine, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WORKER: &str = "version: \"2.4\"\nservices:\n  worker:\n    image: \"sdt-drift:${W_TAG:-1}\"\n    network_mode: none\n    stop_grace_period: 1s\n    command: [\"sleep\", \"3600\"]\n";

/// The panel on `project`, with the test's own state dir and config.
fn panel(sd: &Sd, project: &str) -> String {
    format!(
        "{} --state-dir {} --config {} -p {project}",
        env!("CARGO_BIN_EXE_stackdeck"),
        sd.state.display(),
        sd.config.display()
    )
}

fn image_of(container: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Config.Image}}", container]).trim().to_owned()
}

#[test]
fn drift_after_a_deploy_is_shown_and_a_pin_makes_compose_up_keep_the_new_tag() {
    require_engine();
    distinct_image("bb:1", "sdt-drift:1");
    distinct_image("bb:1", "sdt-drift:2");
    let c = Compose::up("sdtdrift", WORKER, Some("# the stack's tags\nW_TAG=1\nOTHER=kept\n"));
    let sd = Sd::new("drift", "");
    let key = format!("{}/worker", c.name);
    let (code, out, err) = sd.run(&["-p", &c.name, "drift"]);
    assert_eq!(code, 0, "no drift before the deploy: {out}{err}");

    let (code, out, err) = sd.run(&["deploy", &key, "sdt-drift:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = sd.run(&["-p", &c.name, "drift", "--json"]);
    assert_eq!(code, 1, "drift exits 1: {out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = report.as_array().unwrap().iter().find(|p| p["project"] == c.name.as_str()).expect("the project");
    let d = &p["drift"][0];
    assert_eq!(d["service"], "worker");
    assert_eq!(d["running"], "sdt-drift:2");
    assert_eq!(d["file"], "sdt-drift:1");
    assert!(d["newer"]["deployed"].is_object(), "stackdeck's deploy is the newer side: {d}");
    assert!(d["sentence"].as_str().unwrap().contains("the file still says sdt-drift:1"), "{d}");
    assert!(d["fix"].as_str().unwrap().contains("stackdeck pin"), "{d}");

    // The panel marks it, and says it for the selected service.
    let cmd = panel(&sd, &c.name);
    let t = Tmux::start("drift", 100, 30, &cmd);
    let screen = t.wait("the drift marker and sentence", |s| {
        s.contains("≠ sdt-drift:2") && s.contains("the file still says sdt-drift:1")
    });
    assert!(screen.contains("1 differ from compose file"), "{screen}");

    // The pin: a diff, then .env rewritten with only that line changed, recorded.
    let (code, out, err) = sd.run(&["pin", &key, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("-W_TAG=1") && out.contains("+W_TAG=2"), "the diff is shown: {out}");
    let env = std::fs::read_to_string(c.file(".env")).unwrap();
    assert_eq!(env, "# the stack's tags\nW_TAG=2\nOTHER=kept\n");
    let h = sd.history();
    assert!(h.iter().any(|r| r["action"] == "pin" && r["outcome"] == "succeeded"), "recorded: {h:?}");
    t.wait("the marker gone once the file agrees", |s| !s.contains("≠ sdt-drift:2") && s.contains("sdt-drift:2"));

    // The stack's own deploy job runs compose: it keeps the new tag.
    c.run(&["up", "-d"]);
    assert_eq!(image_of(&c.container("worker")), "sdt-drift:2");
    let (code, out, err) = sd.run(&["-p", &c.name, "drift"]);
    assert_eq!(code, 0, "no drift after the pin and compose up: {out}{err}");

    // A pin in read-only mode is refused.
    let (code, _, err) = sd.run(&["--read-only", "pin", &key, "--yes"]);
    assert_eq!(code, 3, "{err}");

    // Back to :1 by hand, then pinned from the panel: P shows the diff, y writes it.
    let (code, out, err) = sd.run(&["deploy", &key, "sdt-drift:1", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    t.wait("the drift again", |s| s.contains("≠ sdt-drift:1"));
    t.keys(&["P"]);
    t.wait("the diff", |s| s.contains("-W_TAG=2") && s.contains("+W_TAG=1") && s.contains("pin "));
    t.keys(&["y"]);
    t.wait("the marker gone after the panel's pin", |s| !s.contains("≠ sdt-drift:1") && s.contains("sdt-drift:1"));
    let env = std::fs::read_to_string(c.file(".env")).unwrap();
    assert_eq!(env, "# the stack's tags\nW_TAG=1\nOTHER=kept\n");
    t.keys(&["q"]);
}

#[test]
fn an_unreadable_compose_file_is_a_warning_on_its_project_not_a_crash() {
    require_engine();
    distinct_image("bb:1", "sdt-drift:1");
    let c = Compose::up("sdtbadyml", WORKER, None);
    let sd = Sd::new("badyml", "");
    let cmd = panel(&sd, &c.name);
    let t = Tmux::start("badyml", 100, 30, &cmd);
    t.wait("the service", |s| s.contains("worker"));
    // Someone breaks the file while the panel runs: hostile bytes in it too.
    std::fs::write(c.file("docker-compose.yml"), "services:\n  worker: [\x1b]2;pwned\x07\n").unwrap();
    let screen = t.wait("the warning", |s| s.contains("not readable:"));
    assert!(!screen.contains("pwned\x07"), "{screen}");
    let (code, out, err) = sd.run(&["-p", &c.name, "drift", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("docker-compose.yml:"), "the error names the file and line: {out}");
    assert!(!out.contains('\u{1b}'), "inert: {out}");
    // And back: the panel recovers when the file is fixed.
    std::fs::write(c.file("docker-compose.yml"), WORKER).unwrap();
    t.wait("the warning gone", |s| !s.contains("not readable:") && !s.contains("⚠") && s.contains("worker"));
    t.keys(&["q"]);
}

/// The edge fixture project (tests/fixtures/compose/docker-compose.edge.yml) on `port`.
fn edge_project(name: &str, port: u16) -> Compose {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/compose/docker-compose.edge.yml"))
            .unwrap();
    Compose::up(name, &yaml, Some(&format!("EDGE_PORT={port}\n")))
}

/// The edge project with its api-server healthy; the project and the api-server's container.
fn edge_up(name: &str, port: u16) -> (Compose, String) {
    let c = edge_project(name, port);
    let api = c.container("api-server");
    wait_for("api-server healthy", Duration::from_secs(60), || (common::health_of(&api) == "healthy").then_some(()));
    (c, api)
}

/// GET /health through the edge every 50 ms until `stop`; (answered 200, failed) and the
/// failures' details: when, after how long, and what went wrong.
fn probe_loop(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u32, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut ok, mut bad) = (0u32, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let start = std::time::Instant::now();
            match probe(port) {
                Ok(()) => ok += 1,
                Err(what) => bad.push(format!(
                    "{} (+{} ms): {what}",
                    jiff::Timestamp::now().strftime("%H:%M:%S%.3f"),
                    start.elapsed().as_millis()
                )),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (ok, bad)
    })
}

/// One GET /health; `Err` says how it failed.
fn probe(port: u16) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET /health HTTP/1.0\r\nHost: edge\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read after {} bytes: {e}", out.len()))?;
    let text = String::from_utf8_lossy(&out);
    match text.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("answer {:?}", text.chars().take(80).collect::<String>())),
    }
}

#[test]
fn a_start_first_deploy_behind_the_edge_loses_no_request_and_a_failed_one_leaves_the_old_serving() {
    require_engine();
    let port = 31476;
    let (c, api) = edge_up("sdtedge", port);
    wait_for("the edge answering", Duration::from_secs(30), || {
        common::http_get(&format!("127.0.0.1:{port}"), "/health")
    });
    let sd = Sd::new("edge", "");
    let key = format!("{}/api-server", c.name);
    let stop = Arc::new(AtomicBool::new(false));
    let probes = probe_loop(port, stop.clone());
    let (code, out, err) = sd.run(&["deploy", &key, "fx-api-server:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.clone();
    assert!(out.contains("strategy: start-first (the compose file's deploy.update_config)"), "{out}");
    assert!(out.contains("monitor 3 s"), "the file's monitor applies: {out}");
    // A broken image: the gate fails, the new container goes, the old one never stopped.
    let (code, out, err) = sd.run(&["deploy", &key, "fx-api-server:2-broken", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("the old one kept serving"), "{out}");
    stop.store(true, Ordering::Relaxed);
    let (ok, bad) = probes.join().unwrap();
    assert!(ok > 20, "the probe loop ran through both deploys: {ok}");
    assert!(
        bad.is_empty(),
        "no request failed during the start-first deploys ({ok} answered): {bad:?}\nthe deploys:\n{first}\n{out}"
    );
    assert_eq!(image_of(&api), "fx-api-server:2", "the name is the service's again, with the deployed image");
    let names = docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={}", c.name),
        "--format",
        "{{.Names}}",
    ]);
    assert!(!names.contains("stackdeck-next") && !names.contains("stackdeck-old"), "nothing left over: {names}");
    let h = sd.history();
    assert_eq!(h[0]["outcome"], "rolled_back", "{:?}", h[0]);
    // The evidence: each try, then what the failed container said (its health checks, its log).
    let t = h[0]["transcript"].as_str().unwrap();
    assert!(t.contains("what the failed container said last:"), "{t}");
    assert!(t.contains("| health check: exit 1"), "the health-check log tail: {t}");
    assert!(t.contains("| log: "), "its last log lines: {t}");
    assert_eq!(h[1]["outcome"], "succeeded", "{:?}", h[1]);
}

#[test]
fn the_preflight_refuses_start_first_for_a_fixed_name_and_published_port_and_stop_first_needs_saying() {
    require_engine();
    let port = 31477;
    let c = edge_project("sdtpre", port);
    let edge = format!("sdt-edge-{port}");
    wait_for("the edge answering", Duration::from_secs(30), || {
        common::http_get(&format!("127.0.0.1:{port}"), "/health").or(Some(String::new()))
    });
    distinct_image("fx-edge:1", "sdt-edge:2");
    let sd = Sd::new("preflight", "");
    let key = format!("{}/edge", c.name);
    let (code, out, err) = sd.run(&["deploy", &key, "sdt-edge:2", "--yes"]);
    assert_eq!(code, 3, "refused: {out}{err}");
    assert!(err.contains("publishes host port 127.0.0.1:31477->8080/tcp"), "{err}");
    assert!(err.contains(&format!("fixed container_name ({edge})")) && err.contains("drop container_name"), "{err}");
    assert!(err.contains("--stop-first"), "says how to go ahead anyway: {err}");
    assert_eq!(image_of(&edge), "fx-edge:1", "nothing was touched");
    let (code, out, err) = sd.run(&["deploy", &key, "sdt-edge:2", "--yes", "--stop-first"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("stop-first, as the operator confirmed"), "{out}");
    assert_eq!(image_of(&edge), "sdt-edge:2");
}

#[test]
fn a_start_first_deploy_killed_mid_gate_is_recognised_and_recover_keeps_the_old_one_serving() {
    require_engine();
    let port = 31478;
    let (c, api) = edge_up("sdtsfkill", port);
    let key = format!("{}/api-server", c.name);
    // A long gate on a broken image: the deploy is still gating when it is killed.
    let sd = Sd::new("sfkill", &format!("[services.\"{key}\"]\ngate_tries = 60\ngate_interval_secs = 1\n"));
    let mut child = sd.cmd(&["deploy", &key, "fx-api-server:2-broken", "--yes"]).spawn().unwrap();
    let next = format!("{api}-stackdeck-next");
    wait_for("the new container beside the old one", Duration::from_secs(30), || {
        let names = docker_ok(&["ps", "--format", "{{.Names}}"]);
        names.lines().any(|n| n == next).then_some(())
    });
    child.kill().unwrap(); // SIGKILL: no cleanup of any kind
    child.wait().unwrap();
    assert_eq!(common::health_of(&api), "healthy", "the old one never stopped");
    // The history says it was interrupted; the panel names what was left behind.
    let h = sd.history();
    assert_eq!(h[0]["outcome"], "interrupted", "{:?}", h[0]);
    let cmd = panel(&sd, &c.name);
    let t = Tmux::start("sfkill", 120, 30, &cmd);
    t.wait("the recovery hint", |s| s.contains("recover"));
    t.keys(&["q"]);
    let (code, out, err) = sd.run(&["recover", &key, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("never replaced the old container"), "{out}");
    let names = docker_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={}", c.name),
        "--format",
        "{{.Names}}",
    ]);
    assert!(!names.contains("stackdeck-next"), "{names}");
    assert_eq!(image_of(&api), "fx-api-server:1");
    assert!(common::http_get(&format!("127.0.0.1:{port}"), "/health").is_some(), "served through the edge");
}

#[test]
fn an_absurd_monitor_in_the_compose_file_is_an_error_not_a_day_long_gate() {
    require_engine();
    distinct_image("bb:1", "sdt-drift:1");
    distinct_image("bb:1", "sdt-drift:2");
    let yaml = "version: \"3.8\"\nservices:\n  worker:\n    image: \"sdt-drift:1\"\n    network_mode: none\n    stop_grace_period: 1s\n    command: [\"sleep\", \"3600\"]\n    deploy:\n      update_config: {monitor: 30h}\n";
    let c = Compose::up("sdtmon", yaml, None);
    let sd = Sd::new("absurdmon", "");
    let key = format!("{}/worker", c.name);
    let (code, out, err) = sd.run(&["deploy", &key, "sdt-drift:2", "--yes"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("monitor") && err.contains("108000 s, out of range"), "{err}");
    assert_eq!(image_of(&c.container("worker")), "sdt-drift:1", "nothing was touched");
    // The config's own value wins over the file's (and is range-checked at load).
    let sd = Sd::new("absurdmon2", &format!("[services.\"{key}\"]\nmonitor_secs = 1\n"));
    let (code, out, err) = sd.run(&["deploy", &key, "sdt-drift:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("monitor 1 s"), "{out}");
}
