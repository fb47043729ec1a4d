//! Helpers for the tests that run against the real Docker engine and the fixture images built by
//! `tests/fixtures/build.sh` (the README's test command builds them first).
#![allow(dead_code)]

pub mod compose;
pub mod disk;
pub mod help;
pub mod hold;
mod pg;
mod sd;
mod sshd;
mod tls;
#[allow(unused_imports)]
pub use pg::Postgres;
#[allow(unused_imports)]
pub use sd::Sd;
#[allow(unused_imports)]
pub use sshd::Sshd;
#[allow(unused_imports)]
pub use tls::Certs;

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
/// tmux on a server of this test process's own (`tmux -L`): a developer's running tmux server
/// (with its own DOCKER_HOST and other variables) is never where the panels start, so every
/// variable a test relies on comes from the test itself.
pub fn tmux() -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", &format!("stackdeck-tests-{}", std::process::id())]);
    c
}

pub struct Tmux {
    pub session: String,
}

impl Tmux {
    pub fn start(name: &str, w: u16, h: u16, cmd: &str) -> Tmux {
        let session = format!("{name}-{}", std::process::id());
        // Parallel test processes each start their own tmux server; the first start can lose a
        // race on tmux's socket directory (seen once in CI): try again, and say why if it fails.
        let mut why = String::new();
        for _ in 0..5 {
            let o = tmux()
                .args(["new-session", "-d", "-s", &session, "-x", &w.to_string(), "-y", &h.to_string(), cmd])
                .output()
                .expect("tmux runs");
            if o.status.success() {
                return Tmux { session };
            }
            why = String::from_utf8_lossy(&o.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("tmux new-session failed: {why}");
    }

    pub fn screen(&self) -> String {
        let o = tmux().args(["capture-pane", "-p", "-t", &self.session]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", &self.session];
        a.extend_from_slice(keys);
        assert!(tmux().args(&a).status().expect("tmux send-keys").success());
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

    /// The screen once two captures 100 ms apart agree: not one caught halfway through a frame.
    pub fn settled(&self) -> String {
        let mut last = self.screen();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.screen();
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    pub fn alternate_screen_on(&self) -> bool {
        let o = tmux().args(["display-message", "-p", "-t", &self.session, "#{alternate_on}"]).output().expect("tmux");
        String::from_utf8_lossy(&o.stdout).trim() == "1"
    }

    pub fn pane_pid(&self) -> u32 {
        let o = tmux().args(["display-message", "-p", "-t", &self.session, "#{pane_pid}"]).output().expect("tmux");
        String::from_utf8_lossy(&o.stdout).trim().parse().expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux().args(["kill-session", "-t", &self.session]).status();
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
        self.start_with(&[]);
    }

    /// Start with more dockerd arguments (a TLS listener, say).
    pub fn start_with(&mut self, extra: &[String]) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(format!("{}/dockerd.log", self.dir)).unwrap();
        let child = Command::new("dockerd")
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "-H", &self.host()])
            .args(["--data-root", &format!("{}/data", self.dir), "--exec-root", &format!("{}/x", self.dir)])
            .args(["--pidfile", &format!("{}/d.pid", self.dir)])
            .args(extra)
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

/// Debian's `prometheus` (installed by scripts/engine.sh), run by the test on 127.0.0.1 with a
/// config that scrapes the given targets (`job -> host:port`, each labelled `service=job`) every
/// second and the stack's alert rules (tests/fixtures/prometheus/rules.yml). Killed on drop.
pub struct Prometheus {
    pub url: String,
    child: Child,
    dir: std::path::PathBuf,
}

impl Prometheus {
    pub fn start(port: u16, targets: &[(&str, String)]) -> Prometheus {
        let bin = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("prometheus is not installed: run scripts/engine.sh (apt-get install prometheus)");
        let dir = std::env::temp_dir().join(format!("sd-prom-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prometheus/rules.yml");
        let mut cfg = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}}\nrule_files: [\"{rules}\"]\nscrape_configs:\n"
        );
        for (job, target) in targets {
            cfg.push_str(&format!(
                "  - job_name: {job}\n    static_configs: [{{targets: [\"{target}\"], labels: {{service: {job}}}}}]\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), cfg).unwrap();
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus { url: format!("http://{addr}"), child, dir };
        wait_for("prometheus ready", Duration::from_secs(60), || {
            http_get(&addr, "/-/ready").filter(|b| b.contains("Ready"))
        });
        p
    }

    /// The response body of a GET on this Prometheus.
    pub fn get(&self, path: &str) -> Option<String> {
        http_get(self.url.trim_start_matches("http://"), path)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.0 GET over loopback (no client crate needed in the tests); the body.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_owned()).filter(|_| head.split(' ').nth(1) == Some("200"))
}

/// A local HTTP endpoint started by a test: answers every request with what `reply` returns
/// for (request line, body) after `delay`, and records every request. For webhook delivery
/// (a real receiver) and for *bad* Prometheus answers (malformed, slow): a fake is used only
/// for bad input.
pub struct HttpStub {
    pub addr: String,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl HttpStub {
    pub fn start(reply: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static, delay: Duration) -> HttpStub {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (rq, reply) = (requests.clone(), std::sync::Arc::new(reply));
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (rq, reply) = (rq.clone(), reply.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let line = line.trim().to_owned();
                    rq.lock().unwrap().push((line.clone(), body.clone()));
                    std::thread::sleep(delay);
                    let (status, text) = reply(&line, &body);
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                });
            }
        });
        HttpStub { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn bodies(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|(_, b)| b.clone()).collect()
    }
}
