//! A private PostgreSQL server on 127.0.0.1 for the shared-store tests: Debian's server binaries,
//! a cluster made here with `initdb` (password authentication, a user and password made here),
//! run as the `postgres` system user (the server refuses to run as root).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
    pub password: String,
    child: Option<Child>,
}

fn bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (apt-get install postgresql; scripts/engine.sh does)")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {name} under /usr/lib/postgresql/*/bin"))
}

fn as_postgres(cmd: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--", "sh", "-c", cmd]);
    c
}

impl Postgres {
    pub fn start(tag: &str, port: u16) -> Postgres {
        let dir = std::env::temp_dir().join(format!("sd-pg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let password = format!("pw-{}-{tag}", std::process::id());
        std::fs::write(dir.join("pwfile"), &password).unwrap();
        assert!(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap().success());
        let data = dir.join("data");
        let o = as_postgres(&format!(
            "{} -D {} -U stackdeck --auth=scram-sha-256 --pwfile={} >/dev/null",
            bin("initdb").display(),
            data.display(),
            dir.join("pwfile").display()
        ))
        .output()
        .unwrap();
        assert!(o.status.success(), "initdb: {}", String::from_utf8_lossy(&o.stderr));
        let mut pg = Postgres { port, dir, password, child: None };
        pg.resume();
        pg
    }

    /// Start (again) the server on the same cluster.
    pub fn resume(&mut self) {
        let child = as_postgres(&format!(
            "exec {} -D {} -p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            bin("postgres").display(),
            self.dir.join("data").display(),
            self.port,
            self.dir.display()
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(self.dir.join("server.log")).map(Stdio::from).unwrap_or(Stdio::null()))
        .spawn()
        .unwrap();
        self.child = Some(child);
        super::wait_for("postgres accepting connections", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).ok().map(|_| ())
        });
    }

    /// Stop the server (fast shutdown: sessions are ended).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // The child is runuser, which does not pass signals on: signal the server itself.
            let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().map(str::to_owned))
                .unwrap_or_else(|| c.id().to_string());
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("postgres://stackdeck@127.0.0.1:{}/postgres", self.port)
    }

    /// Run SQL with psql as the stackdeck user; stdout.
    pub fn psql(&self, sql: &str) -> (bool, String) {
        let o = Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", &self.url(), "-c", sql])
            .env("PGPASSWORD", &self.password)
            .output()
            .unwrap();
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
