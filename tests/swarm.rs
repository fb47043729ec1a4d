//! Docker Swarm (issue 14), on a real three-node swarm made by `scripts/swarm.sh` (three dockerd
//! in their own network namespaces on this machine): the trading stack deployed with
//! `docker stack deploy`; the panel showing services, tasks on their nodes and the nodes, a node
//! cut off shown as down; the emergency stop of the trading bot verified on every node, held
//! against someone's `docker service scale`, and `start` restoring the replicas. A gated deploy
//! as a service update: it passes, a broken tag goes back, a rollback goes two deploys back to an
//! image by its id, a worker cut off mid-deploy ends in a recorded state. An emergency stop during
//! a deploy wins, and the guard holds it; a deploy killed with SIGKILL is recognised and its way
//! back works; a deploy whose manager stops answering waits for it and ends recorded. A release of the stack's
//! services as one operation, moved back when one fails, and rolled back service by service. The
//! panel over ssh to the manager, with a service's merged logs.

mod common;

use common::{Sd, Tmux, wait_for};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn swarm(args: &[&str]) -> String {
    let o = Command::new(format!("{ROOT}/scripts/swarm.sh")).args(args).output().expect("scripts/swarm.sh");
    assert!(
        o.status.success(),
        "swarm.sh {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// `docker` on node `n` of the swarm (1 is the manager).
fn on(n: u8, args: &[&str]) -> String {
    let host = swarm(&["host", &n.to_string()]);
    let o = Command::new("docker").env("DOCKER_HOST", &host).args(args).output().unwrap();
    assert!(o.status.success(), "docker {args:?} on node {n}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// stackdeck against the manager: (exit code, stdout, stderr).
fn at_manager(sd: &Sd, manager: &str, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["-H", manager];
    a.extend_from_slice(args);
    sd.run(&a)
}

/// Running tasks of a service on node `n`, as that node's own engine sees its containers.
fn running_on(n: u8, service: &str) -> usize {
    on(n, &["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.name={service}")]).lines().count()
}

fn replicas(service: &str) -> String {
    on(1, &["service", "ls", "--filter", &format!("name={service}"), "--format", "{{.Replicas}}"])
}

/// The swarm is one for every test of this file, and one of them cuts a node off: one test at a
/// time, under nextest (a test group) and under cargo test (this lock) alike.
fn one_at_a_time() -> std::fs::File {
    let f = std::fs::File::create(std::env::temp_dir().join("stackdeck-swarm-tests.lock")).unwrap();
    f.lock().unwrap();
    f
}

/// The panel against the manager at 120x30, in tmux.
fn panel(session: &str, manager: &str, sd: &Sd) -> Tmux {
    let cmd = format!(
        "{} -H {manager} --state-dir {} --config {}",
        env!("CARGO_BIN_EXE_stackdeck"),
        sd.state.display(),
        sd.config.display()
    );
    Tmux::start(session, 120, 30, &cmd)
}

/// The stack, deployed on the swarm and running (removed on drop).
struct Stack(String);

impl Stack {
    /// `env`: the stack file's variables (BOT_PORT, API_IMAGE).
    fn deploy(name: &str, env: &[(&str, &str)]) -> Stack {
        swarm(&["up"]);
        let file = format!("{ROOT}/tests/fixtures/swarm/stack.yml");
        let host = swarm(&["host", "1"]);
        let o = Command::new("docker")
            .env("DOCKER_HOST", &host)
            .envs(env.iter().copied())
            .args(["stack", "deploy", "-c", &file, name])
            .output()
            .unwrap();
        assert!(o.status.success(), "stack deploy: {}", String::from_utf8_lossy(&o.stderr));
        let s = Stack(name.to_owned());
        for (svc, want) in [("trading-bot", "1/1"), ("api-server", "3/3")] {
            let full = format!("{name}_{svc}");
            wait_for(&format!("{full} {want}"), Duration::from_secs(120), || {
                (replicas(&full).starts_with(want)).then_some(())
            });
        }
        s
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let host = swarm(&["host", "1"]);
        let _ = Command::new("docker").env("DOCKER_HOST", host).args(["stack", "rm", &self.0]).output();
    }
}

#[test]
fn a_swarm_stack_is_shown_by_node_and_its_emergency_stop_holds_on_every_node() {
    let _one = one_at_a_time();
    let stack = Stack::deploy("sdt", &[]);
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new("swarm", "[services.\"sdt/trading-bot\"]\nkill_switch = true\n");
    let run = |args: &[&str]| at_manager(&sd, &manager, args);

    // Status: the tasks are the instances, one api-server task on each node.
    let (code, out, err) = run(&["status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = v.to_string();
    for node in ["sdsw1", "sdsw2", "sdsw3"] {
        assert!(text.contains(&format!("@{node}")), "a task on {node}: {text}");
    }
    assert!(text.contains("trading-bot.1@"), "{text}");
    // The health of a task whose container runs on the manager's own node is read there.
    let on_manager: Vec<&serde_json::Value> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["service"] == "api-server" && s["container"].as_str().unwrap_or("").ends_with("@sdsw1"))
        .collect();
    assert!(!on_manager.is_empty() && on_manager.iter().all(|s| s["health"] == "healthy"), "{text}");

    // Backups run in a task on the manager's own node; the bot runs on a worker (its placement),
    // so its job is refused naming the node, never skipped in silence.
    let jobs = format!(
        "[engine]\npull = false\n[backup]\ndir = \"{}\"\n[[backup.jobs]]\nname = \"api\"\nkind = \"exec\"\nservice = \"sdt/api-server\"\ncommand = [\"echo\", \"hello\"]\nextension = \"txt\"\n[[backup.jobs]]\nname = \"bot\"\nkind = \"exec\"\nservice = \"sdt/trading-bot\"\ncommand = [\"echo\", \"hello\"]\nextension = \"txt\"\n",
        sd.state.with_file_name("backups").display()
    );
    let backup_cfg = sd.state.with_file_name("backup.toml");
    std::fs::write(&backup_cfg, jobs).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["-H", &manager, "--state-dir"])
        .arg(sd.state.with_file_name("backup-state"))
        .arg("--config")
        .arg(&backup_cfg)
        .arg("backup")
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("api: 26 B written, verified"), "the job in the manager's task ran: {said}");
    assert!(said.contains("bot: FAILED: sdt/trading-bot: its running tasks are on sdsw"), "{said}");
    assert!(said.contains("connected to (sdsw1)"), "{said}");

    // The panel on the manager: services grouped by stack, tasks with their node, the nodes.
    let t = panel("swarm", &manager, &sd);
    t.wait("the stack, its tasks and the nodes", |s| {
        s.contains("▾ sdt") && s.contains("api-server.1@sdsw") && s.contains("swarm 3/3 nodes ready")
    });

    // A service made and removed while the panel watches it closely: its tasks show, then go,
    // and the panel stays connected (the engine answers 404 for a service that is gone).
    on(1, &["service", "create", "-d", "--name", "sdtx", "--replicas", "2", "bb:1", "sleep", "86400"]);
    t.wait("the new service's tasks", |s| s.contains("sdtx.2@"));
    on(1, &["service", "rm", "sdtx"]);
    t.wait("its rows gone, the panel still connected", |s| {
        assert!(!s.contains("UNREACHABLE"), "removing a watched service cut the panel off:\n{s}");
        !s.contains("sdtx.")
    });

    // Recover has nothing to put back on Swarm (no container is ever set aside): refused, saying
    // what does go back.
    let (code, _, err) = run(&["recover", "sdt/api-server", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("Swarm manager") && err.contains("stackdeck rollback SERVICE"), "{err}");

    // The emergency stop: scaled to 0, verified with no task left on any node.
    let (code, out, err) = run(&["stop", "sdt/trading-bot", "--yes", "--reason", "swarm drill"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no task of it runs on any node") && out.contains("swarm-replicas:1"), "{out}");
    for n in 1..=3 {
        assert_eq!(running_on(n, "sdt_trading-bot"), 0, "nothing of the bot runs on node {n}");
    }
    t.wait("the STOPPED banner", |s| s.contains(" STOPPED"));

    // Someone scales it up behind stackdeck's back: the panel stops it again and records it.
    on(1, &["service", "scale", "-d", "sdt_trading-bot=2"]);
    wait_for("the hold", Duration::from_secs(90), || {
        sd.history().iter().any(|r| r["action"] == "restart-blocked" && r["outcome"] == "succeeded").then_some(())
    });
    wait_for("scaled to 0 again", Duration::from_secs(60), || {
        replicas("sdt_trading-bot").starts_with("0/0").then_some(())
    });
    wait_for("no bot task on any node", Duration::from_secs(60), || {
        (1..=3).all(|n| running_on(n, "sdt_trading-bot") == 0).then_some(())
    });

    // Start restores the replica count the stop kept (1, not the 2 someone asked for).
    let (code, out, err) = run(&["start", "sdt/trading-bot", "--yes", "--reason", "drill over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("scaled back to 1"), "{out}");
    assert!(out.contains("sdt_trading-bot: 1/1 tasks running"), "start waits until the task runs, and says so: {out}");
    wait_for("1/1", Duration::from_secs(60), || replicas("sdt_trading-bot").starts_with("1/1").then_some(()));

    // A service someone had scaled to 0 before the stop goes back to 0, and start says so.
    on(1, &["service", "scale", "-d", "sdt_api-server=0"]);
    let (code, out, err) = run(&["stop", "sdt/api-server", "--yes", "--reason", "zero"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["start", "sdt/api-server", "--yes", "--reason", "zero again"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("had 0 replicas when it was stopped"), "{out}");
    on(1, &["service", "scale", "-d", "sdt_api-server=3"]);

    // A worker cut off: the panel says the node is down, and says it again when it is back.
    swarm(&["cut", "3"]);
    let down = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.wait("node sdsw3 down", |s| s.contains("DOWN: sdsw3"))
    }));
    swarm(&["mend", "3"]);
    assert!(down.is_ok(), "the panel showed the node down");
    t.wait("the node back", |s| s.contains("swarm 3/3 nodes ready"));
    // Stats of tasks elsewhere are not there: said, not shown as zeros.
    t.keys(&["3"]);
    t.wait("the stats sentence", |s| s.contains("a swarm task: the engine streams stats only"));
    t.keys(&["q"]);

    // A worker's own engine: its containers, and where the swarm is managed.
    let worker = swarm(&["host", "2"]);
    let w = Tmux::start(
        "swarmworker",
        120,
        30,
        &format!("{} -H {worker} --state-dir {}", env!("CARGO_BIN_EXE_stackdeck"), sd.state.display()),
    );
    w.wait("the worker's hint", |s| s.contains("swarm worker: the swarm is managed on a manager"));
    w.keys(&["q"]);
    drop(stack);
}

/// The image a swarm service's spec names.
fn spec_image(service: &str) -> String {
    on(1, &["service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"])
}

/// The images of a service's tasks that are meant to run, as `docker service ps` lists them.
fn task_images(service: &str) -> Vec<String> {
    let out = on(
        1,
        &["service", "ps", service, "--filter", "desired-state=running", "--format", "{{.Image}} {{.CurrentState}}"],
    );
    out.lines().map(|l| l.to_owned()).collect()
}

#[test]
fn a_gated_swarm_deploy_passes_a_broken_tag_goes_back_and_rollback_reaches_two_deploys_back_by_id() {
    let _one = one_at_a_time();
    swarm(&["up"]);
    // The stack runs its api-server as sdd-api:1, a tag the test gives fx-api-server:1 on every
    // node, so the tag can go away later and the rollback has to name the image by its id.
    for n in 1..=3 {
        on(n, &["tag", "fx-api-server:1", "sdd-api:1"]);
    }
    let v1 = on(1, &["image", "inspect", "fx-api-server:1", "--format", "{{.Id}}"]);
    let stack = Stack::deploy("sdd", &[("BOT_PORT", "59411"), ("API_IMAGE", "sdd-api:1")]);
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new("swarmdeploy", "[services.\"sdd/api-server\"]\ngate_tries = 5\ngate_interval_secs = 1\n");
    let run = |args: &[&str]| at_manager(&sd, &manager, args);
    let svc = "sdd_api-server";

    // A gated deploy that passes: a service update with the file's update_config, each task
    // said as it moves, every task of the new image running, then the monitor window.
    let (code, out, err) = run(&["deploy", "sdd/api-server", "fx-api-server:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a service update"), "{out}");
    assert!(out.contains("order start-first, parallelism 1") && out.contains("failure_action rollback"), "{out}");
    assert!(out.contains("api-server.1 on sdsw") && out.contains("running (fx-api-server:2)"), "task by task: {out}");
    assert!(out.contains("every task of fx-api-server:2 runs (3/3)") && out.contains("monitor window"), "{out}");
    assert_eq!(spec_image(svc), "fx-api-server:2");
    let tasks = task_images(svc);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.starts_with("fx-api-server:2 Running")), "{tasks:?}");

    // The broken tag: its tasks never turn healthy; the update goes back to fx-api-server:2 (by
    // Swarm's own failure_action or by stackdeck's rollback = previous), recorded as rolled back.
    let (code, out, err) = run(&["deploy", "sdd/api-server", "fx-api-server:2-broken", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("rolled back"), "{out}{err}");
    assert!(out.contains("back on fx-api-server:2: 3/3 tasks running"), "{out}");
    assert!(
        out.contains("(fx-api-server:2-broken)") && out.contains("said last"),
        "the failed task, in evidence: {out}"
    );
    wait_for("the spec back on :2", Duration::from_secs(60), || (spec_image(svc) == "fx-api-server:2").then_some(()));
    let h = sd.history();
    assert_eq!(h[0]["action"], "deploy");
    assert_eq!(h[0]["outcome"], "rolled_back", "{:?}", h[0]);
    assert_eq!(h[1]["outcome"], "succeeded", "{:?}", h[1]);

    // Swarm remembers one spec back (the broken one, now); stackdeck's rollback goes to the last
    // image that passed a gate other than the running one: sdd-api:1, two deploys back. Its tag
    // is gone from the manager, so the service names the image by its id.
    on(1, &["rmi", "sdd-api:1"]);
    let (code, out, err) = run(&["rollback", "sdd/api-server", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(spec_image(svc), v1, "the spec names the image id");
    let tasks = task_images(svc);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.starts_with(&format!("{v1} Running"))), "{tasks:?}");
    let h = sd.history();
    assert_eq!(
        (h[0]["action"].as_str(), h[0]["outcome"].as_str()),
        (Some("rollback"), Some("succeeded")),
        "{:?}",
        h[0]
    );

    // A worker cut off during a deploy: the panel shows the node down, and the deploy ends in a
    // defined state that history records, whatever Swarm managed meanwhile.
    let t = panel("swarmdeploy", &manager, &sd);
    t.wait("the stack", |s| s.contains("▾ sdd") && s.contains("swarm 3/3 nodes ready"));
    let mut child = sd.cmd(&["-H", &manager, "deploy", "sdd/api-server", "fx-api-server:2", "--yes"]).spawn().unwrap();
    wait_for("the update under way", Duration::from_secs(60), || {
        task_images(svc).iter().any(|t| t.starts_with("fx-api-server:2")).then_some(())
    });
    swarm(&["cut", "3"]);
    let down = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.wait("node sdsw3 down", |s| s.contains("DOWN: sdsw3"))
    }));
    let ended = wait_for("the deploy to end", Duration::from_secs(400), || child.try_wait().unwrap());
    swarm(&["mend", "3"]);
    assert!(down.is_ok(), "the panel showed the node down");
    assert!(ended.code().is_some_and(|c| c == 0 || c == 1), "{ended:?}");
    let h = sd.history();
    assert_eq!(h[0]["action"], "deploy");
    let outcome = h[0]["outcome"].as_str().unwrap_or("").to_owned();
    assert!(["succeeded", "rolled_back", "failed"].contains(&outcome.as_str()), "{:?}", h[0]);
    let said = h[0]["transcript"].as_str().unwrap_or("");
    assert!(said.contains("a service update") && said.contains("api-server."), "task by task: {said}");
    t.wait("the node back", |s| s.contains("swarm 3/3 nodes ready"));
    t.keys(&["q"]);
    for n in 1..=3 {
        let _ = Command::new("docker")
            .env("DOCKER_HOST", swarm(&["host", &n.to_string()]))
            .args(["rmi", "sdd-api:1"])
            .output();
    }
    drop(stack);
}

/// Tags made on every node for one test, removed on drop.
struct Tags(Vec<String>);

impl Tags {
    fn make(pairs: &[(&str, &str)]) -> Tags {
        for n in 1..=3 {
            for (from, to) in pairs {
                on(n, &["tag", from, to]);
            }
        }
        Tags(pairs.iter().map(|(_, to)| (*to).to_owned()).collect())
    }
}

impl Drop for Tags {
    fn drop(&mut self) {
        for n in 1..=3 {
            let host = swarm(&["host", &n.to_string()]);
            for t in &self.0 {
                let _ = Command::new("docker").env("DOCKER_HOST", &host).args(["rmi", t]).output();
            }
        }
    }
}

/// The rows of one release, oldest first: (action, service, outcome).
fn release_rows(h: &[serde_json::Value], release: i64) -> Vec<(String, String, String)> {
    let mut rows: Vec<&serde_json::Value> = h.iter().filter(|r| r["release"] == release).collect();
    rows.sort_by_key(|r| r["id"].as_i64());
    rows.iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (field("action"), field("service"), field("outcome"))
        })
        .collect()
}

fn newest(h: &[serde_json::Value], action: &str) -> i64 {
    h.iter().filter(|r| r["action"] == action).filter_map(|r| r["id"].as_i64()).max().expect(action)
}

fn row(action: &str, service: &str, outcome: &str) -> (String, String, String) {
    (action.to_owned(), service.to_owned(), outcome.to_owned())
}

#[test]
fn a_swarm_release_goes_back_when_one_service_fails_and_is_rolled_back_as_one_operation() {
    let _one = one_at_a_time();
    swarm(&["up"]);
    // Tag 3: a good bot and a broken api-server; tag 2: both good.
    let _tags = Tags::make(&[
        ("fx-trading-bot:2", "sdr-bot:3"),
        ("fx-api-server:2-broken", "sdr-api:3"),
        ("fx-trading-bot:2", "sdr-bot:2"),
        ("fx-api-server:2", "sdr-api:2"),
        ("fx-trading-bot:1", "sdr-bot:1"),
        ("fx-api-server:1", "sdr-api:1"),
    ]);
    let stack = Stack::deploy("sdr", &[("BOT_PORT", "59431"), ("API_IMAGE", "sdr-api:1"), ("BOT_IMAGE", "sdr-bot:1")]);
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new(
        "swarmrelease",
        "[services.\"sdr/api-server\"]\ngate_tries = 5\ngate_interval_secs = 1\n[services.\"sdr/trading-bot\"]\ngate_tries = 5\ngate_interval_secs = 1\n",
    );
    let run = |args: &[&str]| at_manager(&sd, &manager, args);
    let (bot, api) = ("sdr_trading-bot", "sdr_api-server");

    // Tag 3: the bot moves (a service update, gated), the api-server's broken tasks do not pass
    // and it goes back; then the bot is moved back too: one release, rolled back.
    let (code, out, err) = run(&["deploy", "--release", "3", "sdr/trading-bot", "sdr/api-server", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("sdr/trading-bot -> sdr-bot:3, sdr/api-server -> sdr-api:3"), "{out}");
    assert!(out.contains("a service update"), "each service is a Swarm service update: {out}");
    assert!(err.contains("moved back: sdr/trading-bot"), "{out}{err}");
    wait_for("both specs back on tag 1", Duration::from_secs(60), || {
        (spec_image(bot) == "sdr-bot:1" && spec_image(api) == "sdr-api:1").then_some(())
    });
    let h = sd.history();
    let r3 = newest(&h, "release");
    assert_eq!(
        release_rows(&h, r3),
        vec![
            row("deploy", "sdr/trading-bot", "succeeded"),
            row("deploy", "sdr/api-server", "rolled_back"),
            row("rollback", "sdr/trading-bot", "succeeded"),
        ],
        "{h:?}"
    );
    let parent = h.iter().find(|r| r["id"] == r3).unwrap();
    assert_eq!(parent["outcome"], "rolled_back", "{parent:?}");

    // Tag 2: both pass.
    let (code, out, err) = run(&["deploy", "--release", "2", "sdr/trading-bot", "sdr/api-server", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!((spec_image(bot), spec_image(api)), ("sdr-bot:2".to_owned(), "sdr-api:2".to_owned()));
    let h = sd.history();
    let r2 = newest(&h, "release");
    assert_eq!(
        release_rows(&h, r2),
        vec![row("deploy", "sdr/trading-bot", "succeeded"), row("deploy", "sdr/api-server", "succeeded")]
    );

    // Rolled back as one operation, service by service, newest first: every task on tag 1 again.
    let (code, out, err) = run(&["rollback", "--release", &r2.to_string(), "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("in reverse order: sdr/api-server -> sdr-api:1"), "{out}");
    assert_eq!((spec_image(bot), spec_image(api)), ("sdr-bot:1".to_owned(), "sdr-api:1".to_owned()));
    for t in task_images(api) {
        assert!(t.starts_with("sdr-api:1 Running"), "{t}");
    }
    let h = sd.history();
    let undo = newest(&h, "release-rollback");
    assert_eq!(
        release_rows(&h, undo),
        vec![row("rollback", "sdr/api-server", "succeeded"), row("rollback", "sdr/trading-bot", "succeeded")]
    );
    drop(stack);
}

#[test]
fn an_emergency_stop_wins_over_a_swarm_deploy_and_a_killed_deploy_is_recognised_with_the_way_back() {
    let _one = one_at_a_time();
    let stack = Stack::deploy("sdk", &[("BOT_PORT", "59441")]);
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new(
        "swarmkill",
        "[services.\"sdk/trading-bot\"]\nkill_switch = true\ngate_tries = 5\ngate_interval_secs = 1\n[services.\"sdk/api-server\"]\ngate_tries = 5\ngate_interval_secs = 1\n",
    );
    let run = |args: &[&str]| at_manager(&sd, &manager, args);
    let (bot, api) = ("sdk_trading-bot", "sdk_api-server");
    let under_way = |deploy: &mut std::process::Child, service: &str, image: &str| {
        wait_for(&format!("{service}'s update to {image} under way"), Duration::from_secs(60), || {
            if let Some(ended) = deploy.try_wait().unwrap() {
                panic!("the deploy ended before its update was seen: {ended:?}");
            }
            task_images(service).iter().any(|t| t.starts_with(image)).then_some(())
        });
    };

    // The emergency stop during the bot's deploy: the stop wins, the deploy ends where it is and
    // says so, and nothing of the bot runs on any node, then or after the deploy ended.
    let mut deploy =
        sd.cmd(&["-H", &manager, "deploy", "sdk/trading-bot", "fx-trading-bot:2", "--yes"]).spawn().unwrap();
    under_way(&mut deploy, bot, "fx-trading-bot:2");
    let (code, out, err) = run(&["stop", "sdk/trading-bot", "--yes", "--reason", "mid-deploy drill"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no task of it runs on any node"), "{out}");
    let ended = wait_for("the deploy to end", Duration::from_secs(120), || deploy.try_wait().unwrap());
    assert_eq!(ended.code(), Some(1), "the deploy does not pass");
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy" && r["service"] == "sdk/trading-bot").expect("the deploy row");
    assert_eq!(d["outcome"], "interrupted", "{d:?}");
    assert!(d["reason"].as_str().unwrap_or("").contains("emergency stop"), "{d:?}");
    for n in 1..=3 {
        assert_eq!(running_on(n, bot), 0, "nothing of the bot runs on node {n}");
    }
    assert!(replicas(bot).starts_with("0/0"), "the deploy did not scale it back: {}", replicas(bot));
    // The guard (no panel) holds the latch on Swarm too: someone's scale-up is stopped again and
    // recorded.
    let log = sd.state.with_file_name("guard.log");
    let out = std::fs::File::create(&log).unwrap();
    // Killed with the test if it fails: a guard left behind would hold the port.
    let guard = common::KillOnDrop(Some(
        sd.cmd(&["-H", &manager, "guard", "--metrics", "127.0.0.1:31292"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    ));
    wait_for("the guard's latch", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("latched: sdk/trading-bot").then_some(())
    });
    on(1, &["service", "scale", "-d", "sdk_trading-bot=2"]);
    wait_for("the guard's hold", Duration::from_secs(90), || {
        sd.history().iter().any(|r| r["action"] == "restart-blocked" && r["outcome"] == "succeeded").then_some(())
    });
    wait_for("0/0 again", Duration::from_secs(60), || replicas(bot).starts_with("0/0").then_some(()));
    drop(guard);
    // Start brings it back on the image the interrupted deploy wrote into the spec: said, with
    // the way back.
    let (code, out, err) = run(&["start", "sdk/trading-bot", "--yes", "--reason", "drill over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("note: sdk/trading-bot comes back on fx-trading-bot:2, put there by deploy #")
            && out.contains("stackdeck rollback sdk/trading-bot goes back"),
        "{out}"
    );
    assert!(out.contains("sdk_trading-bot: 1/1 tasks running"), "{out}");

    // stackdeck killed (SIGKILL) during the api-server's deploy: Swarm goes on with the update,
    // the next stackdeck recognises the record left running and says the way back, and the way
    // back works: every task on the image that passed before.
    let mut deploy = sd.cmd(&["-H", &manager, "deploy", "sdk/api-server", "fx-api-server:2", "--yes"]).spawn().unwrap();
    under_way(&mut deploy, api, "fx-api-server:2");
    deploy.kill().unwrap();
    let _ = deploy.wait();
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy" && r["service"] == "sdk/api-server").expect("the deploy row");
    assert_eq!(d["outcome"], "interrupted", "{d:?}");
    assert!(d["reason"].as_str().unwrap_or("").contains("stackdeck rollback sdk/api-server goes back"), "{d:?}");
    let (code, out, err) = run(&["rollback", "sdk/api-server", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(spec_image(api), "fx-api-server:1");
    let tasks = task_images(api);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.starts_with("fx-api-server:1 Running")), "{tasks:?}");
    drop(stack);
}

#[test]
fn a_swarm_deploy_whose_manager_stops_answering_waits_for_it_and_ends_in_a_recorded_state() {
    let _one = one_at_a_time();
    let stack = Stack::deploy("sde", &[("BOT_PORT", "59451")]);
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new("swarmengine", "[services.\"sde/api-server\"]\ngate_tries = 5\ngate_interval_secs = 1\n");
    let api = "sde_api-server";
    let log = sd.state.with_file_name("deploy.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut deploy = sd
        .cmd(&["-H", &manager, "deploy", "sde/api-server", "fx-api-server:2", "--yes"])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    wait_for("the update under way", Duration::from_secs(60), || {
        task_images(api).iter().any(|t| t.starts_with("fx-api-server:2")).then_some(())
    });
    // The manager's engine stops mid-deploy: the deploy says so and keeps trying; the engine
    // comes back (its tasks on that node die with it); the deploy ends passed or rolled back,
    // recorded either way, and the spec says the same as the record.
    let pid = std::fs::read_to_string("/tmp/sdswarm/n1/dockerd.pid").unwrap();
    assert!(Command::new("kill").arg(pid.trim()).status().unwrap().success());
    wait_for("the deploy to say it is trying again", Duration::from_secs(60), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("trying again").then_some(())
    });
    swarm(&["up"]);
    let ended = wait_for("the deploy to end", Duration::from_secs(300), || deploy.try_wait().unwrap());
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    let h = sd.history();
    let d = h.iter().find(|r| r["action"] == "deploy").expect("the deploy row");
    match d["outcome"].as_str() {
        Some("succeeded") => {
            assert_eq!(ended.code(), Some(0), "{said}");
            assert_eq!(spec_image(api), "fx-api-server:2", "{said}");
        }
        Some("rolled_back") => {
            assert_eq!(ended.code(), Some(1), "{said}");
            assert_eq!(spec_image(api), "fx-api-server:1", "{said}");
        }
        other => panic!("the deploy ended {other:?}, not passed or rolled back: {d:?}\n{said}"),
    }
    assert!(d["transcript"].as_str().unwrap_or("").contains("trying again"), "the wait is in the record: {d:?}");
    drop(stack);
}

#[test]
fn the_panel_reaches_the_swarm_manager_over_ssh() {
    let _one = one_at_a_time();
    let stack = Stack::deploy("sds", &[("BOT_PORT", "59421")]);
    let socket = swarm(&["host", "1"]);
    let path = socket.strip_prefix("unix://").unwrap_or(&socket).to_owned();
    let sshd = common::Sshd::start("swarm", 31291);
    let sd = Sd::new("swarmssh", "");
    std::fs::write(&sd.config, sshd.stack_config("ssh_config")).unwrap();
    let t = Tmux::start(
        "swarmssh",
        120,
        30,
        &format!(
            "{} --config {} --state-dir {} --host {}",
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.config.display(),
            sd.state.display(),
            sshd.url(&path)
        ),
    );
    t.wait("the swarm over ssh", |s| {
        s.contains("▾ sds") && s.contains("swarm 3/3 nodes ready") && s.contains("ssh://root@127.0.0.1")
    });
    // The first row is an api-server task: the Logs pane shows the service's merged logs, each
    // line prefixed with its task's slot and node, from the tasks on the workers too.
    let s = t.wait("api-server's logs from tasks on two nodes", |s| {
        s.contains("Logs api-server · all tasks")
            && log_origins(s).iter().map(|(_, node)| node).collect::<BTreeSet<_>>().len() >= 2
    });
    let origins = log_origins(&s);
    let rows: BTreeSet<String> = s
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("api-server.")))
        .map(str::to_owned)
        .collect();
    for (slot, node) in &origins {
        assert!(
            rows.contains(&format!("api-server.{slot}@{node}")),
            "a log line's origin .{slot}@{node} is a task row:\n{s}"
        );
    }
    t.keys(&["q"]);
    drop(stack);
}

/// The `(slot, node)` of each merged-log line on the screen (`│.2@sdsw3 2026-...`).
fn log_origins(screen: &str) -> BTreeSet<(String, String)> {
    screen
        .lines()
        .filter_map(|l| {
            let rest = l.trim_start_matches(['│', '┃', ' ']).strip_prefix('.')?;
            let (origin, _) = rest.split_once(' ')?;
            let (slot, node) = origin.split_once('@')?;
            (slot.chars().all(|c| c.is_ascii_digit()) && node.starts_with("sdsw"))
                .then(|| (slot.to_owned(), node.to_owned()))
        })
        .collect()
}
