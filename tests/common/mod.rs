//! Helpers for the tests that run against the real Docker engine and the fixture images built by
//! `tests/fixtures/build.sh` (the README's test command builds them first).
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("the docker CLI runs")
}

/// Run docker and insist it succeeded; returns stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(o.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Fail loudly (never skip) when the engine or the fixture images are missing.
pub fn require_engine() {
    let o = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(
        o.status.success(),
        "these tests need a running Docker engine (DOCKER_HOST or the default socket): run scripts/test.sh, which starts one.\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for img in ["bb:1", "fx-trading-bot:1", "fx-api-server:1"] {
        assert!(
            docker(&["image", "inspect", img]).status.success(),
            "fixture image {img} missing: run tests/fixtures/build.sh"
        );
    }
}

/// Poll `f` until it returns Some, or panic with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A compose-labelled project of containers, removed (with volumes) on drop.
pub struct Project {
    pub name: String,
    containers: Vec<String>,
}

impl Project {
    pub fn new(test: &str) -> Project {
        // Leftovers of an earlier, aborted run of this test would hold its ports.
        let old = docker(&["ps", "-aq", "--filter", &format!("name=^/sdt-{test}-")]);
        for id in String::from_utf8_lossy(&old.stdout).split_whitespace() {
            let _ = docker(&["rm", "-fv", id]);
        }
        let name = format!("sdt-{test}-{}", std::process::id());
        Project { name, containers: Vec::new() }
    }

    pub fn container_name(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }

    /// `docker run -d` with compose labels, host network. Returns the container name.
    pub fn run(&mut self, service: &str, extra: &[&str], image_and_cmd: &[&str]) -> String {
        let cname = self.container_name(service);
        let lp = format!("com.docker.compose.project={}", self.name);
        let ls = format!("com.docker.compose.service={service}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &cname,
            "--network",
            "host",
            "--label",
            &lp,
            "--label",
            &ls,
            "--label",
            "com.docker.compose.container-number=1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(image_and_cmd);
        docker_ok(&args);
        self.containers.push(cname.clone());
        cname
    }

    /// A standalone (unlabelled) container that belongs to this test.
    pub fn run_standalone(&mut self, suffix: &str, args: &[&str]) -> String {
        let cname = format!("{}-{suffix}", self.name);
        let mut a = vec!["run", "-d", "--name", &cname, "--network", "host"];
        a.extend_from_slice(args);
        docker_ok(&a);
        self.containers.push(cname.clone());
        cname
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-fv", c]);
        }
    }
}

pub fn health_of(container: &str) -> String {
    docker_ok(&["inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", container])
}

/// A tmux session running a command at a fixed size; killed on drop.
pub struct Tmux {
    pub session: String,
}

impl Tmux {
    pub fn start(name: &str, w: u16, h: u16, cmd: &str) -> Tmux {
        let session = format!("{name}-{}", std::process::id());
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x", &w.to_string(), "-y", &h.to_string(), cmd])
            .status()
            .expect("tmux runs");
        assert!(st.success(), "tmux new-session failed");
        Tmux { session }
    }

    pub fn screen(&self) -> String {
        let o =
            Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", &self.session];
        a.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&a).status().expect("tmux send-keys").success());
    }

    /// Wait until the screen satisfies `pred`; return it.
    pub fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out after 60 s waiting for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn alternate_screen_on(&self) -> bool {
        let o = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{alternate_on}"])
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).trim() == "1"
    }

    pub fn pane_pid(&self) -> u32 {
        let o = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).trim().parse().expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}

/// The pid of the stackdeck process started by a shell whose pid is `shell`.
pub fn child_stackdeck(shell: u32) -> Option<u32> {
    let o = Command::new("pgrep").args(["-P", &shell.to_string(), "-f", "stackdeck"]).output().ok()?;
    String::from_utf8_lossy(&o.stdout).lines().next()?.trim().parse().ok()
}

/// A Docker engine of the test's own (own socket, data root, exec root), for tests that must
/// stop it, restart it, or prune it without disturbing the tests running in parallel.
pub struct PrivateEngine {
    pub dir: String,
    child: Option<Child>,
    pub containers: Vec<String>,
}

impl PrivateEngine {
    pub fn new(tag: &str) -> PrivateEngine {
        // Short path: containerd's sockets live under the exec root (unix socket path limit).
        let dir = format!("/tmp/sd{tag}{}", std::process::id());
        std::fs::create_dir_all(&dir).unwrap();
        PrivateEngine { dir, child: None, containers: Vec::new() }
    }

    /// Copy images from the main engine (no registry needed).
    pub fn load(&self, images: &[&str]) {
        let mut args = vec!["save"];
        args.extend_from_slice(images);
        let save = Command::new("docker").args(&args).output().unwrap();
        assert!(save.status.success(), "docker save {images:?}");
        let mut load = Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .args(["load", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(load.stdin.as_mut().unwrap(), &save.stdout).unwrap();
        drop(load.stdin.take());
        assert!(load.wait().unwrap().success());
    }

    /// docker against this engine; must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    }

    pub fn host(&self) -> String {
        format!("unix://{}/d.sock", self.dir)
    }

    pub fn start(&mut self) {
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
        // Ready means able to list containers (what stackdeck does first), not just `version`:
        // right after a restart the engine answers version while still restoring containers.
        wait_for("the private engine", Duration::from_secs(90), || {
            (self.docker(&["version"]).status.success() && self.docker(&["ps", "-aq"]).status.success()).then_some(())
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }

    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").env("DOCKER_HOST", self.host()).args(args).output().unwrap()
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-fv", id]);
            }
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process that is killed if the test panics before waiting for it.
pub struct KillOnDrop(pub Option<std::process::Child>);

impl KillOnDrop {
    pub fn wait_with_output(mut self) -> std::process::Output {
        self.0.take().expect("child").wait_with_output().expect("child output")
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().expect("child").id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
