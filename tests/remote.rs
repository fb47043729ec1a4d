//! Remote engines over ssh (issue 12, first part), for real: Debian's sshd on 127.0.0.1 with keys
//! made by the test, in front of a private engine whose socket only ssh reaches for stackdeck.
//! `status`, `stop` and `start` through an ssh:// URL with a port; the panel over ssh holding one
//! ssh connection for every stream; each failure said in the user's terms.

mod common;

use common::{PrivateEngine, Sd, Sshd, Tmux, require_engine, wait_for};
use std::time::Duration;

fn bot(eng: &PrivateEngine) {
    eng.load(&["bb:1"]);
    eng.ok(&[
        "run",
        "-d",
        "--name",
        "rem_bot_1",
        "--network",
        "host",
        "--restart",
        "unless-stopped",
        "--label",
        "com.docker.compose.project=rem",
        "--label",
        "com.docker.compose.service=bot",
        "bb:1",
        "sleep",
        "600",
    ]);
}

/// ssh processes that use this sshd's client config (stackdeck's tunnels to it).
fn tunnels_to(sshd: &Sshd) -> usize {
    let o = std::process::Command::new("pgrep")
        .args(["-f", &sshd.dir.join("ssh_config").display().to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).lines().count()
}

fn socket(eng: &PrivateEngine) -> String {
    eng.host().trim_start_matches("unix://").to_owned()
}

#[test]
fn status_stop_and_start_through_ssh_with_a_port() {
    require_engine();
    let mut eng = PrivateEngine::new("rs");
    eng.start();
    bot(&eng);
    let sshd = Sshd::start("rs", 31222);
    let mut sd = Sd::new("remote", "");
    std::fs::write(&sd.config, sshd.stack_config("ssh_config")).unwrap();
    sd.host = Some(sshd.url(&socket(&eng)));
    let (code, out, err) = sd.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("engine ssh://root@127.0.0.1:{}", sshd.port)) && out.contains("rem/bot"), "{out}");
    let (code, out, err) = sd.run(&["stop", "rem/bot", "--yes", "--reason", "remote drill"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        eng.ok(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}", "rem_bot_1"]),
        "false no"
    );
    let (code, out, err) = sd.run(&["start", "rem/bot", "--yes", "--reason", "drill over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        eng.ok(&["inspect", "-f", "{{.State.Running}} {{.HostConfig.RestartPolicy.Name}}", "rem_bot_1"]),
        "true unless-stopped"
    );
    let h = sd.history();
    assert!(h[0]["audit"]["endpoint"].as_str().unwrap().starts_with("ssh://root@127.0.0.1"), "{}", h[0]);
    // Without a shared store, a deploy from here would hold a lock nobody else sees.
    let (code, out, err) = sd.run(&["deploy", "rem/bot", "bb:1", "--yes"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("the engine is remote") && err.contains("--local-state"), "{err}");
    let (_, out, err) = sd.run(&["--local-state", "deploy", "rem/bot", "bb:1", "--yes"]);
    assert!(!err.contains("the engine is remote"), "--local-state lets it through: {out}{err}");
    // The same engine through a docker context made by the docker CLI (DOCKER_CONTEXT, as the
    // CLI reads it), and the status line's origin.
    let docker_config = sshd.dir.join("docker-config");
    let o = std::process::Command::new("docker")
        .arg("--config")
        .arg(&docker_config)
        .args(["context", "create", "sdt-ssh", "--docker", &format!("host={}", sshd.url(&socket(&eng)))])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sd.host = None;
    let o = sd
        .cmd(&["status", "--json"])
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", &docker_config)
        .env("DOCKER_CONTEXT", "sdt-ssh")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("\"source\": \"DOCKER_CONTEXT sdt-ssh\"") && out.contains("\"bot\""), "{out}");
    // Every command's ssh ended with it.
    wait_for("no ssh left behind", Duration::from_secs(15), || (tunnels_to(&sshd) == 0).then_some(()));
}

#[test]
fn ssh_failures_are_said_in_the_users_terms() {
    require_engine();
    let mut eng = PrivateEngine::new("rf");
    eng.start();
    let sshd = Sshd::start("rf", 31223);
    let mut sd = Sd::new("remotefail", "");
    let sock = socket(&eng);
    assert!(std::path::Path::new(&sock).exists());
    let cases: Vec<(&str, String, &str)> = vec![
        ("ssh_config_unknown_host", sshd.url(&sock), "ssh-keyscan -p 31223 127.0.0.1 >> ~/.ssh/known_hosts"),
        ("ssh_config_wrong_key", sshd.url(&sock), "ssh authentication to root@127.0.0.1:31223 was refused"),
        ("ssh_config", "ssh://root@127.0.0.1:31229".into(), "connection refused (is sshd running there"),
        (
            "ssh_config",
            sshd.url("/tmp/no/such/docker.sock"),
            "no docker engine at /tmp/no/such/docker.sock on 127.0.0.1",
        ),
    ];
    // A user who may log in but not use the engine (not in the docker group).
    let user = "sd-operator";
    if std::process::Command::new("id").arg(user).output().is_ok_and(|o| !o.status.success()) {
        let made = std::process::Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", user])
            .status()
            .unwrap();
        assert!(made.success(), "useradd {user}");
    }
    // No password, but not locked (sshd refuses a locked account even with a key).
    assert!(std::process::Command::new("usermod").args(["-p", "*", user]).status().unwrap().success());
    let mut cases = cases;
    cases.push((
        "ssh_config",
        sshd.url(&sock).replace("ssh://root@", &format!("ssh://{user}@")),
        "permission denied on",
    ));
    for (cfg, url, said) in cases {
        std::fs::write(&sd.config, sshd.stack_config(cfg)).unwrap();
        sd.host = Some(url.clone());
        let (code, out, err) = sd.run(&["status"]);
        assert_eq!(code, 1, "{url} with {cfg}: {out}{err}");
        assert!(err.contains(said), "{url} with {cfg}: {err}");
    }
}

#[test]
fn an_ssh_server_that_never_answers_is_a_timeout_said_within_seconds_not_a_hang() {
    // A listener that accepts and then says nothing (a host behind a black hole, a hung sshd).
    let silent = std::net::TcpListener::bind("127.0.0.1:31225").unwrap();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for c in silent.incoming().take(4).flatten() {
            open.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let mut sd = Sd::new("remotesilent", "");
    sd.host = Some("ssh://root@127.0.0.1:31225".into());
    let (code, out, err) = sd.run(&["status"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("timed out after 10 s"), "{err}");
    drop(held);
}

#[test]
fn the_panel_over_ssh_holds_one_ssh_connection_for_every_stream() {
    require_engine();
    let mut eng = PrivateEngine::new("rp");
    eng.start();
    bot(&eng);
    let sshd = Sshd::start("rp", 31224);
    let sd = Sd::new("remotepanel", "");
    std::fs::write(&sd.config, sshd.stack_config("ssh_config")).unwrap();
    let t = Tmux::start(
        "sd-remote",
        100,
        30,
        &format!(
            "XDG_CONFIG_HOME=/nonexistent {} --config {} --state-dir {} --host {}; sleep 600",
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.config.display(),
            sd.state.display(),
            sshd.url(&socket(&eng))
        ),
    );
    t.wait("the bot over ssh", |s| {
        s.contains("bot")
            && s.contains("running")
            && s.contains("ssh://root@127.0.0.1")
            && s.contains("history: this machine only")
    });
    // Logs and metrics open more streams.
    t.keys(&["Enter"]);
    t.wait("the logs pane", |s| s.contains("Logs rem_bot_1"));
    t.keys(&["3"]);
    // A remote engine's stats are its own stream's, never this machine's cgroup files.
    t.wait("stats through the engine over ssh", |s| s.contains("from engine stats"));
    let panel = wait_for("the panel's process", Duration::from_secs(10), || common::child_stackdeck(t.pane_pid()));
    let ssh_children =
        std::process::Command::new("pgrep").args(["-P", &panel.to_string(), "-x", "ssh"]).output().unwrap();
    let n = String::from_utf8_lossy(&ssh_children.stdout).lines().count();
    assert_eq!(n, 1, "one ssh process for events, logs, stats and calls");
    let ss = std::process::Command::new("ss")
        .args(["-Htn", "state", "established", &format!("( dport = :{} )", sshd.port)])
        .output()
        .unwrap();
    let conns = String::from_utf8_lossy(&ss.stdout).lines().count();
    assert_eq!(conns, 1, "one TCP connection to sshd: {}", String::from_utf8_lossy(&ss.stdout));
    // kill -9 of the panel: its ssh does not outlive it.
    assert!(std::process::Command::new("kill").args(["-9", &panel.to_string()]).status().unwrap().success());
    wait_for("the panel's ssh gone", Duration::from_secs(15), || (tunnels_to(&sshd) == 0).then_some(()));
}

#[test]
fn a_tls_engine_through_a_docker_context_and_through_docker_cert_path() {
    require_engine();
    let certs = common::Certs::make("ctx");
    let mut eng = PrivateEngine::new("rt");
    let port = 31376;
    eng.start_with(&certs.dockerd_args(port));
    bot(&eng);
    // A context made by the docker CLI itself, in a docker config dir of the test's own.
    let docker_config = certs.dir.join("docker-config");
    let good = certs.dir.join("good");
    let spec = format!(
        "host=tcp://127.0.0.1:{port},ca={},cert={},key={}",
        good.join("ca.pem").display(),
        good.join("cert.pem").display(),
        good.join("key.pem").display()
    );
    let o = std::process::Command::new("docker")
        .arg("--config")
        .arg(&docker_config)
        .args(["context", "create", "sdt-tls", "--docker", &spec])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sd = Sd::new("remotetls", "");
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut c = sd.cmd(args);
        c.env_remove("DOCKER_HOST").env("DOCKER_CONFIG", &docker_config);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, out) = run(&["--context", "sdt-tls", "status"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("engine tcp://127.0.0.1:{port}")) && out.contains("rem/bot"), "{out}");
    let (code, out) = run(&["--context", "sdt-tls", "stop", "rem/bot", "--yes", "--reason", "tls drill"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.State.Running}}", "rem_bot_1"]), "false");
    let (code, out) = run(&["--context", "sdt-tls", "start", "rem/bot", "--yes", "--reason", "over"], &[]);
    assert_eq!(code, 0, "{out}");
    // A context that skips verification (SkipTLSVerify), as the docker CLI makes it: no CA, a
    // name the engine's certificate does not carry; still TLS, still the client certificate.
    let lax = format!(
        "host=tcp://localhost:{port},cert={},key={},skip-tls-verify=true",
        good.join("cert.pem").display(),
        good.join("key.pem").display()
    );
    let o = std::process::Command::new("docker")
        .arg("--config")
        .arg(&docker_config)
        .args(["context", "create", "sdt-lax", "--docker", &lax])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, out) = run(&["--context", "sdt-lax", "status", "--json"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(TLS NOT VERIFIED)") && out.contains("\"bot\""), "{out}");
    // A gated deploy over TLS (the engine's health decides: no health URL).
    eng.ok(&["tag", "bb:1", "bb:2"]);
    let (code, out) = run(&["--context", "sdt-tls", "--local-state", "deploy", "rem/bot", "bb:2", "--yes"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.Config.Image}}", "rem_bot_1"]), "bb:2");
    // The panel over TLS: the status line says where the engine came from.
    let t = Tmux::start(
        "sd-remote-tls",
        120,
        30,
        &format!(
            "DOCKER_CONFIG={} XDG_CONFIG_HOME=/nonexistent {} --config {} --state-dir {} --context sdt-tls; sleep 600",
            docker_config.display(),
            env!("CARGO_BIN_EXE_stackdeck"),
            sd.config.display(),
            sd.state.display()
        ),
    );
    t.wait("the bot over TLS", |s| {
        s.contains("bot") && s.contains("running") && s.contains(&format!("context sdt-tls · tcp://127.0.0.1:{port}"))
    });
    drop(t);
    // DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as for the docker CLI.
    let tls_env = |dir: &str| {
        vec![("DOCKER_TLS_VERIFY", "1".to_owned()), ("DOCKER_CERT_PATH", certs.dir.join(dir).display().to_string())]
    };
    let host = format!("tcp://127.0.0.1:{port}");
    let (code, out) = run(&["--host", &host, "status"], &tls_env("good"));
    assert_eq!(code, 0, "{out}");
    // Each TLS failure, in the operator's terms.
    type Env<'a> = Vec<(&'a str, String)>;
    let failures: Vec<(Env<'_>, String, &str)> = vec![
        (tls_env("stranger"), host.clone(), "rejected stackdeck's client certificate"),
        (tls_env("wrong_ca"), host.clone(), "is not signed by the CA in ca.pem"),
        (tls_env("good"), format!("tcp://localhost:{port}"), "does not match tcp://localhost"),
        (vec![], host.clone(), "speaks TLS: give it its certificates"),
    ];
    for (env, h, said) in failures {
        let (code, out) = run(&["--host", &h, "status"], &env);
        assert_eq!(code, 1, "{h}: {out}");
        assert!(out.contains(said), "{h}: {out}");
    }
}

/// A network namespace of the test's own, reachable from here at 10.231.N.2 over a veth pair:
/// what listens on its 127.0.0.1 is out of this machine's reach, as a server's is from a laptop.
struct Netns {
    name: String,
    host_if: String,
}

impl Netns {
    fn new(n: u8) -> Netns {
        let name = format!("sdtr{n}-{}", std::process::id());
        let host_if = format!("vh{n}{}", std::process::id() % 100_000);
        let ns_if = format!("vn{n}{}", std::process::id() % 100_000);
        let ip = |args: &[&str]| {
            let o = std::process::Command::new("ip").args(args).output().expect("ip (iproute2)");
            assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        };
        ip(&["netns", "add", &name]);
        ip(&["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if]);
        ip(&["link", "set", &ns_if, "netns", &name]);
        ip(&["addr", "add", &format!("10.231.{n}.1/24"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&["netns", "exec", &name, "ip", "addr", "add", &format!("10.231.{n}.2/24"), "dev", &ns_if]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &ns_if, "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        Netns { name, host_if }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

#[test]
fn health_urls_on_the_servers_loopback_are_probed_through_the_ssh_connection() {
    require_engine();
    let mut eng = PrivateEngine::new("rh");
    eng.start();
    bot(&eng);
    let ns = Netns::new(7);
    // The service's health endpoint listens on the server's own 127.0.0.1 only.
    let www = std::env::temp_dir().join(format!("sd-www-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "ok\n").unwrap();
    let mut httpd = common::KillOnDrop(Some(
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name, "busybox", "httpd", "-f", "-p", "127.0.0.1:31281", "-h"])
            .arg(&www)
            .spawn()
            .unwrap(),
    ));
    let sshd = Sshd::start_at("rh", 22, "10.231.7.2", Some(&ns.name));
    let mut sd = Sd::new("remotehealth", "");
    std::fs::write(
        &sd.config,
        format!(
            "{}[services.\"rem/bot\"]\nhealth_url = \"http://127.0.0.1:31281/health\"\n",
            sshd.stack_config("ssh_config")
        ),
    )
    .unwrap();
    // Not reachable from here directly...
    assert!(common::http_get("127.0.0.1:31281", "/health").is_none());
    sd.host = Some(sshd.url(&socket(&eng)));
    // ...but through the engine's ssh connection.
    let (code, out, err) = sd.run(&["status", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bot = v["services"].as_array().unwrap().iter().find(|s| s["service"] == "bot").unwrap().clone();
    assert_eq!(bot["probe"], "HTTP 200", "{bot}");
    // A deploy over ssh, gated by that health URL through the same forward.
    eng.ok(&["tag", "bb:1", "bb:2"]);
    std::fs::write(
        &sd.config,
        format!(
            "{}[services.\"rem/bot\"]\nhealth_url = \"http://127.0.0.1:31281/health\"\ngate_tries = 5\ngate_interval_secs = 1\n",
            sshd.stack_config("ssh_config")
        ),
    )
    .unwrap();
    let (code, out, err) = sd.run(&["--local-state", "deploy", "rem/bot", "bb:2", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(eng.ok(&["inspect", "-f", "{{.Config.Image}}", "rem_bot_1"]), "bb:2");
    let h = sd.history();
    let gate = h[0]["transcript"].as_str().unwrap_or_default();
    assert!(gate.contains("http http://127.0.0.1:31281/health HTTP 200"), "{gate}");
    let _ = httpd.0.as_mut().map(std::process::Child::kill);
    std::fs::remove_dir_all(&www).ok();
}

#[test]
fn a_tls_engine_on_another_address_says_its_loopback_urls_are_not_reachable_from_here() {
    require_engine();
    // This machine's own 127.0.0.1:31282 answers 200: a probe of it would lie about the server.
    let www = std::env::temp_dir().join(format!("sd-www-tls-{}", std::process::id()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("health"), "ok\n").unwrap();
    let mut httpd = common::KillOnDrop(Some(
        std::process::Command::new("busybox")
            .args(["httpd", "-f", "-p", "127.0.0.1:31282", "-h"])
            .arg(&www)
            .spawn()
            .unwrap(),
    ));
    wait_for("the local httpd", Duration::from_secs(10), || common::http_get("127.0.0.1:31282", "/health"));
    let _ns = Netns::new(9);
    let certs = common::Certs::make("far");
    let mut eng = PrivateEngine::new("rw");
    let port = 31378;
    eng.start_with(&certs.dockerd_args_at("10.231.9.1", port));
    bot(&eng);
    eng.ok(&["tag", "bb:1", "bb:2"]);
    let sd = Sd::new(
        "remotefar",
        "[services.\"rem/bot\"]\nhealth_url = \"http://127.0.0.1:31282/health\"\ngate_tries = 3\ngate_interval_secs = 1\n",
    );
    let run = |args: &[&str]| {
        let o = sd
            .cmd(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", certs.dir.join("good"))
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let host = format!("tcp://10.231.9.1:{port}");
    let (code, out) = run(&["--host", &host, "status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bot = v["services"].as_array().unwrap().iter().find(|s| s["service"] == "bot").unwrap().clone();
    assert!(bot["probe"].as_str().unwrap_or_default().starts_with("not reachable from here"), "{bot}");
    assert_ne!(bot["health"], "unhealthy", "the engine's health counts: {bot}");
    // The gate: the engine decides, and the transcript says why the URL was not asked.
    let (code, out) = run(&["--host", &host, "--local-state", "deploy", "rem/bot", "bb:2", "--yes"]);
    assert_eq!(code, 0, "{out}");
    let (_, out) = run(&["--host", &host, "history", "--json"]);
    assert!(out.contains("not reachable from here"), "{out}");
    let _ = httpd.0.as_mut().map(std::process::Child::kill);
    std::fs::remove_dir_all(&www).ok();
}
