//! Logs across services and out of the panel, on the real engine: the Logs pane's merged mode
//! (every service of a project by time, a jump to a moment), its export keys (a 0600 file in the
//! state dir, masked and inert, plain text or JSON lines; a full disk leaves no partial file) and
//! `stackdeck logs` (several services merged by time, --since/--until, --json).

mod common;

use common::disk::SmallDisk;
use common::{Project, Tmux, require_engine};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const SECRET: &str = "sk_live_abcdefghijklmnop";

/// A container that logs `n` lines of `word`, each with a terminal escape, a BEL and a secret,
/// `pause` busybox usleep microseconds apart, then sleeps.
fn logger(p: &mut Project, service: &str, word: &str, n: u32, pause: u32) -> String {
    gated_logger(p, service, word, n, pause, None)
}

/// A logger that starts writing only once `gate/go` exists (a directory of the test's, mounted):
/// loggers started one after the other on a busy machine still write at the same time.
fn gated_logger(p: &mut Project, service: &str, word: &str, n: u32, pause: u32, gate: Option<&Path>) -> String {
    let wait = if gate.is_some() { "while [ ! -e /gate/go ]; do usleep 20000; done; " } else { "" };
    let script = format!(
        "{wait}i=1; while [ $i -le {n} ]; do printf '{word} %d \\033[2J\\033]0;pwn\\007 token={SECRET}\\n' $i; \
         usleep {pause}; i=$((i+1)); done; sleep 3600"
    );
    let mount = gate.map(|g| format!("{}:/gate:ro", g.display()));
    let args: Vec<&str> = mount.as_deref().map(|m| vec!["-v", m]).unwrap_or_default();
    p.run(service, &args, &["bb:1", "sh", "-c", &script])
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what}: a secret was written:\n{text}");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{what}: a raw control character:\n{text:?}");
}

/// The panel on `project` in tmux, with its own state dir: (tmux, the test's dir, the state dir).
fn panel(test: &str, project: &str, w: u16, h: u16) -> (Tmux, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sd-{test}-{}", std::process::id()));
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cmd = format!(
        "XDG_CONFIG_HOME=/nonexistent {} --project {project} --state-dir {}; sleep 600",
        env!("CARGO_BIN_EXE_stackdeck"),
        state.display()
    );
    (Tmux::start(&format!("sd-{test}"), w, h, &cmd), dir, state)
}

fn exports(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    v.retain(|p| p.file_name().unwrap().to_str().unwrap().starts_with("logs-"));
    v.sort();
    v
}

#[test]
fn the_logs_pane_exports_masked_0600_text_and_json_and_a_full_disk_leaves_nothing() {
    require_engine();
    let mut p = Project::new("export");
    logger(&mut p, "feed", "line", 150, 0);
    let (t, dir, state) = panel("export", &p.name, 80, 24);
    t.wait("the service", |s| s.contains("feed"));
    t.keys(&["Enter"]);
    t.wait("its last line", |s| s.contains("line 150"));
    t.keys(&["C-s"]);
    t.wait("the notice", |s| s.contains("exported 150 lines to"));
    let out = state.join("exports");
    let files = exports(&out);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), 150);
    assert_clean("text export", &text);
    let first = text.lines().next().unwrap();
    assert!(first.contains(&format!(" {}/feed | line 1 ", p.name)) && first.contains("token=****"), "{first}");
    assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o700);

    t.keys(&["M-s"]);
    // The file exists from its first byte: wait until all of it is written.
    let (json, body) = common::wait_for("the JSON export", std::time::Duration::from_secs(30), || {
        let f = exports(&out).into_iter().find(|f| f.extension().unwrap() == "jsonl")?;
        let body = std::fs::read_to_string(&f).ok()?;
        (body.lines().count() == 150 && body.ends_with('\n')).then_some((f, body))
    });
    assert_clean("JSON export", &body);
    let rows: Vec<serde_json::Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 150);
    assert_eq!(rows[0]["service"], format!("{}/feed", p.name));
    assert!(rows[149]["text"].as_str().unwrap().starts_with("line 150 "), "{}", rows[149]);
    assert_eq!(std::fs::metadata(&json).unwrap().permissions().mode() & 0o777, 0o600);

    // A full disk: the exports dir on a tmpfs with one page free. The write fails, says so,
    // and leaves no partial file behind.
    let disk = SmallDisk::mount("export", 12);
    std::fs::write(disk.0.join("filler"), vec![0u8; 8 * 1024]).unwrap();
    let full = state.join("exports");
    std::fs::remove_dir_all(&full).unwrap();
    std::os::unix::fs::symlink(&disk.0, &full).unwrap();
    t.keys(&["C-s"]);
    t.wait("the failure said", |s| s.contains("export failed"));
    assert_eq!(disk.files(), vec!["filler".to_owned()], "a partial export was left");
    t.keys(&["q"]);
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sd_logs(project: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .args(["--project", project, "logs"])
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.code().unwrap_or(-1), text(&o.stdout), text(&o.stderr))
}

#[test]
fn stackdeck_logs_merges_services_by_time_between_since_and_until() {
    require_engine();
    let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(2);
    let mut p = Project::new("cli-logs");
    let gate = std::env::temp_dir().join(format!("sd-cli-logs-gate-{}", std::process::id()));
    std::fs::create_dir_all(&gate).unwrap();
    let a = gated_logger(&mut p, "alpha", "alpha", 6, 150_000, Some(&gate));
    let b = gated_logger(&mut p, "beta", "beta", 6, 150_000, Some(&gate));
    std::fs::write(gate.join("go"), b"").unwrap();
    common::wait_for("both loggers done", std::time::Duration::from_secs(30), || {
        let done = |c: &str| String::from_utf8_lossy(&common::docker(&["logs", c]).stdout).contains(" 6 ");
        (done(&a) && done(&b)).then_some(())
    });
    let (code, out, err) = sd_logs(&p.name, &["alpha", "beta", "--since", "10m", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_clean("stackdeck logs --json", &out);
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 12, "{out}");
    let times: Vec<jiff::Timestamp> = rows.iter().map(|r| r["time"].as_str().unwrap().parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order: {times:?}");
    let services: Vec<&str> = rows.iter().map(|r| r["service"].as_str().unwrap()).collect();
    // Interleaved, not one service after the other.
    assert!(services.windows(2).filter(|w| w[0] != w[1]).count() >= 3, "{services:?}");
    // Plain text: the same lines, masked.
    let (code, text, _) = sd_logs(&p.name, &["alpha", &format!("{}/beta", p.name)]);
    assert_eq!(code, 0);
    assert_eq!(text.lines().count(), 12);
    assert!(text.lines().all(|l| l.contains("token=****")), "{text}");
    // --until before anything was logged: nothing. An unknown service: said, exit 1.
    let (code, none, _) = sd_logs(&p.name, &["alpha", "--until", &before.to_string()]);
    assert_eq!((code, none.as_str()), (0, ""));
    let (code, _, err) = sd_logs(&p.name, &["gamma\u{1b}[2J"]);
    assert_eq!(code, 1);
    assert!(err.contains("no container of gamma") && !err.contains('\u{1b}'), "{err}");
    // A bad moment and an absurd limit are errors that say what to write.
    let (code, _, err) = sd_logs(&p.name, &["--since", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a time: write"), "{err}");
    let (code, _, err) = sd_logs(&p.name, &["--limit", "0"]);
    assert_eq!(code, 2, "{err}");
    // The limit keeps the newest lines and says how many were left out.
    let (code, two, err) = sd_logs(&p.name, &["--limit", "2"]);
    assert_eq!((code, two.lines().count()), (0, 2));
    assert!(err.contains("10 older lines left out"), "{err}");
    let _ = std::fs::remove_dir_all(&gate);
}

#[test]
fn merged_logs_interleave_the_projects_services_jump_to_a_time_and_export() {
    require_engine();
    let mut p = Project::new("merged");
    for name in ["alpha", "beta", "gamma"] {
        logger(&mut p, name, name, 100_000, 200_000);
    }
    let (t, dir, state) = panel("merged", &p.name, 100, 30);
    t.wait("the services", |s| s.contains("alpha") && s.contains("gamma"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let moment = jiff::Timestamp::now();
    std::thread::sleep(std::time::Duration::from_secs(2));
    t.keys(&["Enter"]);
    t.wait("one service's logs", |s| s.contains("Logs sdt-merged"));
    t.keys(&["m"]);
    let s = t.wait("lines of all three, tagged", |s| {
        s.contains("merged · 3 containers") && ["alpha alpha", "beta beta", "gamma gamma"].iter().all(|w| s.contains(w))
    });
    assert!(!s.contains(SECRET), "{s}");
    // The moment, as `@` and an RFC 3339 time: the view pauses there.
    t.keys(&["/"]);
    t.keys(&["-l", &format!("@{moment}")]);
    t.keys(&["Enter"]);
    t.wait("paused at the moment", |s| s.contains("[PAUSED]"));
    // The export of merged logs holds every service, in time order.
    t.keys(&["C-s"]);
    t.wait("the export", |s| s.contains("exported"));
    let files = exports(&state.join("exports"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_clean("merged export", &text);
    assert!(files[0].to_str().unwrap().contains("logs-merged-"), "{files:?}");
    let times: Vec<jiff::Timestamp> = text.lines().map(|l| l.split(' ').next().unwrap().parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    // Each line under its own service, not under "merged".
    for w in [" alpha | alpha ", " beta | beta ", " gamma | gamma "] {
        assert!(text.contains(w), "{w} missing from the export");
    }
    // Off again: one service's logs.
    t.keys(&["m"]);
    t.wait("one service again", |s| !s.contains("merged ·") && s.contains("Logs sdt-merged"));
    t.keys(&["q"]);
    let _ = std::fs::remove_dir_all(&dir);
}
