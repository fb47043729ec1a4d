//! Backups against real PostgreSQL and Redis containers (fixture images from Debian packages).

mod common;

use common::disk::SmallDisk;
use common::{Project, docker_ok, health_of, require_engine, wait_for};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn sd(dir: &std::path::Path, cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn psql(c: &str, sql: &str) -> String {
    docker_ok(&["exec", c, "psql", "-tAX", "-U", "trader", "trading", "-c", sql])
}

struct Setup {
    p: Project,
    pg: String,
    dir: PathBuf,
    cfg: PathBuf,
}

fn setup(tag: &str, pgport: u16, redisport: u16, extra_jobs: &str) -> Setup {
    require_engine();
    let mut p = Project::new(tag);
    let pg = p.run(
        "postgres",
        &[
            "-e",
            "POSTGRES_USER=trader",
            "-e",
            "POSTGRES_PASSWORD=fx",
            "-e",
            "POSTGRES_DB=trading",
            "-e",
            &format!("PGPORT={pgport}"),
        ],
        &["fx-postgres:15"],
    );
    let redis = p.run("redis", &["-e", &format!("REDIS_PORT={redisport}")], &["fx-redis:7"]);
    wait_for("postgres and redis healthy", Duration::from_secs(90), || {
        (health_of(&pg) == "healthy" && health_of(&redis) == "healthy").then_some(())
    });
    psql(
        &pg,
        "CREATE TABLE trades (id serial primary key, symbol text); INSERT INTO trades (symbol) SELECT 'BTC-USD' FROM generate_series(1, 1000);",
    );
    docker_ok(&["exec", &redis, "redis-cli", "SET", "position:BTC-USD", "1.5"]);
    let dir = std::env::temp_dir().join(format!("sd-backup-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/app.toml"), "api_key = \"from-config\"\n").unwrap();
    let cfg = dir.join("config.toml");
    let proj = &p.name;
    std::fs::write(
        &cfg,
        format!(
            r#"[backup]
keep_days = 7
keep_count = 2

[[backup.jobs]]
name = "postgres"
kind = "exec"
service = "{proj}/postgres"
command = ["pg_dump", "--clean", "--if-exists", "-U", "trader", "trading"]
verify = "postgres"
user = "trader"
database = "trading"

[[backup.jobs]]
name = "redis"
kind = "copy"
service = "{proj}/redis"
command = ["redis-cli", "SAVE"]
path = "/data/dump.rdb"

[[backup.jobs]]
name = "config"
kind = "paths"
paths = ["{etc}"]
{extra_jobs}"#,
            etc = dir.join("etc").display()
        ),
    )
    .unwrap();
    Setup { p, pg, dir, cfg }
}

#[test]
fn backup_verify_retention_and_restore_round_trip() {
    let s = setup("bk", 55442, 56389, "");
    // Two stale backups that retention must remove: one older than keep_days, and one too many.
    let root = s.dir.join("state/backups");
    for (id, created) in [("20200101T000000Z", "2020-01-01T00:00:00Z"), ("20200102T000000Z", "2020-01-02T00:00:00Z")] {
        std::fs::create_dir_all(root.join(id)).unwrap();
        std::fs::write(
            root.join(id).join("manifest.json"),
            format!(r#"{{"id":"{id}","created":"{created}","status":"good","jobs":[]}}"#),
        )
        .unwrap();
    }
    let (code, out, err) = sd(&s.dir, &s.cfg, &["backup"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restore into a scratch database"), "{out}");
    let (_, out, _) = sd(&s.dir, &s.cfg, &["backups", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 1, "retention removed the stale backups: {out}");
    let m = &list[0];
    assert_eq!(m["status"], "good");
    let dir = root.join(m["id"].as_str().unwrap());
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for job in m["jobs"].as_array().unwrap() {
        let f = dir.join(job["file"].as_str().unwrap());
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} holds secrets", f.display());
        // The manifest's checksum is the file's.
        let sum = Command::new("sha256sum").arg(&f).output().unwrap();
        assert!(String::from_utf8_lossy(&sum.stdout).starts_with(job["sha256"].as_str().unwrap()), "{job}");
        assert!(job["bytes"].as_u64().unwrap() > 0);
    }
    // Redis: the RDB file, gzipped.
    let rdb = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc {}/redis.rdb.gz | head -c 5", dir.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rdb.stdout), "REDIS");
    // No scratch database is left behind.
    assert_eq!(psql(&s.pg, "SELECT count(*) FROM pg_database WHERE datname LIKE 'stackdeck_verify_%'"), "0");

    // Restore: the data comes back.
    psql(&s.pg, "DELETE FROM trades");
    let id = m["id"].as_str().unwrap().to_owned();
    let (code, _, err) = sd(&s.dir, &s.cfg, &["restore", &id, "postgres"]);
    assert_eq!(code, 2, "no TTY and no --yes: refused: {err}");
    let (code, out, err) = sd(&s.dir, &s.cfg, &["restore", &id, "postgres", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(psql(&s.pg, "SELECT count(*) FROM trades"), "1000");
    let (_, out, _) = sd(&s.dir, &s.cfg, &["history", "--json"]);
    let h: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(h[0]["action"], "restore");
    assert_eq!(h[1]["action"], "backup");
    assert_eq!(h[1]["outcome"], "succeeded");
    let _ = std::fs::remove_dir_all(&s.dir);
    drop(s.p);
}

#[test]
fn a_dump_that_does_not_restore_marks_the_backup_failed() {
    let bad = r#"
[[backup.jobs]]
name = "bogus"
kind = "exec"
service = "{P}/postgres"
command = ["sh", "-c", "echo 'THIS IS NOT SQL;'"]
verify = "postgres"
user = "trader"
database = "trading"
"#;
    let mut s = setup("bkbad", 55443, 56390, "");
    let text = std::fs::read_to_string(&s.cfg).unwrap() + &bad.replace("{P}", &s.p.name);
    std::fs::write(&s.cfg, text).unwrap();
    let (code, out, err) = sd(&s.dir, &s.cfg, &["backup"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("marked failed") && err.contains("bogus"), "{err}");
    let (_, out, _) = sd(&s.dir, &s.cfg, &["backups", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["status"], "failed");
    // A failed backup is never restored.
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let (code, _, err) = sd(&s.dir, &s.cfg, &["restore", &id, "postgres", "--yes"]);
    assert_eq!(code, 3, "{err}");
    s.cfg = PathBuf::new();
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn a_full_disk_leaves_no_partial_backup_and_the_record_says_what_happened() {
    require_engine();
    let mut p = Project::new("fulldisk");
    p.run("data", &[], &["bb:1", "sleep", "600"]);
    let disk = SmallDisk::mount("backup", 256);
    let dir = std::env::temp_dir().join(format!("sd-fulldisk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    // 4 MB of random data does not fit (nor compress) into 256 KiB.
    std::fs::write(
        &cfg,
        format!(
            "[backup]\ndir = \"{}\"\n[[backup.jobs]]\nname = \"big\"\nkind = \"exec\"\nservice = \"{}/data\"\ncommand = [\"head\", \"-c\", \"4000000\", \"/dev/urandom\"]\nextension = \"bin\"\n[[backup.jobs]]\nname = \"small\"\nkind = \"exec\"\nservice = \"{}/data\"\ncommand = [\"echo\", \"hello\"]\nextension = \"txt\"\n",
            disk.0.display(),
            p.name,
            p.name
        ),
    )
    .unwrap();
    let (code, out, err) = sd(&dir, &cfg, &["backup", "big"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("No space left on device"), "the reason is said: {out}{err}");
    let files = disk.files();
    assert!(files.iter().all(|f| f.ends_with("manifest.json")), "no partial output is kept: {files:?}");
    let (code, out, _) = sd(&dir, &cfg, &["backups"]);
    assert_eq!(code, 0);
    assert!(out.contains("failed") && out.contains("big(FAILED)"), "listed as failed, so retention sees it: {out}");
    let (code, out, _) = sd(&dir, &cfg, &["history", "--json"]);
    assert_eq!(code, 0);
    let h: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(h[0]["action"], "backup");
    assert_eq!(h[0]["outcome"], "failed", "{}", h[0]);
    assert!(h[0]["reason"].as_str().unwrap().contains("No space left"), "{}", h[0]);
    // The disk was not left full: the next (small) backup works.
    let (code, out, err) = sd(&dir, &cfg, &["backup", "small"]);
    assert_eq!(code, 0, "{out}{err}");
}
