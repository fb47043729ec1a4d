//! `stackdeck guard`: the panel's duties without a terminal. One process per server (per state
//! dir), run by systemd or as a container with the engine socket. It
//! - enforces emergency-stop latches (the panel's own `update` logic decides, `ops::execute`
//!   holds: a started container of a latched service is stopped again and recorded);
//! - evaluates the Prometheus / scraped alerts and sends their webhooks (sharing the alert
//!   webhooks with any open panel through the notify lease: one message per event);
//! - runs the backup jobs on the config's schedule (retention as every backup applies it);
//! - keeps the timeline (engine events, alerts) in the store for panels opened later
//!   ([`record`]);
//! - serves its metrics on a loopback address ([`metrics`]);
//! - logs one inert line per event to stdout ([`log`]);
//! - reloads the config on SIGHUP (a bad one keeps the running config and says why) and ends
//!   cleanly on SIGTERM / SIGINT, after the operations it started.

mod log;
pub mod metrics;
mod record;

pub use log::init as init_logging;
use log::say;

use crate::config::{Keymap, Stack};
use crate::domain::OpRequest;
use crate::engine::{self, Endpoint};
use crate::msg::{Effect, EngineEvent, Msg, OpEvent};
use crate::state::AppState;
use metrics::{JobMetrics, Metrics};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

pub struct Setup {
    pub endpoint: Endpoint,
    pub stack: Stack,
    /// The config file as given (`--config`), re-read on SIGHUP; `None`: the default place.
    pub config: Option<PathBuf>,
    pub state_dir: PathBuf,
    pub project: Option<String>,
    pub read_only: bool,
    /// `--metrics`: wins over `[guard] metrics`.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Run until SIGTERM / SIGINT. `Err` when the guard cannot start (another guard, a taken port).
pub async fn run(setup: Setup) -> Result<(), String> {
    let _one = one_per_state_dir(&setup.state_dir)?;
    let addr = setup.metrics.unwrap_or_else(|| setup.stack.guard_metrics());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot serve metrics on {addr}: {e} (set [guard] metrics or --metrics)"))?;
    let shared = Arc::new(Mutex::new(String::new()));
    let server = tokio::spawn(metrics::serve(listener, shared.clone()));
    let mut sigs = Signals::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    say(&format!(
        "guard started (pid {}): engine {}, state dir {}, metrics http://{addr}/metrics{}",
        std::process::id(),
        crate::http::shown(&setup.endpoint.host),
        setup.state_dir.display(),
        if setup.read_only { ", read-only: latches are watched, not enforced; no scheduled backups" } else { "" }
    ));
    let mut m = Metrics { started: jiff::Timestamp::now().as_second(), chain_intact: true, ..Metrics::default() };
    let mut stack = setup.stack.clone();
    let keymap = Keymap::load(None).map_err(|e| e.to_string())?;
    let counts = Arc::new(record::Counts::default());
    let mut world = World::start(&setup, &stack, &keymap, &counts);
    let mut retired: Vec<crate::runner::Runner> = Vec::new();
    loop {
        match world.run(&mut m, &shared, &mut sigs).await {
            End::Stop(sig) => {
                let busy = world.runner.busy() + retired.iter().map(crate::runner::Runner::busy).sum::<usize>();
                if busy > 0 {
                    say(&format!("received {sig}: waiting for {busy} running operation(s)"));
                } else {
                    say(&format!("received {sig}"));
                }
                for r in retired {
                    r.finish_all().await;
                }
                world.retire().finish_all().await;
                server.abort();
                say("guard stopped");
                return Ok(());
            }
            End::Reload => match reload(&setup) {
                Ok(new) => {
                    m.config_reloads += 1;
                    say("SIGHUP: config reloaded; restarting the guard's watchers with it");
                    stack = new;
                    // Latches are watched by the new world before the old one lets go.
                    let next = World::start(&setup, &stack, &keymap, &counts);
                    retired.push(std::mem::replace(&mut world, next).retire());
                }
                Err(e) => {
                    m.config_reload_failures += 1;
                    say(&format!("SIGHUP: config NOT reloaded, the running config stays: {e}"));
                    *shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = metrics::render(&m);
                }
            },
        }
    }
}

fn reload(setup: &Setup) -> Result<Stack, String> {
    let read = crate::config::read_optional(setup.config.as_deref(), "config.toml").map_err(|e| e.to_string())?;
    match read {
        Some((name, text)) => Stack::parse(&name, &text).map_err(|e| e.to_string().replace('\n', " ")),
        None => Ok(Stack::default()),
    }
}

/// One guard per state dir: a second one would enforce, back up and notify twice.
fn one_per_state_dir(state_dir: &std::path::Path) -> Result<std::fs::File, String> {
    crate::store::make_state_dir(state_dir)?;
    crate::store::lock::take(&state_dir.join("guard.pid"), &std::process::id().to_string()).map_err(|e| match e {
        Ok(other) => format!(
            "another guard runs for {} (pid {}): one guard per server",
            state_dir.display(),
            crate::logtext::inert(other.trim())
        ),
        Err(e) => e,
    })
}

enum End {
    Stop(&'static str),
    Reload,
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// The schedule's next tick; never, without one.
async fn next_due(rx: &mut Option<mpsc::Receiver<i64>>) -> Option<i64> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Everything that runs with one config: replaced whole on a reload.
struct World {
    rx: mpsc::Receiver<Msg>,
    runner: crate::runner::Runner,
    state: AppState,
    keymap: Keymap,
    alerts: crate::observe::rules::AlertTracker,
    host_alerts: crate::observe::rules::AlertTracker,
    /// The backup schedule's ticks; `None` without a schedule, or once it ended (a closed
    /// channel would answer at once, forever: the loop would spin).
    backups_due: Option<mpsc::Receiver<i64>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    store: Option<crate::store::Store>,
    recorder: record::Recorder,
    _engine: engine::Handle,
    _window: Option<tokio::sync::watch::Sender<crate::domain::Window>>,
}

impl World {
    /// End its watchers; the operations it started go on (their runner is returned, to be
    /// waited for before the guard exits).
    fn retire(self) -> crate::runner::Runner {
        for t in &self.tasks {
            t.abort();
        }
        self.runner
    }

    fn start(setup: &Setup, stack: &Stack, keymap: &Keymap, counts: &Arc<record::Counts>) -> World {
        let (tx, rx) = mpsc::channel::<Msg>(4096);
        let engine = engine::spawn(
            setup.endpoint.clone(),
            engine::Options {
                project: setup.project.clone(),
                resync: stack.resync(),
                masker: stack.masker.clone(),
                // The guard records the timeline (`record`): on each connection it also reads
                // back what the engine still remembers, so events while it was starting,
                // reloading or reconnecting are kept too (rows kept twice are kept once).
                timeline_since: stack.timeline_since(),
                timeline_keep: stack.timeline_keep(),
            },
            tx.clone(),
        );
        let notifier = crate::notify::Notifier::spawn(&stack.config.notify).with_lease(&setup.state_dir);
        // Kept for the world's life: the observer ends when its window sender is dropped.
        let window =
            crate::observe::configured(stack).then(|| crate::observe::spawn(stack, tx.clone(), notifier.clone()));
        if stack.config.host.enabled_for(&setup.endpoint.host) {
            crate::observe::host::spawn(stack.config.host.clone(), tx.clone(), notifier.clone());
        }
        crate::runner::spawn_history_poller(
            setup.state_dir.clone(),
            crate::ops::backup::root(&setup.state_dir, stack),
            None,
            tx.clone(),
        );
        let runner = crate::runner::Runner::new(
            setup.endpoint.clone(),
            stack.clone(),
            setup.state_dir.clone(),
            setup.read_only,
            setup.project.clone(),
            tx,
            notifier,
        );
        let mut tasks = Vec::new();
        let mut backups_due = None;
        if let Some(expr) = &stack.config.backup.schedule {
            match crate::config::stack::schedule(expr.get_ref()) {
                Ok(cron) if !setup.read_only => {
                    let (due_tx, due_rx) = mpsc::channel(4);
                    tasks.push(tokio::spawn(schedule(cron, due_tx)));
                    backups_due = Some(due_rx);
                }
                Ok(_) => {}
                Err(e) => say(&format!("backup schedule unusable: {e}")),
            }
        }
        let mut state = AppState::new(&setup.endpoint.host, &setup.endpoint.source, jiff::Timestamp::now(), 100, 0);
        state.read_only = setup.read_only;
        state.project = setup.project.clone();
        state.kill_switch_targets = stack.kill_switch_targets();
        let store = crate::store::Store::open(&setup.state_dir).ok();
        let recorder = record::Recorder::spawn(
            setup.state_dir.clone(),
            stack.masker.clone(),
            stack.timeline_since(),
            stack.timeline_keep(),
            counts.clone(),
        );
        World {
            rx,
            runner,
            state,
            keymap: keymap.clone(),
            alerts: Default::default(),
            host_alerts: Default::default(),
            backups_due,
            tasks,
            store,
            recorder,
            _engine: engine,
            _window: window,
        }
    }

    async fn run(&mut self, m: &mut Metrics, shared: &Mutex<String>, sigs: &mut Signals) -> End {
        loop {
            let msg = tokio::select! {
                _ = sigs.hup.recv() => return End::Reload,
                _ = sigs.term.recv() => return End::Stop("SIGTERM"),
                _ = sigs.int.recv() => return End::Stop("SIGINT"),
                due = next_due(&mut self.backups_due) => {
                    if due.is_none() {
                        // The schedule ended: never wait on its closed channel again.
                        self.backups_due = None;
                    }
                    if let Some(next) = due {
                        m.next_backup = Some(next);
                        let id = self.state.next_op;
                        self.state.next_op += 1;
                        say(&format!("op {id}: scheduled backup of every job"));
                        self.runner.run(id, OpRequest::Backup { jobs: vec![] });
                    }
                    None
                }
                msg = self.rx.recv() => msg,
            };
            if let Some(msg) = msg {
                self.observe(&msg, m);
                let alerting = matches!(msg, Msg::Observed(_) | Msg::Host(_));
                // The guard has no ticks: the clock is read for each message (a resolved
                // alert's row is stamped with it).
                self.state.now = jiff::Timestamp::now();
                for fx in crate::update::update(&mut self.state, &self.keymap, msg) {
                    if let Effect::RunOp { id, request } = fx {
                        say(&format!("op {id}: {}", request.title()));
                        self.runner.run(id, request);
                    }
                }
                if alerting {
                    self.recorder.alerts(self.state.timeline.alert_rows());
                }
            }
            (m.timeline_rows_written, m.timeline_rows_dropped) = self.recorder.counts();
            *shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = metrics::render(m);
        }
    }

    /// What the guard logs and counts of a message (the state itself is `update`'s).
    fn observe(&mut self, msg: &Msg, m: &mut Metrics) {
        match msg {
            Msg::Engine(EngineEvent::Connected(info)) => {
                m.engine_connected = true;
                say(&format!("engine connected: {} (API {})", info.host, info.api_version));
            }
            Msg::Engine(EngineEvent::Unreachable { reason, retry_in_secs }) => {
                if m.engine_connected || self.state.engine.last_contact.is_none() {
                    say(&format!("engine unreachable: {reason}; retrying in {retry_in_secs} s"));
                }
                m.engine_connected = false;
            }
            Msg::Engine(EngineEvent::Happened(rows)) => self.recorder.engine(rows),
            Msg::Op(OpEvent::Progress { id, line }) => say(&format!("op {id}: {line}")),
            Msg::Op(OpEvent::Done { id, result: Ok(s) }) => say(&format!("op {id} done: {s}")),
            Msg::Op(OpEvent::Done { id, result: Err(e) }) => say(&format!("op {id} FAILED: {e}")),
            Msg::Observed(obs) => {
                m.last_alert_evaluation = Some(jiff::Timestamp::now().as_second());
                m.alerts_firing = obs.alerts.iter().filter(|a| a.firing).count();
                for c in self.alerts.update(&obs.alerts) {
                    say(&c.text());
                }
            }
            Msg::Host(r) => {
                for c in self.host_alerts.update(&r.alerts) {
                    say(&c.text());
                }
            }
            Msg::History { kill_switches, backups, chain, .. } => {
                let latched: std::collections::BTreeMap<String, i64> =
                    kill_switches.iter().map(|k| (k.service.clone(), k.at.as_second())).collect();
                for (s, _) in latched.iter().filter(|(s, _)| !m.latched.contains_key(*s)) {
                    let k = kill_switches.iter().find(|k| &k.service == s);
                    say(&format!(
                        "latched: {s} (emergency-stopped by {}: {}): every start of it is stopped again",
                        k.map_or("?", |k| k.by.as_str()),
                        k.map_or("?", |k| k.reason.as_str())
                    ));
                }
                for s in m.latched.keys().filter(|s| !latched.contains_key(*s)) {
                    say(&format!("latch cleared: {s}"));
                }
                m.latched = latched;
                m.backups = job_metrics(backups);
                if chain.is_some() && m.chain_intact {
                    say(&format!("AUDIT CHAIN BROKEN at {}", chain.as_deref().unwrap_or("?")));
                }
                m.chain_intact = chain.is_none();
                if let Some(s) = &self.store
                    && let Ok(counts) = s.succeeded_per_service("restart-blocked")
                {
                    m.restarts_blocked = counts;
                }
            }
            _ => {}
        }
    }
}

/// Per job, from the manifests (newest first): the last run, its result, the last success.
fn job_metrics(backups: &[crate::domain::Manifest]) -> std::collections::BTreeMap<String, JobMetrics> {
    let mut out: std::collections::BTreeMap<String, JobMetrics> = std::collections::BTreeMap::new();
    for b in backups {
        let Ok(t) = b.created.parse::<jiff::Timestamp>() else { continue };
        for j in &b.jobs {
            let e = out.entry(j.name.clone()).or_insert_with(|| JobMetrics {
                last_success: None,
                last_run: t.as_second(),
                last_ok: j.error.is_none(),
            });
            if j.error.is_none() && e.last_success.is_none() {
                e.last_success = Some(t.as_second());
            }
        }
    }
    out
}

/// Wake at every occurrence of the schedule (local time); says when the next one is.
async fn schedule(cron: croner::Cron, due: mpsc::Sender<i64>) {
    loop {
        let now = chrono::Local::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            say("backup schedule: no next run");
            return;
        };
        say(&format!("next scheduled backup at {}", next.format("%Y-%m-%d %H:%M:%S %Z")));
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        let after = cron.find_next_occurrence(&chrono::Local::now(), false).map(|n| n.timestamp()).unwrap_or(0);
        if due.send(after).await.is_err() {
            return;
        }
    }
}
