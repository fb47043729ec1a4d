//! Carries out the panel's operation effects in background tasks: each operation reports its
//! progress and outcome as messages, and the store is polled for history and kill switches
//! (other operators' actions show up too).

use crate::config::Stack;
use crate::engine::{Endpoint, actions::Actions};
use crate::msg::{Msg, OpEvent, OpRequest};
use crate::ops::{self, Ctx, Progress, deploy::Kind};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the store is read for the History pane and the kill-switch banner.
const HISTORY_POLL: Duration = Duration::from_secs(2);

pub struct Runner {
    pub endpoint: Endpoint,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub read_only: bool,
    pub project: Option<String>,
    pub tx: mpsc::Sender<Msg>,
    /// Webhook for operation outcomes.
    pub notifier: crate::notify::Notifier,
    running: HashMap<u64, (CancellationToken, JoinHandle<()>)>,
}

impl Runner {
    pub fn new(
        endpoint: Endpoint,
        stack: Stack,
        state_dir: PathBuf,
        read_only: bool,
        project: Option<String>,
        tx: mpsc::Sender<Msg>,
        notifier: crate::notify::Notifier,
    ) -> Runner {
        Runner { endpoint, stack, state_dir, read_only, project, tx, notifier, running: HashMap::new() }
    }

    pub fn run(&mut self, id: u64, request: OpRequest) {
        self.running.retain(|_, (_, h)| !h.is_finished());
        let cancel = CancellationToken::new();
        let (ep, stack, state_dir, read_only, project, tx) = (
            self.endpoint.clone(),
            self.stack.clone(),
            self.state_dir.clone(),
            self.read_only,
            self.project.clone(),
            self.tx.clone(),
        );
        let c = cancel.clone();
        let notifier = self.notifier.clone();
        let handle = tokio::spawn(async move {
            let title = request.title();
            let (ptx, mut prx) = mpsc::unbounded_channel::<ops::Step>();
            let fwd_tx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(step) = prx.recv().await {
                    let ev = match step {
                        ops::Step::Line(line) => OpEvent::Progress { id, line },
                        ops::Step::Committed => OpEvent::Committed { id },
                    };
                    let _ = fwd_tx.send(Msg::Op(ev)).await;
                }
            });
            let result = match Actions::connect(&ep).await {
                Err(e) => Err(format!("engine unreachable: {e}")),
                Ok(actions) => {
                    let ctx = Ctx { actions, stack, state_dir, read_only };
                    execute(&ctx, request, project.as_deref(), ptx, &c).await
                }
            };
            let _ = forward.await;
            match &result {
                Ok(s) => tracing::info!("operation {id}: {s}"),
                Err(e) => tracing::warn!("operation {id} failed: {e}"),
            }
            notifier.send(crate::notify::outcome_text(&title, &result));
            let _ = tx.send(Msg::Op(OpEvent::Done { id, result })).await;
        });
        self.running.insert(id, (cancel, handle));
    }

    pub fn cancel(&self, id: u64) {
        if let Some((c, _)) = self.running.get(&id) {
            c.cancel();
        }
    }

    pub fn load_tags(&self, target: String, image: String) {
        let (ep, tx) = (self.endpoint.clone(), self.tx.clone());
        tokio::spawn(async move {
            let tags = match Actions::connect(&ep).await {
                Ok(a) => a.local_tags(&image).await,
                Err(e) => Err(e),
            };
            let _ = tx.send(Msg::Tags { target, tags }).await;
        });
    }

    pub fn busy(&self) -> usize {
        self.running.values().filter(|(_, h)| !h.is_finished()).count()
    }

    /// Wait for every running operation: quitting (or losing the SSH link) must not leave a
    /// half-done deploy.
    pub async fn finish_all(self) {
        for (_, (_, h)) in self.running {
            let _ = h.await;
        }
    }
}

async fn execute(
    ctx: &Ctx,
    request: OpRequest,
    project: Option<&str>,
    ptx: mpsc::UnboundedSender<ops::Step>,
    cancel: &CancellationToken,
) -> Result<String, String> {
    let r = match request {
        OpRequest::Stop { targets, reason } => {
            let runs = targets.iter().map(|t| {
                let ptx = ptx.clone();
                let reason = reason.clone();
                async move {
                    let mut p = Progress::new(Some(ptx));
                    ops::stop::stop(ctx, t, project, Some(reason), &mut p).await
                }
            });
            let results = futures::future::join_all(runs).await;
            let mut ok = Vec::new();
            for r in results {
                ok.push(r.map_err(|e| e.to_string())?.summary);
            }
            return Ok(ok.join("; "));
        }
        OpRequest::Start { target } => ops::stop::start(ctx, &target, project, &mut Progress::new(Some(ptx))).await,
        OpRequest::Deploy { target, image } => {
            ops::deploy::run(ctx, Kind::Deploy, &target, project, Some(&image), &mut Progress::new(Some(ptx)), cancel)
                .await
        }
        OpRequest::Rollback { target } => {
            ops::deploy::run(ctx, Kind::Rollback, &target, project, None, &mut Progress::new(Some(ptx)), cancel).await
        }
        OpRequest::Backup => ops::backup::run(ctx, &[], project, &mut Progress::new(Some(ptx))).await,
    };
    r.map(|d| d.summary).map_err(|e| e.to_string())
}

/// Read history and kill switches now and every [`HISTORY_POLL`]; mark records of killed
/// stackdeck processes as interrupted first.
pub fn spawn_history_poller(state_dir: PathBuf, backup_root: PathBuf, tx: mpsc::Sender<Msg>) {
    // A plain thread, not spawn_blocking: the runtime waits for blocking tasks when it shuts
    // down, and this loop never ends by itself (it ends when the app's inbox is gone).
    let spawned = std::thread::Builder::new().name("history-poller".into()).spawn(move || {
        let store = loop {
            match crate::store::Store::open(&state_dir) {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!("history store unavailable: {e}");
                    std::thread::sleep(Duration::from_secs(10));
                }
            }
        };
        match store.mark_interrupted() {
            Ok(list) => {
                for r in list {
                    tracing::warn!(
                        "{} of {} (started {}) was interrupted: check what is running",
                        r.action,
                        r.service,
                        r.started_at
                    );
                }
            }
            Err(e) => tracing::warn!("cannot check for interrupted operations: {e}"),
        }
        let mut last = None;
        let mut seen_version = None;
        loop {
            // Only read when another connection committed something (every action does, and a
            // backup finishes its record after writing its manifest).
            let version = store.data_version().ok();
            if version.is_none() || version != seen_version {
                let now = (store.recent(200, None), store.kill_switches());
                if let (Ok(records), Ok(kill_switches)) = now {
                    let backups = ops::backup::list(&backup_root);
                    let key = (records.clone(), kill_switches.clone(), backups.clone());
                    if last.as_ref() != Some(&key) {
                        if tx.blocking_send(Msg::History { records, kill_switches, backups }).is_err() {
                            return;
                        }
                        last = Some(key);
                    }
                    seen_version = version;
                }
            }
            std::thread::sleep(HISTORY_POLL);
            if tx.is_closed() {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the history poller: {e}");
    }
}
