//! Fault test: a private Docker engine is stopped and started again under a running panel.
//! The panel must show the outage as a state (keeping the last known list, marked stale) and
//! reconnect by itself. Needs root and dockerd (the README's test command provides both).

mod common;

use common::{Tmux, require_engine, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct PrivateEngine {
    dir: String,
    child: Option<Child>,
}

impl PrivateEngine {
    fn host(&self) -> String {
        format!("unix://{}/d.sock", self.dir)
    }

    fn start(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(format!("{}/dockerd.log", self.dir)).unwrap();
        let child = Command::new("dockerd")
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "-H", &self.host()])
            .args(["--data-root", &format!("{}/data", self.dir), "--exec-root", &format!("{}/x", self.dir)])
            .args(["--pidfile", &format!("{}/d.pid", self.dir)])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("dockerd starts (the tests run as root on a machine with docker.io)");
        self.child = Some(child);
        let host = self.host();
        wait_for("the private engine", Duration::from_secs(60), || {
            self.docker(&["version"]).status.success().then_some(())
        });
        let _ = host;
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").env("DOCKER_HOST", self.host()).args(args).output().unwrap()
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.docker(&["rm", "-fv", "sdfault-keeper"]);
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn engine_stop_and_restart_under_a_running_panel() {
    require_engine();
    // Short path: containerd's sockets live under the exec root (unix socket path limit).
    let dir = format!("/tmp/sdf{}", std::process::id());
    std::fs::create_dir_all(&dir).unwrap();
    let mut eng = PrivateEngine { dir, child: None };
    eng.start();
    // Give the private engine the busybox image without a registry: save from the main engine.
    let save = Command::new("docker").args(["save", "bb:1"]).output().unwrap();
    assert!(save.status.success());
    let mut load = Command::new("docker")
        .env("DOCKER_HOST", eng.host())
        .args(["load", "-q"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(load.stdin.as_mut().unwrap(), &save.stdout).unwrap();
    drop(load.stdin.take());
    assert!(load.wait().unwrap().success());
    let run = eng.docker(&[
        "run",
        "-d",
        "--name",
        "sdfault-keeper",
        "--network",
        "host",
        "--restart",
        "always",
        "--label",
        "com.docker.compose.project=sdfault",
        "--label",
        "com.docker.compose.service=keeper",
        "bb:1",
        "sleep",
        "3600",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --host {}; echo STACKDECK-EXIT=$?; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        eng.host()
    );
    let t = Tmux::start("sd-fault", 100, 30, &cmd);
    t.wait("the keeper service, connected", |s| {
        s.contains("keeper") && s.contains("● connected") && s.contains("running")
    });

    eng.stop();
    let s = t.wait("the outage shown as a state", |s| s.contains("UNREACHABLE") && s.contains("STALE"));
    assert!(s.contains("keeper"), "the last known list stays on screen, not an empty one:\n{s}");
    assert!(!s.contains("STACKDECK-EXIT"), "the panel must not exit:\n{s}");

    eng.start();
    let s =
        t.wait("reconnected by itself", |s| s.contains("● connected") && !s.contains("STALE") && s.contains("keeper"));
    assert!(s.contains("running"), "{s}");
    t.keys(&["q"]);
    t.wait("a clean exit", |s| s.contains("STACKDECK-EXIT=0"));
}
