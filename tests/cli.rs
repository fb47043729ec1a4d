//! The real binary's command line: config errors before raw mode, no-TTY guidance, `status`.

mod common;

use common::{Project, require_engine, wait_for};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stackdeck"));
    // Keep the developer's own config dir out of the tests.
    c.env("XDG_CONFIG_HOME", std::env::temp_dir().join(format!("sd-xdg-{}", std::process::id())));
    c.env_remove("NO_COLOR");
    c
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.stdin(Stdio::null()).output().expect("binary runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_keybindings_file_is_refused_with_file_line_column_and_fix() {
    let p = write("keys.toml", "[logs]\nsearch = \"/\"\nfilterr = \"f\"\n");
    let (code, _, err) = run(bin().arg("--keybindings").arg(&p));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:3:1: unknown action 'filterr' in [logs]", p.display())), "{err}");
    assert!(err.contains("fix: actions in [logs] are:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn key_clash_is_refused_naming_both_actions() {
    let p = write("clash.toml", "[services]\nopen_logs = \"q\"\n");
    let (code, _, err) = run(bin().arg("--keybindings").arg(&p));
    assert_eq!(code, 2);
    assert!(err.contains(":2:13: key 'q' is bound to both 'open_logs' and 'quit'"), "{err}");
}

#[test]
fn bad_theme_colour_and_unknown_config_field_are_refused() {
    let t = write("theme.toml", "inherits = \"default\"\n[styles]\nhealthy = \"#12345\"\n");
    let (code, _, err) = run(bin().arg("--theme").arg(&t));
    assert_eq!(code, 2);
    assert!(err.contains(":3:11: invalid hex colour '#12345'"), "{err}");
    let c = write("stack.toml", "[services.bot]\nhealth_url = \"http://127.0.0.1:1/health\"\ndisplayname = \"Bot\"\n");
    let (code, _, err) = run(bin().arg("--config").arg(&c));
    assert_eq!(code, 2);
    assert!(err.contains(":3:1: unknown field `displayname`"), "{err}");
    let (code, _, err) = run(bin().args(["--theme", "neon"]));
    assert_eq!(code, 2);
    assert!(err.contains("no built-in theme named 'neon'") && err.contains("high-contrast"), "{err}");
}

#[test]
fn missing_explicit_config_file_is_an_error_not_a_silent_default() {
    let (code, _, err) = run(bin().args(["--config", "/nonexistent/stackdeck.toml"]));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/stackdeck.toml: cannot read the file"), "{err}");
}

#[test]
fn without_a_tty_the_panel_points_to_status() {
    let (code, _, err) = run(&mut bin());
    assert_eq!(code, 2);
    assert!(err.contains("needs an interactive terminal") && err.contains("stackdeck status"), "{err}");
}

#[test]
fn status_exits_1_with_a_reason_when_the_engine_does_not_answer() {
    let (code, out, err) = run(bin().args(["--host", "unix:///nonexistent/docker.sock", "status"]));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("no engine socket at unix:///nonexistent/docker.sock"), "{err}");
}

#[test]
fn status_json_reports_every_service_with_health() {
    require_engine();
    let mut p = Project::new("status");
    let bot = p.run("trading-bot", &["-e", "SIM_PORT=59203"], &["fx-trading-bot:1"]);
    let api = p.run("api-server", &["-e", "SIM_PORT=58203"], &["fx-api-server:1"]);
    wait_for("both healthy", Duration::from_secs(60), || {
        (common::health_of(&bot) == "healthy" && common::health_of(&api) == "healthy").then_some(())
    });
    docker_exec_touch(&api);
    let cfg = write("status.toml", "[services.api-server]\nhealth_url = \"http://127.0.0.1:58203/health\"\n");
    let (code, out, err) = run(bin().args(["--project", &p.name, "--config"]).arg(&cfg).args(["status", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert!(v["engine"]["api_version"].as_str().is_some_and(|s| !s.is_empty()));
    let services = v["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let find = |s: &str| services.iter().find(|x| x["service"] == s).unwrap().clone();
    let b = find("trading-bot");
    for k in ["project", "service", "container", "state", "health", "image", "image_id", "started_at", "restarts"] {
        assert!(b.get(k).is_some(), "field {k} missing: {b}");
    }
    assert_eq!(b["project"], p.name.as_str());
    assert_eq!(b["state"], "running");
    assert_eq!(b["health"], "healthy");
    assert_eq!(b["image"], "fx-trading-bot:1");
    // The HTTP probe answers 503 before the engine's healthcheck notices: the probe wins.
    let a = find("api-server");
    assert_eq!(a["health"], "unhealthy", "{a}");
    assert_eq!(a["probe"], "HTTP 503");
}

fn docker_exec_touch(c: &str) {
    common::docker_ok(&["exec", c, "touch", "/run/sim/unhealthy"]);
}

#[test]
fn readme_key_table_is_the_live_keymap() {
    let (code, out, _) = run(bin().args(["keys", "--markdown"]));
    assert_eq!(code, 0);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    assert!(
        readme.contains(&out),
        "README's key table is out of date: paste the output of `stackdeck keys --markdown`"
    );
}

#[test]
fn a_backup_kind_or_verify_mode_outside_the_allowed_values_names_them() {
    let p = write("kind.toml", "[[backup.jobs]]\nname = \"pg\"\nkind = \"dump\"\nservice = \"db\"\n");
    let (code, _, err) = run(bin().arg("--config").arg(&p).arg("status"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:3:8: unknown variant `dump`, expected one of `exec`, `copy`, `paths`", p.display())),
        "{err}"
    );
    assert!(err.contains("fix: use one of the values listed"), "{err}");
    let p = write(
        "verify.toml",
        "[[backup.jobs]]\nname = \"pg\"\nkind = \"exec\"\nservice = \"db\"\ncommand = [\"x\"]\nverify = \"mysql\"\n",
    );
    let (code, _, err) = run(bin().arg("--config").arg(&p).arg("status"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(":6:10: unknown variant `mysql`, expected `postgres`"), "{err}");
}

#[test]
fn each_way_an_engine_socket_can_be_wrong_has_its_own_message() {
    let dir = std::env::temp_dir().join(format!("sd-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    std::fs::write(dir.join("a-file"), b"not a socket").unwrap();
    // A socket nobody accepts on: bound, then its listener gone.
    let dead = dir.join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    for (path, expected) in [
        ("missing.sock", "no engine socket at"),
        ("a-directory", "is a directory, not an engine socket"),
        ("a-file", "is not a socket"),
        ("dead.sock", "refused the connection"),
    ] {
        let host = format!("unix://{}", dir.join(path).display());
        let (code, _, err) = run(bin().args(["--host", &host, "status"]));
        assert_eq!(code, 1, "{path}: {err}");
        assert!(err.contains(expected), "{path}: {err}");
        assert!(!err.contains("client error (Connect)"), "{path}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_socket_the_user_may_not_open_says_permission_denied() {
    let dir = std::env::temp_dir().join(format!("sd-perm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.join("engine.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    // As an unprivileged user (the tests run as root, which no file mode stops).
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--host", &format!("unix://{}", sock.display()), "status"])
        .env("HOME", "/nonexistent")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied on") && err.contains("docker group"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn numbers_out_of_range_and_an_empty_state_dir_are_refused_at_their_line() {
    for (text, line, range) in [
        ("[engine]\nresync_secs = 18446744073709551615\n", 2, "use 5 to 86400 seconds"),
        ("[backup]\nkeep_days = 4294967295\n", 2, "use 1 to 3650 days"),
        ("[ui]\nmouse = true\n[timeline]\nkeep = 10\n", 4, "use 100 to 100000 rows"),
        ("[timeline]\nsince_secs = 99999999999\n", 2, "use 0 to 604800 seconds"),
        ("[services.bot]\nkill_switch = true\ngate_tries = 0\n", 3, "use 1 to 1000 tries"),
        ("[host]\ncpu_percent = nan\n", 2, "use a number from 0 to 100"),
        ("[state]\ndir = \"\"\n", 2, "name a directory"),
    ] {
        let p = write("range.toml", text);
        let (code, _, err) = run(bin().arg("--config").arg(&p).arg("status"));
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(&format!("{}:{line}:1:", p.display())), "{text}: {err}");
        assert!(err.contains(range), "{text}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
