//! `ssh://[user@]host[:port][/path/to/docker.sock]` engines through the system `ssh` client.
//!
//! One ssh connection per host and process: `ssh -L LOCAL.sock:REMOTE.sock HOST 'cat >/dev/null'`,
//! a local unix socket forwarded to the remote engine's socket (the remote `cat` ends when this
//! process does, however it ends, and ssh with it: no orphan). bollard talks to the local socket; every call
//! and stream (events, logs, stats, operations) is a channel of that one connection, not an ssh
//! session per HTTP request. The system client brings `~/.ssh/config` (aliases, keys,
//! ProxyJump), the agent and known_hosts; batch mode means it never waits on a prompt. A port
//! in the URL is passed with `-p` (bollard's own ssh transport drops it). No docker CLI is
//! needed on the remote host, only its socket.
//!
//! Failures are said in the user's terms within the connect timeout: an unknown host key (with
//! the command that fixes it), authentication refused, connection refused, a timeout, no engine
//! at the remote socket, permission denied on it.

use crate::domain::EngineError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long ssh may take to connect and set the forward up.
pub const CONNECT: Duration = Duration::from_secs(10);

/// The parts of an ssh:// engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The engine's socket on the remote host.
    pub socket: String,
}

pub fn parse(url: &str) -> Result<Target, String> {
    let rest = url.strip_prefix("ssh://").ok_or_else(|| format!("'{url}' is not an ssh:// address"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()).filter(|u| !u.is_empty()), h),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
            let port =
                p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("'{p}' in {url} is not a port"))?;
            (h.trim_start_matches('[').trim_end_matches(']').to_owned(), Some(port))
        }
        _ => (hostport.to_owned(), None),
    };
    let bad = |c: char| c.is_whitespace() || c.is_control();
    if host.is_empty() || host.starts_with('-') || host.chars().any(bad) {
        return Err(format!("'{url}' names no usable host"));
    }
    if user.as_deref().is_some_and(|u| u.starts_with('-') || u.chars().any(bad)) {
        return Err(format!("'{url}' names no usable user"));
    }
    let socket = if path.is_empty() || path == "/" { "/var/run/docker.sock".to_owned() } else { path.to_owned() };
    // The path goes into a remote command line (the diagnosis): plain characters only.
    if !socket.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c)) {
        return Err(format!("the socket path in '{url}' has characters stackdeck does not pass to a remote shell"));
    }
    Ok(Target { user, host, port, socket })
}

struct Tunnel {
    child: tokio::process::Child,
    /// Never written: when this process ends, however it ends (kill -9 included), the pipe
    /// closes, the remote `cat` sees end of input, and ssh exits with it. No orphan ssh.
    _lifeline: Option<tokio::process::ChildStdin>,
    local: PathBuf,
    /// What ssh said on stderr (the reason of a failure, channel errors later on).
    said: Arc<Mutex<String>>,
}

/// The stack's HTTP endpoints forwarded through the connection: (local port, host, port).
static FORWARDS: OnceLock<Vec<(u16, String, u16)>> = OnceLock::new();

/// Forward the stack's HTTP endpoints (`host:port`s as the server sees them) through every ssh
/// connection this process opens, each to a free local port; returns the routes for
/// [`crate::http::set_routes`]. Set once, before the first connection.
pub fn forward(origins: &[(String, u16)]) -> HashMap<(String, u16), u16> {
    let mut routes = HashMap::new();
    let mut list = Vec::new();
    for o in origins {
        if routes.contains_key(o) {
            continue;
        }
        // A free local port: bound and released here, taken by ssh a moment later.
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else { continue };
        let Ok(addr) = l.local_addr() else { continue };
        drop(l);
        routes.insert(o.clone(), addr.port());
        list.push((addr.port(), o.0.clone(), o.1));
    }
    let _ = FORWARDS.set(list);
    routes
}

fn tunnels() -> &'static tokio::sync::Mutex<HashMap<String, Tunnel>> {
    static T: OnceLock<tokio::sync::Mutex<HashMap<String, Tunnel>>> = OnceLock::new();
    T.get_or_init(|| tokio::sync::Mutex::new(HashMap::new()))
}

/// The `unix://` address of a local socket that reaches the engine at `url`, opening the ssh
/// connection when this process has none to that engine (or its connection died).
/// `ssh_config`: an ssh_config file to use instead of the user's (`[engine] ssh_config`).
pub async fn local_socket(url: &str, ssh_config: Option<&Path>) -> Result<String, EngineError> {
    let target = parse(url).map_err(EngineError::Refused)?;
    let mut map = tunnels().lock().await;
    if let Some(t) = map.get_mut(url) {
        if t.child.try_wait().ok().flatten().is_none() && t.local.exists() {
            return Ok(format!("unix://{}", t.local.display()));
        }
        map.remove(url);
    }
    let t = open(url, &target, ssh_config).await?;
    let addr = format!("unix://{}", t.local.display());
    map.insert(url.to_owned(), t);
    Ok(addr)
}

/// Why the engine behind an open ssh connection does not answer, in the user's terms: the
/// forward failed (ssh says so), then a look at the remote socket over ssh tells a missing
/// engine from a socket the user may not open. `None` when ssh reported nothing.
pub async fn diagnose(url: &str, ssh_config: Option<&Path>) -> Option<String> {
    let target = parse(url).ok()?;
    let said_now = async || {
        let map = tunnels().lock().await;
        map.get(url).and_then(|t| t.said.lock().ok().map(|s| s.clone())).unwrap_or_default()
    };
    // ssh says it on stderr a moment after the failed request.
    let mut said = said_now().await;
    for _ in 0..10 {
        if said.contains("open failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        said = said_now().await;
    }
    if !said.contains("open failed") {
        return None;
    }
    let at = format!("{} on {}", target.socket, target.host);
    let check = |test: &'static str| {
        let mut c = base_command(&target, ssh_config);
        c.arg("--").arg(&target.host).arg(format!("test {test} '{}'", target.socket));
        c
    };
    let run = |mut c: tokio::process::Command| async move {
        tokio::time::timeout(CONNECT, c.output()).await.ok()?.ok().map(|o| o.status.success())
    };
    Some(match (run(check("-S")).await, run(check("-w")).await) {
        (Some(false), _) => format!(
            "no docker engine at {at}: is docker installed and running there? (or name its socket in the URL path)"
        ),
        (Some(true), Some(false)) => {
            format!("permission denied on {at}: the ssh user must be allowed to use the engine (the docker group)")
        }
        _ => channel_problem(&said, &target).unwrap_or_else(|| format!("the engine at {at} does not answer")),
    })
}

/// `ssh` with the options every call uses.
fn base_command(t: &Target, ssh_config: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ssh");
    if let Some(cfg) = ssh_config {
        cmd.arg("-F").arg(cfg);
    }
    cmd.args(["-o", "BatchMode=yes", "-o", &format!("ConnectTimeout={}", CONNECT.as_secs())]);
    if let Some(p) = t.port {
        cmd.arg("-p").arg(p.to_string());
    }
    if let Some(u) = &t.user {
        cmd.arg("-l").arg(u);
    }
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    cmd
}

fn channel_problem(said: &str, t: &Target) -> Option<String> {
    let at = format!("{} on {}", t.socket, t.host);
    if said.contains("open failed") && said.contains("No such file or directory") {
        Some(format!(
            "no docker engine at {at}: is docker installed and running there? (or name its socket in the URL path)"
        ))
    } else if said.contains("open failed") && said.contains("Permission denied") {
        Some(format!("permission denied on {at}: the ssh user must be allowed to use the engine (the docker group)"))
    } else if said.contains("open failed") && said.contains("Connection refused") {
        Some(format!("no engine answers at {at} (the socket exists; is dockerd running?)"))
    } else if said.contains("open failed") {
        Some(format!("the ssh server refused to forward to {at}: {}", last_line(said)))
    } else {
        None
    }
}

fn last_line(s: &str) -> String {
    crate::logtext::inert(s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()).into_owned()
}

async fn open(url: &str, t: &Target, ssh_config: Option<&Path>) -> Result<Tunnel, EngineError> {
    remove_stale_dirs();
    let dir = std::env::temp_dir().join(format!("stackdeck-ssh-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| EngineError::Refused(format!("cannot create {}: {e}", dir.display())))?;
    let name: String = url.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))).to_string();
    let local = dir.join(format!("{name}.sock"));
    let _ = std::fs::remove_file(&local);
    let mut cmd = base_command(t, ssh_config);
    cmd.args(["-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "ExitOnForwardFailure=yes"])
        .arg("-T")
        .arg("-L")
        .arg(format!("{}:{}", local.display(), t.socket));
    for (lport, host, port) in FORWARDS.get().map(Vec::as_slice).unwrap_or_default() {
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() };
        cmd.arg("-L").arg(format!("127.0.0.1:{lport}:{host}:{port}"));
    }
    // The remote command lives as long as this process holds its stdin (see Tunnel::_lifeline).
    cmd.arg("--")
        .arg(&t.host)
        .arg("cat >/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| EngineError::Refused(format!("cannot run ssh ({e}): install an OpenSSH client to reach {url}")))?;
    let lifeline = child.stdin.take();
    let said = Arc::new(Mutex::new(String::new()));
    if let Some(err) = child.stderr.take() {
        let said = said.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(mut s) = said.lock()
                    && s.len() < 16 * 1024
                {
                    s.push_str(&l);
                    s.push('\n');
                }
            }
        });
    }
    let deadline = tokio::time::Instant::now() + CONNECT + Duration::from_secs(2);
    loop {
        if local.exists() {
            return Ok(Tunnel { child, _lifeline: lifeline, local, said });
        }
        if let Ok(Some(_)) = child.try_wait() {
            // Let the stderr reader catch up with ssh's last words.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let text = said.lock().map(|s| s.clone()).unwrap_or_default();
            return Err(failure(&text, t));
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill().await;
            return Err(EngineError::Timeout(format!(
                "ssh to {} did not connect within {} s",
                t.host,
                CONNECT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

use std::os::unix::fs::DirBuilderExt;

/// Socket directories of stackdeck processes that are gone.
fn remove_stale_dirs() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("stackdeck-ssh-").and_then(|p| p.parse::<u32>().ok())
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Why ssh gave up, in the user's terms.
fn failure(said: &str, t: &Target) -> EngineError {
    let port = t.port.map(|p| format!(" -p {p}")).unwrap_or_default();
    let who = match (&t.user, t.port) {
        (Some(u), Some(p)) => format!("{u}@{}:{p}", t.host),
        (Some(u), None) => format!("{u}@{}", t.host),
        (None, Some(p)) => format!("{}:{p}", t.host),
        (None, None) => t.host.clone(),
    };
    if said.contains("Host key verification failed")
        || said.contains("No ED25519 host key is known")
        || said.contains("host key is not known")
    {
        EngineError::Refused(format!(
            "the host key of {who} is not known: check it, then add it with `ssh-keyscan{port} {} >> ~/.ssh/known_hosts`",
            t.host
        ))
    } else if said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        EngineError::Refused(format!(
            "the host key of {who} CHANGED since it was recorded: find out why before you remove the old one (ssh-keygen -R)"
        ))
    } else if said.contains("Permission denied") {
        EngineError::Refused(format!(
            "ssh authentication to {who} was refused: check the user, the key (ssh-add -l) and the remote authorized_keys"
        ))
    } else if said.contains("Connection refused") {
        EngineError::Unreachable(format!("ssh to {who}: connection refused (is sshd running there, on that port?)"))
    } else if said.contains("timed out") {
        EngineError::Timeout(format!("ssh to {who} timed out after {} s", CONNECT.as_secs()))
    } else if said.contains("Could not resolve hostname") {
        EngineError::Unreachable(format!("ssh: the host name {} does not resolve", t.host))
    } else {
        EngineError::Unreachable(format!("ssh to {who} failed: {}", last_line(said)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_user_port_and_socket_path() {
        let t = parse("ssh://deploy@10.0.0.5:2222/run/user/1000/docker.sock").unwrap();
        assert_eq!(
            t,
            Target {
                user: Some("deploy".into()),
                host: "10.0.0.5".into(),
                port: Some(2222),
                socket: "/run/user/1000/docker.sock".into()
            }
        );
        let t = parse("ssh://prod-eu").unwrap();
        assert_eq!((t.user, t.port, t.socket.as_str()), (None, None, "/var/run/docker.sock"));
        assert!(parse("ssh://host:0").is_err());
        assert!(parse("ssh://host:port").is_err());
        assert!(parse("ssh://-oProxyCommand=x").is_err(), "never an option in the host's place");
        assert!(parse("ssh://-l@host").is_err());
    }

    #[test]
    fn failures_in_the_users_terms() {
        let t = parse("ssh://root@127.0.0.1:22722").unwrap();
        let e = failure("Host key verification failed.\n", &t).to_string();
        assert!(e.contains("ssh-keyscan -p 22722 127.0.0.1 >> ~/.ssh/known_hosts"), "{e}");
        assert!(failure("root@127.0.0.1: Permission denied (publickey).\n", &t).to_string().contains("refused"));
        let e = failure("ssh: connect to host 127.0.0.1 port 22722: Connection refused\n", &t).to_string();
        assert!(e.contains("connection refused"), "{e}");
        let said = "channel 2: open failed: connect failed: open failed\nconnect to /x.sock port -2 failed: No such file or directory";
        assert!(channel_problem(said, &t).unwrap().contains("no docker engine at /var/run/docker.sock on 127.0.0.1"));
    }
}
