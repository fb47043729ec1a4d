//! A real sshd on 127.0.0.1 for the remote-engine tests: Debian's openssh-server with a host key
//! and a client key made here, its own authorized_keys file, and an ssh_config for the client
//! (ssh finds `~/.ssh` through the passwd entry, not `$HOME`, so the test never touches root's).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    /// The address it listens on (127.0.0.1, or a network namespace's own).
    pub addr: String,
    child: Option<Child>,
}

fn run(cmd: &mut Command) {
    let o = cmd.output().expect("ssh tools (openssh-client, openssh-server)");
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
}

impl Sshd {
    pub fn start(tag: &str, port: u16) -> Sshd {
        Sshd::start_at(tag, port, "127.0.0.1", None)
    }

    /// In network namespace `netns` (made by the test), listening on `addr` there.
    pub fn start_at(tag: &str, port: u16, addr: &str, netns: Option<&str>) -> Sshd {
        let dir = std::env::temp_dir().join(format!("sd-sshd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        for k in ["hostkey", "id", "other"] {
            run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join(k)));
        }
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/sbin/sshd"]);
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        let child = cmd
            .args(["-D", "-e", "-f", "/dev/null"])
            .args(["-o", &format!("Port={port}"), "-o", &format!("ListenAddress={addr}")])
            .arg("-o")
            .arg(format!("HostKey={}", dir.join("hostkey").display()))
            .args(["-o", "PermitRootLogin=prohibit-password", "-o", "StrictModes=no", "-o", "MaxStartups=100"])
            .arg("-o")
            .arg(format!("PidFile={}", dir.join("pid").display()))
            .arg("-o")
            .arg(format!("AuthorizedKeysFile={}", dir.join("authorized_keys").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.join("sshd.log")).unwrap()))
            .spawn()
            .expect("sshd (openssh-server) starts");
        let sshd = Sshd { port, dir, addr: addr.to_owned(), child: Some(child) };
        let keys = super::wait_for("sshd answers", Duration::from_secs(30), || {
            let o = Command::new("ssh-keyscan").args(["-p", &port.to_string(), addr]).output().ok()?;
            (o.status.success() && !o.stdout.is_empty()).then_some(o.stdout)
        });
        std::fs::write(sshd.dir.join("known_hosts"), keys).unwrap();
        std::fs::write(sshd.dir.join("empty_known_hosts"), "").unwrap();
        sshd.config("ssh_config", "id", "known_hosts");
        sshd.config("ssh_config_unknown_host", "id", "empty_known_hosts");
        sshd.config("ssh_config_wrong_key", "other", "known_hosts");
        sshd
    }

    fn config(&self, name: &str, key: &str, known: &str) {
        std::fs::write(
            self.dir.join(name),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
                self.dir.join(key).display(),
                self.dir.join(known).display()
            ),
        )
        .unwrap();
    }

    /// The stack config that points stackdeck's ssh at one of the client configs.
    pub fn stack_config(&self, ssh_config: &str) -> String {
        format!("[engine]\npull = false\nssh_config = \"{}\"\n", self.dir.join(ssh_config).display())
    }

    /// `ssh://root@ADDR:PORT/socket`.
    pub fn url(&self, socket: &str) -> String {
        format!("ssh://root@{}:{}{socket}", self.addr, self.port)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
