//! Docker Swarm (issue 14), on a real three-node swarm made by `scripts/swarm.sh` (three dockerd
//! in their own network namespaces on this machine): the trading stack deployed with
//! `docker stack deploy`; the panel showing services, tasks on their nodes and the nodes, a node
//! cut off shown as down; the emergency stop of the trading bot verified on every node, held
//! against someone's `docker service scale`, and `start` restoring the replicas; what is not
//! built (a gated Swarm deploy) refused with the reason.

mod common;

use common::{Sd, Tmux, wait_for};
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

/// Running tasks of a service on node `n`, as that node's own engine sees its containers.
fn running_on(n: u8, service: &str) -> usize {
    on(n, &["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.name={service}")]).lines().count()
}

fn replicas(service: &str) -> String {
    on(1, &["service", "ls", "--filter", &format!("name={service}"), "--format", "{{.Replicas}}"])
}

/// The stack, deployed on the swarm and running (removed on drop).
struct Stack(String);

impl Stack {
    fn deploy(name: &str) -> Stack {
        swarm(&["up"]);
        let file = format!("{ROOT}/tests/fixtures/swarm/stack.yml");
        on(1, &["stack", "deploy", "-c", &file, name]);
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
    let stack = Stack::deploy("sdt");
    let manager = swarm(&["host", "1"]);
    let sd = Sd::new("swarm", "[services.\"sdt/trading-bot\"]\nkill_switch = true\n");
    let run = |args: &[&str]| {
        let mut a = vec!["-H", manager.as_str()];
        a.extend_from_slice(args);
        sd.run(&a)
    };

    // Status: the tasks are the instances, one api-server task on each node.
    let (code, out, err) = run(&["status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = v.to_string();
    for node in ["sdsw1", "sdsw2", "sdsw3"] {
        assert!(text.contains(&format!("@{node}")), "a task on {node}: {text}");
    }
    assert!(text.contains("trading-bot.1@"), "{text}");

    // The panel on the manager: services grouped by stack, tasks with their node, the nodes.
    let t = Tmux::start(
        "swarm",
        120,
        30,
        &format!(
            "{} -H {manager} --state-dir {} --config {}",
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.state.display(),
            sd.config.display()
        ),
    );
    t.wait("the stack, its tasks and the nodes", |s| {
        s.contains("▾ sdt") && s.contains("api-server.1@sdsw") && s.contains("swarm 3/3 nodes ready")
    });

    // What is not built is refused with the reason, not half done.
    let (code, _, err) = run(&["deploy", "sdt/api-server", "fx-api-server:2", "--yes"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("Swarm manager") && err.contains("docker service update"), "{err}");

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
