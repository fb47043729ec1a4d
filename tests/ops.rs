//! Operations against the real engine through the real binary (the panel uses the same code):
//! gated deploy, automatic rollback, rollback after `docker system prune -f`, emergency stop
//! (grace then kill, restart policy, daemon restart, start), locks, kill -9, SIGHUP, read-only.

mod common;

use common::{KillOnDrop, PrivateEngine, Project, Sd, docker_ok, health_of, require_engine, wait_for};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn image_of(c: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Config.Image}}", c])
}

fn gate_cfg(project: &str, port: u16) -> String {
    format!(
        "[services.\"{project}/bot\"]\nhealth_url = \"http://127.0.0.1:{port}/health\"\ngate_tries = 20\ngate_interval_secs = 1\nstop_grace_secs = 5\nprobe_timeout_secs = 5\n"
    )
}

#[test]
fn good_deploy_then_broken_tag_rolls_back_automatically() {
    require_engine();
    let mut p = Project::new("deploy");
    let port = 59211;
    // A roomier healthcheck timeout than the image's 2 s: the busybox simulator's /health can be
    // slow on a loaded 2-core machine, and this test is about the deploy, not the simulator.
    let bot = p.run(
        "bot",
        &["-e", &format!("SIM_PORT={port}"), "--restart", "unless-stopped", "--health-timeout", "5s"],
        &["fx-trading-bot:1"],
    );
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    // Credentials in the health URL (the simulator ignores them) are never printed or stored.
    let sd =
        Sd::new("deploy", &gate_cfg(&p.name, port).replace("http://127.0.0.1", "http://probe:s3cretpass@127.0.0.1"));
    let svc = format!("{}/bot", p.name);

    let (code, out, err) = sd.run(&["deploy", &svc, "fx-trading-bot:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("try 1/20") && out.contains("succeeded"), "{out}");
    assert!(!out.contains("s3cretpass") && !err.contains("s3cretpass"), "{out}{err}");
    let (_, hist, _) = sd.run(&["history", "--json"]);
    assert!(!hist.contains("s3cretpass"), "{hist}");
    assert_eq!(image_of(&bot), "fx-trading-bot:2", "same name, new image");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &bot]), "unless-stopped");
    assert_eq!(docker_ok(&["inspect", "-f", "{{index .Config.Labels \"com.docker.compose.project\"}}", &bot]), p.name);
    // The new image's own defaults apply (its ENV carries version 1.5.0), ours are kept (SIM_PORT).
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &bot]);
    assert!(env.contains("SIM_VERSION=1.5.0") && env.contains(&format!("SIM_PORT={port}")), "{env}");
    assert_eq!(
        docker_ok(&["ps", "-a", "-q", "--filter", &format!("label=com.docker.compose.project={}", p.name)])
            .lines()
            .count(),
        1,
        "never two instances"
    );

    let (code, out, err) = sd.run(&["deploy", &svc, "fx-trading-bot:2-broken", "--yes"]);
    assert_eq!(code, 1, "a rolled-back deploy is a failure: {out}{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(image_of(&bot), "fx-trading-bot:2", "the previous container is back");
    wait_for("healthy again", Duration::from_secs(30), || (health_of(&bot) == "healthy").then_some(()));

    let h = sd.history();
    let last = &h[0];
    assert_eq!(last["action"], "deploy");
    assert_eq!(last["outcome"], "rolled_back");
    assert_eq!(last["to_image"], "fx-trading-bot:2-broken");
    assert_eq!(last["from_image"], "fx-trading-bot:2");
    let t = last["transcript"].as_str().unwrap();
    assert!(t.contains("gate failed") && t.contains("previous container passed the gate"), "{t}");
    assert!(t.matches("try ").count() >= 3, "both gates are in the transcript: {t}");
    assert!(
        h.iter().any(|r| r["action"] == "baseline" && r["to_image"] == "fx-trading-bot:1"),
        "the pre-deploy image is the rollback baseline"
    );
}

#[test]
fn rollback_survives_docker_system_prune() {
    require_engine();
    // A private engine: `docker system prune -f` must not touch the tests running in parallel.
    let mut eng = PrivateEngine::new("p");
    eng.start();
    eng.load(&["fx-trading-bot:1"]);
    // Two images that differ only by a label, both deployed through one moving tag ("live"):
    // after the second deploy the first has no tag of its own any more.
    for (tag, n) in [("a", "1"), ("b", "2")] {
        let mut b = Command::new("docker")
            .env("DOCKER_HOST", eng.host())
            .args(["build", "-q", "-t", &format!("sdt-app:{tag}"), "-"])
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            b.stdin.as_mut().unwrap(),
            format!("FROM fx-trading-bot:1\nLABEL build={n}\n").as_bytes(),
        )
        .unwrap();
        drop(b.stdin.take());
        assert!(b.wait().unwrap().success());
    }
    let id_a = eng.ok(&["image", "inspect", "-f", "{{.Id}}", "sdt-app:a"]);
    eng.ok(&["tag", "sdt-app:a", "sdt-app:live"]);
    eng.ok(&["rmi", "sdt-app:a", "fx-trading-bot:1"]);
    eng.ok(&[
        "run",
        "-d",
        "--name",
        "pr_bot_1",
        "--network",
        "host",
        "-e",
        "SIM_PORT=59212",
        "--label",
        "com.docker.compose.project=pr",
        "--label",
        "com.docker.compose.service=bot",
        "sdt-app:live",
    ]);
    let mut sd = Sd::new("prune", &gate_cfg("pr", 59212));
    sd.host = Some(eng.host());
    wait_for("bot healthy", Duration::from_secs(60), || {
        (eng.ok(&["inspect", "-f", "{{.State.Health.Status}}", "pr_bot_1"]) == "healthy").then_some(())
    });
    // Move "live" to b and deploy it.
    eng.ok(&["tag", "sdt-app:b", "sdt-app:live"]);
    eng.ok(&["rmi", "sdt-app:b"]);
    let (code, out, err) = sd.run(&["deploy", "pr/bot", "sdt-app:live", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    // The stack's own deploy script runs this after every deploy.
    eng.ok(&["system", "prune", "-f"]);
    assert!(eng.docker(&["image", "inspect", &id_a]).status.success(), "the rollback target was pruned");
    let (code, out, err) = sd.run(&["rollback", "pr/bot", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.Image}}", "pr_bot_1"]), id_a, "rolled back to the first image");
    assert!(eng.ok(&["inspect", "-f", "{{.Config.Image}}", "pr_bot_1"]).starts_with("stackdeck-keep/pr_bot:"));
    assert_eq!(sd.history()[0]["action"], "rollback");
    assert_eq!(sd.history()[0]["outcome"], "succeeded");
}

#[test]
fn emergency_stop_grace_then_kill_survives_daemon_restart_and_start_restores() {
    require_engine();
    let mut eng = PrivateEngine::new("s");
    eng.start();
    eng.load(&["bb:1", "fx-trading-bot:1"]);
    let labels = |svc: &str| {
        vec![
            "--label".to_owned(),
            "com.docker.compose.project=es".to_owned(),
            "--label".to_owned(),
            format!("com.docker.compose.service={svc}"),
        ]
    };
    // A bot that closes positions on SIGTERM, and a process that ignores SIGTERM.
    let mut a: Vec<String> =
        ["run", "-d", "--name", "es_bot_1", "--network", "host", "--restart", "always", "-e", "SIM_PORT=59213"]
            .map(String::from)
            .to_vec();
    a.extend(labels("bot"));
    a.push("fx-trading-bot:1".into());
    eng.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let mut b: Vec<String> =
        ["run", "-d", "--name", "es_stubborn_1", "--network", "host", "--restart", "unless-stopped"]
            .map(String::from)
            .to_vec();
    b.extend(labels("stubborn"));
    b.extend(["bb:1", "sh", "-c", "trap '' TERM; while :; do sleep 1; done"].map(String::from));
    eng.ok(&b.iter().map(String::as_str).collect::<Vec<_>>());
    let mut sd = Sd::new("stop", "[services.stubborn]\nstop_grace_secs = 2\n[services.bot]\nkill_switch = true\n");
    sd.host = Some(eng.host());
    wait_for("bot running", Duration::from_secs(30), || {
        (eng.ok(&["inspect", "-f", "{{.State.Running}}", "es_bot_1"]) == "true").then_some(())
    });

    let (code, out, err) = sd.run(&["stop", "bot", "--yes", "--reason", "daily loss limit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        eng.ok(&["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "es_bot_1"]),
        "false 0",
        "graceful stop"
    );
    let logs = String::from_utf8_lossy(&eng.docker(&["logs", "es_bot_1"]).stdout).into_owned();
    assert!(logs.contains("closing positions"), "SIGTERM first");

    let t0 = std::time::Instant::now();
    let (code, out, err) = sd.run(&["stop", "stubborn", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(t0.elapsed() >= Duration::from_secs(2), "the grace period was waited out");
    assert_eq!(
        eng.ok(&["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "es_stubborn_1"]),
        "false 137",
        "SIGKILL after the grace"
    );
    assert_eq!(eng.ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "es_bot_1"]), "no");

    // A daemon restart must not bring either back.
    eng.stop();
    eng.start();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(eng.ok(&["inspect", "-f", "{{.State.Running}}", "es_bot_1"]), "false");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.State.Running}}", "es_stubborn_1"]), "false");

    // A deploy is refused while the kill switch is on.
    let (code, _, err) = sd.run(&["deploy", "bot", "fx-trading-bot:1", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("emergency-stopped") && err.contains("daily loss limit"), "{err}");

    // Clearing the stop takes a reason: refused without one, recorded with it.
    let (code, _, err) = sd.run(&["start", "bot", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("say why with --reason") && err.contains("daily loss limit"), "{err}");
    let (code, out, err) = sd.run(&["start", "bot", "--yes", "--reason", "limits reset by risk"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        eng.ok(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}", "es_bot_1"]),
        "true always"
    );
    let h = sd.history();
    let actions: Vec<&str> = h.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["start", "stop", "stop"]);
    assert_eq!(h[2]["reason"], "daily loss limit");
    assert_eq!(h[0]["reason"], "limits reset by risk", "the clear is its own row, with its reason");
}

#[test]
fn second_process_is_refused_and_emergency_stop_wins_over_a_deploy() {
    require_engine();
    let mut p = Project::new("lock");
    let port = 59214;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}")], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    // A broken tag with a long gate: the first deploy holds the lock for a while.
    let sd = Sd::new("lock", &gate_cfg(&p.name, port).replace("gate_tries = 20", "gate_tries = 60"));
    let svc = format!("{}/bot", p.name);
    let first = KillOnDrop(Some(
        sd.cmd(&["deploy", &svc, "fx-trading-bot:2-broken", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the first deploy's gate", Duration::from_secs(30), || {
        sd.history()
            .iter()
            .any(|r| {
                r["action"] == "deploy"
                    && r["outcome"] == "running"
                    && r["transcript"].as_str().unwrap_or("").contains("try 1/")
            })
            .then_some(())
    });
    let (code, _, err) = sd.run(&["rollback", &svc, "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is locked: deploy by") && err.contains("since"), "{err}");

    let (code, out, err) = sd.run(&["stop", &svc, "--yes", "--reason", "stop beats deploy"]);
    assert_eq!(code, 0, "emergency stop is never blocked by a deploy lock: {out}{err}");
    let o = first.wait_with_output();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("aborted: emergency stop"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false", "nothing runs after the abort");
    assert_eq!(image_of(&bot), "fx-trading-bot:1", "the old container is back under its name, stopped");
    let h = sd.history();
    assert!(h.iter().any(|r| r["action"] == "deploy" && r["outcome"] == "interrupted"));
}

#[test]
fn kill_9_mid_deploy_is_recorded_as_interrupted() {
    require_engine();
    let mut p = Project::new("k9");
    let port = 59215;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}")], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    let sd = Sd::new("k9", &gate_cfg(&p.name, port).replace("gate_tries = 20", "gate_tries = 60"));
    let mut child = sd
        .cmd(&["deploy", &format!("{}/bot", p.name), "fx-trading-bot:2-broken", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the gate", Duration::from_secs(30), || {
        sd.history()
            .iter()
            .any(|r| r["outcome"] == "running" && r["transcript"].as_str().unwrap_or("").contains("try 1/"))
            .then_some(())
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy").unwrap();
    assert_eq!(d["outcome"], "interrupted", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("killed"), "{d}");
    // What actually runs is visible: the broken container under the name, the old one parked.
    let names = docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert!(names.contains("-stackdeck-old"), "{names}");

    // The next stackdeck recognises it: status names both containers and says how to recover;
    // a deploy refuses with that hint; `recover` puts the gated container back.
    let svc = format!("{}/bot", p.name);
    let (code, out, err) = sd.run(&["--project", &p.name, "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{svc} ({bot})")) && out.contains(&format!("{svc} ({bot}-stackdeck-old)")), "{out}");
    assert!(out.contains(&format!("stackdeck recover {svc}")), "{out}");
    let (code, _, err) = sd.run(&["deploy", &svc, "fx-trading-bot:2", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("`stackdeck recover {svc}` puts it back")), "{err}");
    let (code, out, err) = sd.run(&["recover", &svc, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("never passed a gate") && out.contains("passed the gate"), "{out}");
    let names = docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.Image}} {{.State}}",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert_eq!(names, format!("{bot} fx-trading-bot:1 running"), "one container, the gated image, running");
    let h = sd.history();
    assert!(h.iter().any(|r| r["action"] == "recover" && r["outcome"] == "succeeded"), "{h:?}");
    let (code, out, _) = sd.run(&["recover", &svc, "--yes"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to recover"), "{out}");
}

#[test]
fn an_engine_restart_during_the_gate_does_not_strand_the_service() {
    require_engine();
    let mut eng = PrivateEngine::new("hic");
    eng.start();
    eng.load(&["fx-trading-bot:1", "fx-trading-bot:2"]);
    let port = 59242;
    eng.ok(&[
        "run",
        "-d",
        "--name",
        "hic_bot_1",
        "--network",
        "host",
        "--restart",
        "unless-stopped",
        "--health-timeout",
        "5s",
        "-e",
        &format!("SIM_PORT={port}"),
        "--label",
        "com.docker.compose.project=hic",
        "--label",
        "com.docker.compose.service=bot",
        "fx-trading-bot:1",
    ]);
    wait_for("bot healthy", Duration::from_secs(60), || {
        (eng.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hic_bot_1"]) == "healthy").then_some(())
    });
    let mut sd = Sd::new("hic", &gate_cfg("hic", port).replace("gate_tries = 20", "gate_tries = 60"));
    sd.host = Some(eng.host());
    let deploy = KillOnDrop(Some(
        sd.cmd(&["deploy", "hic/bot", "fx-trading-bot:2", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the gate", Duration::from_secs(60), || {
        sd.history()
            .iter()
            .any(|r| r["action"] == "deploy" && r["transcript"].as_str().unwrap_or("").contains("health gate"))
            .then_some(())
    });
    // The engine goes away mid-gate and comes back.
    eng.stop();
    std::thread::sleep(Duration::from_secs(3));
    eng.start();
    let o = deploy.wait_with_output();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.contains("trying again"), "the outage was seen and survived: {out}{err}");
    // It ended in a defined state: deployed (or rolled back), never stranded.
    assert!(o.status.code() == Some(0) || err.contains("rolled back"), "{out}{err}");
    let names = eng.ok(&["ps", "-a", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.project=hic"]);
    assert_eq!(names, "hic_bot_1", "one container under the service's name, nothing parked");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.State.Running}}", "hic_bot_1"]), "true");
    let d = sd.history().into_iter().find(|r| r["action"] == "deploy").unwrap();
    assert!(d["outcome"] == "succeeded" || d["outcome"] == "rolled_back", "{d}");
}

#[test]
fn sighup_mid_deploy_runs_to_its_end() {
    require_engine();
    let mut p = Project::new("hup");
    let port = 59216;
    let bot = p.run("bot", &["-e", &format!("SIM_PORT={port}"), "--health-timeout", "5s"], &["fx-trading-bot:1"]);
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    let sd = Sd::new("hup", &gate_cfg(&p.name, port));
    let child = KillOnDrop(Some(
        sd.cmd(&["deploy", &format!("{}/bot", p.name), "fx-trading-bot:2", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the deploy to start", Duration::from_secs(30), || {
        sd.history().iter().any(|r| r["action"] == "deploy").then_some(())
    });
    assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output();
    // Ran to its end and was recorded: succeeded (exit 0), or rolled back (exit 1) when the
    // simulator missed its health timeout on a loaded machine - never interrupted, never half-done.
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy").unwrap();
    match d["outcome"].as_str() {
        Some("succeeded") => {
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(image_of(&bot), "fx-trading-bot:2");
        }
        Some("rolled_back") => {
            assert_eq!(o.status.code(), Some(1));
            assert_eq!(image_of(&bot), "fx-trading-bot:1");
        }
        other => panic!("the deploy did not run to its end: {other:?} {d}"),
    }
    let names = docker_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert_eq!(names.lines().collect::<Vec<_>>(), vec![bot.as_str()], "a parked or extra container is left");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "true");
}

#[test]
fn read_only_refuses_and_ambiguous_names_list_the_candidates() {
    require_engine();
    let mut p1 = Project::new("amb1");
    let mut p2 = Project::new("amb2");
    let c = p1.run("worker", &[], &["bb:1", "sleep", "600"]);
    p2.run("worker", &[], &["bb:1", "sleep", "600"]);
    let sd = Sd::new("ro", "");
    let (code, _, err) = sd.run(&["--read-only", "stop", &format!("{}/worker", p1.name), "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "true");
    let (code, _, err) = sd.run(&["stop", "worker", "--yes"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}/worker", p1.name)) && err.contains(&format!("{}/worker", p2.name)), "{err}");
    let (code, _, err) = sd.run(&["stop", &format!("{}/worker", p1.name)]);
    assert_eq!(code, 2, "no TTY and no --yes: {err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &c]), "true");
}

#[test]
fn an_emergency_stop_during_the_rollback_is_not_undone_by_it() {
    require_engine();
    let mut p = Project::new("stoprb");
    let port = 59241;
    let bot = p.run(
        "bot",
        &["-e", &format!("SIM_PORT={port}"), "--restart", "unless-stopped", "--health-timeout", "5s"],
        &["fx-trading-bot:1"],
    );
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    // The broken tag fails a short gate; the rollback then gates the old container again.
    let sd = Sd::new("stoprb", &gate_cfg(&p.name, port).replace("gate_tries = 20", "gate_tries = 4"));
    let svc = format!("{}/bot", p.name);
    let deploy = KillOnDrop(Some(
        sd.cmd(&["deploy", &svc, "fx-trading-bot:2-broken", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the rollback's gate", Duration::from_secs(60), || {
        sd.history()
            .iter()
            .any(|r| r["action"] == "deploy" && r["transcript"].as_str().unwrap_or("").contains("gating it:"))
            .then_some(())
    });
    let (code, out, err) = sd.run(&["stop", &svc, "--yes", "--reason", "stop during rollback"]);
    assert_eq!(code, 0, "{out}{err}");
    let o = deploy.wait_with_output();
    let derr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{derr}");
    assert!(derr.contains("aborted: emergency stop by"), "{derr}");
    // The deploy has ended: nothing it does can start the bot any more. Nothing runs.
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false", "the stop held");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &bot]), "no");
    assert_eq!(image_of(&bot), "fx-trading-bot:1", "the old container is back under its name, stopped");
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy").unwrap();
    assert_eq!(d["outcome"], "interrupted", "{d}");
    assert!(h.iter().any(|r| r["action"] == "stop" && r["outcome"] == "succeeded"));
}

#[test]
fn a_target_name_is_matched_exactly_never_as_a_pattern() {
    require_engine();
    let mut p = Project::new("exact");
    let a = p.run_standalone("victim1", &["bb:1", "sleep", "600"]);
    let b = p.run_standalone("victim2", &["bb:1", "sleep", "600"]);
    let sd = Sd::new("exact", "");
    let pattern = format!("{}-victim.", p.name);
    for target in [pattern.as_str(), ".*", "^sdt", "victim"] {
        let (code, out, err) = sd.run(&["stop", target, "--yes"]);
        assert_eq!(code, 2, "{target}: {out}{err}");
        assert!(err.contains("no service or container named"), "{target}: {err}");
    }
    for c in [&a, &b] {
        assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", c]), "true", "{c} untouched");
    }
    let (code, out, err) = sd.run(&["stop", &a, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &a]), "false");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &b]), "true", "only the named one");
}

/// The state dir of `sd` with its history file replaced by garbage.
fn corrupt_history(sd: &Sd) {
    std::fs::create_dir_all(&sd.state).unwrap();
    std::fs::write(sd.state.join("history.sqlite"), b"this is not a database, it is what a bad disk left").unwrap();
}

#[test]
fn the_emergency_stop_does_not_depend_on_the_history_store() {
    require_engine();
    let mut p = Project::new("nostore");
    let bot = p.run("bot", &["--restart", "unless-stopped"], &["bb:1", "sleep", "600"]);
    let svc = format!("{}/bot", p.name);

    // 1. A corrupt history file: the bot stops, the record goes to the fallback journal, and the
    //    journal is imported by the next process that opens a working store.
    let sd = Sd::new("nostore", "[services.bot]\nstop_grace_secs = 1\n");
    corrupt_history(&sd);
    let (code, out, err) = sd.run(&["stop", &svc, "--yes", "--reason", "corrupt store"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false", "stopped first");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &bot]), "no");
    assert!(out.contains("fallback journal") && out.contains("history.sqlite"), "{out}");
    assert!(sd.state.join("journal.jsonl").exists());
    std::fs::remove_file(sd.state.join("history.sqlite")).unwrap();
    let h = sd.history();
    let stop = h.iter().find(|r| r["action"] == "stop").expect("the journaled stop was imported");
    assert_eq!(stop["outcome"], "succeeded", "{stop}");
    assert_eq!(stop["reason"], "corrupt store", "{stop}");
    assert!(stop["transcript"].as_str().unwrap().contains("fallback journal"), "{stop}");
    assert!(!sd.state.join("journal.jsonl").exists(), "imported once, then removed");
    // The latch came along: start restores the policy the bot had.
    let (code, out, err) = sd.run(&["start", &svc, "--yes", "--reason", "test over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &bot]), "unless-stopped");

    // 2. Another process holds an exclusive lock on the history database.
    let locker = KillOnDrop(Some(
        Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys,time\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\ntime.sleep(120)",
            ])
            .arg(sd.state.join("history.sqlite"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut child = locker;
        let out = child.0.as_mut().unwrap().stdout.take().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        let (code, out, err) = sd.run(&["stop", &svc, "--yes", "--reason", "locked store"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
        assert!(out.contains("fallback journal"), "{out}");
        drop(child);
    }
    let h = sd.history();
    assert!(h.iter().any(|r| r["action"] == "stop" && r["reason"] == "locked store"), "imported after the lock");
    let (code, out, err) = sd.run(&["start", &svc, "--yes", "--reason", "test over"]);
    assert_eq!(code, 0, "{out}{err}");

    // 3. A state dir that cannot exist (a dangling symlink): nothing can be written at all, the
    //    stop happens anyway and prints the record.
    let link = std::env::temp_dir().join(format!("sd-dangling-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/nonexistent/stackdeck-state", &link).unwrap();
    let broken = Sd { state: link.clone(), config: sd.config.clone(), host: None };
    let (code, out, err) = broken.run(&["stop", &svc, "--yes", "--reason", "no state dir"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    assert!(out.contains("NOT RECORDED") && out.contains("no state dir"), "{out}");
    let _ = std::fs::remove_file(&link);
}

#[test]
fn the_emergency_stop_works_with_its_state_dir_on_a_full_disk() {
    require_engine();
    let mut p = Project::new("fullstop");
    let bot = p.run("bot", &["--restart", "unless-stopped"], &["bb:1", "sleep", "600"]);
    let mnt = std::env::temp_dir().join(format!("sd-fullstop-{}", std::process::id()));
    std::fs::create_dir_all(&mnt).unwrap();
    assert!(
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&mnt).status().unwrap().success()
    );
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _umount = Umount(mnt.clone());
    std::fs::create_dir_all(mnt.join("state")).unwrap();
    // Fill it: whatever stackdeck tries to write there fails with "No space left on device".
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", "count=64"])
        .arg(format!("of={}", mnt.join("fill").display()))
        .stderr(Stdio::null())
        .status();
    let sd = Sd {
        state: mnt.join("state"),
        config: Sd::new("fullstop", "[services.bot]\nstop_grace_secs = 1\n").config,
        host: None,
    };
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes", "--reason", "disk full"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]),
        "false",
        "stopped although nothing could be recorded"
    );
    assert!(out.contains("NOT RECORDED") && out.contains("disk full"), "the record is printed: {out}");

    // A read-only state dir (root ignores file modes; a read-only mount stops it too).
    docker_ok(&["start", &bot]);
    let (code, out, err) = sd.run(&["start", &format!("{}/bot", p.name), "--yes", "--reason", "test"]);
    let _ = (code, out, err); // the latch was never recorded: start just starts (or finds it running)
    assert!(Command::new("mount").args(["-o", "remount,ro"]).arg(&mnt).status().unwrap().success());
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes", "--reason", "read-only"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.State.Running}}", &bot]), "false");
    assert!(out.contains("NOT RECORDED") && out.contains("Read-only file system"), "{out}");
}

#[test]
fn a_crash_inside_the_monitor_window_and_a_failing_smoke_check_roll_back() {
    require_engine();
    let mut p = Project::new("monitor");
    let port = 31474;
    let bot = p.run(
        "bot",
        &["-e", &format!("SIM_PORT={port}"), "--restart", "unless-stopped", "--health-timeout", "5s"],
        &["fx-trading-bot:1"],
    );
    wait_for("bot healthy", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));
    let svc = format!("{}/bot", p.name);
    let base = gate_cfg(&p.name, port);

    // Healthy at the gate, then "panics" 1-2 s into a 20 s monitor window.
    let sd = Sd::new("monitor", &format!("{base}monitor_secs = 20\n"));
    let deploy = KillOnDrop(Some(
        sd.cmd(&["deploy", &svc, "fx-trading-bot:2", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    wait_for("the monitor window", Duration::from_secs(60), || {
        sd.history()
            .first()
            .filter(|r| r["transcript"].as_str().unwrap_or_default().contains("monitor window"))
            .map(|_| ())
    });
    assert_eq!(image_of(&bot), "fx-trading-bot:2");
    docker_ok(&["exec", &bot, "touch", "/run/sim/crash"]);
    let o = deploy.wait_with_output();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(image_of(&bot), "fx-trading-bot:1", "rolled back");
    let last = &sd.history()[0];
    assert_eq!(last["outcome"], "rolled_back");
    let t = last["transcript"].as_str().unwrap();
    assert!(t.contains("into the 20 s monitor window"), "{t}");
    wait_for("healthy again", Duration::from_secs(60), || (health_of(&bot) == "healthy").then_some(()));

    // A smoke check in the new container passes, one on the host fails: rolled back, with
    // the evidence in the transcript.
    let sd = Sd::new(
        "smoke",
        &format!(
            "{base}smoke = [\"echo checking; exit 3\"]\nsmoke_exec = [[\"sh\", \"-c\", \"grep VERSION=1.5.0 /run/sim/env\"]]\nsmoke_timeout_secs = 10\n"
        ),
    );
    let (code, out, err) = sd.run(&["deploy", &svc, "fx-trading-bot:2", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(image_of(&bot), "fx-trading-bot:1");
    let t = sd.history()[0]["transcript"].as_str().unwrap().to_owned();
    assert!(
        t.contains("smoke 1 (on the host: echo checking; exit 3): FAILED") && t.contains("exit code 3: checking"),
        "{t}"
    );
    assert!(!t.contains("smoke 2"), "the checks stop at the first failure: {t}");
    // The in-container check alone passes, and the deploy with it.
    let sd =
        Sd::new("smoke-ok", &format!("{base}smoke_exec = [[\"sh\", \"-c\", \"grep VERSION=1.5.0 /run/sim/env\"]]\n"));
    let (code, out, err) = sd.run(&["deploy", &svc, "fx-trading-bot:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let t = sd.history()[0]["transcript"].as_str().unwrap().to_owned();
    assert!(t.contains("smoke 1 (in the container: sh -c grep VERSION=1.5.0 /run/sim/env): passed"), "{t}");
}
