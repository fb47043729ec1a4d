//! The DR drill (issue 11, point 7), on the real engine: the trading-bot simulator writes what
//! its logs claim (fills to PostgreSQL, positions to Redis, ticks to InfluxDB); `stackdeck
//! guard` runs the scheduled backup of all three; the data is deleted; each job is restored with
//! `stackdeck restore`, and the rows, keys and points are back.

mod common;

use common::{Project, Sd, docker_ok, health_of, require_engine, wait_for};
use std::time::Duration;

const PG: u16 = 31461;
const REDIS: u16 = 31462;
const INFLUX_HTTP: u16 = 31463;
const INFLUX_RPC: u16 = 31464;
const BOT: u16 = 31259;

fn count(s: &str) -> Option<u64> {
    s.split(|c: char| !c.is_ascii_digit()).rfind(|t| !t.is_empty())?.parse().ok()
}

struct Stores {
    pg: String,
    redis: String,
    influx: String,
}

impl Stores {
    fn trades(&self) -> Option<u64> {
        let o = common::docker(&[
            "exec",
            &self.pg,
            "psql",
            "-U",
            "trader",
            "-d",
            "trading",
            "-Atc",
            "SELECT count(*) FROM trades",
        ]);
        o.status.success().then(|| count(&String::from_utf8_lossy(&o.stdout))).flatten()
    }

    fn trades_total(&self) -> Option<u64> {
        let o = common::docker(&["exec", &self.redis, "redis-cli", "GET", "trades_total"]);
        count(&String::from_utf8_lossy(&o.stdout))
    }

    fn ticks(&self) -> Option<u64> {
        let q = "SELECT count(bid) FROM ticks";
        let port = INFLUX_HTTP.to_string();
        let o = common::docker(&[
            "exec",
            &self.influx,
            "influx",
            "-host",
            "127.0.0.1",
            "-port",
            &port,
            "-database",
            "trading",
            "-format",
            "csv",
            "-execute",
            q,
        ]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.lines().nth(1).and_then(count)
    }
}

fn config(project: &str) -> String {
    format!(
        r#"[services."{project}/bot"]
kill_switch = true
stop_grace_secs = 5
[guard]
metrics = "127.0.0.1:31267"
[backup]
schedule = "* * * * *"
keep_count = 5

[[backup.jobs]]
name = "postgres"
kind = "exec"
service = "{project}/postgres"
command = ["pg_dump", "--clean", "--if-exists", "-U", "trader", "trading"]
verify = "postgres"
user = "trader"
database = "trading"

[[backup.jobs]]
name = "redis"
kind = "copy"
service = "{project}/redis"
command = ["redis-cli", "SAVE"]
path = "/data/dump.rdb"
restore = ["sh", "-c", "cat > /data/stackdeck-restore.rdb && redis-cli CONFIG SET appendonly no >/dev/null && redis-cli CONFIG SET save '' >/dev/null && mv /data/stackdeck-restore.rdb /data/dump.rdb"]
restore_restart = true
restore_check = ["redis-cli", "GET", "trades_total"]
confirm = "redis"

[[backup.jobs]]
name = "influxdb"
kind = "exec"
service = "{project}/influxdb"
command = ["sh", "-c", "rm -rf /tmp/sdb && influxd backup -portable -host $INFLUXDB_BIND_ADDRESS -db trading /tmp/sdb >&2 && tar -C /tmp/sdb -cf - . && rm -rf /tmp/sdb"]
extension = "tar"
restore = ["sh", "-c", "rm -rf /tmp/sdr && mkdir -p /tmp/sdr && tar -C /tmp/sdr -xf - && influx -host 127.0.0.1 -port {INFLUX_HTTP} -execute 'DROP DATABASE trading' && influxd restore -portable -host $INFLUXDB_BIND_ADDRESS -db trading /tmp/sdr >&2 && rm -rf /tmp/sdr"]
restore_check = ["influx", "-host", "127.0.0.1", "-port", "{INFLUX_HTTP}", "-database", "trading", "-format", "csv", "-execute", "SELECT count(bid) FROM ticks"]
confirm = "ticks"
"#
    )
}

#[test]
fn a_scheduled_backup_brings_back_the_bots_trades_positions_and_ticks() {
    require_engine();
    let mut p = Project::new("drill");
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
            &format!("PGPORT={PG}"),
        ],
        &["fx-postgres:15"],
    );
    let redis = p.run("redis", &["-e", &format!("REDIS_PORT={REDIS}")], &["fx-redis:7"]);
    let influx = p.run(
        "influxdb",
        &[
            "-e",
            &format!("INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:{INFLUX_HTTP}"),
            "-e",
            &format!("INFLUXDB_BIND_ADDRESS=127.0.0.1:{INFLUX_RPC}"),
            "-e",
            &format!("INFLUX_HTTP=127.0.0.1:{INFLUX_HTTP}"),
        ],
        &["fx-influxdb:1.6"],
    );
    wait_for("the stores healthy", Duration::from_secs(120), || {
        [&pg, &redis, &influx].iter().all(|c| health_of(c) == "healthy").then_some(())
    });
    let _bot = p.run(
        "bot",
        &[
            "-e",
            &format!("SIM_PORT={BOT}"),
            "-e",
            &format!("SIM_PG_URL=postgresql://trader:fx@127.0.0.1:{PG}/trading?sslmode=disable"),
            "-e",
            &format!("SIM_REDIS=127.0.0.1:{REDIS}"),
            "-e",
            &format!("SIM_INFLUX=127.0.0.1:{INFLUX_HTTP}"),
            "-e",
            "SIM_LOG_INTERVAL=0.2",
        ],
        &["fx-trading-bot:1"],
    );
    let stores = Stores { pg: pg.clone(), redis: redis.clone(), influx: influx.clone() };
    wait_for("the bot's data in all three stores", Duration::from_secs(120), || {
        (stores.trades()? >= 3 && stores.trades_total()? >= 3 && stores.ticks()? >= 3).then_some(())
    });
    let sd = Sd::new("drill", &config(&p.name));
    // The bot is stopped first: what the backup holds is what must come back.
    let (code, out, err) = sd.run(&["stop", &format!("{}/bot", p.name), "--yes", "--reason", "drill"]);
    assert_eq!(code, 0, "{out}{err}");
    std::thread::sleep(Duration::from_secs(1));
    let (trades, total, ticks) = (stores.trades().unwrap(), stores.trades_total().unwrap(), stores.ticks().unwrap());
    let log = sd.state.parent().unwrap().join("guard.log");
    let mut guard = std::process::Command::new(env!("CARGO_BIN_EXE_stackdeck"))
        .arg("--state-dir")
        .arg(&sd.state)
        .arg("--config")
        .arg(&sd.config)
        .arg("guard")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let backup = wait_for("the scheduled backup", Duration::from_secs(150), || {
        let list: Vec<serde_json::Value> = serde_json::from_str(&sd.run(&["backups", "--json"]).1).ok()?;
        list.into_iter().find(|b| b["status"] == "good")
    });
    let _ = std::process::Command::new("kill").arg(guard.id().to_string()).status();
    let _ = guard.wait();
    let id = backup["id"].as_str().unwrap().to_owned();
    assert_eq!(backup["jobs"].as_array().unwrap().len(), 3, "{backup}");
    // The disaster.
    docker_ok(&["exec", &pg, "psql", "-U", "trader", "-d", "trading", "-c", "DELETE FROM trades"]);
    docker_ok(&["exec", &redis, "redis-cli", "FLUSHALL"]);
    let port = INFLUX_HTTP.to_string();
    docker_ok(&["exec", &influx, "influx", "-host", "127.0.0.1", "-port", &port, "-execute", "DROP DATABASE trading"]);
    assert_eq!(stores.trades(), Some(0));
    assert_eq!(stores.trades_total(), None);
    // Each back, each verified by its own check.
    for job in ["postgres", "redis", "influxdb"] {
        let (code, out, err) = sd.run(&["restore", &id, job, "--yes"]);
        assert_eq!(code, 0, "restore {job}: {out}{err}");
        assert!(out.contains(&format!("restored {id}/{job}")), "{out}");
    }
    assert_eq!(stores.trades(), Some(trades), "the trades are back");
    wait_for("redis back", Duration::from_secs(60), || (stores.trades_total() == Some(total)).then_some(()));
    assert_eq!(stores.ticks(), Some(ticks), "the ticks are back");
    let h = sd.history();
    let restores: Vec<_> = h.iter().filter(|r| r["action"] == "restore" && r["outcome"] == "succeeded").collect();
    assert_eq!(restores.len(), 3, "{h:?}");
    assert!(
        restores.iter().any(|r| r["transcript"].as_str().unwrap().contains(&format!("check: {total}"))),
        "{restores:?}"
    );
    assert!(std::fs::read_to_string(&log).unwrap().contains("scheduled backup"));
}
