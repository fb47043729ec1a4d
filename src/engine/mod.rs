//! The only module that talks to the Docker engine (and the only one that imports bollard).
//!
//! [`spawn`] starts a supervisor task that connects, lists, follows the events stream with a
//! slow periodic resync, keeps one stats stream per running container and at most one log
//! stream, and reports everything as [`Msg`]s. Engine trouble is reported as
//! `EngineEvent::Unreachable` and retried with backoff; it never turns into an empty list.

mod beside;
mod cgroup_stats;
mod containers;
mod convert;
pub mod endpoint;
mod evidence;
mod happenings;
mod images;
pub mod inspect;
pub mod log_range;
mod log_wire;
mod logs;
mod raw_get;
mod recipe;
mod service_tasks;
mod session;
pub mod shell;
pub mod ssh;
mod stats;
mod supervisor;
mod swarm;
mod swarm_backend;
mod swarm_rollout;
mod swarm_session;
mod swarm_watch;
mod unverified;
mod wire_decode;

/// The engine's default grace between the stop signal and SIGKILL.
const ENGINE_STOP_TIMEOUT: u32 = 10;

pub use containers::ContainerBackend;
pub use endpoint::Endpoint;
pub use images::{keep_repo, repo_of};
pub use swarm_backend::SwarmBackend;

use crate::domain::{Container, ContainerId};
use crate::domain::{EngineError, EngineInfo};
use crate::logtext::Masker;
use crate::msg::Msg;
use bollard::Docker;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Timeout for single API calls (list, inspect, version). Streams have none.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    /// Limit to one compose project.
    pub project: Option<String>,
    pub resync: Duration,
    pub masker: Masker,
    /// How far back the timeline reads the engine's events at connect (zero: not at all).
    pub timeline_since: Duration,
    /// Timeline rows kept from the engine (the oldest go first).
    pub timeline_keep: usize,
}

/// Commands from the app to the supervisor.
#[derive(Debug)]
pub enum Command {
    FollowLogs {
        container: ContainerId,
        generation: u64,
        tail: u32,
        since: Option<String>,
    },
    /// Follow several containers' logs merged by time, each line labelled (a project's merged
    /// logs). Replaces any other follow.
    FollowMerged {
        sources: Vec<(ContainerId, String)>,
        generation: u64,
        tail: u32,
        since: Option<String>,
    },
    StopLogs,
    /// Stream stats of every running container (true) or of none (false).
    Stats(bool),
}

/// The app's handle on the engine side. Dropping it stops the supervisor.
#[derive(Debug, Clone)]
pub struct Handle {
    cmd: mpsc::UnboundedSender<Command>,
}

impl Handle {
    pub fn send(&self, c: Command) {
        // The supervisor only goes away when the app does.
        let _ = self.cmd.send(c);
    }
}

pub fn spawn(endpoint: Endpoint, opts: Options, tx: mpsc::Sender<Msg>) -> Handle {
    let (cmd, rx) = mpsc::unbounded_channel();
    tokio::spawn(supervisor::run(endpoint, opts, tx, rx));
    Handle { cmd }
}

/// Connect and say who answered (its version, API version and size).
pub(crate) async fn connect(ep: &Endpoint) -> Result<(Docker, EngineInfo), EngineError> {
    connect_with_role(ep).await.map(|c| (c.docker, c.info))
}

/// An engine connected to, and what its first answers said.
pub(crate) struct Connection {
    pub docker: Docker,
    pub info: EngineInfo,
    /// What the engine is in a swarm, if it is in one.
    pub role: Option<crate::domain::SwarmRole>,
    /// The engine's own clock when it answered `/info`, less two seconds, as its events API
    /// takes a time: an events stream asked from then misses nothing that happens while the
    /// first list is read (bollard sends the events request only when the stream is first
    /// polled). The engine's clock, not ours: a remote engine's may differ.
    pub events_since: Option<String>,
    /// The local socket the engine answers on (a local engine's, or the near end of an ssh
    /// forward), for what is read straight off it ([`log_wire`]); `None` over TCP or TLS.
    pub socket: Option<std::path::PathBuf>,
}

/// What a session knows of the connection beyond the client: the socket it answers on, the
/// engine's clock at connect (for the events stream's start), and the containers already on
/// screen if their list was read beside the engine's first answers.
pub(crate) struct Local<'a> {
    pub socket: Option<&'a std::path::Path>,
    pub events_since: Option<&'a str>,
    pub first_list: Option<Vec<crate::domain::ContainerId>>,
}

/// [`connect`], and what the engine is in a swarm, from the same answers.
pub(crate) async fn connect_with_role(ep: &Endpoint) -> Result<Connection, EngineError> {
    greet(ep, client(ep).await?).await
}

/// A client for an endpoint, nothing asked of the engine yet.
pub(crate) struct Client {
    pub docker: Docker,
    addr: String,
    ssh: bool,
}

/// The client for `ep` (through ssh, the forward is set up first).
pub(crate) async fn client(ep: &Endpoint) -> Result<Client, EngineError> {
    // An ssh:// engine is reached through a local socket forwarded by one ssh connection.
    let (addr, ssh) = if ep.host.starts_with("ssh://") {
        (ssh::local_socket(&ep.host, ep.ssh_config.as_deref()).await?, true)
    } else {
        (ep.host.clone(), false)
    };
    let docker = match &ep.tls {
        // A context with SkipTLSVerify: TLS, the client certificate if any, no check of the
        // engine's certificate (the status line says so).
        _ if ep.skip_tls_verify && !ssh => {
            let d = unverified::connect(&addr, ep.tls.as_deref(), CALL_TIMEOUT.as_secs().max(120))
                .map_err(|e| EngineError::Unreachable(format!("{}: {e}", ep.host)))?;
            Ok(d)
        }
        // A context's (or DOCKER_CERT_PATH's) client certificate and CA.
        Some(dir) if !ssh => Docker::connect_with_ssl(
            &addr,
            &dir.join("key.pem"),
            &dir.join("cert.pem"),
            &dir.join("ca.pem"),
            CALL_TIMEOUT.as_secs().max(120),
            bollard::API_DEFAULT_VERSION,
        ),
        _ => Docker::connect_with_host(&addr),
    }
    .map_err(|e| classify(&ep.host, &e))?;
    Ok(Client { docker, addr, ssh })
}

/// Ask the engine who it is (`/version` and `/info`, at once). On Docker 20.10 each of the two
/// runs `runc --version` and `docker-init --version` before it answers (20-40 ms on the bench's
/// machine, strace): what needs neither is asked beside them, not after.
pub(crate) async fn greet(ep: &Endpoint, c: Client) -> Result<Connection, EngineError> {
    let Client { docker, addr, ssh } = c;
    let asked = std::time::Instant::now();
    let late =
        || EngineError::Timeout(format!("engine at {} did not answer within {} s", ep.host, CALL_TIMEOUT.as_secs()));
    // No `negotiate_version()`: bollard joins every path onto its base as an absolute one, so
    // its requests carry no API version (`GET /version`, `GET /containers/json`: strace shows
    // it) and the engine answers each at its own. The negotiation was one more `/version`
    // round trip before the first frame, with nothing to negotiate.
    // Both at once: each is a round trip, and /info is the slow one on a busy engine.
    let (v, machine) = tokio::join!(
        tokio::time::timeout(CALL_TIMEOUT, docker.version()),
        tokio::time::timeout(CALL_TIMEOUT, docker.info())
    );
    let v = match v.map_err(|_| late())? {
        Ok(v) => v,
        // Through ssh, the forward's own error says what is wrong at the far end.
        Err(e) if ssh => {
            let why = ssh::diagnose(&ep.host, ep.ssh_config.as_deref()).await;
            return Err(why.map_or_else(|| classify(&ep.host, &e), EngineError::Unreachable));
        }
        Err(e) => return Err(classify(&ep.host, &e)),
    };
    // The machine's size, for a remote engine's host figures (never fatal: older engines,
    // restricted proxies).
    let machine = machine.ok().and_then(Result::ok);
    let role = machine.as_ref().and_then(swarm::role_of);
    let events_since = machine
        .as_ref()
        .and_then(|m| m.system_time.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        // Less the time the answer took as well: what was read beside it (the first list) may
        // be that much older than the engine's clock here.
        .and_then(|t| t.checked_sub(jiff::SignedDuration::from_secs(2)).ok())
        .and_then(|t| t.checked_sub(jiff::SignedDuration::try_from(asked.elapsed()).ok()?).ok())
        .map(happenings::engine_time);
    let info = EngineInfo {
        cpus: machine.as_ref().and_then(|m| m.ncpu).and_then(|n| u64::try_from(n).ok()),
        memory: machine.as_ref().and_then(|m| m.mem_total).and_then(|n| u64::try_from(n).ok()),
        host: ep.host.clone(),
        source: ep.source.clone(),
        api_version: crate::logtext::inert(v.api_version.as_deref().unwrap_or("?")).into_owned(),
        server_version: crate::logtext::inert(v.version.as_deref().unwrap_or("?")).into_owned(),
    };
    let socket = addr.strip_prefix("unix://").filter(|_| ep.tls.is_none() || ssh).map(std::path::PathBuf::from);
    Ok(Connection { docker, info, role, events_since, socket })
}

fn describe(host: &str, e: &bollard::errors::Error) -> String {
    classify(host, e).to_string()
}

/// The one place an engine failure is turned into a kind: by HTTP status, by the I/O error at
/// the bottom of the error chain (bollard wraps it as "client error (Connect)"), never by the
/// wording of a message elsewhere.
pub(crate) fn classify(host: &str, e: &bollard::errors::Error) -> EngineError {
    let kind = classify_raw(host, e);
    let text = one_line(kind.message());
    match kind {
        EngineError::NotFound(_) => EngineError::NotFound(text),
        EngineError::NotRunning(_) => EngineError::NotRunning(text),
        EngineError::Conflict(_) => EngineError::Conflict(text),
        EngineError::Unreachable(_) => EngineError::Unreachable(text),
        EngineError::Timeout(_) => EngineError::Timeout(text),
        EngineError::Refused(_) => EngineError::Refused(text),
    }
}

fn classify_raw(host: &str, e: &bollard::errors::Error) -> EngineError {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { status_code: 404, message } => EngineError::NotFound(one_line(message)),
        B::DockerResponseServerError { status_code: 409, message } => EngineError::Conflict(one_line(message)),
        B::DockerResponseServerError { status_code: 400, message }
            if message.contains("HTTP request to an HTTPS server") =>
        {
            EngineError::Refused(format!(
                "the engine at {host} speaks TLS: give it its certificates (a docker context with TLS, or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)"
            ))
        }
        B::DockerResponseServerError { status_code, message } => {
            EngineError::Refused(format!("engine at {host} answered {status_code}: {}", one_line(message)))
        }
        B::RequestTimeoutError => {
            EngineError::Timeout(format!("engine at {host} did not answer within {} s", CALL_TIMEOUT.as_secs()))
        }
        B::SocketNotFoundError(_) => EngineError::Unreachable(format!("no engine socket at {host}")),
        B::UnsupportedURISchemeError { .. } | B::InvalidURIError { .. } | B::URLParseError { .. } => {
            EngineError::Unreachable(format!(
                "unsupported engine address {host} (use unix:///path, tcp://host:port or https://host:port)"
            ))
        }
        other if tls_words(host, other).is_some() => EngineError::Refused(tls_words(host, other).unwrap_or_default()),
        other => match io_cause(other) {
            Some(io) => EngineError::Unreachable(io_words(host, io)),
            None if matches!(other, B::HyperLegacyError { .. } | B::HttpClientError { .. } | B::IOError { .. }) => {
                EngineError::Unreachable(format!("engine at {host}: {}", one_line(&other.to_string())))
            }
            None => EngineError::Refused(format!("engine at {host}: {}", one_line(&other.to_string()))),
        },
    }
}

/// A TLS handshake that failed, in the operator's terms. rustls reports these as text inside the
/// I/O error of the connection; this is the one place that reads it.
fn tls_words(host: &str, e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut text = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        text.push_str(&err.to_string());
        text.push(' ');
        cur = err.source();
    }
    let said = if text.contains("not valid for name") {
        let valid = text
            .split("is only valid for")
            .nth(1)
            .map(|v| format!(" (it is for {})", one_line(v).trim().trim_end_matches('.')));
        format!(
            "the engine's TLS certificate does not match {host}{}: connect by a name or address the certificate lists",
            valid.unwrap_or_default()
        )
    } else if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        format!(
            "the engine's TLS certificate at {host} is not signed by the CA in ca.pem: check the context's or DOCKER_CERT_PATH's ca.pem"
        )
    } else if text.contains("BadCertificate") || text.contains("UnknownCA") || text.contains("CertificateRequired") {
        format!(
            "the engine at {host} rejected stackdeck's client certificate (not signed by a CA it trusts, or none): check cert.pem and key.pem"
        )
    } else if text.contains("Expired") && text.contains("certificate") {
        format!("a TLS certificate between stackdeck and {host} has expired")
    } else if text.contains("CertPathError")
        || text.contains("could not find cert")
        || text.contains("path") && text.contains(".pem")
    {
        format!("cannot read the TLS files for {host}: {}", one_line(&e.to_string()))
    } else {
        return None;
    };
    Some(said)
}

/// An engine's message, on one line and inert (it can echo names and labels).
fn one_line(s: &str) -> String {
    crate::logtext::inert(&s.trim().replace(['\n', '\r'], " ")).into_owned()
}

/// The I/O error at the bottom of an error's source chain, if any.
fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut found = None;
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            found = Some(io);
        }
        cur = err.source();
    }
    found
}

fn io_words(host: &str, io: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let path = host.strip_prefix("unix://");
    match (io.kind(), path) {
        (K::NotFound, Some(p)) => format!("no engine socket at {p}"),
        (K::ConnectionRefused, Some(p)) if std::path::Path::new(p).is_dir() => {
            format!("{p} is a directory, not an engine socket")
        }
        (K::ConnectionRefused, Some(p))
            if std::fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                !m.file_type().is_socket()
            }) =>
        {
            format!("{p} is not a socket: no engine listens there")
        }
        (K::ConnectionRefused, _) => format!("engine at {host} refused the connection (is dockerd running?)"),
        (K::PermissionDenied, _) => format!(
            "permission denied on {host} (the engine socket is root-equivalent: run as a member of the docker group or root)"
        ),
        (K::TimedOut, _) => format!("engine at {host} did not answer (connection timed out)"),
        _ => format!("engine at {host}: {io}"),
    }
}

/// Connect the backend that serves `ep` (today: its containers, grouped by compose labels).
pub async fn backend(ep: &Endpoint) -> Result<std::sync::Arc<dyn crate::backend::Backend>, EngineError> {
    let local = ContainerBackend::connect(ep).await?;
    // A swarm manager's services are operated as services (Swarm schedules their tasks).
    let role = local.call(swarm::role(&local.docker)).await?;
    if role == Some(crate::domain::SwarmRole::Manager) {
        return Ok(std::sync::Arc::new(SwarmBackend::new(local)));
    }
    Ok(std::sync::Arc::new(local))
}

/// One-shot snapshot for `stackdeck status`: connect, list every container, inspect each.
pub async fn snapshot(ep: &Endpoint, project: Option<&str>) -> Result<(EngineInfo, Vec<Container>), String> {
    let (docker, info) = connect(ep).await.map_err(|e| e.to_string())?;
    // A swarm manager: the tasks of its services are the instances.
    if swarm::role(&docker).await.ok().flatten() == Some(crate::domain::SwarmRole::Manager) {
        let r = swarm::read(&docker, None).await.map_err(|e| describe(&ep.host, &e))?;
        return Ok((info, swarm::instances(&r, None, project)));
    }
    let containers = supervisor::list_all(&docker, project).await.map_err(|e| describe(&ep.host, &e))?;
    Ok((info, containers))
}

fn project_filter(project: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut f = HashMap::new();
    if let Some(p) = project {
        f.insert("label".to_owned(), vec![format!("{}={p}", convert::LABEL_PROJECT)]);
    }
    f
}
