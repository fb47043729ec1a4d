//! The engine side against the real Docker engine: discovery, health transitions, hostile logs,
//! stats, lifecycle events. Each test runs its own supervisor limited to its own project.

mod common;

use common::{Project, docker_ok, require_engine};
use stackdeck::domain::{Container, Health, RunState, StatsFrom, StatsSample};
use stackdeck::engine::{self, Endpoint};
use stackdeck::logtext::{LogLine, Masker};
use stackdeck::msg::{EngineEvent, Msg};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

fn wait_for_exit(c: &str) {
    common::wait_for("the container to exit", Duration::from_secs(30), || {
        (docker_ok(&["inspect", "-f", "{{.State.Status}}", c]) == "exited").then_some(())
    });
}

fn endpoint() -> Endpoint {
    engine::endpoint::resolve(None, None, &engine::endpoint::Env::from_process()).expect("endpoint")
}

struct Watch {
    rx: mpsc::Receiver<Msg>,
    handle: engine::Handle,
    containers: HashMap<String, Container>,
    lines: Vec<LogLine>,
    /// Lines the follow said it skipped.
    skipped: u64,
    stats: HashMap<String, StatsSample>,
    /// Timeline rows: (subject, kind, what).
    happened: Vec<(String, &'static str, String)>,
    ended: Option<String>,
}

impl Watch {
    fn start(project: &str) -> Watch {
        Watch::start_at(project, endpoint(), Duration::from_secs(30))
    }

    fn start_at(project: &str, ep: Endpoint, resync: Duration) -> Watch {
        let (tx, rx) = mpsc::channel(4096);
        let opts = engine::Options {
            project: Some(project.to_owned()),
            resync,
            masker: Masker::default(),
            timeline_since: Duration::from_secs(600),
            timeline_keep: 1000,
        };
        let handle = engine::spawn(ep, opts, tx);
        Watch {
            rx,
            handle,
            containers: HashMap::new(),
            lines: Vec::new(),
            skipped: 0,
            stats: HashMap::new(),
            ended: None,
            happened: Vec::new(),
        }
    }

    fn apply(&mut self, m: Msg) {
        let Msg::Engine(ev) = m else { return };
        match ev {
            EngineEvent::Snapshot(list) => self.containers = list.into_iter().map(|c| (c.name.clone(), c)).collect(),
            EngineEvent::Upsert(c) => {
                self.containers.insert(c.name.clone(), c);
            }
            EngineEvent::Removed(id) => self.containers.retain(|_, c| c.id != id),
            EngineEvent::Health(id, h) => {
                if let Some(c) = self.containers.values_mut().find(|c| c.id == id) {
                    c.health = h;
                }
            }
            EngineEvent::Logs(b) => {
                self.lines.extend(b.lines);
                self.skipped += b.skipped;
                if b.ended.is_some() {
                    self.ended = b.ended;
                }
            }
            EngineEvent::Stats(samples) => {
                for (id, s) in samples {
                    if let Some(c) = self.containers.values().find(|c| c.id == id) {
                        self.stats.insert(c.name.clone(), s);
                    }
                }
            }
            EngineEvent::Happened(rows) => {
                self.happened.extend(rows.into_iter().map(|h| (h.subject, h.kind.as_str(), h.what)));
            }
            EngineEvent::Connected(_) | EngineEvent::Unreachable { .. } => {}
        }
    }

    /// Process messages until `pred` holds (or fail after `secs`).
    async fn until(&mut self, what: &str, secs: u64, pred: impl Fn(&Watch) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !pred(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => self.apply(m),
                Ok(None) => panic!("engine channel closed while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {secs} s waiting for {what}; containers: {:?}",
                    self.containers.keys().collect::<Vec<_>>()
                ),
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Container> {
        self.containers.get(name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_compose_services_and_every_state() {
    require_engine();
    let mut p = Project::new("discover");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59201"], &["fx-trading-bot:1"]);
    let done = p.run("migrate", &[], &["bb:1", "sh", "-c", "exit 3"]);
    let paused = p.run("worker", &[], &["bb:1", "sleep", "600"]);
    docker_ok(&["pause", &paused]);
    let mut w = Watch::start(&p.name);
    // The first snapshot comes from the list (names, states, health, exit codes); the inspected
    // details (start times, restarts) follow in a second one.
    w.until("all three containers", 60, |w| {
        w.get(&bot).is_some()
            && w.get(&done).is_some_and(|c| c.state == RunState::Exited && c.exit_code == Some(3))
            && w.get(&paused).is_some_and(|c| c.state == RunState::Paused)
    })
    .await;
    w.until("the inspected details", 60, |w| w.get(&bot).is_some_and(|c| c.started_at.is_some())).await;
    let b = w.get(&bot).unwrap();
    assert_eq!(b.key.project.as_deref(), Some(p.name.as_str()));
    assert_eq!(b.key.service, "trading-bot");
    assert_eq!(b.image, "fx-trading-bot:1");
    assert!(b.image_id.starts_with("sha256:"));
    assert!(b.started_at.is_some());
    assert_eq!(w.get(&done).unwrap().exit_code, Some(3));
    w.until("the bot to become healthy (engine healthcheck)", 60, |w| {
        w.get(&bot).is_some_and(|c| c.health == Health::Healthy)
    })
    .await;
    docker_ok(&["unpause", &paused]);
    drop(w.handle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_simulator_flipping_to_503_and_back() {
    require_engine();
    let mut p = Project::new("health");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59202"], &["fx-trading-bot:1"]);
    let mut w = Watch::start(&p.name);
    w.until("healthy", 60, |w| w.get(&bot).is_some_and(|c| c.health == Health::Healthy)).await;
    docker_ok(&["exec", &bot, "touch", "/run/sim/unhealthy"]);
    w.until("unhealthy after /health answers 503", 60, |w| w.get(&bot).is_some_and(|c| c.health == Health::Unhealthy))
        .await;
    docker_ok(&["exec", &bot, "rm", "/run/sim/unhealthy"]);
    w.until("healthy again", 60, |w| w.get(&bot).is_some_and(|c| c.health == Health::Healthy)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_log_bytes_are_inert_masked_and_bounded() {
    require_engine();
    let mut p = Project::new("hostile");
    let script = r#"printf '\033]0;pwned\007\033[2Jtitle \377\376 api_key=SUPERSECRET1 Bearer abcdef123456\n'; head -c 1048576 /dev/zero | tr '\0' x; echo; printf 'split'; sleep 1; printf ' line\n'; echo after-the-flood; sleep 600"#;
    let c = p.run("hostile", &[], &["bb:1", "sh", "-c", script]);
    let mut w = Watch::start(&p.name);
    w.until("the container", 30, |w| w.get(&c).is_some()).await;
    let id = w.get(&c).unwrap().id.clone();
    w.handle.send(engine::Command::FollowLogs { container: id, generation: 1, tail: 100, since: None });
    w.until("the line after the 1 MB line", 60, |w| w.lines.iter().any(|l| l.text == "after-the-flood")).await;
    let all: Vec<&str> = w.lines.iter().map(|l| l.text.as_str()).collect();
    for l in &w.lines {
        assert!(!l.text.chars().any(char::is_control), "control character in {:?}", l.text);
        assert!(!l.text.contains("SUPERSECRET1") && !l.text.contains("abcdef123456"), "secret in {:?}", l.text);
    }
    // The json-file log driver stores invalid UTF-8 as U+FFFD already; other drivers (and TTY
    // containers) pass the raw bytes, which we show as \xNN. Either way: inert and visible.
    let first = all
        .iter()
        .find(|t| t.starts_with("␛]0;pwned␇␛[2Jtitle "))
        .unwrap_or_else(|| panic!("hostile line missing: {:?}", &all[..all.len().min(3)]));
    assert!(
        first.ends_with("title \\xFF\\xFE api_key=**** Bearer ****")
            || first.ends_with("title \u{FFFD}\u{FFFD} api_key=**** Bearer ****"),
        "{first}"
    );
    let big = w.lines.iter().find(|l| l.text.starts_with("xxxx")).expect("the 1 MB line arrives");
    assert!(big.text.len() <= stackdeck::logtext::MAX_LINE_BYTES);
    // The json-file driver splits long lines into 16 KiB partial messages, and with
    // timestamps=true each part carries its own stamp: the line is longer than what was written.
    assert!(big.text.len() + big.cut_bytes >= 1_048_576, "{} + {}", big.text.len(), big.cut_bytes);
    assert!(all.contains(&"split line"), "a line written in two parts is one line");
    assert!(w.lines.iter().all(|l| l.timestamp.is_some()), "every line carries the engine timestamp");
}

/// A local engine's log is read off its socket by stackdeck's own reader (`log_wire`): every
/// line of a burst, in order, with its stream; a TTY container's log, which has no frames; the
/// end when the container stops; the engine's refusal for a container it does not know.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_engines_log_is_read_off_its_socket_whole_and_in_order() {
    require_engine();
    let mut p = Project::new("wire");
    let script = "seq 1 50000 | sed 's/^/out /'; echo to-stderr >&2; echo last; sleep 2; echo later; exec sleep 600";
    let c = p.run("burst", &[], &["bb:1", "sh", "-c", script]);
    let tty = p.run("tty", &["-t"], &["bb:1", "sh", "-c", "echo from a tty; echo second; exec sleep 600"]);
    let mut w = Watch::start(&p.name);
    w.until("the containers", 30, |w| w.get(&c).is_some() && w.get(&tty).is_some()).await;
    let id = w.get(&c).unwrap().id.clone();
    w.handle.send(engine::Command::FollowLogs { container: id, generation: 1, tail: 100_000, since: None });
    w.until("the line written two seconds after the burst", 60, |w| w.lines.iter().any(|l| l.text == "later")).await;
    assert_eq!(w.skipped, 0, "nothing skipped while the test keeps up");
    // The engine reads stdout and stderr on their own pipes: the one stderr line may be stored
    // amid the stdout burst, so each stream's order is checked on its own.
    let on_stdout: Vec<&str> = w.lines.iter().filter(|l| !l.stderr).map(|l| l.text.as_str()).collect();
    let want: Vec<String> =
        (1..=50_000).map(|i| format!("out {i}")).chain(["last", "later"].map(String::from)).collect();
    assert_eq!(on_stdout.len(), want.len(), "first lines: {:?}", &on_stdout[..on_stdout.len().min(3)]);
    let first_wrong = on_stdout.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(
        first_wrong,
        None,
        "every line in order: {:?}",
        first_wrong.map(|i| &on_stdout[i.saturating_sub(2)..i + 3])
    );
    let on_stderr: Vec<&str> = w.lines.iter().filter(|l| l.stderr).map(|l| l.text.as_str()).collect();
    assert_eq!(on_stderr, ["to-stderr"]);
    assert!(w.lines.iter().all(|l| l.timestamp.is_some()), "every line carries the engine timestamp");
    // The container stops: its log ends, and says so.
    docker_ok(&["kill", &c]);
    w.until("the log stream to report its end", 30, |w| w.ended.is_some()).await;
    assert_eq!(w.ended.as_deref(), Some("log stream ended (container stopped)"));
    // A TTY container's log is raw text: the same lines (the TTY's CR taken off).
    w.lines.clear();
    w.ended = None;
    let id = w.get(&tty).unwrap().id.clone();
    w.handle.send(engine::Command::FollowLogs { container: id, generation: 2, tail: 100, since: None });
    w.until("the tty's two lines", 30, |w| w.lines.len() >= 2).await;
    let texts: Vec<&str> = w.lines.iter().map(|l| l.text.trim_end_matches('␍')).collect();
    assert_eq!(texts, ["from a tty", "second"], "{:?}", w.lines);
    // A container the engine does not know: its refusal, in its words.
    w.handle.send(engine::Command::FollowLogs {
        container: stackdeck::domain::ContainerId("no-such-container-4711".into()),
        generation: 3,
        tail: 10,
        since: None,
    });
    w.until("the refusal", 30, |w| w.ended.is_some()).await;
    let why = w.ended.clone().unwrap_or_default();
    assert!(why.contains("no-such-container-4711") && why.contains("404"), "{why}");
    // Each stream had its reader thread; the TTY's, still running, ended when its follow was
    // replaced, and the refused one's with its answer.
    let readers = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|c| c.trim() == "log-wire")
            .count()
    };
    common::wait_for("no reader thread left", Duration::from_secs(10), || (readers() == 0).then_some(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_stream_only_while_asked_for() {
    require_engine();
    let mut p = Project::new("stats");
    let c = p.run("busy", &[], &["bb:1", "sh", "-c", "while :; do :; done"]);
    let mut w = Watch::start(&p.name);
    w.until("the container", 30, |w| w.get(&c).is_some()).await;
    // Nobody shows stats yet: no stream, no samples (the engine sends one a second when asked).
    let quiet = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(m)) = tokio::time::timeout_at(quiet, w.rx.recv()).await {
        w.apply(m);
    }
    assert!(w.stats.is_empty(), "stats arrived without being asked for: {:?}", w.stats);
    w.handle.send(engine::Command::Stats(true));
    w.until("a stats sample", 60, |w| w.stats.get(&c).is_some_and(|m| m.mem_bytes > 0)).await;
}

/// The engine's own memory figure for a container (`docker stats`: "33.78MiB / 23.54GiB").
fn engine_mem_bytes(c: &str) -> f64 {
    let out = docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", c]);
    let used = out.split(" / ").next().unwrap_or_default().trim();
    let split = used.find(|ch: char| ch.is_ascii_alphabetic()).unwrap_or(used.len());
    let (n, unit) = used.split_at(split);
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("docker stats said {out:?}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("docker stats unit {other:?} in {out:?}"),
    };
    n * scale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_engines_stats_are_read_from_the_cgroup_files_and_match_the_engines() {
    require_engine();
    let mut p = Project::new("cgstats");
    // 32 MiB in the container's /dev/shm is charged to its memory cgroup; the loop is CPU.
    let c = p.run(
        "busy",
        &[],
        &["bb:1", "sh", "-c", "dd if=/dev/zero of=/dev/shm/x bs=1M count=32 2>/dev/null; while :; do :; done"],
    );
    let mut w = Watch::start(&p.name);
    w.until("the container", 30, |w| w.get(&c).is_some_and(|c| c.pid.is_some())).await;
    w.handle.send(engine::Command::Stats(true));
    let mib = 1024 * 1024;
    w.until("a sample from the cgroup files with the loop's CPU and the 32 MiB", 60, |w| {
        w.stats.get(&c).is_some_and(|s| s.from == StatsFrom::Cgroup && s.cpu_percent > 50.0 && s.mem_bytes >= 32 * mib)
    })
    .await;
    let ours = w.stats[&c];
    let theirs = engine_mem_bytes(&c);
    assert!(
        (ours.mem_bytes as f64 - theirs).abs() < 4.0 * mib as f64,
        "the cgroup files say {} bytes, the engine {theirs}",
        ours.mem_bytes
    );
    assert!(ours.mem_limit > 0, "the machine's memory when no limit is set");
    assert_eq!((ours.net_rx, ours.net_tx), (0, 0), "a container on the host network has no network figures of its own");
    // Restarted, it is a new process (and a new cgroup): its figures keep coming.
    let old_pid = w.get(&c).and_then(|c| c.pid);
    docker_ok(&["restart", "-t", "0", &c]);
    w.until("the restarted container's new pid", 60, |w| {
        w.get(&c).is_some_and(|c| c.state == RunState::Running && c.pid.is_some() && c.pid != old_pid)
    })
    .await;
    w.stats.remove(&c);
    w.until("a sample of the new process", 60, |w| {
        w.stats.get(&c).is_some_and(|s| s.from == StatsFrom::Cgroup && s.cpu_percent > 50.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_events_update_and_remove() {
    require_engine();
    let mut p = Project::new("events");
    let c = p.run("svc", &[], &["bb:1", "sleep", "600"]);
    // Before the watch: read back from the engine's events (the timeline's catch-up).
    let early = p.run("early", &[], &["bb:1", "sh", "-c", "exit 3"]);
    wait_for_exit(&early);
    let mut w = Watch::start(&p.name);
    let saw = |w: &Watch, who: &str, kind: &str, what: &str| {
        w.happened.iter().any(|h| h.0 == who && h.1 == kind && h.2 == what)
    };
    w.until("the early exit read back", 30, |w| saw(w, &early, "died", "exited with code 3")).await;
    w.until("running", 30, |w| w.get(&c).is_some_and(|c| c.state == RunState::Running)).await;
    let id = w.get(&c).unwrap().id.clone();
    w.handle.send(engine::Command::FollowLogs { container: id, generation: 1, tail: 10, since: None });
    docker_ok(&["kill", &c]);
    w.until("exited", 30, |w| w.get(&c).is_some_and(|c| c.state == RunState::Exited)).await;
    w.until("the kill as it happened", 30, |w| {
        saw(w, &c, "kill", "was sent SIGKILL") && saw(w, &c, "died", "exited with code 137")
    })
    .await;
    w.until("the log stream to report its end", 30, |w| w.ended.is_some()).await;
    docker_ok(&["start", &c]);
    w.until("running again with a restart", 30, |w| w.get(&c).is_some_and(|c| c.state == RunState::Running)).await;
    docker_ok(&["rm", "-f", &c]);
    w.until("removed", 30, |w| w.get(&c).is_none()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_dies_while_the_first_list_is_read_is_seen_dead_without_a_resync() {
    require_engine();
    let mut p = Project::new("window");
    let c = p.run("victim", &[], &["bb:1", "sleep", "600"]);
    let real = endpoint();
    let upstream = real.host.strip_prefix("unix://").expect("the tests' engine is on a local socket").to_owned();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    // The inspect after the first list reads the container running; its answer is held 3 s.
    let proxy = common::hold::HoldingProxy::start(
        &upstream,
        &["GET /containers/", "/json HTTP"],
        Duration::from_secs(3),
        seen_tx,
    );
    // No resync within the test: only the engine's events can tell the panel.
    let mut w = Watch::start_at(&p.name, Endpoint { host: proxy.host(), ..real }, Duration::from_secs(3600));
    tokio::task::spawn_blocking(move || seen_rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the inspect went through the proxy");
    // It dies while that answer is held, before the events stream is asked for (the pause lets
    // the engine answer the inspect first: the proxy then holds an answer that says running).
    std::thread::sleep(Duration::from_millis(300));
    docker_ok(&["kill", &c]);
    w.until("the held inspect: running", 30, |w| {
        w.get(&c).is_some_and(|c| c.state == RunState::Running && c.pid.is_some())
    })
    .await;
    w.until("the container exited, from the engine's events", 30, |w| {
        w.get(&c).is_some_and(|c| c.state == RunState::Exited)
    })
    .await;
}
